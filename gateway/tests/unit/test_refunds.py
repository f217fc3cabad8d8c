"""Staff refunds through the gateway: who may, what reaches payments."""

import pytest

ORDER_ID = "6a1b1c1d-0000-4000-8000-000000000001"
REFUND = {
    "id": "r1",
    "order_id": ORDER_ID,
    "payment_id": "p1",
    "customer_id": "c1",
    "provider": "alipay",
    "amount": 500,
    "currency": "CNY",
    "to": "original",
    "reason": "broken card",
    "actor": "s1",
    "status": "pending",
    "attempts": 1,
    "last_error": "timed out",
    "created_at": "2026-11-27T09:00:00+00:00",
    "updated_at": "2026-11-27T09:00:00+00:00",
}


@pytest.mark.parametrize("role", ["admin", "finance"])
def test_admins_and_finance_refund_under_their_idempotency_key(client, rpc, callers, role):
    rpc.answer("payments", "refund_order", REFUND)

    response = client.post(
        f"/api/v1/admin/orders/{ORDER_ID}/refunds",
        json={"amount": 500, "to": "original", "reason": "broken card"},
        headers={**callers.staff(role), "Idempotency-Key": "k-1"},
    )

    assert response.status_code == 201
    assert response.json == REFUND
    [call] = rpc.calls_to("payments", "refund_order")
    assert call.args[:6] == (ORDER_ID, 500, "original", "broken card", "k-1", call.args[5])


@pytest.mark.parametrize("role", ["support", "ops", "auditor"])
def test_other_staff_may_not_refund(client, rpc, callers, role):
    response = client.post(
        f"/api/v1/admin/orders/{ORDER_ID}/refunds",
        json={"to": "wallet", "reason": "x"},
        headers=callers.staff(role),
    )
    assert response.status_code == 403
    assert rpc.calls == []


@pytest.mark.parametrize(
    "body",
    [
        {"to": "wallet"},
        {"to": "bank", "reason": "x"},
        {"amount": 0, "to": "wallet", "reason": "x"},
        {"amount": "5", "to": "wallet", "reason": "x"},
        {"to": "wallet", "reason": ""},
    ],
)
def test_a_bad_refund_request_is_422(client, rpc, callers, body):
    response = client.post(
        f"/api/v1/admin/orders/{ORDER_ID}/refunds", json=body, headers=callers.staff("admin")
    )
    assert response.status_code == 422
    assert rpc.calls == []


def test_finance_lists_failed_refunds(client, rpc, callers):
    rpc.answer("payments", "list_refunds", {"items": [REFUND], "next_cursor": None})
    response = client.get("/api/v1/admin/refunds?status=failed", headers=callers.staff("finance"))
    assert response.status_code == 200 and response.json["items"] == [REFUND]
    assert rpc.calls_to("payments", "list_refunds")[0].kwargs["status"] == "failed"
    assert client.get("/api/v1/admin/refunds?cursor=x", headers=callers.staff("finance")).status_code == 422
    assert client.get("/api/v1/admin/refunds", headers=callers.staff("support")).status_code == 403
