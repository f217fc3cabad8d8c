"""marshmallow schemas of the REST API: what the gateway accepts and answers.

Request schemas validate input before any service is called (an unknown
field is refused); response schemas shape what the services return, so that
nothing leaves the gateway that the contract does not name. Both feed
``/openapi.json``.
"""

import datetime
import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from kameng_gateway.auth import STAFF_ROLES

PRODUCT_KINDS = ("card", "loop", "direct")
PRODUCT_STATUSES = ("on_sale", "off_sale")
CARD_STATES = ("available", "reserved", "sold", "void", "refunded")
PAYMENT_METHODS = ("mockpay", "alipay", "wechat", "unionpay", "balance")
ORDER_STATUSES = (
    "pending",
    "awaiting_payment",
    "on_hold",
    "paid",
    "delivered",
    "cancelled",
    "expired",
    "refunded",
    "failed",
)
# no whitespace or control characters; any script is welcome
USERNAME = validate.And(validate.Length(3, 64), validate.Regexp(r"^[^\s\x00-\x1f\x7f]+$"))
NEW_PASSWORD = validate.Length(8, 256)
MAX_STATUS_WAIT_SECONDS = 30

# What the databases hold: ids are 32-bit integer columns, money a 64-bit one.
# An amount stays far enough below 2^63 that a total of 50 lines of 1,000
# units each still fits (10^12 x 5 x 10^4 < 10^17). Lines and quantities are
# the orders service's own bounds.
MAX_ID = 2**31 - 1
MAX_AMOUNT = 10**12
MAX_ORDER_LINES = 50
MAX_QUANTITY = 1000
# any integer anywhere in a request, whatever its field: a signed 64-bit column's range
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# a lone UTF-16 surrogate no encoder takes; NUL no PostgreSQL text column takes
_NOT_TEXT = re.compile("[\ud800-\udfff\x00]")
_NOT_TEXT_MESSAGE = "Not valid text: it holds a lone UTF-16 surrogate or a NUL character."


class RequestSchema(Schema):
    """The base of every request schema (body, query and headers).

    Before any field is read, the whole input is walked once: a string that
    is not valid text (a lone UTF-16 surrogate, which no encoder accepts, or
    a NUL, which no PostgreSQL text column accepts) and an integer beyond a 64-bit column are refused as invalid
    input (422) here, whatever field holds them, so that none reaches a
    service. Fields state their own tighter bounds, which /openapi.json shows.
    """

    @pre_load(pass_collection=True)
    def _refuse_unstorable_values(self, data: Any, **kwargs: Any) -> Any:
        errors: dict[str, list[str]] = {}
        _collect_unstorable(data, (), errors)
        if errors:
            raise ValidationError(errors)
        return data


def _collect_unstorable(value: object, path: tuple, errors: dict[str, list[str]]) -> None:
    stack: list[tuple[object, tuple]] = [(value, path)]
    while stack:
        value, path = stack.pop()
        where = ".".join(map(str, path)) or "_schema"
        if isinstance(value, str):
            if _NOT_TEXT.search(value):
                errors.setdefault(where, []).append(_NOT_TEXT_MESSAGE)
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                errors.setdefault(where, []).append("Out of range: beyond a 64-bit integer.")
        elif isinstance(value, dict):
            for key, child in value.items():
                if isinstance(key, str) and _NOT_TEXT.search(key):
                    errors.setdefault(where, []).append(f"A key: {_NOT_TEXT_MESSAGE}")
                stack.append((child, (*path, key)))
        elif isinstance(value, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(value))


def identifier(**kwargs: Any) -> fields.Integer:
    """A catalogue id: a positive 32-bit integer."""
    return fields.Integer(strict=True, validate=validate.Range(1, MAX_ID), **kwargs)


