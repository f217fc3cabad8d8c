"""Agents' shops (分站) as their visitors see them."""

from flask import Blueprint
from flask.typing import ResponseReturnValue

from kameng_common.money import AGENT_LEVEL
from kameng_gateway import remote
from kameng_gateway.blueprints import load_query
from kameng_gateway.customer_schemas import PublicShopSchema, ShopProductPageSchema
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import PageQuerySchema

blueprint = Blueprint("shops", __name__, url_prefix="/api/v1/shops")

_PAGE_QUERY_SCHEMA = PageQuerySchema()
_PUBLIC_SHOP_SCHEMA = PublicShopSchema()
_SHOP_PRODUCT_PAGE_SCHEMA = ShopProductPageSchema()


@blueprint.get("/<slug>")
@operation("An agent's shop", responses={200: PublicShopSchema})
def get_shop(slug: str) -> ResponseReturnValue:
    """Its name and the invite code its sign-up link carries; 404 `shop_not_found`."""
    return _PUBLIC_SHOP_SCHEMA.dump(remote.call("customers", "shop_by_slug", slug))


@blueprint.get("/<slug>/products")
@operation("An agent's shop's catalogue", query=PageQuerySchema, responses={200: ShopProductPageSchema})
def list_products(slug: str) -> ResponseReturnValue:
    """Each product on sale with its stock, at the agent price plus the shop's markup (rounded
    down to the fen), whoever asks."""
    query = load_query(_PAGE_QUERY_SCHEMA)
    shop = remote.call("customers", "shop_by_slug", slug)
    page = remote.call(
        "inventory",
        "list_products",
        level=AGENT_LEVEL,
        limit=query["limit"],
        cursor=query["cursor"],
        markup_bp=shop["markup_bp"],
    )
    return _SHOP_PRODUCT_PAGE_SCHEMA.dump({**page, "shop": shop})
