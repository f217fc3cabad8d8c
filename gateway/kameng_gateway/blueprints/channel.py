"""The channel API (``/api/channel/v1``) for partners' systems, and the admin routes of its API keys.

Every channel request is signed with an API key (channel_auth); it acts for
the key's owner, a customer: its prices, its orders, its wallet balance.
"""

import uuid

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue

from kameng_gateway import audit, remote
from kameng_gateway.auth import ADMIN, roles_required
from kameng_gateway.blueprints import load_json, load_query
from kameng_gateway.blueprints.orders import with_fulfilment
from kameng_gateway.channel_auth import channel_caller, signed_request_required
from kameng_gateway.channel_schemas import (
    ApiKeyCreationSchema,
    ApiKeySchema,
    BalanceSchema,
    ChannelOrderCreationSchema,
    ChannelOrderSchema,
    ChannelProductPageSchema,
    NewApiKeySchema,
)
from kameng_gateway.observability import set_correlation_id
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import PageQuerySchema

blueprint = Blueprint("channel", __name__, url_prefix="/api/channel/v1")
keys_blueprint = Blueprint("api_keys", __name__, url_prefix="/api/v1/admin/api-keys")

_API_KEY_CREATION_SCHEMA = ApiKeyCreationSchema()
_API_KEY_SCHEMA = ApiKeySchema()
_NEW_API_KEY_SCHEMA = NewApiKeySchema()
_PAGE_QUERY_SCHEMA = PageQuerySchema()
_PRODUCT_PAGE_SCHEMA = ChannelProductPageSchema()
_ORDER_CREATION_SCHEMA = ChannelOrderCreationSchema()
_ORDER_SCHEMA = ChannelOrderSchema()
_BALANCE_SCHEMA = BalanceSchema()
_NO_STORE = {"Cache-Control": "no-store"}


# ---- API keys (admin)


@keys_blueprint.post("")
@operation("Issue an API key", body=ApiKeyCreationSchema, responses={201: NewApiKeySchema}, auth="required")
@roles_required(ADMIN)
def create_api_key() -> ResponseReturnValue:
    """Admins only. The key acts for the customer it is issued to; its secret is
    answered this once and stored encrypted."""
    data = load_json(_API_KEY_CREATION_SCHEMA)
    remote.call("customers", "get_customer", data["customer_id"])  # 404 unless a customer
    key = remote.call("orders", "create_api_key", data["customer_id"], data["name"], data["scopes"])
    audit.record(
        "api_key.issued",
        f"api_key:{key['key_id']}",
        {"customer_id": key["customer_id"], "name": key["name"], "scopes": key["scopes"]},
    )
    return _NEW_API_KEY_SCHEMA.dump(key), 201, _NO_STORE


@keys_blueprint.delete("/<key_id>")
@operation("Revoke an API key", responses={200: ApiKeySchema}, auth="required")
@roles_required(ADMIN)
def revoke_api_key(key_id: str) -> ResponseReturnValue:
    """Admins only. Requests signed with it are refused from now on; revoking again changes nothing."""
    key = remote.call("orders", "revoke_api_key", key_id)
    audit.record("api_key.revoked", f"api_key:{key['key_id']}", {"customer_id": key["customer_id"]})
    return _API_KEY_SCHEMA.dump(key)


# ---- the channel API (signed)


@blueprint.get("/products")
@operation(
    "The catalogue at the key owner's price",
    query=PageQuerySchema,
    responses={200: ChannelProductPageSchema},
    auth="channel",
)
@signed_request_required("products:read")
def list_products() -> ResponseReturnValue:
    """Each product with its stock (null where unlimited) and its price at the key owner's level."""
    query = load_query(_PAGE_QUERY_SCHEMA)
    page = remote.call(
        "inventory", "list_products", level=_owner_level(), limit=query["limit"], cursor=query["cursor"]
    )
    return _PRODUCT_PAGE_SCHEMA.dump(page)


@blueprint.post("/orders")
@operation(
    "Place an order, paid from the prepaid balance",
    body=ChannelOrderCreationSchema,
    responses={201: ChannelOrderSchema},
    auth="channel",
)
@signed_request_required("orders:create")
def create_order() -> ResponseReturnValue:
    """The same client_order_id never makes a second order: a retry answers the first
    one (and pays it, if the balance was short the first time). A balance too small
    answers 422 insufficient_balance and leaves the order awaiting payment until it expires."""
    data = load_json(_ORDER_CREATION_SCHEMA)
    caller = channel_caller()
    order = remote.call(
        "orders",
        "create_channel_order",
        caller.key_id,
        caller.customer_id,
        data["items"],
        data["client_order_id"],
        data.get("callback_url"),
        # placing waits for the order to become payable
        timeout=2 * _rpc_timeout(),
    )
    set_correlation_id(order["id"])
    return _ORDER_SCHEMA.dump(order), 201, {"Location": f"{blueprint.url_prefix}/orders/{order['id']}"}


@blueprint.get("/orders/<uuid:order_id>")
@operation("Read an order placed with this key's owner", responses={200: ChannelOrderSchema}, auth="channel")
@signed_request_required("orders:read")
def get_order(order_id: uuid.UUID) -> ResponseReturnValue:
    """Its status and, once delivered, its card keys; every reveal is audited."""
    caller = channel_caller()
    order = with_fulfilment(remote.call("orders", "get_channel_order", str(order_id), caller.customer_id))
    if order["status"] == "delivered":
        order["cards"] = remote.call("inventory", "reveal_cards", order["id"], caller.customer_id)
    return _ORDER_SCHEMA.dump(order), 200, _NO_STORE


@blueprint.get("/balance")
@operation("The key owner's prepaid balance", responses={200: BalanceSchema}, auth="channel")
@signed_request_required("balance:read")
def balance() -> ResponseReturnValue:
    return _BALANCE_SCHEMA.dump(remote.call("payments", "get_wallet", channel_caller().customer_id))


def _owner_level() -> str:
    return remote.call("customers", "get_customer", channel_caller().customer_id)["level"]


def _rpc_timeout() -> float:
    return current_app.config["KAMENG_SETTINGS"].rpc_timeout
