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
    # raised by a password change, a role change and a disable: the gateway refuses
    # every token issued under a lower version
    sa.Column("token_version", sa.Integer, nullable=False, server_default="0"),
    # a disabled account cannot sign in, and its tokens stop working at once
    sa.Column("disabled_at", sa.DateTime(timezone=True)),
    # a customer's region at registration, as the proxy in front of the gateway named it
    # (kameng_common.regions); NULL where it named none
    sa.Column("region", sa.String(16)),
)
# one index serves ensure_admin's "is there an admin yet?"
sa.Index("ix_accounts_role", accounts.c.role)
# the staff's customer list, newest first
sa.Index("ix_accounts_kind_created_at", accounts.c.kind, accounts.c.created_at)
# the customer list's ?region= and a region segment's customers
sa.Index("ix_accounts_kind_region", accounts.c.kind, accounts.c.region)

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
    # how many customer.level_changed events the customer has had: each carries the next
    sa.Column("level_version", sa.Integer, nullable=False, server_default="0"),
    # the agents above the customer, root first, as "/<agent id>/.../<agent id>/": the
    # agent who invited them (or, for an agent, their parent) and that agent's own line.
    # Crediting an order reads this one row, whatever the size of the tree.
    sa.Column("agent_line", sa.Text),
    sa.Column("invited_by", sa.String(36)),
    # what refunds of counted orders gave back, in the currency total_spent counts: the
    # monetary score measures the spend less this
    sa.Column("refunded_spend", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("first_order_at", sa.DateTime(timezone=True)),
    sa.Column("last_order_at", sa.DateTime(timezone=True)),
)
sa.Index("ix_customer_stats_agent_line", customer_stats.c.agent_line)
sa.Index("ix_customer_stats_level", customer_stats.c.level)
# the recency tags (loyal, at_risk, dormant) are ranges of it
sa.Index("ix_customer_stats_last_order_at", customer_stats.c.last_order_at)