def money(description: str = "minor units (fen)", **kwargs: Any) -> fields.Integer:
    """An amount in minor units: an integer, never a float."""
    return fields.Integer(
        strict=True, validate=validate.Range(0, MAX_AMOUNT), metadata={"description": description}, **kwargs
    )


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 time with its zone, handed on in UTC: PostgreSQL refuses offsets beyond
    ±15:59, which Python and ISO 8601 allow, and a moment outside Python's years is refused
    here rather than overflowing later."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(datetime.UTC)
        except OverflowError:
            raise ValidationError("Not a time within the years 1 to 9999 in UTC.") from None


def timestamp() -> fields.String:
    # the services send ISO 8601 strings already
    return fields.String(metadata={"format": "date-time"})


# --- requests ---


class CredentialsSchema(RequestSchema):
    username = fields.String(required=True, validate=validate.Length(1, 64))
    password = fields.String(required=True, validate=validate.Length(1, 256), load_only=True)


class RegistrationSchema(RequestSchema):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, validate=NEW_PASSWORD, load_only=True)
    invite_code = fields.String(
        validate=validate.Length(1, 32),
        load_only=True,
        metadata={"description": "an agent's invite code: the customer joins that agent's downline"},
    )


class StaffCreationSchema(RequestSchema):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, validate=NEW_PASSWORD, load_only=True)
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))


def level_prices_field(**kwargs: Any) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(validate=validate.Length(1, 32)),
        values=money(),
        metadata={"description": "price per membership or agent level, in minor units"},
        **kwargs,
    )


def stock_limit_field(**kwargs: Any) -> fields.Integer:
    return fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0),
        metadata={
            "description": "loop products only: units sellable in all (sold and reserved); null: no limit"
        },
        **kwargs,
    )


class CategoryCreationSchema(RequestSchema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    parent_id = identifier(allow_none=True, metadata={"description": "the parent category; none: a root"})


class CategoryChangeSchema(RequestSchema):
    name = fields.String(validate=validate.Length(1, 100), metadata={"description": "rename"})
    parent_id = identifier(
        allow_none=True, metadata={"description": "move under this category; null: to the root"}
    )


class ProductCreationSchema(RequestSchema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    category_id = identifier(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(PRODUCT_KINDS))
    price = money(required=True)
    currency = fields.String(
        load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"), metadata={"description": "ISO 4217 code"}
    )
    level_prices = level_prices_field()
    stock_limit = stock_limit_field()
    supplier_id = fields.Integer(
        strict=True,
        validate=validate.Range(min=1),
        metadata={
            "description": "direct: the supplier that tops it up; card: the supplier the cards it lacks "
            "when an order is paid are bought from, on demand"
        },
    )
    supplier_sku = fields.String(
        validate=validate.Length(1, 64),
        metadata={"description": "direct or card: the product's id at the supplier"},
    )


class ProductChangeSchema(RequestSchema):
    name = fields.String(validate=validate.Length(1, 200))
    price = money()
    level_prices = level_prices_field()
    status = fields.String(
        validate=validate.OneOf(PRODUCT_STATUSES),
        metadata={"description": "off_sale: hidden from buyers and not orderable"},
    )
    stock_limit = stock_limit_field()
    low_stock_threshold = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0),
        metadata={
            "description": "card and loop products: stock under this many units raises stock.low; "
            "null: the shop's default (KAMENG_LOW_STOCK_THRESHOLD, 10)"
        },
    )


class CardListQuerySchema(RequestSchema):
    state = fields.String(validate=validate.OneOf(CARD_STATES))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = fields.String(load_default=None, validate=validate.Length(1, 200))


class CategoryListQuerySchema(RequestSchema):
    limit = fields.Integer(load_default=1000, validate=validate.Range(1, 1000))
    cursor = fields.String(load_default=None, validate=validate.Length(1, 200))


class AdminProductListQuerySchema(RequestSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 100))
    cursor = fields.String(load_default=None, validate=validate.Length(1, 200))


class CardSchema(RequestSchema):
    number = fields.String(required=True, validate=validate.Length(1, 128))
    secret = fields.String(required=True, validate=validate.Length(1, 1024))


class CardImportSchema(RequestSchema):
    cards = fields.List(fields.Nested(CardSchema), required=True, validate=validate.Length(1, 100_000))


