"""Kameng's orders service: orders, their state machine, expiry and the purchase saga's bookkeeping."""
