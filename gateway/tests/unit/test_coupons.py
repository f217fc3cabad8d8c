"""Coupon routes: who may call them, what they pass on, and bad input answered 4xx."""

import pytest

from kameng_common.errors import Conflict

CALLERS = ("anonymous", "customer", "admin", "ops", "support", "finance", "auditor")
COUPON_ID = "c0c00000-0000-4000-8000-0000000000aa"
NEW_COUPON = {
    "code": "spring10",
    "kind": "amount_off",
    "value": 1000,
    "min_total": 5000,
    "starts_at": "2026-01-01T00:00:00+00:00",
    "ends_at": "2027-01-01T00:00:00+00:00",
    "total_limit": 10,
    "per_customer_limit": 1,
    "product_ids": [1, 2],
}
COUPON = {
    **NEW_COUPON,
    "id": COUPON_ID,
    "code": "SPRING10",
    "currency": "CNY",
    "category_ids": [],
    "public": True,
    "segment": None,
    "used": 0,
    "created_at": "2026-01-01T00:00:00+00:00",
}
ROUTES = [
    ("POST", "/api/v1/admin/coupons", NEW_COUPON, {"admin", "ops"}),
    ("GET", "/api/v1/admin/coupons", None, {"admin", "ops"}),
    ("GET", f"/api/v1/admin/coupons/{COUPON_ID}", None, {"admin", "ops"}),
    ("POST", f"/api/v1/admin/coupons/{COUPON_ID}/issue", {"customer_ids": ["c1"]}, {"admin", "ops"}),
    ("GET", "/api/v1/me/coupons", None, {"customer"}),
]


@pytest.fixture(autouse=True)
def services(rpc):
    rpc.answer("customers", "create_coupon", lambda coupon: COUPON)
    rpc.answer("customers", "list_coupons", {"items": [COUPON], "next_cursor": None})
    rpc.answer("customers", "get_coupon", {**COUPON, "issued": 3})
    rpc.answer(
        "customers",
        "issue_coupon",
        lambda coupon_id, customer_ids=None, tag=None: {
            "coupon_id": coupon_id,
            "tag": tag,
            "customers": 1,
            "newly_issued": 1,
        },
    )
    rpc.answer("customers", "my_coupons", {"items": []})


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    "method, path, body, allowed", ROUTES, ids=[f"{method} {path}" for method, path, *_ in ROUTES]
)
def test_only_the_roles_api_md_names_may_call(client, callers, caller, method, path, body, allowed):
    response = client.open(path, method=method, json=body, headers=callers.as_(caller))

    if caller in allowed:
        assert response.status_code in (200, 201), response.json
    else:
        assert response.status_code == (401 if caller == "anonymous" else 403)


def test_a_coupon_is_created_as_sent_by_the_staff_member_and_audited(client, callers, rpc):
    response = client.post("/api/v1/admin/coupons", json=NEW_COUPON, headers=callers.staff("ops"))

    assert response.status_code == 201 and response.json["code"] == "SPRING10"
    sent = rpc.calls_to("customers", "create_coupon")[0].args[0]
    assert sent == {
        **NEW_COUPON,
        "currency": "CNY",
        "category_ids": [],
        "public": True,
        "segment": None,
        "created_by": "staff-ops",
    }
    assert rpc.calls_to("risk", "record_audit")[0].args[3] == "coupon.created"


@pytest.mark.parametrize(
    "change",
    [
        {"code": "no spaces inside"},
        {"code": "ab"},
        {"kind": "free_lunch"},
        {"value": 0},
        {"value": 1.5},
        {"min_total": -1},
        {"starts_at": "tomorrow"},
        {"ends_at": "2027-01-01T00:00:00"},  # no time zone
        {"total_limit": 0},
        {"product_ids": [0]},
        {"segment": ""},
        {"segment": "region:" + "G" * 40},
    ],
)
def test_a_malformed_coupon_is_422_before_any_call(client, callers, rpc, change):
    response = client.post(
        "/api/v1/admin/coupons", json={**NEW_COUPON, **change}, headers=callers.staff("admin")
    )

    assert response.status_code == 422
    assert rpc.calls_to("customers", "create_coupon") == []


def test_a_segment_is_passed_on_shown_and_audited(client, callers, rpc):
    rpc.answer("customers", "create_coupon", lambda coupon: {**COUPON, "segment": "region:GD"})

    response = client.post(
        "/api/v1/admin/coupons", json={**NEW_COUPON, "segment": "region:gd"}, headers=callers.staff("ops")
    )

    assert response.status_code == 201 and response.json["segment"] == "region:GD"
    assert rpc.calls_to("customers", "create_coupon")[0].args[0]["segment"] == "region:gd"
    audited = rpc.calls_to("risk", "record_audit")[0].args
    assert audited[3] == "coupon.created" and audited[5]["segment"] == "region:GD"


def test_a_segment_coupons_report_counts_the_segment(client, callers, rpc):
    rpc.answer(
        "customers", "get_coupon", {**COUPON, "segment": "dormant", "issued": 0, "segment_customers": 7}
    )

    response = client.get(f"/api/v1/admin/coupons/{COUPON_ID}", headers=callers.staff("admin"))

    assert (response.json["segment"], response.json["segment_customers"]) == ("dormant", 7)


def test_a_taken_code_is_409_with_its_code(client, callers, rpc):
    rpc.answer("customers", "create_coupon", Conflict("taken", "coupon_code_taken"))

    response = client.post("/api/v1/admin/coupons", json=NEW_COUPON, headers=callers.staff("admin"))

    assert response.status_code == 409 and response.json["error"]["code"] == "coupon_code_taken"


def test_issue_passes_the_customers_on(client, callers, rpc):
    response = client.post(
        f"/api/v1/admin/coupons/{COUPON_ID}/issue",
        json={"customer_ids": ["c1", "c2"]},
        headers=callers.staff("ops"),
    )

    assert response.status_code == 200
    call = rpc.calls_to("customers", "issue_coupon")[0]
    assert (call.args, call.kwargs) == ((COUPON_ID,), {"customer_ids": ["c1", "c2"], "tag": None})


@pytest.mark.parametrize("body", [{}, {"customer_ids": ["c1"], "tag": "dormant"}, {"customer_ids": []}])
def test_issue_takes_customers_or_a_tag(client, callers, rpc, body):
    response = client.post(
        f"/api/v1/admin/coupons/{COUPON_ID}/issue", json=body, headers=callers.staff("ops")
    )

    assert response.status_code == 422
    assert rpc.calls_to("customers", "issue_coupon") == []


def test_my_coupons_are_the_callers_own(client, callers, rpc):
    client.get("/api/v1/me/coupons", headers=callers.customer())

    assert rpc.calls_to("customers", "my_coupons")[0].args == (callers.customer_id,)


def test_a_coupons_report_may_count_among_a_tag(client, callers, rpc):
    response = client.get(f"/api/v1/admin/coupons/{COUPON_ID}?tag=dormant", headers=callers.staff("ops"))

    assert response.status_code == 200
    call = rpc.calls_to("customers", "get_coupon")[0]
    assert (call.args, call.kwargs) == ((COUPON_ID,), {"tag": "dormant"})
