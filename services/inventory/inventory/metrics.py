"""Inventory's business counters (the shared RPC, event and outbox metrics come from kameng_common)."""

from prometheus_client import Counter

CARDS_IMPORTED = Counter("kameng_cards_imported_total", "Cards offered to imports, by outcome", ["outcome"])
STOCK_LOW_ALERTS = Counter(
    "kameng_stock_low_alerts_total", "Times a product's stock fell under its low-stock threshold"
)
CARDS_REFUNDED = Counter(
    "kameng_cards_refunded_total",
    "Sold cards given back when their order was refunded in full, by the card refund policy",
    ["policy"],
)
RESERVATIONS_SWEPT = Counter(
    "kameng_reservations_swept_total",
    "Reservations given back by the sweep because orders never stored their order",
)
