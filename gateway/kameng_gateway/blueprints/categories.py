"""The category tree, for anyone."""

from flask import Blueprint
from flask.typing import ResponseReturnValue

from kameng_gateway import remote
from kameng_gateway.blueprints import load_query
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import CategoryListQuerySchema, CategoryPageSchema

blueprint = Blueprint("categories", __name__, url_prefix="/api/v1/categories")

_QUERY_SCHEMA = CategoryListQuerySchema()
_PAGE_SCHEMA = CategoryPageSchema()


@blueprint.get("")
@operation("The category tree", query=CategoryListQuerySchema, responses={200: CategoryPageSchema})
def list_categories() -> ResponseReturnValue:
    """Every category as ``{id, name, parent_id}`` (``parent_id`` null for a root), by
    id; up to 1,000 a page."""
    query = load_query(_QUERY_SCHEMA)
    page = remote.call("inventory", "list_categories", limit=query["limit"], cursor=query["cursor"])
    return _PAGE_SCHEMA.dump(page)
