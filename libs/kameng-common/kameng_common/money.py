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
