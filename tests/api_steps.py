"""Steps through the gateway's HTTP API that the cross-service and browser tests share."""

import json
import time
import uuid

import requests

from kameng_cli import shop


def new_customer(gateway_url, password, prefix="buyer"):
    """A newly registered customer, signed in; returns their client."""
    username = f"{prefix}_{uuid.uuid4().hex[:10]}"
    customer = shop.Gateway(gateway_url)
    customer.register(username, password)
    return customer.log_in(username, password)


def new_card_product(staff, count, price=1000):
    """A new card product (in a new category) with ``count`` fresh cards; returns (product, cards)."""
    category = staff.request("POST", "/api/v1/admin/categories", json={"name": f"cat-{uuid.uuid4().hex[:6]}"})
    product = staff.request(
        "POST",
        "/api/v1/admin/products",
        json={
            "name": f"Card {uuid.uuid4().hex[:6]}",
            "category_id": category["id"],
            "kind": "card",
            "price": price,
        },
    )
    cards = [{"number": f"N{uuid.uuid4().hex[:14]}", "secret": f"S{uuid.uuid4().hex}"} for _ in range(count)]
    result = staff.request("POST", f"/api/v1/admin/products/{product['id']}/cards", json={"cards": cards})
    assert result["imported"] == count
    return product, cards


def notify_mockpay(gateway_url, secret, payment, trade_no=None, amount=None, currency=None, payment_id=None):
    """What mockpay, which has no page of its own, does once the buyer has paid: a signed notification
    of ``payment``, each field as the payment has it unless given; the gateway's response."""
    body = json.dumps(
        {
            "payment_id": payment_id or payment["payment_id"],
            "trade_no": trade_no or f"T{uuid.uuid4().hex[:16]}",
            "amount": payment["amount"] if amount is None else amount,
            "currency": currency or payment["currency"],
            "status": "SUCCESS",
        }
    ).encode()
    return requests.post(
        f"{gateway_url}/api/v1/payments/notify/mockpay",
        data=body,
        timeout=30,
        headers={"Content-Type": "application/json", "X-Mockpay-Signature": shop.sign_mockpay(secret, body)},
    )


def every_item(gateway, path):
    """Every item of a paginated list route, page after page."""
    cursor = None
    while True:
        page = gateway.request("GET", path, params={"limit": 100, "cursor": cursor})
        yield from page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return


def product_finance_row(staff, product_id, timeout=30):
    """The finance summary's row of a product, once payments has recorded its sale (cards.delivered)."""
    deadline = time.monotonic() + timeout
    while True:
        summary = staff.request("GET", "/api/v1/admin/finance/summary", params={"group_by": "product"})
        found = [row for row in summary["rows"] if row["key"] == str(product_id)]
        if found or time.monotonic() > deadline:
            [row] = found
            return row
        time.sleep(0.2)
