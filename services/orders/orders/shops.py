"""An order placed through an agent's shop (分站): priced at the agent price plus the shop's markup.

Customers owns shops; orders asks it for the shop by its slug (the agent and
their markup, never from the buyer), prices the order at the agent level with
inventory's quote, marks each line up by the one rule the shop's catalogue is
priced by (``kameng_common.money.shop_price``), and keeps on the order what the
agent is credited when it is delivered: what the buyer pays over the agent price.
"""

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from kameng_common.errors import Unavailable
from kameng_common.money import FULL_MARKUP_BP, shop_price
from kameng_common.validation import schema_instance
from orders import domain

FindShop = Callable[[str], Mapping[str, Any]]


class FoundShop(Schema):
    """customers' ``shop_for_order`` answer."""

    class Meta:
        unknown = EXCLUDE

    slug = fields.String(required=True)
    agent_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    markup_bp = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=FULL_MARKUP_BP))


def find(find_shop: FindShop, slug: str) -> dict[str, Any]:
    """The shop ``slug`` as customers knows it; customers' refusals (``shop_not_found``,
    ``shop_closed``) reach the buyer as they are."""
    try:
        return schema_instance(FoundShop).load(find_shop(slug))
    except ValidationError as exc:
        raise Unavailable("customers answered a malformed shop") from exc


def marked_up(priced: Mapping[str, Any], markup_bp: int) -> dict[str, Any]:
    """inventory's quote at the agent level, each line at the shop's price; ``agent_total`` is the
    total at the agent price, which the agent's credit is measured from."""
    items = [{**line, "unit_price": shop_price(line["unit_price"], markup_bp)} for line in priced["items"]]
    return {**priced, "items": items, "total": domain.order_total(items), "agent_total": priced["total"]}


def recorded(shop: Mapping[str, Any] | None, priced: Mapping[str, Any], total: int) -> dict[str, Any]:
    """The order's shop columns: the shop's slug, its agent, and what the agent is credited on delivery,
    the difference between what the buyer pays (``total``, after any coupon) and the agent price."""
    if shop is None:
        return {"shop": None, "shop_agent_id": None, "shop_markup": 0}
    return {
        "shop": shop["slug"],
        "shop_agent_id": shop["agent_id"],
        "shop_markup": max(0, total - priced["agent_total"]),
    }