# The tags staff give customers by hand; the computed ones (domain.TAG_RULES) are never stored.
customer_tags = sa.Table(
    "customer_tags",
    metadata,
    sa.Column("customer_id", sa.String(36), primary_key=True),
    sa.Column("tag", sa.String(32), primary_key=True),
    sa.Column("added_by", sa.String(64), nullable=False),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_customer_tags_tag", customer_tags.c.tag, customer_tags.c.customer_id)

# the orders already counted, so that a second order.delivered for one order (another event id) counts nothing
counted_orders = sa.Table(
    "counted_orders",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
    # what refunds have given back of it so far: agents' earnings on it shrink in proportion
    sa.Column("refunded", sa.BigInteger, nullable=False, server_default="0"),
)

# The membership levels ops configured, and the lifetime spend that reaches each;
# empty until they first do, when domain.DEFAULT_LEVELS apply.
membership_levels = sa.Table(
    "membership_levels",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("threshold", sa.BigInteger, nullable=False, unique=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# An agent is a customer who earns on the sales of their downline. ``path`` is the
# agent's place in the tree, root first and ending with the agent itself.
agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("customer_id", sa.String(36), nullable=False, unique=True),
    sa.Column("parent_agent_id", sa.String(36)),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("invite_code", sa.String(16), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_agents_path", agents.c.path)

# the rate (basis points of an order's total) earned at each depth up the buyer's line, 1 = closest
commission_plan = sa.Table(
    "commission_plan",
    metadata,
    sa.Column("depth", sa.Integer, primary_key=True),
    sa.Column("rate_bp", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# An agent's money, kept equal to the sums of their entries: ``pending`` the unmatured
# ones, ``available`` the matured ones less what was withdrawn or is asked for;
# ``requested`` awaits a decision, ``withdrawn`` was paid out.
agent_balances = sa.Table(
    "agent_balances",
    metadata,
    sa.Column("agent_id", sa.String(36), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("pending", sa.BigInteger, nullable=False),
    sa.Column("available", sa.BigInteger, nullable=False),
    sa.Column("requested", sa.BigInteger, nullable=False),
    sa.Column("withdrawn", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Every movement of an agent's money. ``reference`` makes each one happen once: the
# order for an earning, "<refund>/<entry>" for a reversal, the withdrawal for the rest.
agent_entries = sa.Table(
    "agent_entries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("agent_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("reference", sa.String(80), nullable=False),
    sa.Column("order_id", sa.String(64)),
    sa.Column("depth", sa.Integer),
    # signed: what the entry adds to the agent's money
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    # how much of an earning refunds have taken back
    sa.Column("reversed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("matures_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("matured", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("agent_id", "kind", "reference"),
)
sa.Index("ix_agent_entries_unmatured", agent_entries.c.matured, agent_entries.c.matures_at)
sa.Index("ix_agent_entries_order", agent_entries.c.order_id)
sa.Index("ix_agent_entries_agent", agent_entries.c.agent_id, agent_entries.c.created_at)

withdrawals = sa.Table(
    "withdrawals",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("agent_id", sa.String(36), nullable=False, index=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    # where the agent wants the money (an account number or handle); shown to finance only
    sa.Column("account", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # the agent's available balance when they asked: the audit checks the amount was within it
    sa.Column("available_before", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(500)),
    sa.Column("decided_by", sa.String(36)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("amount > 0", name="ck_withdrawals_amount_positive"),
)

# A coupon (customers/coupons.py): amount_off (fen) or percent_off (whole percent) of the order
# lines in its scope (every line when both scopes are empty). ``used`` counts its uses held
# or spent; a hold raises it only while it is below ``total_limit`` (NULL: no limit).
coupons = sa.Table(
    "coupons",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("code", sa.String(32), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.Column("min_total", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("total_limit", sa.Integer),
    sa.Column("per_customer_limit", sa.Integer, nullable=False),
    sa.Column("product_ids", sa.JSON, nullable=False),
    sa.Column("category_ids", sa.JSON, nullable=False),
    # a public code serves anyone who has it; any other coupon only the customers it was issued to
    sa.Column("public", sa.Boolean, nullable=False),
    # the only customers who may use it, if set: those holding a tag, or "region:<REGION>"
    sa.Column("segment", sa.String(40)),
    sa.Column("used", sa.Integer, nullable=False),
    sa.Column("created_by", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("total_limit IS NULL OR used <= total_limit", name="ck_coupons_within_total_limit"),
    sa.CheckConstraint("used >= 0", name="ck_coupons_used_not_negative"),
)

# the customers a coupon was issued to (by id, or as holders of a tag at issue time)
coupon_grants = sa.Table(
    "coupon_grants",
    metadata,
    sa.Column("coupon_id", sa.String(36), primary_key=True),
    sa.Column("customer_id", sa.String(36), primary_key=True),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_coupon_grants_customer", coupon_grants.c.customer_id)

# One use of a coupon per order: held when the order is placed, spent when it is paid,
# released when it is cancelled or expires (and then no longer counted).
coupon_uses = sa.Table(
    "coupon_uses",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("coupon_id", sa.String(36), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("discount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_coupon_uses_coupon_customer", coupon_uses.c.coupon_id, coupon_uses.c.customer_id)
# the sweep of holds older than the grace period whose order was never stored
sa.Index("ix_coupon_uses_status_held_at", coupon_uses.c.status, coupon_uses.c.held_at)
# An agent's own storefront (分站) at /s/<slug>: the catalogue at the agent price plus the markup.
shops = sa.Table(
    "shops",
    metadata,
    sa.Column("agent_id", sa.String(36), primary_key=True),
    sa.Column("slug", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False),
    # basis points over the agent price: what the shop's buyers pay above it
    sa.Column("markup_bp", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("markup_bp >= 0 AND markup_bp <= 10000", name="ck_shops_markup_bp"),
)
