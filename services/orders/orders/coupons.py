"""An order's coupon: customers holds one use of it for the order and answers the discount.

Customers owns coupons; orders only asks for the hold (idempotent per order), keeps
the code and the discount on the order, and answers customers' ``order_statuses``.
Paying spends the use and closing the order gives it back, through customers'
handlers of order.paid, order.cancelled and order.expired; a use held for an order
that was never stored goes back by customers' sweep, which asks ``order_statuses``.
"""

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from kameng_common.errors import Unavailable
from kameng_common.validation import schema_instance

HoldCoupon = Callable[[str, str, str, list[dict[str, Any]], str], Mapping[str, Any]]


class HeldCoupon(Schema):
    """customers' ``hold_coupon`` answer."""

    class Meta:
        unknown = EXCLUDE

    code = fields.String(required=True)
    discount = fields.Integer(strict=True, required=True)


def hold(
    hold_coupon: HoldCoupon, order_id: str, customer_id: str, code: str, priced: Mapping[str, Any]
) -> dict[str, Any]:
    """Have customers hold ``code`` for the order priced as ``priced`` (inventory's quote);
    ``{coupon_code, discount}``. customers' refusals (4xx, with their codes) reach the buyer as they are."""
    lines = [
        {
            "product_id": line["product_id"],
            "category_id": line.get("category_id"),
            "quantity": line["quantity"],
            "unit_price": line["unit_price"],
        }
        for line in priced["items"]
    ]
    try:
        held = schema_instance(HeldCoupon).load(
            hold_coupon(order_id, customer_id, code, lines, priced["currency"])
        )
    except ValidationError as exc:
        raise Unavailable("customers answered a malformed coupon hold") from exc
    if not 0 <= held["discount"] <= priced["total"]:
        raise Unavailable("customers answered a discount beyond the order's total")
    return {"coupon_code": held["code"], "discount": held["discount"]}


NO_COUPON: dict[str, Any] = {"coupon_code": None, "discount": 0}
