"""Risk's rules on the real suite: the blacklist by account, address and device, and unpaid-order hoarding."""

import base64
import json
import time
import uuid

import pytest

from kameng_cli import shop


def place(buyer, product, quantity=1, headers=None):
    order = buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4()), **(headers or {})},
        json={"items": [{"product_id": product["id"], "quantity": quantity}]},
    )
    return shop.wait_for_status(buyer, order["id"], {"awaiting_payment", "on_hold", "cancelled"})


@pytest.mark.parametrize("kind", ["account", "ip", "device"])
def test_a_blacklisted_account_address_or_device_cannot_buy(
    staff, new_buyer, product_with_cards, stock_of, kind
):
    product, _cards = product_with_cards(2)
    buyer = new_buyer()
    device = f"device-{uuid.uuid4().hex[:8]}"
    values = {"account": _customer_id(buyer), "ip": "127.0.0.1", "device": device}
    entry = staff.request(
        "POST", "/api/v1/admin/blacklist", json={"kind": kind, "value": values[kind], "reason": "chargebacks"}
    )
    assert entry["kind"] == kind and entry["created_by"]
    try:
        refused = place(buyer, product, headers={"X-Device-Id": device})
        assert refused["status"] == "cancelled", refused
        assert refused["history"][-1]["reason"] == "risk reject"
        assert _stock_settles(stock_of, product, 2)
        listed = staff.request("GET", "/api/v1/admin/blacklist", params={"kind": kind, "limit": 100})
        assert entry["id"] in [item["id"] for item in listed["items"]]
    finally:
        staff.request("DELETE", f"/api/v1/admin/blacklist/{entry['id']}", expected=(204,))
    assert place(buyer, product, headers={"X-Device-Id": device})["status"] == "awaiting_payment"


def test_one_fresh_account_cannot_hoard_a_products_stock(new_buyer, product_with_cards, stock_of):
    product, _cards = product_with_cards(40)
    hoarder = new_buyer()
    # the default cap: 10 unpaid units of one product
    assert place(hoarder, product, quantity=8)["status"] == "awaiting_payment"
    refused = place(hoarder, product, quantity=3)
    assert refused["status"] == "cancelled"
    assert _stock_settles(stock_of, product, 32)
    # an honest buyer still gets a card
    assert place(new_buyer(), product)["status"] == "awaiting_payment"


def _customer_id(buyer):
    """The account id the buyer's token carries."""
    claims = buyer.token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"]


def _stock_settles(stock_of, product, expected, seconds=10):
    """Whether the product's stock comes to ``expected`` (a cancelled order's cards go back by event)."""
    deadline = time.monotonic() + seconds
    while stock_of(product["id"]) != expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
