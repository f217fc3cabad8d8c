"""The public catalogue, priced for whoever asks."""

from flask import Blueprint
from flask.typing import ResponseReturnValue

from kameng_gateway import remote
from kameng_gateway.auth import current_identity
from kameng_gateway.blueprints import load_query
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import PageQuerySchema, ProductPageSchema, ProductSchema

blueprint = Blueprint("products", __name__, url_prefix="/api/v1/products")

ANONYMOUS_LEVEL = "regular"

_PAGE_QUERY_SCHEMA = PageQuerySchema()
_PRODUCT_PAGE_SCHEMA = ProductPageSchema()
_PRODUCT_SCHEMA = ProductSchema()


@blueprint.get("")
@operation("List the catalogue", query=PageQuerySchema, responses={200: ProductPageSchema}, auth="optional")
def list_products() -> ResponseReturnValue:
    """Each product on sale with its stock and its price at the caller's level: a
    customer's membership or agent level, or the regular price for anyone else."""
    query = load_query(_PAGE_QUERY_SCHEMA)
    page = remote.call(
        "inventory", "list_products", level=_caller_level(), limit=query["limit"], cursor=query["cursor"]
    )
    return _PRODUCT_PAGE_SCHEMA.dump(page)


@blueprint.get("/<int:product_id>")
@operation("One product", responses={200: ProductSchema}, auth="optional")
def get_product(product_id: int) -> ResponseReturnValue:
    """Priced at the caller's level, with its ``stock`` (null where unlimited); a
    product off sale is not found."""
    product = remote.call("inventory", "get_product", product_id, level=_caller_level())
    return _PRODUCT_SCHEMA.dump(product)


def _caller_level() -> str:
    identity = current_identity()
    if identity is None or not identity.is_customer:
        return ANONYMOUS_LEVEL
    return remote.call("customers", "get_customer", identity.user_id)["level"]
