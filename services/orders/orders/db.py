"""The orders database: orders, their lines, their history and the payments they received."""

import datetime

import sqlalchemy as sa

from kameng_common.db import messaging_tables
from orders import domain

# named constraints, so that alembic can alter them on SQLite too
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(sa.types.TypeDecorator):
    """An aware UTC datetime on every database (SQLite hands back naive ones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use an aware UTC one")
        return value.astimezone(datetime.UTC)

    def process_result_value(self, value, dialect):
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=datetime.UTC)


metadata = messaging_tables(sa.MetaData(naming_convention=NAMING))

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("level", sa.String(32), nullable=False),
    sa.Column("idempotency_key", sa.String(128), nullable=False),
    # the SHA-256 of what was asked with that key, so that the key reused for another request is refused
    sa.Column("request_hash", sa.String(64)),
    sa.Column("status", sa.String(32), nullable=False),
    # the saga's answers so far: inventory's reservation and risk's decision
    sa.Column("stock_status", sa.String(16), nullable=False, default=domain.STOCK_PENDING),
    sa.Column("risk_decision", sa.String(16)),
    # risk's score and its reasons, for the reviewers of an order on hold; never shown to the buyer
    sa.Column("risk_score", sa.Integer),
    sa.Column("risk_reasons", sa.JSON),
    # what the buyer pays: the lines' prices less the coupon's discount
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    # the coupon whose use customers holds for the order, and what it takes off
    sa.Column("coupon_code", sa.String(32)),
    sa.Column("discount", sa.BigInteger, nullable=False, server_default="0"),
    # an order placed through an agent's shop (分站): its slug, the agent, and what the agent is credited
    # when it is delivered (what the buyer pays over the agent price)
    sa.Column("shop", sa.String(32)),
    sa.Column("shop_agent_id", sa.String(36)),
    sa.Column("shop_markup", sa.BigInteger, nullable=False, server_default="0"),
    # the payment that paid the order; others are refunded
    sa.Column("payment_id", sa.String(64)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # awaiting_payment: the payment deadline; on_hold: the review deadline
    sa.Column("expires_at", UtcDateTime),
    # where the buyer ordered from, as the gateway saw it: risk scores the order with it, also when the
    # order is placed again after a failure
    sa.Column("client_ip", sa.String(45)),
    sa.Column("device_id", sa.String(128)),
    # the same key from the same customer is the same order
    sa.UniqueConstraint("customer_id", "idempotency_key"),
    sa.CheckConstraint(sa.column("status").in_(domain.STATUSES), name="status"),
    sa.Index(None, "status", "expires_at"),
    sa.Index(None, "status", "created_at"),
    sa.Index(None, "created_at", "id"),
    sa.Index(None, "customer_id", "created_at", "id"),
)

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("product_id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", sa.BigInteger, nullable=False),
    # a direct top-up's: the account the supplier tops up
    sa.Column("recharge_account", sa.String(128)),
)

order_history = sa.Table(
    "order_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)

# every payment.succeeded received, keyed by payment: a payment is judged once
# every sum received (a provider's transaction), so a second sum for one payment is seen as such
order_receipts = sa.Table(
    "order_receipts",
    metadata,
    sa.Column("payment_id", sa.String(64), primary_key=True),
    sa.Column("trade_no", sa.String(128), primary_key=True),
    sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("received_at", UtcDateTime, nullable=False),
)

order_payments = sa.Table(
    "order_payments",
    metadata,
    sa.Column("payment_id", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("accepted", sa.Boolean, nullable=False),
    # set when orders asked payments to give it back
    sa.Column("refund_reason", sa.String(64)),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("refunded_at", UtcDateTime),
)

# the decision on an order risk held for review, one per order: a second decision is refused
order_reviews = sa.Table(
    "order_reviews",
    metadata,
    sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), primary_key=True),
    # approve, reject, or timeout (nobody decided in time)
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    # the staff account that decided; null for a timeout
    sa.Column("decided_by", sa.String(64)),
    sa.Column("decided_at", UtcDateTime, nullable=False),
)

# orders' copy of each buyer's level, which prices their orders, kept by customer.level_changed;
# a buyer without a row has never changed level and pays the first level's prices
customer_levels = sa.Table(
    "customer_levels",
    metadata,
    sa.Column("customer_id", sa.String(64), primary_key=True),
    sa.Column("level", sa.String(32), nullable=False),
    # the version of the change this level came with: an older or repeated change never overwrites it
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# ---- the channel API: API keys, orders placed through it and their delivery callbacks

# A key's secret is sealed (kameng_common.sealing), not hashed: verifying an
# HMAC and signing a callback both need it in clear.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("seal_key_id", sa.String(32), nullable=False),
    sa.Column("sealed_secret", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
)

# which orders came through the channel API, and where their outcome is pushed;
# the order's idempotency key ("channel:<client_order_id>") makes a client_order_id one order
channel_orders = sa.Table(
    "channel_orders",
    metadata,
    sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), primary_key=True),
    sa.Column("key_id", sa.String(40), nullable=False),
    sa.Column("client_order_id", sa.String(64), nullable=False),
    sa.Column("callback_url", sa.String(500)),
)

# One push per order and status reached, written with the status change and
# sent by a timer until the receiver answers 2xx: a durable, retried delivery.
channel_callbacks = sa.Table(
    "channel_callbacks",
    metadata,
    sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), primary_key=True),
    sa.Column("status", sa.String(32), primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    # the next try; while a sender holds the row it is the end of its lease
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("delivered_at", UtcDateTime),
    sa.Column("last_error", sa.String(200)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index(None, "delivered_at", "next_attempt_at"),
)
