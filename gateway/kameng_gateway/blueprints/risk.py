"""Risk for staff: the review queue of orders risk held, and the blacklist."""

import uuid

from flask import Blueprint
from flask.typing import ResponseReturnValue

from kameng_gateway import remote
from kameng_gateway.auth import BLACKLIST_ROLES, REVIEWER_ROLES, roles_required, signed_in
from kameng_gateway.blueprints import load_json, load_query
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import (
    BlacklistEntryRequestSchema,
    BlacklistEntrySchema,
    BlacklistPageSchema,
    BlacklistQuerySchema,
    PageQuerySchema,
    ReviewDecisionRequestSchema,
    ReviewDecisionSchema,
    ReviewPageSchema,
)

blueprint = Blueprint("risk", __name__, url_prefix="/api/v1/admin")

_PAGE_QUERY_SCHEMA = PageQuerySchema()
_REVIEW_DECISION_REQUEST_SCHEMA = ReviewDecisionRequestSchema()
_REVIEW_PAGE_SCHEMA = ReviewPageSchema()
_REVIEW_DECISION_SCHEMA = ReviewDecisionSchema()
_BLACKLIST_QUERY_SCHEMA = BlacklistQuerySchema()
_BLACKLIST_ENTRY_REQUEST_SCHEMA = BlacklistEntryRequestSchema()
_BLACKLIST_ENTRY_SCHEMA = BlacklistEntrySchema()
_BLACKLIST_PAGE_SCHEMA = BlacklistPageSchema()


@blueprint.get("/reviews")
@operation(
    "List the orders on hold for review",
    query=PageQuerySchema,
    responses={200: ReviewPageSchema},
    auth="required",
)
@roles_required(*REVIEWER_ROLES)
def list_reviews() -> ResponseReturnValue:
    """Admin, support and ops. Orders risk held, with its score and the reasons, the
    nearest deadline first: an order nobody decides by `decide_by` is cancelled."""
    query = load_query(_PAGE_QUERY_SCHEMA)
    page = remote.call("orders", "list_reviews", limit=query["limit"], cursor=query["cursor"])
    return _REVIEW_PAGE_SCHEMA.dump(page)


@blueprint.post("/reviews/<uuid:order_id>/decision")
@operation(
    "Decide an order on hold",
    body=ReviewDecisionRequestSchema,
    responses={200: ReviewDecisionSchema},
    auth="required",
)
@roles_required(*REVIEWER_ROLES)
def decide_review(order_id: uuid.UUID) -> ResponseReturnValue:
    """Admin, support and ops. approve → awaiting_payment with a fresh payment deadline;
    reject → cancelled, its cards back in stock. Who decided and why go into the order's
    history and the audit log. An order is decided once: a second decision answers 409
    `review_already_decided`, an order not on hold 409 `order_not_on_hold`."""
    data = load_json(_REVIEW_DECISION_REQUEST_SCHEMA)
    decision = remote.call(
        "orders", "decide_review", str(order_id), data["decision"], data["reason"], signed_in().user_id
    )
    return _REVIEW_DECISION_SCHEMA.dump(decision)


@blueprint.get("/blacklist")
@operation(
    "List the blacklist", query=BlacklistQuerySchema, responses={200: BlacklistPageSchema}, auth="required"
)
@roles_required(*BLACKLIST_ROLES)
def list_blacklist() -> ResponseReturnValue:
    """Admin and ops. Newest first; ?kind= shows one kind (account, ip or device)."""
    query = load_query(_BLACKLIST_QUERY_SCHEMA)
    page = remote.call(
        "risk", "list_blacklist", kind=query.get("kind"), limit=query["limit"], cursor=query["cursor"]
    )
    return _BLACKLIST_PAGE_SCHEMA.dump(page)


@blueprint.post("/blacklist")
@operation(
    "Blacklist an account, a client address or a device",
    body=BlacklistEntryRequestSchema,
    responses={201: BlacklistEntrySchema, 200: BlacklistEntrySchema},
    auth="required",
)
@roles_required(*BLACKLIST_ROLES)
def add_blacklist_entry() -> ResponseReturnValue:
    """Admin and ops. Risk rejects every later order of a blacklisted account, or placed from a
    blacklisted address or X-Device-Id. 201 with the new entry; 200 with the existing one when
    that kind and value are blacklisted already."""
    data = load_json(_BLACKLIST_ENTRY_REQUEST_SCHEMA)
    added = remote.call(
        "risk",
        "add_blacklist_entry",
        data["kind"],
        data["value"],
        data["reason"],
        created_by=signed_in().user_id,
    )
    return _BLACKLIST_ENTRY_SCHEMA.dump(added["entry"]), 201 if added["created"] else 200


@blueprint.delete("/blacklist/<uuid:entry_id>")
@operation("Take an entry off the blacklist", responses={204: None}, auth="required")
@roles_required(*BLACKLIST_ROLES)
def remove_blacklist_entry(entry_id: uuid.UUID) -> ResponseReturnValue:
    """Admin and ops. 404 for an entry that is not (or no longer) there. Adding and removing
    entries are written to the audit log."""
    remote.call("risk", "remove_blacklist_entry", str(entry_id), removed_by=signed_in().user_id)
    return "", 204
