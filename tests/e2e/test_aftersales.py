"""After-sales end to end, on SQLite and PostgreSQL: a buyer asks for a refund, support comments and
may only reject, finance approves and the provider gives the money back, and the order's card is marked
refunded; every step is in the order's history and the audit passes; a buyer who keeps asking is held
for review by risk."""

import time
import uuid

import pytest

from kameng_cli import audit, shop
from tests.api_steps import product_finance_row


@pytest.fixture
def staff_member(suite, staff):
    def make(role):
        username, password = f"{role}_{uuid.uuid4().hex[:8]}", "correct-horse-battery"
        staff.request(
            "POST", "/api/v1/admin/staff", json={"username": username, "password": password, "role": role}
        )
        return shop.Gateway(suite.settings.gateway_url).log_in(username, password)

    return make


def wait_for_history(buyer, order_id, reason_start, count=1):
    deadline = time.monotonic() + 30
    while True:
        order = buyer.request("GET", f"/api/v1/orders/{order_id}")
        found = [entry for entry in order["history"] if entry["reason"].startswith(reason_start)]
        if len(found) >= count or time.monotonic() > deadline:
            return order
        time.sleep(0.2)


def test_a_buyers_ticket_is_commented_approved_and_refunded_through_the_provider(
    suite, order_awaiting_payment, staff_member, staff
):
    buyer, order, product, _cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "alipay"})
    shop.press_pay("alipay", payment)
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"
    support, finance = staff_member("support"), staff_member("finance")

    ticket = buyer.request(
        "POST", f"/api/v1/orders/{order['id']}/refund-requests", json={"reason": "the card was already used"}
    )
    assert ticket["status"] == "open"
    queue = support.request("GET", "/api/v1/admin/refund-requests?status=open")
    assert ticket["id"] in {item["id"] for item in queue["items"]}
    support.request(
        "POST", f"/api/v1/admin/refund-requests/{ticket['id']}/comments", json={"text": "supplier asked"}
    )
    with pytest.raises(shop.ApiError) as refused:
        support.request(
            "POST",
            f"/api/v1/admin/refund-requests/{ticket['id']}/decision",
            json={"decision": "approve", "reason": "x"},
        )
    assert refused.value.status == 403

    approved = finance.request(
        "POST",
        f"/api/v1/admin/refund-requests/{ticket['id']}/decision",
        json={"decision": "approve", "reason": "supplier confirms the card was used"},
    )
    assert approved["status"] == "approved"
    [refund] = finance.request("GET", f"/api/v1/admin/refunds?order_id={order['id']}")["items"]
    assert (refund["id"], refund["to"], refund["amount"], refund["status"]) == (
        approved["refund_id"],
        "original",
        order["total"],
        "succeeded",
    )
    with pytest.raises(shop.ApiError) as refused:
        buyer.request("POST", f"/api/v1/orders/{order['id']}/refund-requests", json={"reason": "again"})
    assert refused.value.status == 422

    order = wait_for_history(buyer, order["id"], "refund of ")
    reasons = [entry["reason"] for entry in order["history"]]
    assert "refund requested: the card was already used" in reasons
    assert "refund request approved: supplier confirms the card was used" in reasons
    assert any(reason.startswith("refund of ") for reason in reasons)
    # refunded in full: the shop's default card policy marks its card refunded, still the buyer's to read
    order = wait_for_history(buyer, order["id"], "1 card(s) marked refunded")
    assert "1 card(s) marked refunded: the order is refunded in full" in [
        entry["reason"] for entry in order["history"]
    ]
    [card] = staff.request("GET", f"/api/v1/admin/products/{product['id']}/cards?state=refunded")["items"]
    assert (card["order_id"], card["state"]) == (order["id"], "refunded") and card["refunded_at"]
    assert len(buyer.request("GET", f"/api/v1/orders/{order['id']}/cards")) == 1

    summary = finance.request("GET", "/api/v1/admin/finance/summary?group_by=channel")
    [alipay] = [row for row in summary["rows"] if row["key"] == "alipay"]
    # the suite is shared: other tests paid and refunded through alipay too
    assert alipay["revenue"] >= order["total"] and alipay["refunds"] >= order["total"]
    assert alipay["net"] == alipay["revenue"] - alipay["refunds"]
    [alipay_payments] = [channel for channel in summary["channels"] if channel["channel"] == "alipay"]
    assert 1 <= alipay_payments["paid"] <= alipay_payments["intents"]
    assert alipay_payments["success_rate"] == round(alipay_payments["paid"] / alipay_payments["intents"], 4)

    # by product: its sale (recorded by payments from cards.delivered) took the money, the full refund
    # took it all back; its cost price is unknown, so its line counts no cost and is reported
    by_product = product_finance_row(finance, product["id"])
    assert (by_product["revenue"], by_product["refunds"]) == (order["total"], order["total"])
    assert (by_product["cost"], by_product["lines_without_cost"], by_product["margin"]) == (0, 1, 0)

    report = audit.audit(
        suite.settings.amqp_uri, audit.Timeouts(order_ttl=suite.order_ttl, expiry_interval=1, grace=5)
    )
    assert not [violation for violation in report.violations if "refund" in violation.kind], report.render()


def refund_requests_heard_by_risk(service_metrics):
    return sum(
        sample.value
        for sample in service_metrics("risk")
        if sample.name == "kameng_events_handled_total"
        and sample.labels["entrypoint"] == "on_refund_request_opened"
        and sample.labels["outcome"] != "error"
    )


def test_a_buyer_who_keeps_asking_for_refunds_is_held_for_review(
    suite, order_awaiting_payment, service_metrics
):
    buyer, first, product, _cards = order_awaiting_payment(stock=3)

    def place():
        order = buyer.request(
            "POST",
            "/api/v1/orders",
            json={"items": [{"product_id": product["id"], "quantity": 1}]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        return shop.wait_for_status(buyer, order["id"], {"awaiting_payment", "on_hold", "cancelled"})

    heard_before = refund_requests_heard_by_risk(service_metrics)
    for order in (first, place()):
        payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "alipay"})
        shop.press_pay("alipay", payment)
        assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"
        buyer.request(
            "POST", f"/api/v1/orders/{order['id']}/refund-requests", json={"reason": "did not work"}
        )
    deadline = time.monotonic() + 30
    while refund_requests_heard_by_risk(service_metrics) < heard_before + 2:
        assert time.monotonic() < deadline, "risk never heard both refund requests"
        time.sleep(0.2)

    assert place()["status"] == "on_hold"
