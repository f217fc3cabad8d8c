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
        "reasons": ["amount:review"],
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
    call(container, "add_to_blacklist", "bad-customer", "stolen cards")
    order = created(100, customer_id="bad-customer")

    with entrypoint_waiter(container, "on_order_created", timeout=10):
        publish("orders", "order.created", order, order["order_id"])

    [event] = assessed()
    assert (event["payload"]["decision"], event["payload"]["reasons"]) == ("reject", ["blacklisted:reject"])
