"""The review queue through the gateway: listing orders on hold and deciding them."""

import pytest

from kameng_common.errors import Conflict

ORDER_ID = "0dde0000-0000-4000-8000-000000000001"
REVIEW = {
    "order_id": ORDER_ID,
    "customer_id": "c1",
    "items": [{"product_id": 1, "name": "Game card 100", "quantity": 2, "unit_price": 300000}],
    "total": 600000,
    "currency": "CNY",
    "score": 50,
    "reasons": ["amount:review: 600000 fen is over 500000"],
    "created_at": "2026-01-01T00:00:00+00:00",
    "held_at": "2026-01-01T00:00:01+00:00",
    "decide_by": "2026-01-02T00:00:01+00:00",
}


@pytest.fixture(autouse=True)
def orders_service(rpc):
    rpc.answer("orders", "list_reviews", {"items": [REVIEW], "next_cursor": "more"})
    rpc.answer(
        "orders",
        "decide_review",
        lambda order_id, decision, reason, decided_by: {
            "order_id": order_id,
            "decision": decision,
            "reason": reason,
            "decided_by": decided_by,
            "decided_at": "2026-01-01T01:00:00+00:00",
            "status": "awaiting_payment" if decision == "approve" else "cancelled",
        },
    )


def test_the_queue_lists_orders_on_hold_with_score_and_reasons(client, callers, rpc):
    response = client.get("/api/v1/admin/reviews?limit=10&cursor=abc", headers=callers.staff("support"))

    assert response.status_code == 200
    assert response.json == {"items": [REVIEW], "next_cursor": "more"}
    assert rpc.calls_to("orders", "list_reviews")[0].kwargs == {"limit": 10, "cursor": "abc"}


def test_a_decision_is_recorded_with_who_decided(client, callers, rpc):
    response = client.post(
        f"/api/v1/admin/reviews/{ORDER_ID}/decision",
        json={"decision": "reject", "reason": "card testing"},
        headers=callers.staff("ops"),
    )

    assert response.status_code == 200
    assert response.json["status"] == "cancelled"
    call = rpc.calls_to("orders", "decide_review")[0]
    assert call.args[:3] == (ORDER_ID, "reject", "card testing")
    assert call.args[3] == response.json["decided_by"]


def test_a_second_decision_is_a_conflict_with_its_code(client, callers, rpc):
    rpc.answer("orders", "decide_review", Conflict("decided already", code="review_already_decided"))

    response = client.post(
        f"/api/v1/admin/reviews/{ORDER_ID}/decision",
        json={"decision": "approve", "reason": "ok"},
        headers=callers.staff("admin"),
    )

    assert response.status_code == 409
    assert response.json["error"]["code"] == "review_already_decided"


@pytest.mark.parametrize(
    "path, body",
    [
        (f"/api/v1/admin/reviews/{ORDER_ID}/decision", {"decision": "maybe", "reason": "x"}),
        (f"/api/v1/admin/reviews/{ORDER_ID}/decision", {"decision": "approve"}),
        (f"/api/v1/admin/reviews/{ORDER_ID}/decision", {"decision": "approve", "reason": ""}),
        (f"/api/v1/admin/reviews/{ORDER_ID}/decision", {"decision": "approve", "reason": "x" * 301}),
        (f"/api/v1/admin/reviews/{ORDER_ID}/decision", {"decision": "approve", "reason": "x", "extra": 1}),
        (f"/api/v1/admin/reviews/{ORDER_ID}/decision", [1, 2]),
    ],
)
def test_a_bad_decision_is_refused_before_any_service_is_called(client, callers, rpc, path, body):
    response = client.post(path, json=body, headers=callers.staff("admin"))

    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_input"
    assert rpc.calls_to("orders", "decide_review") == []


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor="])
def test_a_bad_page_is_refused(client, callers, query):
    response = client.get(f"/api/v1/admin/reviews?{query}", headers=callers.staff("admin"))
    assert response.status_code == 422


def test_an_order_id_that_is_not_a_uuid_is_not_found(client, callers, rpc):
    response = client.post(
        "/api/v1/admin/reviews/42/decision",
        json={"decision": "approve", "reason": "x"},
        headers=callers.staff("admin"),
    )
    assert response.status_code == 404
    assert rpc.calls_to("orders", "decide_review") == []
