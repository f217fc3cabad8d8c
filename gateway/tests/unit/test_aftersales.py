"""After-sales tickets through the gateway: who may ask, read, comment, approve and reject."""

import pytest

from kameng_common.errors import Conflict, InvalidInput

ORDER_ID = "6a1b1c1d-0000-4000-8000-000000000001"
TICKET_ID = "7b2c2d2e-0000-4000-8000-000000000002"
TICKET = {
    "id": TICKET_ID,
    "order_id": ORDER_ID,
    "customer_id": "c1",
    "reason": "the card was used",
    "status": "open",
    "decided_by": None,
    "decision_reason": None,
    "decided_at": None,
    "refund_id": None,
    "created_at": "2026-11-27T09:00:00+00:00",
    "comments": [],
}


def test_a_buyer_opens_a_ticket_on_their_order(client, rpc, callers):
    rpc.answer("payments", "open_refund_request", {"request": TICKET, "created": True})
    response = client.post(
        f"/api/v1/orders/{ORDER_ID}/refund-requests",
        json={"reason": "the card was used"},
        headers=callers.customer(),
    )
    assert (response.status_code, response.json) == (201, TICKET)
    [call] = rpc.calls_to("payments", "open_refund_request")
    assert call.args == (ORDER_ID, callers.customer_id, "the card was used")

    rpc.answer("payments", "open_refund_request", {"request": TICKET, "created": False})
    again = client.post(
        f"/api/v1/orders/{ORDER_ID}/refund-requests",
        json={"reason": "the card was used"},
        headers=callers.customer(),
    )
    assert again.status_code == 200


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": 5}, {"reason": "x" * 501}])
def test_a_bad_ticket_is_422(client, rpc, callers, body):
    response = client.post(
        f"/api/v1/orders/{ORDER_ID}/refund-requests", json=body, headers=callers.customer()
    )
    assert response.status_code == 422
    assert response.json["error"]["code"]
    assert rpc.calls == []


def test_staff_do_not_open_tickets_and_a_second_open_one_is_409(client, rpc, callers):
    assert (
        client.post(
            f"/api/v1/orders/{ORDER_ID}/refund-requests", json={"reason": "x"}, headers=callers.staff("admin")
        ).status_code
        == 403
    )
    rpc.answer("payments", "open_refund_request", Conflict("open already", "refund_request_open"))
    response = client.post(
        f"/api/v1/orders/{ORDER_ID}/refund-requests", json={"reason": "x"}, headers=callers.customer()
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "refund_request_open"


@pytest.mark.parametrize("role", ["admin", "finance", "support"])
def test_admins_finance_and_support_read_the_queue(client, rpc, callers, role):
    rpc.answer("payments", "list_refund_requests", {"items": [TICKET], "next_cursor": None})
    response = client.get("/api/v1/admin/refund-requests?status=open", headers=callers.staff(role))
    assert (response.status_code, response.json["items"]) == (200, [TICKET])
    assert rpc.calls_to("payments", "list_refund_requests")[0].kwargs["status"] == "open"


@pytest.mark.parametrize("role", ["ops", "auditor"])
def test_other_staff_and_customers_may_not_touch_the_queue(client, rpc, callers, role):
    assert client.get("/api/v1/admin/refund-requests", headers=callers.staff(role)).status_code == 403
    assert client.get("/api/v1/admin/refund-requests", headers=callers.customer()).status_code == 403
    decision = client.post(
        f"/api/v1/admin/refund-requests/{TICKET_ID}/decision",
        json={"decision": "reject", "reason": "x"},
        headers=callers.staff(role),
    )
    assert decision.status_code == 403
    assert rpc.calls == []


def test_a_bad_query_is_422(client, callers):
    for query in ("status=lost", "cursor=x", "order_id=nope", "limit=0"):
        response = client.get(f"/api/v1/admin/refund-requests?{query}", headers=callers.staff("finance"))
        assert response.status_code == 422, query


@pytest.mark.parametrize("role", ["admin", "finance"])
def test_finance_approves_with_an_amount_and_a_destination(client, rpc, callers, role):
    approved = {**TICKET, "status": "approved", "refund_id": "r1", "decided_by": f"staff-{role}"}
    rpc.answer("payments", "decide_refund_request", approved)
    response = client.post(
        f"/api/v1/admin/refund-requests/{TICKET_ID}/decision",
        json={"decision": "approve", "reason": "confirmed", "amount": 500, "to": "wallet"},
        headers=callers.staff(role),
    )
    assert (response.status_code, response.json) == (200, approved)
    [call] = rpc.calls_to("payments", "decide_refund_request")
    assert call.args == (TICKET_ID, "approve", "confirmed", f"staff-{role}", 500, "wallet")


def test_support_may_reject_but_not_approve(client, rpc, callers):
    rpc.answer("payments", "decide_refund_request", {**TICKET, "status": "rejected"})
    approve = client.post(
        f"/api/v1/admin/refund-requests/{TICKET_ID}/decision",
        json={"decision": "approve", "reason": "x"},
        headers=callers.staff("support"),
    )
    assert approve.status_code == 403
    assert rpc.calls == []
    reject = client.post(
        f"/api/v1/admin/refund-requests/{TICKET_ID}/decision",
        json={"decision": "reject", "reason": "used card"},
        headers=callers.staff("support"),
    )
    assert reject.status_code == 200
    assert rpc.calls_to("payments", "decide_refund_request")[0].args[:2] == (TICKET_ID, "reject")


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "maybe", "reason": "x"},
        {"decision": "approve"},
        {"decision": "approve", "reason": "x", "amount": 0},
        {"decision": "approve", "reason": "x", "amount": 1.5},
        {"decision": "approve", "reason": "x", "to": "bank"},
    ],
)
def test_a_bad_decision_is_422(client, rpc, callers, body):
    response = client.post(
        f"/api/v1/admin/refund-requests/{TICKET_ID}/decision", json=body, headers=callers.staff("finance")
    )
    assert response.status_code == 422
    assert rpc.calls == []


def test_what_payments_refuses_is_answered_with_its_code(client, rpc, callers):
    for error, status in (
        (Conflict("decided", "already_decided"), 409),
        (InvalidInput("too much", "refund_exceeds_paid"), 422),
    ):
        rpc.answer("payments", "decide_refund_request", error)
        response = client.post(
            f"/api/v1/admin/refund-requests/{TICKET_ID}/decision",
            json={"decision": "approve", "reason": "x"},
            headers=callers.staff("finance"),
        )
        assert (response.status_code, response.json["error"]["code"]) == (status, error.code)


def test_support_comments(client, rpc, callers):
    commented = {
        **TICKET,
        "comments": [{"author": "staff-support", "text": "asked", "at": "2026-11-27T09:01:00+00:00"}],
    }
    rpc.answer("payments", "comment_refund_request", commented)
    response = client.post(
        f"/api/v1/admin/refund-requests/{TICKET_ID}/comments",
        json={"text": "asked"},
        headers=callers.staff("support"),
    )
    assert (response.status_code, response.json) == (201, commented)
    assert rpc.calls_to("payments", "comment_refund_request")[0].args == (TICKET_ID, "staff-support", "asked")
    empty = client.post(
        f"/api/v1/admin/refund-requests/{TICKET_ID}/comments",
        json={"text": ""},
        headers=callers.staff("support"),
    )
    assert empty.status_code == 422
