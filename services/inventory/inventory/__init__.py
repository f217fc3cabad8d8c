"""Kameng inventory: catalogue, price tiers, encrypted card-key stock, reservations and reveals."""
