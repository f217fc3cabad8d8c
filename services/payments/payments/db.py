"""The payments database: intents, receipts, refunds, wallets and the double-entry ledger."""

import sqlalchemy as sa

from kameng_common.db import NAMING_CONVENTION, messaging_tables

metadata = messaging_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))

Money = sa.BigInteger
# SQLite autoincrements only an INTEGER primary key
SerialId = sa.BigInteger().with_variant(sa.Integer, "sqlite")

payment_intents = sa.Table(
    "payment_intents",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # where the buyer pays (JSON: pay_url, code_url, form), once the provider has answered
    sa.Column("checkout", sa.Text),
    # "order", or "topup" (order_id is then the top-up's id): what the money received pays for
    sa.Column("purpose", sa.String(16), nullable=False, server_default="order"),
    # create_intent is idempotent per order and method, also under concurrent calls
    sa.UniqueConstraint("order_id", "method"),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
)

# Every sum of money received for an intent: a provider's notification, or a
# wallet debit. A provider's transaction is recorded once; its answer is kept
# so that a repeated notification is answered exactly as the first was.
receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("trade_no", sa.String(128), nullable=False),
    sa.Column("payment_id", sa.String(36), sa.ForeignKey("payment_intents.id"), nullable=False, index=True),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("provider", "trade_no"),
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("payment_id", sa.String(36), sa.ForeignKey("payment_intents.id"), nullable=False, index=True),
    # each sum received is given back at most once
    sa.Column("receipt_id", sa.String(36), sa.ForeignKey("receipts.id"), nullable=False, unique=True),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

wallets = sa.Table(
    "wallets",
    metadata,
    sa.Column("customer_id", sa.String(64), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("balance", Money, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # the last line of defence: whatever the code does, a wallet never goes below zero
    sa.CheckConstraint("balance >= 0", name="balance_not_negative"),
)

ledger_transactions = sa.Table(
    "ledger_transactions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    # the receipt or refund the posting records
    sa.Column("reference", sa.String(36), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("id", SerialId, primary_key=True, autoincrement=True),
    sa.Column(
        "transaction_id", sa.String(36), sa.ForeignKey("ledger_transactions.id"), nullable=False, index=True
    ),
    sa.Column("account", sa.String(128), nullable=False, index=True),
    sa.Column("currency", sa.String(3), nullable=False),
    # signed: a debit is positive, a credit negative; a transaction's entries sum to zero
    sa.Column("amount", Money, nullable=False),
    sa.CheckConstraint("amount <> 0", name="amount_not_zero"),
)

# Refunds staff ask for: full or partial, to the wallet or back through the
# provider. The amount is reserved while pending; a failed one reserves nothing.
order_refunds = sa.Table(
    "order_refunds",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("order_id", sa.String(64), nullable=False, index=True),
    sa.Column("payment_id", sa.String(36), sa.ForeignKey("payment_intents.id"), nullable=False),
    sa.Column("receipt_id", sa.String(36), sa.ForeignKey("receipts.id"), nullable=False, index=True),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("destination", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("provider_refund_id", sa.String(128)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # one refund per request: the same key for the same order is the same refund
    sa.UniqueConstraint("order_id", "idempotency_key"),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
)

# After-sales tickets: a buyer asks for a refund with a reason; finance (or an
# admin) approves, which opens the staff refund, or support or finance rejects.
refund_requests = sa.Table(
    "refund_requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("order_id", sa.String(64), nullable=False, index=True),
    sa.Column("customer_id", sa.String(64), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_by", sa.String(64)),
    sa.Column("decision_reason", sa.Text),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    # the refund an approval opened: one per ticket
    sa.Column("refund_id", sa.String(36), sa.ForeignKey("order_refunds.id"), unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
# one open ticket per order, whatever the code does
sa.Index(
    "uq_refund_requests_open_order",
    refund_requests.c.order_id,
    unique=True,
    postgresql_where=refund_requests.c.status == "open",
    sqlite_where=refund_requests.c.status == "open",
)
sa.Index("ix_refund_requests_status_created", refund_requests.c.status, refund_requests.c.created_at)

# support's and finance's notes on a ticket, oldest first
refund_request_comments = sa.Table(
    "refund_request_comments",
    metadata,
    sa.Column("id", SerialId, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), sa.ForeignKey("refund_requests.id"), nullable=False, index=True),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# What inventory sold (cards.delivered): each delivered order's lines, at the price orders quoted
# and the cost price inventory knew at the sale (None: unknown), for finance's cost and margins.
sale_lines = sa.Table(
    "sale_lines",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("product_id", sa.Integer, nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", Money, nullable=False),
    sa.Column("unit_cost", Money),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

# When a kind of record began to be kept here (a row per kind, written by the migration that brought it):
# what came before has none, and the audit asks it only of what came after.
milestones = sa.Table(
    "milestones",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
)
SALE_LINES_KEPT = "sale_lines_kept"
