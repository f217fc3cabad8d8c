"""Money is an integer of minor units (fen) with a currency; never a float."""

from typing import Any

from marshmallow import fields, validate

DEFAULT_CURRENCY = "CNY"


def amount_field(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=0), **kwargs)


def currency_field(**kwargs: Any) -> fields.String:
    if not kwargs.get("required"):
        kwargs.setdefault("load_default", DEFAULT_CURRENCY)
    return fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"), **kwargs)


# the price level every agent buys at, whatever their spend (inventory's level_prices["agent"]),
# which an agent's shop's markup is over
AGENT_LEVEL = "agent"
# basis points: a markup of 10000 doubles the price
FULL_MARKUP_BP = 10_000


def shop_price(price: int, markup_bp: int) -> int:
    """An agent's shop's price: ``price`` (the agent price) and the agent's markup on it, to the fen below.

    The one rule both the shop's catalogue (inventory) and the orders placed through it (orders) price by.
    """
    return price + price * markup_bp // FULL_MARKUP_BP
