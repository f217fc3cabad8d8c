"""Coupons: made and issued by admins and ops; a buyer's own usable coupons."""

import uuid
from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue

from kameng_gateway import audit, remote
from kameng_gateway.auth import ADMIN, OPS, customer_required, roles_required, signed_in
from kameng_gateway.blueprints import load_json, load_query
from kameng_gateway.customer_schemas import (
    CouponCreationSchema,
    CouponIssuedSchema,
    CouponIssueSchema,
    CouponPageQuerySchema,
    CouponPageSchema,
    CouponReportQuerySchema,
    CouponSchema,
    MyCouponsSchema,
)
from kameng_gateway.openapi import operation

blueprint = Blueprint("coupons", __name__, url_prefix="/api/v1")

COUPON_ROLES = (ADMIN, OPS)

_CREATION_SCHEMA = CouponCreationSchema()
_COUPON_SCHEMA = CouponSchema()
_PAGE_QUERY_SCHEMA = CouponPageQuerySchema()
_PAGE_SCHEMA = CouponPageSchema()
_REPORT_QUERY_SCHEMA = CouponReportQuerySchema()
_ISSUE_SCHEMA = CouponIssueSchema()
_ISSUED_SCHEMA = CouponIssuedSchema()
_MY_COUPONS_SCHEMA = MyCouponsSchema()


@blueprint.post("/admin/coupons")
@operation("Create a coupon", body=CouponCreationSchema, responses={201: CouponSchema}, auth="required")
@roles_required(*COUPON_ROLES)
def create_coupon() -> ResponseReturnValue:
    """amount_off (满减: `value` fen off once the items in scope cost `min_total`) or percent_off
    (`value` percent of them, rounded down), valid from starts_at until ends_at. A use is held
    when an order is placed, spent when it is paid and given back when it is cancelled or
    expires; `total_limit` and `per_customer_limit` hold under concurrent orders. With `segment`
    (a tag, or `region:<REGION>`) only the customers in it when they order may use it: others are
    refused 403 `coupon_out_of_segment`. A code taken already (whatever its case) is 409
    `coupon_code_taken`; contradictory terms or a malformed segment 422 `invalid_coupon`."""
    data = load_json(_CREATION_SCHEMA)
    coupon = remote.call("customers", "create_coupon", {**_wire(data), "created_by": signed_in().user_id})
    audit.record(
        "coupon.created",
        f"coupon:{coupon['id']}",
        {"code": coupon["code"], "kind": coupon["kind"], "segment": coupon["segment"]},
    )
    return _COUPON_SCHEMA.dump(coupon), 201


def _wire(data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data,
        "starts_at": data["starts_at"].isoformat(),
        "ends_at": data["ends_at"].isoformat(),
    }


@blueprint.get("/admin/coupons")
@operation("List coupons", query=CouponPageQuerySchema, responses={200: CouponPageSchema}, auth="required")
@roles_required(*COUPON_ROLES)
def list_coupons() -> ResponseReturnValue:
    """By code."""
    query = load_query(_PAGE_QUERY_SCHEMA)
    page = remote.call("customers", "list_coupons", limit=query["limit"], cursor=query["cursor"])
    return _PAGE_SCHEMA.dump(page)


@blueprint.get("/admin/coupons/<uuid:coupon_id>")
@operation("One coupon", query=CouponReportQuerySchema, responses={200: CouponSchema}, auth="required")
@roles_required(*COUPON_ROLES)
def get_coupon(coupon_id: uuid.UUID) -> ResponseReturnValue:
    """With its uses (`used`), how many customers it was issued to and how many paid with it (a
    segment's coupon: `segment_customers`, how many are in the segment now); `?tag=` adds the same
    counts among the customers who hold that tag now (a targeted offer's report)."""
    query = load_query(_REPORT_QUERY_SCHEMA)
    return _COUPON_SCHEMA.dump(remote.call("customers", "get_coupon", str(coupon_id), tag=query.get("tag")))


@blueprint.post("/admin/coupons/<uuid:coupon_id>/issue")
@operation(
    "Issue a coupon to customers",
    body=CouponIssueSchema,
    responses={200: CouponIssuedSchema},
    auth="required",
)
@roles_required(*COUPON_ROLES)
def issue_coupon(coupon_id: uuid.UUID) -> ResponseReturnValue:
    """`customer_ids`, or `tag` for every customer who holds that tag now. Each may then use it
    (a coupon that is not public serves only them) and sees it in GET /me/coupons. Issuing again to a customer who has it changes nothing; an id that is
    no customer's is 422 `customer_unknown`."""
    data = load_json(_ISSUE_SCHEMA)
    issued = remote.call(
        "customers",
        "issue_coupon",
        str(coupon_id),
        customer_ids=data.get("customer_ids"),
        tag=data.get("tag"),
    )
    audit.record(
        "coupon.issued",
        f"coupon:{coupon_id}",
        {"tag": issued["tag"], "customers": issued["customers"], "newly_issued": issued["newly_issued"]},
    )
    return _ISSUED_SCHEMA.dump(issued)


@blueprint.get("/me/coupons")
@operation("My coupons", responses={200: MyCouponsSchema}, auth="required")
@customer_required
def my_coupons() -> ResponseReturnValue:
    """The coupons issued to the caller that they can still use now: within their dates, with
    uses left for them and in all, and for a segment only while the caller is in it. Use one with
    `coupon_code` in POST /orders."""
    return _MY_COUPONS_SCHEMA.dump(remote.call("customers", "my_coupons", signed_in().user_id))