class OrderItemRequestSchema(RequestSchema):
    product_id = identifier(required=True)
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_QUANTITY))
    recharge_account = fields.String(
        validate=validate.Length(1, 128),
        metadata={"description": "a direct top-up's (required there, 422 otherwise): the account to top up"},
    )


class OrderCreationSchema(RequestSchema):
    items = fields.List(
        fields.Nested(OrderItemRequestSchema), required=True, validate=validate.Length(1, MAX_ORDER_LINES)
    )
    coupon_code = fields.String(validate=validate.Length(1, 64))
    shop = fields.String(
        validate=validate.Length(1, 32),
        metadata={
            "description": "the slug of the agent's shop (分站) the order is placed through: priced at the agent "
            "price plus the shop's markup, which the agent is credited when it is delivered; an unknown "
            "shop is 422 shop_not_found, a closed one 422 shop_closed"
        },
    )
    payment_method = fields.String(
        validate=validate.OneOf(PAYMENT_METHODS),
        metadata={
            "description": "open the payment too: the answer carries it once the order awaits payment "
            "(as POST /orders/{id}/payments would)"
        },
    )


class IdempotencyHeaderSchema(RequestSchema):
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=validate.And(validate.Length(1, 128), validate.Regexp(r"^[\x21-\x7e]+$")),
        metadata={
            "description": "the same key from the same customer returns the same "
            "order; a fresh one is made up when absent"
        },
    )


class OrderHeadersSchema(IdempotencyHeaderSchema):
    device_id = fields.String(
        data_key="X-Device-Id",
        validate=validate.And(validate.Length(1, 128), validate.Regexp(r"^[\x21-\x7e]+$")),
        metadata={
            "description": "an id the buyer's app or browser keeps for its device (printable ASCII, no "
            "spaces); risk rejects the orders of a blacklisted device"
        },
    )


class PaymentRequestSchema(RequestSchema):
    method = fields.String(required=True, validate=validate.OneOf(PAYMENT_METHODS))


class PageQuerySchema(RequestSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 100))
    # a page may take an integer cursor instead
    cursor: fields.Field = fields.String(load_default=None, validate=validate.Length(1, 200))


def page_of(item: type[Schema], name: str, **more: fields.Field) -> type[Schema]:
    """The schema class ``name`` of a page of ``item``: its ``items``, the ``next_cursor`` to pass
    back for the next page (null on the last), and ``more`` fields. ``name`` is the class's, which
    names it in ``/openapi.json`` (without "Schema")."""
    return Schema.from_dict(
        {"items": fields.List(fields.Nested(item)), "next_cursor": fields.String(allow_none=True), **more},
        name=name,
    )


class OrderListQuerySchema(PageQuerySchema):
    customer_id = fields.String(
        validate=validate.Length(1, 64),
        metadata={"description": "staff only: one customer's orders (default: everyone's)"},
    )


# one order status, or several separated by commas
_ORDER_STATUS = "(" + "|".join(ORDER_STATUSES) + ")"
ORDER_STATUS_LIST = validate.Regexp(rf"^{_ORDER_STATUS}(,{_ORDER_STATUS}){{0,8}}$")


class OrderReadQuerySchema(RequestSchema):
    changed_from = fields.String(
        validate=ORDER_STATUS_LIST,
        metadata={
            "description": "long-poll: answer as soon as the order's status is no longer "
            "this one, or once `wait` seconds have passed; several statuses, separated "
            "by commas (awaiting_payment,paid), wait through each of them"
        },
    )
    wait = fields.Float(
        load_default=0,
        validate=validate.Range(0, MAX_STATUS_WAIT_SECONDS),
        metadata={"description": "seconds the long-poll may wait; ignored without changed_from"},
    )
    include = fields.String(
        validate=validate.OneOf(["cards"]),
        metadata={
            "description": "cards: a delivered order's answer carries its card keys, as "
            "GET /orders/{order_id}/cards reveals them (its owner only, audited alike)"
        },
    )


