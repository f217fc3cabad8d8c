import datetime
import uuid

import pytest
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from kameng_common.errors import InvalidInput


def call(container, method, *args):
    with entrypoint_hook(container, method) as entrypoint:
        return entrypoint(*args)


def created(total, customer_id="c1", order_id=None):
    """What orders sends assess_order for an order it has just stored."""
    order_id = order_id or str(uuid.uuid4())
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "items": [{"product_id": 1, "quantity": 1, "unit_price": total}],
        "total": total,
        "currency": "CNY",
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "client_ip": None,
        "device_id": None,
    }


def test_assess_order_answers_the_decision(container):
    order = created(5_000)

    assert call(container, "assess_order", order) == {
        "order_id": order["order_id"],
        "decision": "review",
        "score": 50,
        "reasons": ["amount:review: total 5000 fen is over 1000"],
    }


def test_an_order_assessed_again_answers_its_first_decision(container):
    order = created(100)
    assert call(container, "assess_order", order)["decision"] == "approve"
    assert call(container, "assess_order", {**order, "total": 50_000})["decision"] == "approve"


def test_a_malformed_order_is_invalid_input(container):
    with pytest.raises(InvalidInput):
        call(container, "assess_order", {**created(100), "created_at": "yesterday"})


def test_a_blacklisted_customer_is_rejected(container):
    call(container, "add_blacklist_entry", "account", "bad-customer", "stolen cards")
    answer = call(container, "assess_order", created(100, customer_id="bad-customer"))
    assert (answer["decision"], answer["reasons"]) == (
        "reject",
        ["blacklisted:reject: blacklisted account bad-customer"],
    )


def test_what_risk_hears_of_customers_payments_and_expiries_reaches_the_rules(container, publish):
    registered = "2026-01-01T00:00:00+00:00"
    for network in ("198.51.100.0/24", "203.0.113.0/24"):
        signed_in = {
            "customer_id": "c-ato",
            "network": network,
            "signed_in_at": datetime.datetime.now(datetime.UTC).isoformat(),
            "registered_at": registered,
        }
        with entrypoint_waiter(container, "on_customer_signed_in", timeout=10):
            publish("customers", "customer.signed_in", signed_in, "c-ato")
    held = created(400, customer_id="c-ato")
    # 400 fen: under the sign-in rule's amount
    assert call(container, "assess_order", held)["decision"] == "approve"

    big = created(900, customer_id="c-ato")
    reasons = call(container, "assess_order", big)["reasons"]
    assert [reason.split(": ")[0] for reason in reasons] == ["signin_anomaly:review"]

    payment = {
        "payment_id": str(uuid.uuid4()),
        "order_id": held["order_id"],
        "customer_id": "c-ato",
        "amount": 400,
        "currency": "CNY",
        "provider": "mockpay",
        "trade_no": "T1",
    }
    with entrypoint_waiter(container, "on_payment_succeeded", timeout=10):
        publish("payments", "payment.succeeded", payment, held["order_id"])
    with entrypoint_waiter(container, "on_order_expired", timeout=10):
        publish(
            "orders",
            "order.expired",
            {"order_id": big["order_id"], "reason": "not paid in time"},
            big["order_id"],
        )
