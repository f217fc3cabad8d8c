"""The shapes of inventory's RPC inputs and outputs.

Bad input becomes ``InvalidInput`` naming the field (``kameng_common.validation``); a card's number or secret
is never echoed back.
"""

import datetime

from marshmallow import Schema, fields, validate

from inventory.domain import CARD_STATES, KINDS, PRODUCT_STATUSES
from kameng_common import contracts
from kameng_common.money import FULL_MARKUP_BP, amount_field, currency_field

MAX_IMPORT_BATCH = 10_000
MAX_QUOTE_LINES = 100
MAX_LINE_QUANTITY = 10_000
MAX_PAGE = 200
MAX_CATEGORY_PAGE = 1000


class Text(fields.String):
    """A string with surrounding blanks trimmed before it is validated."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


def _level(**kwargs):
    return Text(validate=validate.Length(min=1, max=32), **kwargs)


def _id(**kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)


def _page(**kwargs):
    return fields.Integer(validate=validate.Range(min=1, max=MAX_PAGE), load_default=50, **kwargs)


def _cursor():
    # the last id of the previous page; query strings bring it as text
    return fields.Integer(validate=validate.Range(min=0), allow_none=True, load_default=None)


class CreateCategory(Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=100))
    parent_id = _id(allow_none=True, load_default=None)


class UpdateCategory(Schema):
    """Rename (``name``), move (``parent_id``; None makes it a root), or both."""

    category_id = _id(required=True)
    name = Text(validate=validate.Length(min=1, max=100))
    parent_id = _id(allow_none=True)


class ListCategories(Schema):
    limit = fields.Integer(
        validate=validate.Range(min=1, max=MAX_CATEGORY_PAGE), load_default=MAX_CATEGORY_PAGE
    )
    cursor = _cursor()


class CreateProduct(Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    category_id = fields.Integer(strict=True, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    price = amount_field(required=True)
    currency = currency_field()
    level_prices = fields.Dict(keys=_level(), values=amount_field(), allow_none=True, load_default=None)
    # a direct product's supplier and its id there
    supplier_id = fields.Integer(strict=True, allow_none=True, load_default=None)
    supplier_sku = Text(allow_none=True, load_default=None, validate=validate.Length(min=1, max=64))
    stock_limit = fields.Integer(
        strict=True, validate=validate.Range(min=0), allow_none=True, load_default=None
    )


class UpdateProduct(Schema):
    """What staff may change of a product; at least one field."""

    product_id = _id(required=True)
    name = Text(validate=validate.Length(min=1, max=200))
    price = amount_field()
    level_prices = fields.Dict(keys=_level(), values=amount_field())
    status = fields.String(validate=validate.OneOf(PRODUCT_STATUSES))
    stock_limit = fields.Integer(strict=True, validate=validate.Range(min=0), allow_none=True)
    # None: the shop's default threshold
    low_stock_threshold = fields.Integer(strict=True, validate=validate.Range(min=0), allow_none=True)


class ListRestock(Schema):
    limit = _page()
    cursor = _cursor()


class ProductRef(Schema):
    product_id = _id(required=True)


class GetProduct(Schema):
    product_id = fields.Integer(strict=True, required=True)
    level = _level(required=True)


class ListPriceHistory(Schema):
    product_id = _id(required=True)
    limit = _page()
    cursor = _cursor()


class ListCards(Schema):
    product_id = _id(required=True)
    state = fields.String(validate=validate.OneOf(CARD_STATES), allow_none=True, load_default=None)
    limit = _page()
    cursor = _cursor()


class VoidCard(Schema):
    card_id = _id(required=True)


class ListProducts(Schema):
    level = _level(required=True)
    limit = fields.Integer(validate=validate.Range(min=1, max=MAX_PAGE), load_default=50)
    # the last product id of the previous page; query strings bring it as text
    cursor = fields.Integer(validate=validate.Range(min=0), allow_none=True, load_default=None)
    # an agent's shop: its markup over the price at ``level``
    markup_bp = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=FULL_MARKUP_BP), load_default=0
    )


class QuoteLine(Schema):
    product_id = fields.Integer(strict=True, required=True)
    quantity = fields.Integer(
        strict=True, required=True, validate=validate.Range(min=1, max=MAX_LINE_QUANTITY)
    )
    # a direct top-up's: the account to top up
    recharge_account = Text(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128))


class Quote(Schema):
    items = fields.List(
        fields.Nested(QuoteLine), required=True, validate=validate.Length(min=1, max=MAX_QUOTE_LINES)
    )
    level = _level(required=True)


class Reservation(Schema):
    order_id = Text(required=True, validate=validate.Length(min=1, max=64))
    customer_id = Text(required=True, validate=validate.Length(min=1, max=64))
    # the order's lines as orders priced them (kept for the sale)
    items = fields.List(
        fields.Nested(contracts.OrderLine),
        required=True,
        validate=validate.Length(min=1, max=MAX_QUOTE_LINES),
    )


class PricedReservation(Schema):
    """A reservation that inventory prices itself, as ``quote`` would, before anything is stored."""

    order_id = Text(required=True, validate=validate.Length(min=1, max=64))
    customer_id = Text(required=True, validate=validate.Length(min=1, max=64))
    items = fields.List(
        fields.Nested(QuoteLine), required=True, validate=validate.Length(min=1, max=MAX_QUOTE_LINES)
    )
    level = _level(required=True)
    # an agent's shop: the lines kept for the sale carry its markup over the price at ``level``
    markup_bp = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=FULL_MARKUP_BP), load_default=0
    )


class GiveBackReservation(Schema):
    order_id = Text(required=True, validate=validate.Length(min=1, max=64))


class ImportCards(Schema):
    product_id = fields.Integer(strict=True, required=True)
    # each card is checked on its own (domain.clean_card): a bad one is counted, not fatal
    cards = fields.List(
        fields.Raw(allow_none=True), required=True, validate=validate.Length(min=1, max=MAX_IMPORT_BATCH)
    )


class RevealCards(Schema):
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class UtcDateTime(fields.DateTime):
    """ISO 8601 in UTC; SQLite hands timestamps back without the zone they were written in."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class Category(Schema):
    id = fields.Integer()
    name = fields.String()
    parent_id = fields.Integer(allow_none=True)


class Product(Schema):
    id = fields.Integer()
    name = fields.String()
    category_id = fields.Integer()
    kind = fields.String()
    price = fields.Integer()
    currency = fields.String()
    level_prices = fields.Dict()
    status = fields.String()
    stock_limit = fields.Integer(allow_none=True)
    low_stock_threshold = fields.Integer(allow_none=True)
    created_at = UtcDateTime()
    supplier_id = fields.Integer(allow_none=True)
    supplier_sku = fields.String(allow_none=True)
    cost_price = fields.Integer(allow_none=True)
    updated_at = UtcDateTime(allow_none=True)


class PriceChange(Schema):
    price = fields.Integer()
    currency = fields.String()
    level_prices = fields.Dict()
    changed_by = fields.String(allow_none=True)
    changed_at = UtcDateTime()


class CardState(Schema):
    """A card as staff see it: its number and state, never its secret."""

    id = fields.Integer()
    number = fields.String()
    state = fields.String(attribute="status")
    order_id = fields.String(allow_none=True)
    imported_at = UtcDateTime()
    reserved_at = UtcDateTime(allow_none=True)
    sold_at = UtcDateTime(allow_none=True)
    voided_at = UtcDateTime(allow_none=True)
    # when its order's money was given back in full (it is then refunded or void)
    refunded_at = UtcDateTime(allow_none=True)
