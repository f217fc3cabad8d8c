"""Risk and trust for staff: the review queue of orders risk held."""

from flask import Blueprint

from kameng_gateway import remote
from kameng_gateway.auth import REVIEWER_ROLES, current_identity, roles_required
from kameng_gateway.blueprints import load_json, load_query
from kameng_gateway.openapi import operation
from kameng_gateway.schemas import (
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


@blueprint.get("/reviews")
@operation(
    "List the orders on hold for review",
    query=PageQuerySchema,
    responses={200: ReviewPageSchema},
    auth="required",
)
@roles_required(*REVIEWER_ROLES)
def list_reviews():
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
def decide_review(order_id):
    """Admin, support and ops. approve → awaiting_payment with a fresh payment deadline;
    reject → cancelled, its cards back in stock. Who decided and why go into the order's
    history. An order is decided once: a second decision answers 409
    `review_already_decided`, an order not on hold 409 `order_not_on_hold`."""
    data = load_json(_REVIEW_DECISION_REQUEST_SCHEMA)
    decision = remote.call(
        "orders", "decide_review", str(order_id), data["decision"], data["reason"], current_identity().user_id
    )
    return _REVIEW_DECISION_SCHEMA.dump(decision)
