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


def test_an_order_id_that_is_not_a_uuid_reaches_no_service(client, callers, rpc):
    response = client.post(
        "/api/v1/admin/reviews/42/decision",
        json={"decision": "approve", "reason": "x"},
        headers=callers.staff("admin"),
    )
    assert response.status_code in (404, 405)  # no such route (the web app's catch-all answers GET only)
    assert rpc.calls_to("orders", "decide_review") == []


# --- the blacklist

ENTRY = {
    "id": "b1ac0000-0000-4000-8000-000000000001",
    "kind": "device",
    "value": "phone-42",
    "reason": "stolen cards",
    "created_by": "s1",
    "created_at": "2026-01-01T00:00:00+00:00",
}


def test_blacklisting_answers_201_then_200_for_the_same_entry(client, callers, rpc):
    answers = iter([{"entry": ENTRY, "created": True}, {"entry": ENTRY, "created": False}])
    rpc.answer("risk", "add_blacklist_entry", lambda *args, **kwargs: next(answers))
    body = {"kind": "device", "value": "phone-42", "reason": "stolen cards"}

    first = client.post("/api/v1/admin/blacklist", json=body, headers=callers.staff("ops"))
    second = client.post("/api/v1/admin/blacklist", json=body, headers=callers.staff("ops"))

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json == ENTRY
    call = rpc.calls_to("risk", "add_blacklist_entry")[0]
    assert call.args == ("device", "phone-42", "stolen cards")
    assert call.kwargs["created_by"]


def test_the_blacklist_is_listed_by_kind_and_entries_removed(client, callers, rpc):
    rpc.answer("risk", "list_blacklist", {"items": [ENTRY], "next_cursor": None})
    rpc.answer("risk", "remove_blacklist_entry", {"id": ENTRY["id"]})

    listed = client.get("/api/v1/admin/blacklist?kind=device&limit=5", headers=callers.staff("admin"))
    removed = client.delete(f"/api/v1/admin/blacklist/{ENTRY['id']}", headers=callers.staff("admin"))

    assert listed.json == {"items": [ENTRY], "next_cursor": None}
    assert rpc.calls_to("risk", "list_blacklist")[0].kwargs == {"kind": "device", "limit": 5, "cursor": None}
    assert removed.status_code == 204 and removed.data == b""


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "person", "value": "x", "reason": "r"},
        {"kind": "ip", "value": "", "reason": "r"},
        {"kind": "ip", "value": "has space", "reason": "r"},
        {"kind": "ip", "value": "x" * 129, "reason": "r"},
        {"kind": "ip", "value": "203.0.113.9"},
        {"kind": "ip", "value": "203.0.113.9", "reason": ""},
    ],
)
def test_a_bad_blacklist_entry_is_refused(client, callers, rpc, body):
    response = client.post("/api/v1/admin/blacklist", json=body, headers=callers.staff("admin"))
    assert response.status_code == 422
    assert rpc.calls_to("risk", "add_blacklist_entry") == []


def test_a_bad_blacklist_query_is_refused(client, callers):
    response = client.get("/api/v1/admin/blacklist?kind=person", headers=callers.staff("admin"))
    assert response.status_code == 422
