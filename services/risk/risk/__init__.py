"""Kameng risk: order scoring, the blacklist and the manual review queue."""
