"""Staff refunds: full or partial, to the original channel or the buyer's wallet."""

import uuid

from flask import Blueprint
from flask.typing import ResponseReturnValue

from kameng_gateway import remote
from kameng_gateway.auth import REFUND_READER_ROLES, REFUND_ROLES, roles_required, signed_in
from kameng_gateway.blueprints import load_headers, load_json, load_query
from kameng_gateway.observability import set_correlation_id
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import (
    IdempotencyHeaderSchema,
    RefundListQuerySchema,
    RefundPageSchema,
    RefundRequestSchema,
    RefundSchema,
)

blueprint = Blueprint("refunds", __name__, url_prefix="/api/v1/admin")

_REFUND_REQUEST_SCHEMA = RefundRequestSchema()
_REFUND_LIST_QUERY_SCHEMA = RefundListQuerySchema()
_IDEMPOTENCY_HEADER_SCHEMA = IdempotencyHeaderSchema()
_REFUND_SCHEMA = RefundSchema()
_REFUND_PAGE_SCHEMA = RefundPageSchema()


@blueprint.post("/orders/<uuid:order_id>/refunds")
@operation(
    "Refund an order",
    body=RefundRequestSchema,
    headers=IdempotencyHeaderSchema,
    responses={201: RefundSchema},
    auth="required",
)
@roles_required(*REFUND_ROLES)
def refund_order(order_id: uuid.UUID) -> ResponseReturnValue:
    """Admins and finance. Never more than the order paid, across all its refunds (422
    refund_exceeds_paid). "original" goes back through the provider's refund API: tried at
    once, retried with back-off on a timeout or an outage, then failed (listed below for
    finance, its amount free to refund again); money paid from the wallet goes back to the
    wallet. The same Idempotency-Key refunds once; every refund is in the audit log."""
    data = load_json(_REFUND_REQUEST_SCHEMA)
    headers = load_headers(_IDEMPOTENCY_HEADER_SCHEMA)
    set_correlation_id(str(order_id))
    refund = remote.call(
        "payments",
        "refund_order",
        str(order_id),
        data.get("amount"),
        data["to"],
        data["reason"],
        headers.get("idempotency_key") or str(uuid.uuid4()),
        signed_in().user_id,
    )
    return _REFUND_SCHEMA.dump(refund), 201


@blueprint.get("/refunds")
@operation("List refunds", query=RefundListQuerySchema, responses={200: RefundPageSchema}, auth="required")
@roles_required(*REFUND_READER_ROLES)
def list_refunds() -> ResponseReturnValue:
    """Newest first; ?status=failed lists the provider refunds that need finance."""
    query = load_query(_REFUND_LIST_QUERY_SCHEMA)
    page = remote.call(
        "payments",
        "list_refunds",
        status=query.get("status"),
        order_id=str(query["order_id"]) if query.get("order_id") else None,
        limit=query["limit"],
        cursor=query["cursor"],
    )
    return _REFUND_PAGE_SCHEMA.dump(page)
