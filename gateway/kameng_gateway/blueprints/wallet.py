"""The signed-in customer's wallet: its statement, and top-ups through any channel."""

import uuid

from flask import Blueprint
from flask.typing import ResponseReturnValue

from kameng_gateway import remote
from kameng_gateway.auth import customer_required, signed_in
from kameng_gateway.blueprints import load_headers, load_json, load_query
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import (
    IdempotencyHeaderSchema,
    TopupRequestSchema,
    TopupSchema,
    WalletQuerySchema,
    WalletSchema,
)

blueprint = Blueprint("wallet", __name__, url_prefix="/api/v1/me/wallet")

_WALLET_QUERY_SCHEMA = WalletQuerySchema()
_TOPUP_REQUEST_SCHEMA = TopupRequestSchema()
_IDEMPOTENCY_HEADER_SCHEMA = IdempotencyHeaderSchema()
_WALLET_SCHEMA = WalletSchema()
_TOPUP_SCHEMA = TopupSchema()


@blueprint.get("")
@operation("Read my wallet", query=WalletQuerySchema, responses={200: WalletSchema}, auth="required")
@customer_required
def read_wallet() -> ResponseReturnValue:
    """The balance and its entries, newest first, paginated with ?limit=&cursor=."""
    query = load_query(_WALLET_QUERY_SCHEMA)
    statement = remote.call(
        "payments",
        "wallet_statement",
        signed_in().user_id,
        query["currency"],
        limit=query["limit"],
        cursor=query["cursor"],
    )
    return (
        _WALLET_SCHEMA.dump({**statement, "items": statement["entries"]}),
        200,
        {"Cache-Control": "no-store"},
    )


@blueprint.post("/topups")
@operation(
    "Top up my wallet",
    body=TopupRequestSchema,
    headers=IdempotencyHeaderSchema,
    responses={201: TopupSchema},
    auth="required",
)
@customer_required
def create_topup() -> ResponseReturnValue:
    """A payment intent like an order's: follow pay_url (or show code_url as a QR code).
    The wallet is credited once the provider's notification is verified. The same
    Idempotency-Key returns the same top-up; with another amount it is 422
    idempotency_key_reused."""
    data = load_json(_TOPUP_REQUEST_SCHEMA)
    headers = load_headers(_IDEMPOTENCY_HEADER_SCHEMA)
    topup = remote.call(
        "payments",
        "create_topup",
        signed_in().user_id,
        data["amount"],
        data["currency"],
        data["method"],
        headers.get("idempotency_key") or str(uuid.uuid4()),
    )
    return _TOPUP_SCHEMA.dump(topup), 201
