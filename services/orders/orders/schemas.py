"""RPC inputs (validated: bad input is an InvalidInput with a clear message) and outputs."""

from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_dump,
    pre_load,
    validate,
    validates_schema,
)

from kameng_common.money import amount_field, currency_field
from orders import domain

MAX_WAIT_SECONDS = 30
MAX_STATUSES_ASKED = 200


class OrderItemInput(Schema):
    product_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    quantity = fields.Integer(
        strict=True, required=True, validate=validate.Range(min=1, max=domain.MAX_QUANTITY)
    )
    # a direct top-up's line: the account the supplier tops up (inventory says whether it is needed)
    recharge_account = fields.String(validate=validate.Length(min=1, max=128))


class CreateOrderInput(Schema):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    items = fields.List(
        fields.Nested(OrderItemInput), required=True, validate=validate.Length(min=1, max=domain.MAX_LINES)
    )
    idempotency_key = fields.String(required=True, validate=validate.Length(min=1, max=128))
    coupon_code = fields.String(load_default=None, allow_none=True)
    client_ip = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=45))
    device_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128))
    payment_method = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=32)
    )
    # the slug of the agent's shop the order is placed through
    shop = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32))

    @validates_schema
    def each_product_once(self, data, **_kwargs):
        product_ids = [item["product_id"] for item in data.get("items", ())]
        if len(set(product_ids)) != len(product_ids):
            raise ValidationError("each product may appear on one line only", "items")


class GetOrderInput(Schema):
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    # answer once the status is none of these (one status, or a list), or after ``wait`` seconds
    changed_from = fields.List(
        fields.String(validate=validate.OneOf(domain.STATUSES)),
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=len(domain.STATUSES)),
    )
    wait = fields.Float(load_default=0, validate=validate.Range(min=0, max=MAX_WAIT_SECONDS))
    # wait only on this customer's order (the caller is that customer, not staff)
    for_customer = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))

    @pre_load
    def one_status_as_a_list(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        if isinstance(data.get("changed_from"), str):
            return {**data, "changed_from": [data["changed_from"]]}
        return data


class ListOrdersInput(Schema):
    customer_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    limit = fields.Integer(strict=True, load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class OrderStatusesInput(Schema):
    # customers' coupon uses name orders by ids of up to 64 characters
    order_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(max=MAX_STATUSES_ASKED),
    )


class RequestPaymentInput(Schema):
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    method = fields.String(required=True, validate=validate.Length(min=1, max=32))


class ReviewDecisionInput(Schema):
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    decision = fields.String(required=True, validate=validate.OneOf(domain.REVIEWER_DECISIONS))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=300))
    decided_by = fields.String(required=True, validate=validate.Length(min=1, max=64))


class ListReviewsInput(Schema):
    limit = fields.Integer(strict=True, load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class QuotedLine(Schema):
    class Meta:
        unknown = EXCLUDE

    product_id = fields.Integer(strict=True, required=True)
    name = fields.String(required=True)
    category_id = fields.Integer(strict=True, load_default=None, allow_none=True)
    quantity = fields.Integer(strict=True, required=True)
    unit_price = amount_field(required=True)


class Quote(Schema):
    """inventory's ``quote`` answer."""

    class Meta:
        unknown = EXCLUDE

    items = fields.List(fields.Nested(QuotedLine), required=True)
    total = amount_field(required=True)
    currency = currency_field(required=True)


class PricedReservation(Schema):
    """inventory's ``reserve`` answer for a new order it priced: the reservation and the quote."""

    class Meta:
        unknown = EXCLUDE

    order_id = fields.String(required=True)
    reserved = fields.Boolean(required=True)
    reason = fields.String(required=True, allow_none=True)
    quote = fields.Nested(Quote, required=True)


class LineOut(Schema):
    product_id = fields.Integer()
    name = fields.String()
    quantity = fields.Integer()
    unit_price = fields.Integer()
    recharge_account = fields.String(allow_none=True)

    @post_dump
    def only_direct_lines_have_an_account(self, line, **_kwargs):
        if line.get("recharge_account") is None:
            line.pop("recharge_account", None)
        return line


class HistoryOut(Schema):
    status = fields.String()
    at = fields.DateTime()
    reason = fields.String()


class OrderOut(Schema):
    id = fields.String()
    customer_id = fields.String()
    status = fields.String()
    items = fields.List(fields.Nested(LineOut))
    total = fields.Integer()
    currency = fields.String()
    coupon_code = fields.String(allow_none=True)
    discount = fields.Integer()
    shop = fields.String(allow_none=True)
    payment_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    history = fields.List(fields.Nested(HistoryOut))


class ReviewOut(Schema):
    """An order on hold, as its reviewers see it: with risk's score and reasons, and its deadline."""

    order_id = fields.String(attribute="id")
    customer_id = fields.String()
    items = fields.List(fields.Nested(LineOut))
    total = fields.Integer()
    currency = fields.String()
    score = fields.Integer(attribute="risk_score", allow_none=True)
    reasons = fields.List(fields.String(), attribute="risk_reasons", allow_none=True)
    created_at = fields.DateTime()
    held_at = fields.DateTime(attribute="updated_at")
    decide_by = fields.DateTime(attribute="expires_at")


get_order_input = GetOrderInput()
order_statuses_input = OrderStatusesInput()
review_out = ReviewOut()
order_out = OrderOut()
order_summary_out = OrderOut(exclude=("history",))
create_order_input = CreateOrderInput()
request_payment_input = RequestPaymentInput()
priced_reservation_in = PricedReservation()
