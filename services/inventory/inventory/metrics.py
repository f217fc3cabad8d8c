"""Inventory's business counters (the shared RPC, event and outbox metrics come from kameng_common)."""

from prometheus_client import Counter

CARDS_IMPORTED = Counter("kameng_cards_imported_total", "Cards offered to imports, by outcome", ["outcome"])
