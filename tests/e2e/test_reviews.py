"""The review queue: an order risk held is listed for staff, who approve or reject it once."""

import datetime
import time
import uuid

import pytest

from kameng_cli import shop

# over KAMENG_RISK_REVIEW_AMOUNT's default (500000 fen): risk holds the order for review
HELD_PRICE = 600_000


@pytest.fixture
def held_order(product_with_cards, new_buyer):
    """A buyer with an order risk held for review; returns (buyer, order, product, cards)."""

    def make():
        product, cards = product_with_cards(1, price=HELD_PRICE)
        buyer = new_buyer()
        order = buyer.request(
            "POST",
            "/api/v1/orders",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={"items": [{"product_id": product["id"], "quantity": 1}]},
        )
        order = shop.wait_for_status(buyer, order["id"], {"on_hold"})
        assert order["status"] == "on_hold", order
        return buyer, order, product, cards

    return make


def queued(staff, order_id):
    """The order's entry in the review queue, or None, reading every page."""
    cursor = None
    while True:
        page = staff.request("GET", "/api/v1/admin/reviews", params={"limit": 100, "cursor": cursor})
        for review in page["items"]:
            if review["order_id"] == order_id:
                return review
        cursor = page["next_cursor"]
        if not cursor:
            return None


def test_an_approved_order_can_be_paid_and_is_delivered(held_order, staff, notify):
    buyer, order, _product, cards = held_order()
    review = queued(staff, order["id"])
    assert review["score"] >= 50 and any(reason.startswith("amount:review") for reason in review["reasons"])
    # the buyer never sees why: the history says only that risk held it
    assert all("amount" not in (entry["reason"] or "") for entry in order["history"])

    decided = staff.request(
        "POST",
        f"/api/v1/admin/reviews/{order['id']}/decision",
        json={"decision": "approve", "reason": "regular buyer, confirmed by phone"},
    )
    assert decided["status"] == "awaiting_payment"
    approved = buyer.request("GET", f"/api/v1/orders/{order['id']}")
    assert approved["status"] == "awaiting_payment"
    assert datetime.datetime.fromisoformat(approved["expires_at"]) > datetime.datetime.now(datetime.UTC)
    assert "regular buyer, confirmed by phone" in approved["history"][-1]["reason"]
    assert queued(staff, order["id"]) is None

    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert notify(payment).status_code == 200
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"
    assert buyer.request("GET", f"/api/v1/orders/{order['id']}/cards") == cards


def test_a_rejected_order_is_cancelled_and_its_card_goes_back(held_order, staff, stock_of):
    buyer, order, product, _cards = held_order()
    assert stock_of(product["id"]) == 0

    staff.request(
        "POST",
        f"/api/v1/admin/reviews/{order['id']}/decision",
        json={"decision": "reject", "reason": "card testing pattern"},
    )

    assert buyer.request("GET", f"/api/v1/orders/{order['id']}")["status"] == "cancelled"
    deadline = time.monotonic() + 10
    while stock_of(product["id"]) != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stock_of(product["id"]) == 1
    # decided once: a second decision is refused and changes nothing
    response = staff.http.post(
        f"{staff.base_url}/api/v1/admin/reviews/{order['id']}/decision",
        json={"decision": "approve", "reason": "changed my mind"},
        headers={"Authorization": f"Bearer {staff.token}"},
        timeout=30,
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "review_already_decided"
    assert buyer.request("GET", f"/api/v1/orders/{order['id']}")["status"] == "cancelled"


def test_a_customer_cannot_see_or_decide_reviews(held_order):
    buyer, order, _product, _cards = held_order()
    buyer.request("GET", "/api/v1/admin/reviews", expected=(403,))
    buyer.request(
        "POST",
        f"/api/v1/admin/reviews/{order['id']}/decision",
        expected=(403,),
        json={"decision": "approve", "reason": "me"},
    )
    assert buyer.request("GET", f"/api/v1/orders/{order['id']}")["status"] == "on_hold"
