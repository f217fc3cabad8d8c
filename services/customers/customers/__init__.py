"""Kameng customers: identities, credentials, roles and membership levels."""
