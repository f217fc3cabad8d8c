"""The kameng command line."""