# --- responses ---


class CustomerSchema(Schema):
    id = fields.String()
    username = fields.String()


class TokenSchema(Schema):
    access_token = fields.String()
    token_type = fields.String(metadata={"enum": ["bearer"]})
    expires_in = fields.Integer(metadata={"description": "seconds"})


class StaffSchema(Schema):
    id = fields.String()
    username = fields.String()
    kind = fields.String()
    role = fields.String(validate=validate.OneOf(STAFF_ROLES))


class CategorySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    parent_id = fields.Integer(allow_none=True, metadata={"description": "null for a root"})


CategoryPageSchema = page_of(CategorySchema, "CategoryPageSchema")


class ProductSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    category_id = fields.Integer()
    kind = fields.String(validate=validate.OneOf(PRODUCT_KINDS))
    price = money("minor units (fen), at the caller's level")
    currency = fields.String()
    level_prices = fields.Dict(keys=fields.String(), values=fields.Integer())
    status = fields.String(validate=validate.OneOf(PRODUCT_STATUSES))
    stock = fields.Integer(
        allow_none=True,
        metadata={
            "description": "units orderable now: cards available, what a loop product's limit leaves, "
            "or a direct top-up's supplier stock; null where unlimited"
        },
    )
    created_at = timestamp()
    supplier_id = fields.Integer(allow_none=True)
    supplier_sku = fields.String(allow_none=True)
    cost_price = fields.Integer(
        allow_none=True, metadata={"description": "direct: what the supplier charges, as last synced"}
    )


class StaffProductSchema(ProductSchema):
    """A product as staff see it: its base and level prices, status and limit."""

    price = money("the base price, minor units (fen)")
    stock_limit = fields.Integer(allow_none=True)
    low_stock_threshold = fields.Integer(
        allow_none=True, metadata={"description": "its own low-stock threshold; null: the shop's default"}
    )
    updated_at = fields.String(allow_none=True, metadata={"format": "date-time"})


StaffProductPageSchema = page_of(StaffProductSchema, "StaffProductPageSchema")


class PriceChangeSchema(Schema):
    price = money()
    currency = fields.String()
    level_prices = fields.Dict(keys=fields.String(), values=fields.Integer())
    changed_by = fields.String(allow_none=True, metadata={"description": "the staff id; null: unknown"})
    changed_at = timestamp()


class PriceHistorySchema(Schema):
    items = fields.List(fields.Nested(PriceChangeSchema))
    next_cursor = fields.String(allow_none=True)


class CardStateSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    state = fields.String(validate=validate.OneOf(CARD_STATES))
    order_id = fields.String(allow_none=True)
    imported_at = timestamp()
    reserved_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    sold_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    voided_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    refunded_at = fields.String(
        allow_none=True,
        metadata={
            "format": "date-time",
            "description": "when its order's money was given back in full: the card is then refunded, "
            "or void (keeping its order) where KAMENG_REFUND_CARD_POLICY=void",
        },
    )
    loop_orders = fields.Integer(
        metadata={"description": "loop products only: the orders delivered (or holding) this card"}
    )


CardPageSchema = page_of(CardStateSchema, "CardPageSchema")


ProductPageSchema = page_of(ProductSchema, "ProductPageSchema")


class CardImportResultSchema(Schema):
    imported = fields.Integer()
    duplicates = fields.Integer(metadata={"description": "numbers earlier in the file or already in stock"})
    rejected = fields.Integer(metadata={"description": "lines that are no card, or cards refused"})
    duplicate_lines = fields.List(
        fields.Integer(), metadata={"description": "line numbers (JSON: positions in cards, from 1)"}
    )
    rejected_lines = fields.List(fields.Integer())


class FulfilmentSchema(Schema):
    status = fields.String(validate=validate.OneOf(("pending", "succeeded", "failed")))
    supplier_order_id = fields.String(allow_none=True)


