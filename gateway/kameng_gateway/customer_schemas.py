"""marshmallow schemas of the customers, agents and marketing routes (see ``schemas`` for the rest)."""

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kameng_gateway.schemas import (
    MAX_AMOUNT,
    MAX_ID,
    PageQuerySchema,
    ProductSchema,
    RequestSchema,
    UtcDateTime,
    money,
    page_of,
    timestamp,
)


class LevelSchema(Schema):
    name = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$"),
        metadata={"description": "the key of products' level_prices"},
    )
    threshold = money("lifetime spend (fen) from which a customer holds this level", required=True)


class LevelsSchema(RequestSchema):
    levels = fields.List(
        fields.Nested(LevelSchema),
        required=True,
        validate=validate.Length(1, 20),
        metadata={"description": "lowest first; the first is `regular` at 0"},
    )
    currency = fields.String(dump_only=True, metadata={"description": "the currency spend is counted in"})


# --- customers and their tags ---

TAG_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
# kameng_common.regions' codes, in any case
REGION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$"


class CustomerListQuerySchema(PageQuerySchema):
    tag = fields.String(
        validate=validate.Regexp(TAG_PATTERN),
        metadata={
            "description": "only customers with this tag: computed (high_value, loyal, dormant, new, "
            "at_risk) or given by staff"
        },
    )
    level = fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$"))
    username = fields.String(
        validate=validate.Length(1, 32), metadata={"description": "a prefix, whatever its case"}
    )
    region = fields.String(
        validate=validate.Regexp(REGION_PATTERN),
        metadata={
            "description": "only customers who registered from this region (e.g. GD), whatever its case"
        },
    )


class RfmSchema(Schema):
    recency = fields.Integer(
        metadata={"description": "5: ordered in the last 7 days … 1: not for 180; 0: never"}
    )
    frequency = fields.Integer(metadata={"description": "5: 20 delivered orders or more … 1: one; 0: none"})
    monetary = fields.Integer(
        metadata={"description": "5: spend after refunds of 1,000,000 fen or more … 1: under 20,000; 0: none"}
    )


class StaffTagSchema(Schema):
    tag = fields.String()
    added_by = fields.String(metadata={"description": "the staff account that gave it"})
    added_at = timestamp()


class CustomerSummarySchema(Schema):
    id = fields.String()
    username = fields.String()
    level = fields.String()
    region = fields.String(
        allow_none=True,
        metadata={
            "description": "where the trusted proxy placed the client at registration (its region "
            "header, e.g. CN or GD); null where it named none: Kameng has no GeoIP of its own"
        },
    )
    registered_at = timestamp()
    orders_count = fields.Integer(metadata={"description": "delivered orders"})
    total_spent = fields.Integer(metadata={"description": "delivered orders' totals in `currency` (fen)"})
    refunded = fields.Integer(metadata={"description": "what refunds of those orders gave back"})
    currency = fields.String()
    first_order_at = timestamp()
    last_order_at = timestamp()
    rfm = fields.Nested(RfmSchema)
    tags = fields.List(fields.String(), metadata={"description": "computed tags first, then staff tags"})
    agent_id = fields.String(allow_none=True, metadata={"description": "set when the customer is an agent"})
    invited_by = fields.String(
        allow_none=True, metadata={"description": "the agent whose invite code they used"}
    )


class CustomerDetailSchema(CustomerSummarySchema):
    staff_tags = fields.List(fields.Nested(StaffTagSchema))


CustomerPageSchema = page_of(CustomerSummarySchema, "CustomerPageSchema")


class CustomerTagCreationSchema(RequestSchema):
    tag = fields.String(
        required=True,
        validate=validate.Regexp(TAG_PATTERN),
        metadata={"description": "lower-case; not one of the computed tags"},
    )


class CustomerTagCountSchema(Schema):
    tag = fields.String()
    kind = fields.String(metadata={"enum": ["computed", "staff"]})
    description = fields.String(allow_none=True, metadata={"description": "a computed tag's rule"})
    customers = fields.Integer()


class CustomerTagListSchema(Schema):
    items = fields.List(fields.Nested(CustomerTagCountSchema))


# --- agents ---


class AgentCreationSchema(RequestSchema):
    customer_id = fields.String(required=True, validate=validate.Length(1, 64))
    parent_agent_id = fields.String(
        validate=validate.Length(1, 64),
        metadata={"description": "the agent to place this one under; absent: at the top"},
    )


class AgentSchema(Schema):
    agent_id = fields.String()
    customer_id = fields.String()
    parent_agent_id = fields.String(allow_none=True)
    invite_code = fields.String(metadata={"description": "brings new customers into the agent's downline"})
    depth = fields.Integer(metadata={"description": "1 for an agent at the top"})


