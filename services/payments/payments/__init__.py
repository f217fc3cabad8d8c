"""Kameng payments: intents, provider notifications, refunds, wallets and the ledger."""
