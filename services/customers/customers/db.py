import sqlalchemy as sa

from kameng_common.db import messaging_tables

metadata = messaging_tables(sa.MetaData())

# customers and staff alike: they share one username space
accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("username", sa.String(32), nullable=False),
    # the lower-cased username, unique, so that "Alice" and "alice" can't both register
    sa.Column("username_key", sa.String(32), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("role", sa.String(16)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
# one index serves ensure_admin's "is there an admin yet?"
sa.Index("ix_accounts_role", accounts.c.role)

# Keyed by customer id without a foreign key: an order.delivered for an id this
# service has no account for is still counted, not lost.
customer_stats = sa.Table(
    "customer_stats",
    metadata,
    sa.Column("customer_id", sa.String(36), primary_key=True),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("orders_count", sa.Integer, nullable=False),
    sa.Column("total_spent", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_customer_stats_level", customer_stats.c.level)

# the orders already counted, so that a second order.delivered for one order (another event id) counts nothing
counted_orders = sa.Table(
    "counted_orders",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
)