class CommissionPlanSchema(RequestSchema):
    rates_bp = fields.List(
        fields.Integer(strict=True, validate=validate.Range(0, 10_000)),
        required=True,
        validate=validate.Length(1, 100),
        metadata={
            "description": "basis points of a delivered order's total earned by each agent up the "
            "buyer's line, the closest first; together at most 10000 (100 %)"
        },
    )


class AgentEntrySchema(Schema):
    id = fields.String()
    kind = fields.String(
        metadata={"enum": ["commission", "markup", "reversal", "withdrawal", "withdrawal_returned"]}
    )
    order_id = fields.String(allow_none=True)
    depth = fields.Integer(allow_none=True, metadata={"description": "how far up the buyer's line"})
    amount = fields.Integer(metadata={"description": "minor units, signed"})
    currency = fields.String()
    status = fields.String(metadata={"enum": ["pending", "available"]})
    matures_at = fields.String(metadata={"format": "date-time"})
    created_at = fields.String(metadata={"format": "date-time"})


class EarningsSchema(Schema):
    agent_id = fields.String()
    invite_code = fields.String()
    currency = fields.String()
    pending = fields.Integer(metadata={"description": "earned, still in the hold period"})
    available = fields.Integer(
        metadata={"description": "may be withdrawn; below zero after refunds, until later earnings"}
    )
    requested = fields.Integer(metadata={"description": "asked for, awaiting finance's decision"})
    withdrawn = fields.Integer(metadata={"description": "paid out"})
    entries = fields.List(fields.Nested(AgentEntrySchema), metadata={"description": "the latest 50"})


class DownlineMemberSchema(Schema):
    customer_id = fields.String()
    username = fields.String()
    depth = fields.Integer(metadata={"description": "1: invited by this agent (or one of their agents)"})
    agent_id = fields.String(allow_none=True, metadata={"description": "set for a sub-agent"})
    orders_count = fields.Integer()
    joined_at = fields.String(metadata={"format": "date-time"})


DownlinePageSchema = page_of(DownlineMemberSchema, "DownlinePageSchema")


class WithdrawalRequestSchema(RequestSchema):
    amount = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, 10**12),
        metadata={"description": "minor units (fen); at most what is available"},
    )
    account = fields.String(
        required=True,
        validate=validate.Length(1, 128),
        metadata={"description": "where to pay it, e.g. an Alipay account or a bank card"},
    )


class WithdrawalSchema(Schema):
    id = fields.String()
    agent_id = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    account = fields.String()
    status = fields.String(metadata={"enum": ["requested", "paid", "rejected"]})
    reason = fields.String(allow_none=True)
    created_at = fields.String(metadata={"format": "date-time"})
    decided_at = fields.String(allow_none=True, metadata={"format": "date-time"})


WithdrawalPageSchema = page_of(WithdrawalSchema, "WithdrawalPageSchema")


class WithdrawalListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(["requested", "paid", "rejected"]))


class WithdrawalDecisionSchema(RequestSchema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.String(load_default=None, validate=validate.Length(max=500))


# --- coupons ---


class CouponCreationSchema(RequestSchema):
    code = fields.String(
        required=True,
        validate=validate.Regexp(r"^\s*[A-Za-z0-9_-]{3,32}\s*$"),
        metadata={"description": "3 to 32 letters, digits, '_' or '-'; matched without case"},
    )
    kind = fields.String(required=True, validate=validate.OneOf(["amount_off", "percent_off"]))
    value = fields.Integer(
        strict=True,
        required=True,
        validate=validate.Range(1, MAX_AMOUNT),
        metadata={"description": "amount_off: fen off; percent_off: a whole percent (1 to 100) off"},
    )
    min_total = money("what the items in the coupon's scope must cost at least (fen)", load_default=0)
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))
    starts_at = UtcDateTime(required=True)
    ends_at = UtcDateTime(required=True, metadata={"description": "the first moment it no longer applies"})
    total_limit = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(1, 10**9),
        metadata={"description": "uses held or spent in all; absent: no limit"},
    )
    per_customer_limit = fields.Integer(strict=True, load_default=1, validate=validate.Range(1, 10**6))
    product_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(1, MAX_ID)),
        load_default=list,
        validate=validate.Length(max=1000),
        metadata={"description": "the products it discounts (with category_ids); both empty: every item"},
    )
    category_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(1, MAX_ID)),
        load_default=list,
        validate=validate.Length(max=1000),
        metadata={"description": "the categories whose products it discounts (a product's own category)"},
    )
    public = fields.Boolean(
        load_default=True,
        metadata={
            "description": "true: anyone with the code may use it; false: only customers it is issued to"
        },
    )
    segment = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(1, 40),
        metadata={
            "description": "only customers in this segment may use it, as they are when they order: a "
            "tag (computed: high_value, loyal, dormant, new, at_risk; or a staff tag) or region:<REGION> "
            "(e.g. region:GD); others are refused 403 coupon_out_of_segment"
        },
    )