class OrderItemSchema(Schema):
    product_id = fields.Integer()
    name = fields.String()
    quantity = fields.Integer()
    unit_price = money()
    recharge_account = fields.String(allow_none=True, metadata={"description": "a direct top-up's"})
    fulfilment = fields.Nested(
        FulfilmentSchema, metadata={"description": "a paid direct top-up's: its supplier's progress"}
    )


class OrderHistoryEntrySchema(Schema):
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    at = timestamp()
    reason = fields.String(allow_none=True)


class CardSecretSchema(Schema):
    number = fields.String()
    secret = fields.String()


class OrderSchema(Schema):
    id = fields.String()
    customer_id = fields.String()
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    items = fields.List(fields.Nested(OrderItemSchema))
    total = money("what the buyer pays (fen): the items' prices less the discount")
    currency = fields.String()
    coupon_code = fields.String(allow_none=True, metadata={"description": "the coupon used, if any"})
    discount = money("what the coupon took off (fen)")
    shop = fields.String(
        allow_none=True,
        metadata={"description": "the slug of the agent's shop it was placed through, if any"},
    )
    payment_id = fields.String(allow_none=True)
    created_at = timestamp()
    updated_at = timestamp()
    expires_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    history = fields.List(fields.Nested(OrderHistoryEntrySchema))


class OrderSummarySchema(OrderSchema):
    """An order in a list: without its history."""

    class Meta:
        exclude = ("history",)


class OrderReadSchema(OrderSchema):
    """An order as GET /orders/{order_id} answers it."""

    cards = fields.List(
        fields.Nested(CardSecretSchema),
        metadata={"description": "with ?include=cards, once delivered: its card keys"},
    )


OrderPageSchema = page_of(OrderSummarySchema, "OrderPageSchema")


class OrderCountsSchema(Schema):
    by_status = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "orders in each status"}
    )


class PaymentSchema(Schema):
    payment_id = fields.String()
    amount = money()
    currency = fields.String()
    method = fields.String(validate=validate.OneOf(PAYMENT_METHODS))
    status = fields.String()
    pay_url = fields.String(
        allow_none=True, metadata={"description": "the page where the buyer pays (alipay, unionpay)"}
    )
    code_url = fields.String(
        allow_none=True, metadata={"description": "what the buyer's QR code holds (wechat, Native pay)"}
    )


class PlacedOrderSchema(OrderSchema):
    payment = fields.Nested(
        PaymentSchema,
        allow_none=True,
        metadata={
            "description": "with payment_method: the payment opened, null unless the order awaits payment"
        },
    )


class TopupRequestSchema(RequestSchema):
    amount = fields.Integer(
        required=True, strict=True, validate=validate.Range(1, MAX_AMOUNT), metadata={"description": "fen"}
    )
    method = fields.String(
        required=True,
        validate=validate.OneOf([method for method in PAYMENT_METHODS if method != "balance"]),
        metadata={"description": "the channel that takes the money"},
    )
    currency = fields.String(
        load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"), metadata={"description": "ISO 4217 code"}
    )


class TopupSchema(PaymentSchema):
    topup_id = fields.String()


class WalletQuerySchema(PageQuerySchema):
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))


class WalletEntrySchema(Schema):
    id = fields.String()
    amount = fields.Integer(metadata={"description": "fen; money into the wallet is positive, out negative"})
    kind = fields.String(metadata={"description": "topup, payment (an order paid by balance), refund"})
    reference = fields.String(metadata={"description": "the receipt or refund it records"})
    at = timestamp()


class WalletSchema(Schema):
    balance = money()
    currency = fields.String()
    items = fields.List(fields.Nested(WalletEntrySchema), metadata={"description": "entries, newest first"})
    next_cursor = fields.String(allow_none=True)


class RefundRequestSchema(RequestSchema):
    amount = fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_AMOUNT),
        metadata={"description": "fen; all that is left of what the order paid when absent"},
    )
    to = fields.String(
        required=True,
        validate=validate.OneOf(["original", "wallet"]),
        metadata={"description": "back through the channel that took the money, or into the buyer's wallet"},
    )
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class RefundListQuerySchema(PageQuerySchema):
    cursor = fields.Integer(load_default=None, validate=validate.Range(0, 10**7))
    status = fields.String(validate=validate.OneOf(["pending", "succeeded", "failed"]))
    order_id = fields.UUID()


