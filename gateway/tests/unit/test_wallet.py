"""The customer's wallet: its statement and top-ups."""

import pytest

STATEMENT = {
    "customer_id": "c1",
    "currency": "CNY",
    "balance": 3800,
    "entries": [
        {"id": "7", "amount": -1200, "kind": "payment", "reference": "r1", "at": "2026-11-27T09:00:00+00:00"}
    ],
    "next_cursor": "7",
}
TOPUP = {
    "payment_id": "p1",
    "amount": 5000,
    "currency": "CNY",
    "method": "alipay",
    "status": "pending",
    "pay_url": "https://openapi.alipay.com/gateway.do?x=1",
    "code_url": None,
    "topup_id": "t1",
}


def test_the_wallet_is_the_callers_own_statement(client, rpc, callers):
    rpc.answer("payments", "wallet_statement", STATEMENT)

    response = client.get("/api/v1/me/wallet?limit=1", headers=callers.customer())

    assert response.status_code == 200
    assert response.json == {
        "balance": 3800,
        "currency": "CNY",
        "items": STATEMENT["entries"],
        "next_cursor": "7",
    }
    call = rpc.calls_to("payments", "wallet_statement")[0]
    assert call.args == (callers.customer_id, "CNY")
    assert call.kwargs == {"limit": 1, "cursor": None}


def test_a_topup_opens_a_payment_under_the_callers_idempotency_key(client, rpc, callers):
    rpc.answer("payments", "create_topup", TOPUP)

    response = client.post(
        "/api/v1/me/wallet/topups",
        json={"amount": 5000, "method": "alipay"},
        headers={**callers.customer(), "Idempotency-Key": "k-1"},
    )

    assert response.status_code == 201
    assert response.json["pay_url"] == TOPUP["pay_url"] and response.json["topup_id"] == "t1"
    assert rpc.calls_to("payments", "create_topup")[0].args == (
        callers.customer_id,
        5000,
        "CNY",
        "alipay",
        "k-1",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0, "method": "alipay"},
        {"amount": 1.5, "method": "alipay"},
        {"amount": 100, "method": "balance"},
        {},
    ],
)
def test_a_bad_topup_is_422_and_reaches_no_service(client, rpc, callers, body):
    response = client.post("/api/v1/me/wallet/topups", json=body, headers=callers.customer())
    assert response.status_code == 422
    assert rpc.calls == []


@pytest.mark.parametrize("method, path", [("get", "/api/v1/me/wallet"), ("post", "/api/v1/me/wallet/topups")])
def test_staff_and_anonymous_callers_have_no_wallet(client, rpc, callers, method, path):
    assert getattr(client, method)(path, json={"amount": 1, "method": "alipay"}).status_code == 401
    response = getattr(client, method)(
        path, json={"amount": 1, "method": "alipay"}, headers=callers.staff("admin")
    )
    assert response.status_code == 403
    assert rpc.calls == []
