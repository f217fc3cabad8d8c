import sqlalchemy as sa

from kameng_common.db import messaging_tables

metadata = messaging_tables(sa.MetaData())

# One row per order scored: risk's own copy of the order (for velocity) and its
# decision. The order id as key is what makes a second order.created for the
# same order, under another event id, score nothing twice.
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
)
# the velocity rule counts one customer's orders in a time window on every order
sa.Index("ix_assessments_customer_created", assessments.c.customer_id, assessments.c.created_at)

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

blacklist = sa.Table(
    "blacklist",
    metadata,
    sa.Column("customer_id", sa.String(64), primary_key=True),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
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
