"""Inventory's tables: catalogue, encrypted cards, its copy of orders, the reveal audit."""

import sqlalchemy as sa

from inventory.domain import (
    AVAILABLE,
    KINDS,
    ON_SALE,
    PRODUCT_STATUSES,
    REFUNDED,
    RESERVED,
    RESTOCK,
    SOLD,
    TOP_UP,
    VOID,
)
from kameng_common.db import NAMING_CONVENTION, messaging_tables

metadata = messaging_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))

# A tree: a category with no parent is a root. Names are unique among siblings;
# the constraint cannot see two roots (NULL parents differ), so category writes
# take the categories lock (usecases._lock_categories) and check first.
categories = sa.Table(
    "categories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("categories.id"), index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("parent_id", "name"),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("category_id", sa.Integer, sa.ForeignKey("categories.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("price", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("level_prices", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # a direct product's supplier and its id there, and what the supplier charges (last sync);
    # a card product's, when the cards it lacks are bought there on demand
    sa.Column("supplier_id", sa.Integer, sa.ForeignKey("suppliers.id")),
    sa.Column("supplier_sku", sa.String(64)),
    sa.Column("cost_price", sa.BigInteger),
    sa.Column("status", sa.String(16), nullable=False, server_default=ON_SALE),
    # a loop product's units sellable in all (sold and reserved count); None: no limit
    sa.Column("stock_limit", sa.BigInteger),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    # stock under this raises stock.low (restock.py); None: the shop's default
    sa.Column("low_stock_threshold", sa.Integer),
    sa.UniqueConstraint("category_id", "name"),
    sa.CheckConstraint("kind IN (" + ", ".join(f"'{kind}'" for kind in KINDS) + ")", name="kind"),
    sa.CheckConstraint("price >= 0", name="price"),
    sa.CheckConstraint(
        "status IN (" + ", ".join(f"'{status}'" for status in PRODUCT_STATUSES) + ")", name="status"
    ),
    sa.CheckConstraint("stock_limit IS NULL OR (stock_limit >= 0 AND kind = 'loop')", name="stock_limit"),
    sa.CheckConstraint("low_stock_threshold IS NULL OR low_stock_threshold >= 0", name="low_stock_threshold"),
)

# Whether a stocked product is under its threshold now, as its last stock change
# left it: stock.low is published when this turns true, and only then. The row
# is locked while a change re-reads the stock, so concurrent sales that cross the
# threshold together publish once (restock.watch_stock).
stock_alerts = sa.Table(
    "stock_alerts",
    metadata,
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), primary_key=True),
    sa.Column("low", sa.Boolean, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

# Every price a product has had, from its creation on: what staff see of its history.
# An order keeps the unit price it was quoted; this is not read when selling.
price_history = sa.Table(
    "price_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("price", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("level_prices", sa.JSON, nullable=False),
    sa.Column("changed_by", sa.String(64)),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_price_history_product", "product_id", "id"),
)

# A card belongs to at most one order at a time, and the status says how:
# the check below makes "sold without an order" or "available but sold"
# unrepresentable, and only a reserved card may become sold. A sold card whose
# order was refunded in full keeps its order and sale, with refunded_at: it is
# refunded, or void when the shop's policy voids refunded cards.
CARD_STATUS_CHECK = (
    f"(status = '{AVAILABLE}' AND order_id IS NULL AND sold_at IS NULL AND refunded_at IS NULL)"
    f" OR (status = '{RESERVED}' AND order_id IS NOT NULL AND sold_at IS NULL AND refunded_at IS NULL)"
    f" OR (status = '{SOLD}' AND order_id IS NOT NULL AND sold_at IS NOT NULL AND refunded_at IS NULL)"
    f" OR (status = '{REFUNDED}' AND order_id IS NOT NULL AND sold_at IS NOT NULL AND refunded_at IS NOT NULL)"
    f" OR (status = '{VOID}' AND voided_at IS NOT NULL"
    " AND ((order_id IS NULL AND sold_at IS NULL AND refunded_at IS NULL)"
    " OR (order_id IS NOT NULL AND sold_at IS NOT NULL AND refunded_at IS NOT NULL)))"
)
cards = sa.Table(
    "cards",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("number", sa.String(128), nullable=False),
    # HMAC of the number under a key derived from a card key: uniqueness per product
    sa.Column("number_digest", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("nonce", sa.LargeBinary(12), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("order_id", sa.String(64)),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reserved_at", sa.DateTime(timezone=True)),
    sa.Column("sold_at", sa.DateTime(timezone=True)),
    sa.Column("voided_at", sa.DateTime(timezone=True)),
    sa.Column("refunded_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("product_id", "number_digest"),
    sa.CheckConstraint(CARD_STATUS_CHECK, name="status"),
    # id last: a reservation takes a product's first available cards in id order from the index
    sa.Index("ix_cards_product_status_id", "product_id", "status", "id"),
    sa.Index("ix_cards_order_id", "order_id"),
)

# A loop product's card is delivered to every buyer: each order's claim on it is a
# row here, reserved and then sold, in units that count against the product's
# stock_limit. The card row itself stays available (or void once replaced); a sold
# row keeps the card the order was delivered.
loop_sales = sa.Table(
    "loop_sales",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("card_id", sa.Integer, sa.ForeignKey("cards.id"), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sold_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("order_id", "product_id"),
    sa.CheckConstraint("quantity > 0", name="quantity"),
    sa.CheckConstraint(
        f"(status = '{RESERVED}' AND sold_at IS NULL) OR (status = '{SOLD}' AND sold_at IS NOT NULL)",
        name="status",
    ),
    sa.Index("ix_loop_sales_product_status", "product_id", "status"),
)

# What inventory knows of an order, from the orders events: enough to reserve,
# sell, refuse a late reservation (closed_at is the tombstone) and check who may
# reveal its cards; refunded_at once payments gave its money back in full.
# reserve_asked_at: when orders last asked to reserve it with its price, before
# storing the order; cleared once orders is seen to know the order (the sweep of
# reservations whose order was never stored, usecases.release_orphaned_reservations).
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(64)),
    sa.Column("items", sa.JSON),
    sa.Column("stock_state", sa.String(16)),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("close_reason", sa.String(64)),
    sa.Column("refunded_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reserve_asked_at", sa.DateTime(timezone=True)),
    sa.Index("ix_orders_reserve_asked_at", "reserve_asked_at"),
)

reveal_audit = sa.Table(
    "reveal_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.String(64), nullable=False, index=True),
    sa.Column("requested_by", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("cards_revealed", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


def insert_ignoring_conflicts(uow, table, rows, conflict_columns):
    """Insert rows, skipping those that break ``conflict_columns``' uniqueness; returns the new ids.

    A concurrent writer of the same natural key loses quietly instead of
    failing the whole statement.
    """
    if not rows:
        return []
    statement = (
        uow.insert(table).on_conflict_do_nothing(index_elements=conflict_columns).returning(table.c.id)
    )
    return [row.id for row in uow.execute(statement, rows)]


# ---- upstream suppliers and direct top-ups

# A supplier is another shop speaking the channel API; its secret is sealed
# (kameng_common.sealing, purpose "supplier"), never answered.
suppliers = sa.Table(
    "suppliers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("base_url", sa.String(500), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("seal_key_id", sa.String(32), nullable=False),
    sa.Column("sealed_secret", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("synced_at", sa.DateTime(timezone=True)),
    sa.Column("sync_error", sa.String(200)),
    # how long a line bought from it may take before it is refunded; None: the shop's default
    sa.Column("deadline_seconds", sa.Integer),
    sa.CheckConstraint("deadline_seconds IS NULL OR deadline_seconds > 0", name="deadline_seconds"),
)

# the supplier's catalogue as its last sync saw it: cost price and stock (null: unlimited)
supplier_products = sa.Table(
    "supplier_products",
    metadata,
    sa.Column("supplier_id", sa.Integer, sa.ForeignKey("suppliers.id"), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("cost_price", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("stock", sa.Integer),
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
)
# One upstream order per paid line bought from a supplier: a direct line's
# top-up, or the cards a card product linked to a supplier lacked when the order
# was paid (purpose "restock"; no recharge account). client_order_id (order id +
# line) is the idempotency id the supplier sees: placing it again, after a crash
# or a redelivered event, answers the same upstream order and buys nothing twice.
fulfilments = sa.Table(
    "fulfilments",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("product_id", sa.Integer, nullable=False),
    sa.Column("supplier_id", sa.Integer, sa.ForeignKey("suppliers.id"), nullable=False),
    sa.Column("supplier_sku", sa.String(64), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("recharge_account", sa.String(128)),
    sa.Column("purpose", sa.String(16), nullable=False, server_default=TOP_UP),
    sa.Column("client_order_id", sa.String(64), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("supplier_order_id", sa.String(64)),
    sa.Column("failure", sa.String(200)),
    sa.Column("attempts", sa.Integer, nullable=False),
    # the next placing or polling; while a worker holds the row, the end of its lease
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # a restock line failed by its deadline with an upstream order placed and paid: its cards are
    # still asked for until then, for stock (fulfilment.collect_late); None: nothing left to collect
    sa.Column("collect_until", sa.DateTime(timezone=True)),
    # the cards such a line brought into stock after its deadline
    sa.Column("collected_cards", sa.Integer),
    sa.Index("ix_fulfilments_status_next_attempt_at", "status", "next_attempt_at"),
    sa.Index("ix_fulfilments_collect_until", "collect_until"),
    # an upstream order serves one line only
    sa.UniqueConstraint("supplier_id", "supplier_order_id"),
    sa.CheckConstraint(
        f"(purpose = '{TOP_UP}' AND recharge_account IS NOT NULL) OR purpose = '{RESTOCK}'", name="purpose"
    ),
    sa.CheckConstraint(
        f"collect_until IS NULL OR (purpose = '{RESTOCK}' AND status = 'failed'"
        " AND supplier_order_id IS NOT NULL)",
        name="late_collection",
    ),
)