class RefundSchema(Schema):
    id = fields.String()
    order_id = fields.String()
    payment_id = fields.String()
    customer_id = fields.String()
    provider = fields.String()
    amount = money()
    currency = fields.String()
    to = fields.String()
    reason = fields.String()
    actor = fields.String()
    status = fields.String(
        metadata={"description": "pending (the provider is asked, with retries), succeeded, failed"}
    )
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = timestamp()
    updated_at = timestamp()


RefundPageSchema = page_of(RefundSchema, "RefundPageSchema")


class RefundTicketOpenSchema(RequestSchema):
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class RefundTicketQuerySchema(PageQuerySchema):
    cursor = fields.Integer(load_default=None, validate=validate.Range(0, 10**7))
    status = fields.String(validate=validate.OneOf(["open", "approved", "rejected"]))
    order_id = fields.UUID()


class RefundTicketDecisionSchema(RequestSchema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.String(required=True, validate=validate.Length(1, 500))
    amount = fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_AMOUNT),
        metadata={
            "description": "fen an approval gives back; all that is left of what the order paid when absent"
        },
    )
    to = fields.String(
        load_default="original",
        validate=validate.OneOf(["original", "wallet"]),
        metadata={
            "description": "where an approval gives the money back (default: the channel that took it)"
        },
    )


class RefundTicketCommentRequestSchema(RequestSchema):
    text = fields.String(required=True, validate=validate.Length(1, 2000))


class RefundTicketCommentSchema(Schema):
    author = fields.String()
    text = fields.String()
    at = timestamp()


