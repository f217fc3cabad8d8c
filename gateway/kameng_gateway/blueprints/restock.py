"""What to restock: per stocked product its stock, low-stock alert, demand forecast and a suggested quantity."""

from flask import Blueprint
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from kameng_gateway import remote
from kameng_gateway.auth import CATALOGUE_ROLES, roles_required
from kameng_gateway.blueprints import load_query
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import PageQuerySchema, page_of

blueprint = Blueprint("restock", __name__, url_prefix="/api/v1/admin/restock")


class RestockItemSchema(Schema):
    product_id = fields.Integer()
    name = fields.String()
    kind = fields.String(validate=validate.OneOf(["card", "loop"]))
    stock = fields.Integer(allow_none=True, metadata={"description": "units orderable now; null: unlimited"})
    threshold = fields.Integer(metadata={"description": "stock under this raises stock.low"})
    low = fields.Boolean(metadata={"description": "whether the stock is under its threshold now"})
    forecast_7d = fields.Float(metadata={"description": "units forecast to sell in the next 7 days"})
    forecast_method = fields.String(
        validate=validate.OneOf(["holt_winters", "mean", "none"]),
        metadata={
            "description": "holt_winters (16 days of sales history and more), mean (fewer: the mean "
            "day), none (no sales yet: no demand forecast)"
        },
    )
    history_days = fields.Integer(metadata={"description": "days of sales history the forecast read"})
    days_of_cover = fields.Float(
        allow_none=True, metadata={"description": "days the stock lasts at the forecast; null: no demand"}
    )
    suggested_quantity = fields.Integer(
        metadata={
            "description": "forecast demand over the supplier's lead time plus a safety stock, less the "
            "stock; at least what brings the stock back to its threshold"
        }
    )


RestockPageSchema = page_of(RestockItemSchema, "RestockPageSchema")


_PAGE_QUERY_SCHEMA = PageQuerySchema()
_PAGE_SCHEMA = RestockPageSchema()


@blueprint.get("")
@operation("What to restock", query=PageQuerySchema, responses={200: RestockPageSchema}, auth="required")
@roles_required(*CATALOGUE_ROLES)
def restock_list() -> ResponseReturnValue:
    """Admins and ops. Every card and loop product, by id: its stock and threshold,
    a Holt-Winters forecast of its demand over the next 7 days from its daily
    sales (weekly season), its days of cover and the quantity to order now."""
    query = load_query(_PAGE_QUERY_SCHEMA)
    return _PAGE_SCHEMA.dump(
        remote.call("inventory", "restock_list", limit=query["limit"], cursor=query["cursor"])
    )
