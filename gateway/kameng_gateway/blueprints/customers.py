"""Customers as the shop sees them: membership levels, the customer list with scores and tags."""

import uuid

from flask import Blueprint
from flask.typing import ResponseReturnValue

from kameng_gateway import audit, remote
from kameng_gateway.auth import ADMIN, OPS, SUPPORT, roles_required, signed_in
from kameng_gateway.blueprints import load_json, load_query
from kameng_gateway.customer_schemas import (
    CustomerDetailSchema,
    CustomerListQuerySchema,
    CustomerPageSchema,
    CustomerTagCreationSchema,
    CustomerTagListSchema,
    LevelsSchema,
)
from kameng_gateway.openapi import operation

blueprint = Blueprint("customers", __name__, url_prefix="/api/v1/admin")

LEVEL_ROLES = (ADMIN, OPS)
CUSTOMER_ROLES = (ADMIN, SUPPORT, OPS)

_LEVELS_SCHEMA = LevelsSchema()
_CUSTOMER_LIST_QUERY_SCHEMA = CustomerListQuerySchema()
_CUSTOMER_PAGE_SCHEMA = CustomerPageSchema()
_CUSTOMER_DETAIL_SCHEMA = CustomerDetailSchema()
_CUSTOMER_TAG_CREATION_SCHEMA = CustomerTagCreationSchema()
_CUSTOMER_TAG_LIST_SCHEMA = CustomerTagListSchema()


@blueprint.get("/levels")
@operation("The membership levels", responses={200: LevelsSchema}, auth="required")
@roles_required(*LEVEL_ROLES)
def get_levels() -> ResponseReturnValue:
    """Each level and the lifetime spend that reaches it, lowest first."""
    return _LEVELS_SCHEMA.dump(remote.call("customers", "get_levels"))


@blueprint.put("/levels")
@operation("Set the membership levels", body=LevelsSchema, responses={200: LevelsSchema}, auth="required")
@roles_required(*LEVEL_ROLES)
def set_levels() -> ResponseReturnValue:
    """Replaces the whole table. The first level is `regular` at 0; thresholds rise strictly.
    A customer moves up as soon as a delivered order takes their spend over a threshold, and
    the next quote prices them at the new level (products' level_prices under the same name).
    Levels never go down: a customer keeps the level they hold when thresholds change."""
    data = load_json(_LEVELS_SCHEMA)
    return _LEVELS_SCHEMA.dump(remote.call("customers", "set_levels", data["levels"]))


@blueprint.get("/customers")
@operation(
    "List customers", query=CustomerListQuerySchema, responses={200: CustomerPageSchema}, auth="required"
)
@roles_required(*CUSTOMER_ROLES)
def list_customers() -> ResponseReturnValue:
    """Newest first, each with their RFM scores (recency, frequency, monetary: 1 to 5, 0 before
    a first delivered order), spend, refunds, last order and tags. Tags computed from the scores
    (`high_value`, `loyal`, `at_risk`, `dormant`, `new`) follow the clock and the orders; staff
    give their own. `?tag=`, `?level=`, `?username=` (a prefix) and `?region=` (as the trusted proxy
    named it at registration) narrow the list."""
    query = load_query(_CUSTOMER_LIST_QUERY_SCHEMA)
    page = remote.call(
        "customers",
        "list_customers",
        tag=query.get("tag"),
        level=query.get("level"),
        username=query.get("username"),
        region=query.get("region"),
        limit=query["limit"],
        cursor=query["cursor"],
    )
    return _CUSTOMER_PAGE_SCHEMA.dump(page)


@blueprint.get("/customers/<uuid:customer_id>")
@operation("One customer", responses={200: CustomerDetailSchema}, auth="required")
@roles_required(*CUSTOMER_ROLES)
def get_customer(customer_id: uuid.UUID) -> ResponseReturnValue:
    """As in the list, with who gave each staff tag and when; 404 for anyone but a customer."""
    return _CUSTOMER_DETAIL_SCHEMA.dump(remote.call("customers", "customer_detail", str(customer_id)))


@blueprint.post("/customers/<uuid:customer_id>/tags")
@operation(
    "Tag a customer", body=CustomerTagCreationSchema, responses={200: CustomerDetailSchema}, auth="required"
)
@roles_required(*CUSTOMER_ROLES)
def add_customer_tag(customer_id: uuid.UUID) -> ResponseReturnValue:
    """Gives a staff tag; giving it again changes nothing. A computed tag is 422 `tag_reserved`."""
    tag = load_json(_CUSTOMER_TAG_CREATION_SCHEMA)["tag"]
    customer = remote.call("customers", "add_customer_tag", str(customer_id), tag, signed_in().user_id)
    audit.record("customer.tagged", f"customer:{customer_id}", {"tag": tag})
    return _CUSTOMER_DETAIL_SCHEMA.dump(customer)


@blueprint.delete("/customers/<uuid:customer_id>/tags/<tag>")
@operation("Take a tag off a customer", responses={200: CustomerDetailSchema}, auth="required")
@roles_required(*CUSTOMER_ROLES)
def remove_customer_tag(customer_id: uuid.UUID, tag: str) -> ResponseReturnValue:
    """Takes a staff tag off; one the customer does not have changes nothing."""
    customer = remote.call("customers", "remove_customer_tag", str(customer_id), tag)
    audit.record("customer.untagged", f"customer:{customer_id}", {"tag": tag})
    return _CUSTOMER_DETAIL_SCHEMA.dump(customer)


@blueprint.get("/customer-tags")
@operation("Customer tags and how many have each", responses={200: CustomerTagListSchema}, auth="required")
@roles_required(*CUSTOMER_ROLES)
def customer_tags() -> ResponseReturnValue:
    """Every computed tag with its rule, then every tag staff have given, each with its count."""
    return _CUSTOMER_TAG_LIST_SCHEMA.dump(remote.call("customers", "customer_tags"))