class CouponSchema(Schema):
    id = fields.String()
    code = fields.String()
    kind = fields.String()
    value = fields.Integer()
    min_total = money()
    currency = fields.String()
    starts_at = fields.String(metadata={"format": "date-time"})
    ends_at = fields.String(metadata={"format": "date-time"})
    total_limit = fields.Integer(allow_none=True)
    per_customer_limit = fields.Integer()
    product_ids = fields.List(fields.Integer())
    category_ids = fields.List(fields.Integer())
    public = fields.Boolean()
    segment = fields.String(
        allow_none=True, metadata={"description": "a tag or region:<REGION>; null: anyone"}
    )
    used = fields.Integer(metadata={"description": "uses held by open orders or spent by paid ones"})
    issued = fields.Integer(metadata={"description": "customers it was issued to (one coupon's page only)"})
    customers_paid = fields.Integer(
        metadata={"description": "customers who paid an order with it (one coupon's page only)"}
    )
    segment_customers = fields.Integer(
        metadata={"description": "a segment's coupon: customers in the segment now (one coupon's page only)"}
    )
    tag = fields.String(metadata={"description": "the tag asked for with ?tag="})
    tagged_issued = fields.Integer(
        metadata={"description": "of the customers it was issued to, those who hold the tag now"}
    )
    tagged_paid = fields.Integer(
        metadata={"description": "of the customers who paid with it, those who hold the tag now"}
    )
    created_at = fields.String(metadata={"format": "date-time"})


CouponPageSchema = page_of(CouponSchema, "CouponPageSchema")


class CouponReportQuerySchema(RequestSchema):
    tag = fields.String(
        validate=validate.Length(1, 32),
        metadata={
            "description": "a targeted offer's report: the counts among the customers who hold this tag"
        },
    )


class CouponPageQuerySchema(PageQuerySchema):
    cursor = fields.String(load_default=None, validate=validate.Length(1, 32))


class CouponIssueSchema(RequestSchema):
    customer_ids = fields.List(
        fields.String(validate=validate.Length(1, 64)),
        validate=validate.Length(1, 10_000),
        metadata={"description": "the customers who may use the coupon from now on"},
    )
    tag = fields.String(
        validate=validate.Length(1, 32),
        metadata={"description": "instead of customer_ids: everyone who holds this tag now"},
    )

    @validates_schema
    def _one_audience(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if ("customer_ids" in data) == ("tag" in data):
            raise ValidationError("give either customer_ids or tag", "customer_ids")


class CouponIssuedSchema(Schema):
    coupon_id = fields.String()
    tag = fields.String(allow_none=True)
    customers = fields.Integer(metadata={"description": "customers asked for"})
    newly_issued = fields.Integer(metadata={"description": "of them, those who did not have it yet"})


class MyCouponSchema(Schema):
    code = fields.String()
    kind = fields.String()
    value = fields.Integer()
    min_total = money()
    currency = fields.String()
    starts_at = fields.String(metadata={"format": "date-time"})
    ends_at = fields.String(metadata={"format": "date-time"})
    per_customer_limit = fields.Integer()
    product_ids = fields.List(fields.Integer())
    category_ids = fields.List(fields.Integer())
    uses_left = fields.Integer()


class MyCouponsSchema(Schema):
    items = fields.List(fields.Nested(MyCouponSchema))


# --- agents' shops ---


class ShopSettingsSchema(RequestSchema):
    slug = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$"),
        metadata={
            "description": "the shop's address, /s/<slug>: 3 to 32 lower-case letters, digits, inner hyphens"
        },
    )
    name = fields.String(required=True, validate=validate.Length(1, 64))
    markup_bp = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(0, 10_000),
        metadata={"description": "basis points over the agent price that the shop's buyers pay (0 to 100 %)"},
    )


class ShopSchema(Schema):
    slug = fields.String()
    name = fields.String()
    markup_bp = fields.Integer()
    invite_code = fields.String(metadata={"description": "the agent's: the shop's sign-up link carries it"})
    updated_at = timestamp()


class PublicShopSchema(Schema):
    slug = fields.String()
    name = fields.String()
    invite_code = fields.String(
        metadata={"description": "signing up with it puts the new customer in the agent's downline"}
    )


ShopProductPageSchema = page_of(ProductSchema, "ShopProductPageSchema", shop=fields.Nested(PublicShopSchema))
