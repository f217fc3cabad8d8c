"""Unpaid orders expire and give their cards back; a payment after expiry is never lost."""

import time
import uuid

import pytest

from kameng_cli import shop


@pytest.fixture
def wait_expired(suite):
    def wait(buyer, order_id):
        deadline = time.monotonic() + suite.order_ttl + 30
        while time.monotonic() < deadline:
            order = buyer.request("GET", f"/api/v1/orders/{order_id}")
            if order["status"] == "expired":
                return order
            time.sleep(0.5)
        raise AssertionError(f"order {order_id} did not expire: {order['status']}")

    return wait


def test_unpaid_order_expires_and_its_cards_return_to_stock(order_awaiting_payment, stock_of, wait_expired):
    buyer, order, product, _cards = order_awaiting_payment(count=2, stock=3)
    assert stock_of(product["id"]) == 1
    wait_expired(buyer, order["id"])
    deadline = time.monotonic() + 10
    while stock_of(product["id"]) != 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stock_of(product["id"]) == 3


def test_payment_after_expiry_re_reserves_and_delivers(order_awaiting_payment, notify, wait_expired):
    buyer, order, _product, cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    wait_expired(buyer, order["id"])
    assert notify(payment).status_code == 200
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"
    assert buyer.request("GET", f"/api/v1/orders/{order['id']}/cards") == cards


def test_payment_after_expiry_without_stock_is_refunded(
    order_awaiting_payment, new_buyer, notify, wait_expired
):
    buyer, order, product, _cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    wait_expired(buyer, order["id"])
    rival = new_buyer()
    taken = rival.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
    )
    assert shop.wait_for_status(rival, taken["id"], {"awaiting_payment"})["status"] == "awaiting_payment"

    assert notify(payment).status_code == 200
    refunded = shop.wait_for_status(buyer, order["id"], {"refunded"})
    assert refunded["status"] == "refunded"
