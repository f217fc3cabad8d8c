"""Stock alerts and the restock listing across the real suite: a sale under the threshold raises
stock.low once (audit log, metric), the listing suggests what to order, and the audit agrees."""

import time
import uuid

import pytest

from kameng_cli import audit, shop
from tests.api_steps import every_item


def _wait_for_alerts(staff, product_id, count, timeout=30):
    target = f"product:{product_id}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = staff.request("GET", "/api/v1/admin/audit-log?action=stock.low&limit=100")["items"]
        found = [entry for entry in entries if entry["target"] == target]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} stock.low entries for {target} within {timeout} s")


def _order(buyer, product_id, quantity):
    order = buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product_id, "quantity": quantity}]},
    )
    return shop.wait_for_status(buyer, order["id"], {"awaiting_payment"})


def _restock_item(staff, product_id):
    [item] = [item for item in every_item(staff, "/api/v1/admin/restock") if item["product_id"] == product_id]
    return item


def test_a_sale_under_the_threshold_alerts_once_and_the_listing_suggests_a_restock(
    suite, staff, product_with_cards, new_buyer, notify, service_metrics
):
    product, _cards = product_with_cards(12)
    changed = staff.request(
        "PATCH", f"/api/v1/admin/products/{product['id']}", json={"low_stock_threshold": 10}
    )
    assert changed["low_stock_threshold"] == 10
    buyer = new_buyer()
    order = _order(buyer, product["id"], 3)  # 9 left: under 10
    _order(new_buyer(), product["id"], 1)  # 8: still low, no second alert

    [alert] = _wait_for_alerts(staff, product["id"], 1)
    assert (alert["actor"], alert["detail"]) == ("system", {"available": 9, "threshold": 10})
    item = _restock_item(staff, product["id"])
    assert {key: item[key] for key in ("stock", "threshold", "low", "forecast_method", "days_of_cover")} == {
        "stock": 8,
        "threshold": 10,
        "low": True,
        "forecast_method": "none",  # today's sales are not history yet
        "days_of_cover": None,
    }
    assert item["suggested_quantity"] == 2  # without a forecast: back to its threshold
    low = [
        sample
        for sample in service_metrics("inventory")
        if sample.name == "kameng_stock_low" and sample.labels["product_id"] == str(product["id"])
    ]
    assert [sample.value for sample in low] == [1.0]

    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    notify(payment)
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"
    more = [{"number": f"N{uuid.uuid4().hex[:14]}", "secret": f"S{uuid.uuid4().hex}"} for _ in range(5)]
    staff.request("POST", f"/api/v1/admin/products/{product['id']}/cards", json={"cards": more})
    assert _restock_item(staff, product["id"])["low"] is False  # 13 available: armed again
    _order(new_buyer(), product["id"], 4)  # 9: a second crossing
    assert len(_wait_for_alerts(staff, product["id"], 2)) == 2

    report = audit.audit(suite.settings.amqp_uri, audit.Timeouts(order_ttl=suite.order_ttl, grace=30))
    assert not [violation for violation in report.violations if violation.kind == "stock_alert_stale"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/admin/restock?limit=0", None),
        ("GET", "/api/v1/admin/restock?cursor=", None),
        ("PATCH", "/api/v1/admin/products/{id}", {"low_stock_threshold": -1}),
        ("PATCH", "/api/v1/admin/products/{id}", {"low_stock_threshold": "ten"}),
    ],
)
def test_bad_restock_input_is_422_with_the_error_body(suite, staff, product_with_cards, method, path, body):
    product, _cards = product_with_cards(1)
    refused = staff.request(method, path.format(id=product["id"]), expected=(422,), json=body)
    assert refused["error"]["code"] and refused["error"]["message"]