class RefundTicketSchema(Schema):
    id = fields.String()
    order_id = fields.String()
    customer_id = fields.String()
    reason = fields.String()
    status = fields.String(metadata={"description": "open, approved (refund_id is its refund), rejected"})
    decided_by = fields.String(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    decided_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    refund_id = fields.String(allow_none=True)
    created_at = timestamp()
    comments = fields.List(fields.Nested(RefundTicketCommentSchema))


RefundTicketPageSchema = page_of(RefundTicketSchema, "RefundTicketPageSchema")


class FinanceSummaryQuerySchema(RequestSchema):
    from_ = UtcDateTime(
        data_key="from",
        metadata={"description": "the period's start (ISO 8601); 30 days before its end by default"},
    )
    to = UtcDateTime(metadata={"description": "the period's end, excluded (ISO 8601); now by default"})
    group_by = fields.String(
        load_default="day",
        validate=validate.OneOf(["day", "channel", "product"]),
        metadata={
            "description": "day (the shop's day, Beijing time), channel (the provider that took the money) "
            "or product (an order's money shared among its products in proportion to their lines' "
            "quoted value, once its sale is recorded)"
        },
    )


class FinanceFiguresSchema(Schema):
    currency = fields.String()
    revenue = fields.Integer(metadata={"description": "fen received for orders (top-ups are not sales)"})
    refunds = fields.Integer(metadata={"description": "fen given back, when it was given back"})
    cost = fields.Integer(
        metadata={
            "description": "fen the cards delivered in the period cost, at each line's cost price at the sale "
            "(a refund does not take it back: the cards are spent)"
        }
    )
    commissions = fields.Integer(metadata={"description": "fen agents earned, less what refunds took back"})
    net = fields.Integer(metadata={"description": "revenue - refunds - commissions"})
    margin = fields.Integer(metadata={"description": "revenue - refunds - cost - commissions"})
    lines_without_cost = fields.Integer(
        metadata={"description": "order lines delivered whose cost price is unknown: counted in cost as 0"}
    )


class FinanceRowSchema(FinanceFiguresSchema):
    key = fields.String(metadata={"description": "the day (YYYY-MM-DD), the channel or the product id"})


class ChannelSuccessSchema(Schema):
    channel = fields.String(metadata={"description": "the payment method buyers chose"})
    intents = fields.Integer(metadata={"description": "order payments opened with it in the period"})
    paid = fields.Integer(metadata={"description": "those of them that were paid"})
    success_rate = fields.Float(metadata={"description": "paid / intents"})


class FinanceSummarySchema(Schema):
    from_ = fields.String(data_key="from", attribute="from", metadata={"format": "date-time"})
    to = fields.String(metadata={"format": "date-time"})
    group_by = fields.String()
    rows = fields.List(
        fields.Nested(FinanceRowSchema),
        metadata={
            "description": "by channel, cost and commissions are in the totals only: they belong to no "
            "channel; by product, commissions, and the money of orders whose sale is not recorded (not "
            "delivered), are in the totals only"
        },
    )
    totals = fields.List(fields.Nested(FinanceFiguresSchema), metadata={"description": "one per currency"})
    channels = fields.List(
        fields.Nested(ChannelSuccessSchema),
        metadata={
            "description": "each channel's order payments opened in the period, and how many were paid"
        },
    )


class LedgerQuerySchema(PageQuerySchema):
    cursor = fields.Integer(load_default=None, validate=validate.Range(1, 2**62))
    account = fields.String(
        validate=validate.Length(1, 128),
        metadata={"description": "sales, refunds, provider:<name>, wallet:<customer id>"},
    )
    from_ = UtcDateTime(data_key="from", metadata={"description": "entries at or after (ISO 8601)"})
    to = UtcDateTime(metadata={"description": "entries before (ISO 8601)"})


class LedgerEntrySchema(Schema):
    id = fields.String()
    transaction_id = fields.String()
    kind = fields.String(metadata={"description": "payment, topup, refund"})
    reference = fields.String(metadata={"description": "the receipt or refund the transaction records"})
    account = fields.String()
    currency = fields.String()
    amount = fields.Integer(metadata={"description": "fen; a debit is positive, a credit negative"})
    at = timestamp()


LedgerPageSchema = page_of(LedgerEntrySchema, "LedgerPageSchema")


class ReconciliationQuerySchema(RequestSchema):
    provider = fields.String(required=True, validate=validate.OneOf(["alipay", "wechat"]))


class StatementRowSchema(Schema):
    line = fields.Integer(metadata={"description": "the row's line number in the file"})
    kind = fields.String(metadata={"enum": ["payment", "refund"]})
    reference = fields.String(
        metadata={"description": "the provider's trade number, or our refund request number"}
    )
    order_no = fields.String()
    amount = money()
    amount_here = money()
    day = fields.String()


class BrokenLineSchema(Schema):
    line = fields.Integer()
    error = fields.String()


class ReconciliationSchema(Schema):
    provider = fields.String()
    days = fields.List(fields.String())
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    matched = fields.List(fields.Nested(StatementRowSchema))
    missing_here = fields.List(fields.Nested(StatementRowSchema))
    missing_at_provider = fields.List(fields.Nested(StatementRowSchema))
    amount_mismatch = fields.List(fields.Nested(StatementRowSchema))
    broken_lines = fields.List(fields.Nested(BrokenLineSchema))


class NotificationResultSchema(Schema):
    status = fields.String(metadata={"enum": ["ok", "ignored"]})
    payment_id = fields.String(allow_none=True)
    trade_no = fields.String(allow_none=True)


class LiveSchema(Schema):
    status = fields.String(metadata={"enum": ["live"]})


class ReadySchema(Schema):
    status = fields.String(metadata={"enum": ["ready"]})
    broker = fields.String()
    redis = fields.String(metadata={"description": "keeps sign-in locks, revoked tokens and rate limits"})
    services = fields.Dict(keys=fields.String(), values=fields.Dict())


class ErrorDetailSchema(Schema):
    code = fields.String(metadata={"description": "machine-readable, e.g. invalid_input"})
    message = fields.String()
    details = fields.Raw(metadata={"description": "e.g. the message of each invalid field"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema)


# --- risk: the review queue ---


class ReviewDecisionRequestSchema(RequestSchema):
    decision = fields.String(required=True, validate=validate.OneOf(("approve", "reject")))
    reason = fields.String(
        required=True,
        validate=validate.Length(1, 300),
        metadata={"description": "why; recorded in the order's history with who decided"},
    )


class ReviewSchema(Schema):
    order_id = fields.String()
    customer_id = fields.String()
    items = fields.List(fields.Nested(OrderItemSchema))
    total = money()
    currency = fields.String()
    score = fields.Integer(allow_none=True, metadata={"description": "risk's score, 0 to 100"})
    reasons = fields.List(
        fields.String(),
        allow_none=True,
        metadata={"description": "each rule that fired and what it found, e.g. 'amount:review: ...'"},
    )
    created_at = timestamp()
    held_at = timestamp()
    decide_by = fields.String(
        metadata={"format": "date-time", "description": "undecided by then, the order is cancelled"}
    )


ReviewPageSchema = page_of(ReviewSchema, "ReviewPageSchema")


class ReviewDecisionSchema(Schema):
    order_id = fields.String()
    decision = fields.String(validate=validate.OneOf(("approve", "reject")))
    reason = fields.String()
    decided_by = fields.String(metadata={"description": "the staff account that decided"})
    decided_at = timestamp()
    status = fields.String(
        validate=validate.OneOf(ORDER_STATUSES),
        metadata={"description": "the order's status now: awaiting_payment or cancelled"},
    )


# --- the audit log ---


class AuditLogQuerySchema(PageQuerySchema):
    action = fields.String(validate=validate.Length(1, 64), metadata={"description": "only this action"})
    actor = fields.String(
        validate=validate.Length(1, 64), metadata={"description": "only this actor's entries"}
    )


class AuditEntrySchema(Schema):
    seq = fields.Integer()
    at = timestamp()
    actor = fields.String(metadata={"description": "the account that acted, or system / anonymous"})
    action = fields.String(metadata={"description": "e.g. cards.revealed, account.disabled, sign_in.locked"})
    target = fields.String()
    detail = fields.Dict()
    prev_hash = fields.String(
        metadata={"description": "hex SHA-256 of the entry before (64 zeros for the first)"}
    )
    hash = fields.String(metadata={"description": "hex SHA-256 over prev_hash and this entry's content"})


AuditLogPageSchema = page_of(AuditEntrySchema, "AuditLogPageSchema")


class AuditChainHeadSchema(Schema):
    seq = fields.Integer()
    hash = fields.String()


class AuditVerificationSchema(Schema):
    ok = fields.Boolean()
    checked = fields.Integer(metadata={"description": "entries found intact before the first broken one"})
    first_broken = fields.Integer(allow_none=True, metadata={"description": "seq of the first broken entry"})
    head = fields.Nested(AuditChainHeadSchema, metadata={"description": "where the chain ends now"})


# --- risk: the blacklist ---

BLACKLIST_KINDS = ("account", "ip", "device")


class BlacklistEntryRequestSchema(RequestSchema):
    kind = fields.String(required=True, validate=validate.OneOf(BLACKLIST_KINDS))
    value = fields.String(
        required=True,
        validate=validate.And(validate.Length(1, 128), validate.Regexp(r"^[^\s\x00-\x1f\x7f]+$")),
        metadata={
            "description": "a customer id (account), an IPv4 or IPv6 address (ip), or an X-Device-Id (device)"
        },
    )
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class BlacklistQuerySchema(PageQuerySchema):
    kind = fields.String(validate=validate.OneOf(BLACKLIST_KINDS))


class BlacklistEntrySchema(Schema):
    id = fields.String()
    kind = fields.String(validate=validate.OneOf(BLACKLIST_KINDS))
    value = fields.String()
    reason = fields.String()
    created_by = fields.String(allow_none=True, metadata={"description": "the staff account that added it"})
    created_at = timestamp()


BlacklistPageSchema = page_of(BlacklistEntrySchema, "BlacklistPageSchema")
