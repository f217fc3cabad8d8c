import datetime
import uuid

from nameko.testing.services import entrypoint_hook, entrypoint_waiter


def call(container, method, *args):
    with entrypoint_hook(container, method) as entrypoint:
        return entrypoint(*args)


def created(total, customer_id="c1", order_id=None):
    order_id = order_id or str(uuid.uuid4())
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "items": [{"product_id": 1, "quantity": 1, "unit_price": total}],
        "total": total,
        "currency": "CNY",
    }


def test_order_created_round_trip_to_risk_assessed(container, publish, assessed):
    order = created(5_000)

    with entrypoint_waiter(container, "on_order_created", timeout=10):
        publish("orders", "order.created", order, order["order_id"])

    [event] = assessed()
    assert event["type"] == "risk.assessed" and event["correlation_id"] == order["order_id"]
    assert event["payload"] == {
        "order_id": order["order_id"],
        "decision": "review",
        "score": 50,
        "reasons": ["amount:review: total 5000 fen is over 1000"],
    }


def test_a_second_order_created_for_one_order_publishes_nothing_more(container, publish, assessed):
    order = created(100)
    with entrypoint_waiter(container, "on_order_created", timeout=10):
        publish("orders", "order.created", order, order["order_id"])
    assert [event["payload"]["decision"] for event in assessed()] == ["approve"]

    with entrypoint_waiter(container, "on_order_created", timeout=10):
        publish("orders", "order.created", {**order, "total": 50_000}, order["order_id"])

    assert assessed(count=0, timeout=1) == []


def test_a_blacklisted_customer_is_rejected_end_to_end(container, publish, assessed):
    call(container, "add_blacklist_entry", "account", "bad-customer", "stolen cards")
    order = created(100, customer_id="bad-customer")

    with entrypoint_waiter(container, "on_order_created", timeout=10):
        publish("orders", "order.created", order, order["order_id"])

    [event] = assessed()
    assert (event["payload"]["decision"], event["payload"]["reasons"]) == (
        "reject",
        ["blacklisted:reject: blacklisted account bad-customer"],
    )


def test_what_risk_hears_of_customers_payments_and_expiries_reaches_the_rules(container, publish, assessed):
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
    with entrypoint_waiter(container, "on_order_created", timeout=10):
        publish("orders", "order.created", held, held["order_id"])
    [event] = assessed()
    assert event["payload"]["decision"] == "approve"  # 400 fen: under the sign-in rule's amount

    big = created(900, customer_id="c-ato")
    with entrypoint_waiter(container, "on_order_created", timeout=10):
        publish("orders", "order.created", big, big["order_id"])
    [event] = assessed()
    assert [reason.split(": ")[0] for reason in event["payload"]["reasons"]] == ["signin_anomaly:review"]

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
