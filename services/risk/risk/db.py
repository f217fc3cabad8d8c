import sqlalchemy as sa

from kameng_common.db import messaging_tables

metadata = messaging_tables(sa.MetaData())

# One row per order scored: risk's own copy of the order (for the rules that count a customer's
# orders) and its decision. The order id as key is what makes orders asking again for the same
# order (a retry, its sweeper) score nothing twice.
assessments = sa.Table(
    "assessments",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    # when orders created the order (the event's occurred_at, UTC), not when risk heard of it
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
    # where the buyer ordered from, as the gateway saw it
    sa.Column("client_ip", sa.String(45)),
    sa.Column("device_id", sa.String(128)),
    # null while the order is unpaid and open; then paid, cancelled or expired
    sa.Column("closed_as", sa.String(16)),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
)
# velocity counts one customer's orders in a time window on every order
sa.Index("ix_assessments_customer_created", assessments.c.customer_id, assessments.c.created_at)
# unpaid orders (closed_as null) and abandoned ones (expired, by when) of one customer, on every order
sa.Index(
    "ix_assessments_customer_closed",
    assessments.c.customer_id,
    assessments.c.closed_as,
    assessments.c.closed_at,
)

# the units of each product in each order scored, for the cap on a customer's unpaid units
assessment_lines = sa.Table(
    "assessment_lines",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("product_id", sa.BigInteger, primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
)

# how orders risk had not scored yet were closed: events of one order may overtake each other
early_closures = sa.Table(
    "early_closures",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("closed_as", sa.String(16), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
)

# Risk's copy of each customer, from customers' events. Scoring an order locks its customer's
# row first, so that one customer's orders are scored one after another and each count sees
# every order scored before it (no undercount when orders arrive together).
customer_profiles = sa.Table(
    "customer_profiles",
    metadata,
    sa.Column("customer_id", sa.String(64), primary_key=True),
    sa.Column("registered_at", sa.DateTime(timezone=True)),
    # the last sign-in from a network the customer had not used before
    sa.Column("new_network_at", sa.DateTime(timezone=True)),
    sa.Column("new_network", sa.String(64)),
    # the customer's last password change
    sa.Column("password_changed_at", sa.DateTime(timezone=True)),
)

# the networks each customer signed in from
customer_networks = sa.Table(
    "customer_networks",
    metadata,
    sa.Column("customer_id", sa.String(64), primary_key=True),
    sa.Column("network", sa.String(64), primary_key=True),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
)

# refunds asked for a customer's orders, for the refund-abuse rule
refund_requests = sa.Table(
    "refund_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index(
    "ix_refund_requests_customer_requested", refund_requests.c.customer_id, refund_requests.c.requested_at
)

# the orders risk sent to review, and how each review ended; orders decides, and tells risk by event
reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    # waiting, then approved, rejected, timed_out (nobody decided in time) or closed (cancelled otherwise)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_by", sa.String(64)),
    sa.Column("decision_reason", sa.String(500)),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
)
sa.Index("ix_reviews_status_created", reviews.c.status, reviews.c.created_at)

# accounts, client addresses and devices whose orders are rejected
blacklist_entries = sa.Table(
    "blacklist_entries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    # account (a customer id), ip (an address) or device (an X-Device-Id)
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.String(128), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("created_by", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # one entry per thing blacklisted; scoring looks each kind up by value
    sa.UniqueConstraint("kind", "value", name="uq_blacklist_entries_kind_value"),
)

# The tamper-evident audit log: append-only, each entry chained to the one
# before by its hash (risk/auditchain.py). entry_id makes an append idempotent.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("entry_id", sa.String(64), nullable=False, unique=True),
    # as the source wrote it (ISO 8601 UTC): hashed exactly as stored
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    # canonical JSON text, hashed exactly as stored
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

# One row: where the chain ends. An append locks it, so appends are serialised
# on PostgreSQL as SQLite serialises every writer; and the verifier compares it
# with the last entry, which catches entries removed from the end.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
