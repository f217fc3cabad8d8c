"""After-sales tickets: a buyer asks for a refund; support comments, finance approves or rejects."""

import uuid

from flask import Blueprint
from flask.typing import ResponseReturnValue

from kameng_common.errors import Forbidden
from kameng_gateway import remote
from kameng_gateway.auth import (
    REFUND_ROLES,
    REFUND_TICKET_ROLES,
    customer_required,
    roles_required,
    signed_in,
)
from kameng_gateway.blueprints import load_json, load_query
from kameng_gateway.observability import set_correlation_id
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import (
    RefundTicketCommentRequestSchema,
    RefundTicketDecisionSchema,
    RefundTicketOpenSchema,
    RefundTicketPageSchema,
    RefundTicketQuerySchema,
    RefundTicketSchema,
)

blueprint = Blueprint("aftersales", __name__, url_prefix="/api/v1")

_OPEN_SCHEMA = RefundTicketOpenSchema()
_QUERY_SCHEMA = RefundTicketQuerySchema()
_DECISION_SCHEMA = RefundTicketDecisionSchema()
_COMMENT_SCHEMA = RefundTicketCommentRequestSchema()
_TICKET_SCHEMA = RefundTicketSchema()
_PAGE_SCHEMA = RefundTicketPageSchema()


@blueprint.post("/orders/<uuid:order_id>/refund-requests")
@operation(
    "Ask for a refund of an order",
    body=RefundTicketOpenSchema,
    responses={201: RefundTicketSchema, 200: RefundTicketSchema},
    auth="required",
)
@customer_required
def open_refund_request(order_id: uuid.UUID) -> ResponseReturnValue:
    """Its owner only: an after-sales ticket with a reason, answered 201 (200 when the same
    request was made already). One open ticket per order: another reason while one is open
    is 409 refund_request_open; an unpaid order is 422 not_paid, one refunded in full 422
    nothing_to_refund. The ticket is in the order's history."""
    data = load_json(_OPEN_SCHEMA)
    set_correlation_id(str(order_id))
    opened = remote.call(
        "payments", "open_refund_request", str(order_id), signed_in().user_id, data["reason"]
    )
    return _TICKET_SCHEMA.dump(opened["request"]), 201 if opened["created"] else 200


@blueprint.get("/admin/refund-requests")
@operation(
    "List refund requests",
    query=RefundTicketQuerySchema,
    responses={200: RefundTicketPageSchema},
    auth="required",
)
@roles_required(*REFUND_TICKET_ROLES)
def list_refund_requests() -> ResponseReturnValue:
    """Admins, finance and support. Newest first, each with its comments; ?status=open is the
    after-sales queue."""
    query = load_query(_QUERY_SCHEMA)
    page = remote.call(
        "payments",
        "list_refund_requests",
        status=query.get("status"),
        order_id=str(query["order_id"]) if query.get("order_id") else None,
        limit=query["limit"],
        cursor=query["cursor"],
    )
    return _PAGE_SCHEMA.dump(page)


@blueprint.post("/admin/refund-requests/<uuid:request_id>/decision")
@operation(
    "Approve or reject a refund request",
    body=RefundTicketDecisionSchema,
    responses={200: RefundTicketSchema},
    auth="required",
)
@roles_required(*REFUND_TICKET_ROLES)
def decide_refund_request(request_id: uuid.UUID) -> ResponseReturnValue:
    """Admins and finance approve (a staff refund of amount, all that is left when absent,
    to the original channel or the wallet: the same rules as a staff refund, 422 when they
    refuse and the ticket stays open) or reject; support may reject only (403). A ticket is
    decided once: the same decision again answers it as it is, another is 409
    already_decided. Every decision is in the audit log and the order's history."""
    data = load_json(_DECISION_SCHEMA)
    identity = signed_in()
    if data["decision"] == "approve" and not identity.has_role(REFUND_ROLES):
        raise Forbidden("Your role may reject a refund request, not approve it.")
    ticket = remote.call(
        "payments",
        "decide_refund_request",
        str(request_id),
        data["decision"],
        data["reason"],
        identity.user_id,
        data.get("amount"),
        data["to"],
    )
    set_correlation_id(ticket["order_id"])
    return _TICKET_SCHEMA.dump(ticket)


@blueprint.post("/admin/refund-requests/<uuid:request_id>/comments")
@operation(
    "Comment on a refund request",
    body=RefundTicketCommentRequestSchema,
    responses={201: RefundTicketSchema},
    auth="required",
)
@roles_required(*REFUND_TICKET_ROLES)
def comment_refund_request(request_id: uuid.UUID) -> ResponseReturnValue:
    """Admins, finance and support: a note for the other staff (not shown to the buyer), in
    the audit log."""
    data = load_json(_COMMENT_SCHEMA)
    ticket = remote.call(
        "payments", "comment_refund_request", str(request_id), signed_in().user_id, data["text"]
    )
    return _TICKET_SCHEMA.dump(ticket), 201
