import uuid

import eventlet
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from kameng_common import dlq

PASSWORD = "s3cret-pass-phrase"


def call(container, method, *args):
    with entrypoint_hook(container, method) as entrypoint:
        return entrypoint(*args)


def delivered(customer_id, total, order_id=None):
    order_id = order_id or str(uuid.uuid4())
    return {"order_id": order_id, "customer_id": customer_id, "total": total, "currency": "CNY"}


def test_order_delivered_round_trip_through_the_reliable_handler(container, publish, send_raw):
    customer = call(container, "register", "alice", PASSWORD)
    order = delivered(customer["id"], 120_000)

    with entrypoint_waiter(container, "on_order_delivered", timeout=10):
        envelope = publish("orders", "order.delivered", order, order["order_id"])
    stats = call(container, "get_customer", customer["id"])
    assert (stats["orders_count"], stats["total_spent"], stats["level"]) == (1, 120_000, "vip")

    # the same message again, then the same order under a new event id: neither counts
    with entrypoint_waiter(container, "on_order_delivered", timeout=10):
        send_raw("orders.events", "order.delivered", envelope)
    with entrypoint_waiter(container, "on_order_delivered", timeout=10):
        publish("orders", "order.delivered", order, order["order_id"])
    stats = call(container, "get_customer", customer["id"])
    assert (stats["orders_count"], stats["total_spent"]) == (1, 120_000)


def test_an_event_breaking_its_contract_is_dead_lettered_untouched(container, send_raw, rabbit_config):
    customer = call(container, "register", "alice", PASSWORD)
    broken = {
        "id": str(uuid.uuid4()),
        "type": "order.delivered",
        "version": 1,
        "occurred_at": "2026-03-01T12:00:00+00:00",
        "correlation_id": "o-1",
        "payload": {"order_id": "o-1", "customer_id": customer["id"], "total": "a lot"},
    }

    send_raw("orders.events", "order.delivered", broken)

    for _ in range(100):
        if dlq.depth(rabbit_config["AMQP_URI"], "customers"):
            break
        eventlet.sleep(0.1)
    assert dlq.depth(rabbit_config["AMQP_URI"], "customers") == 1
    assert call(container, "get_customer", customer["id"])["orders_count"] == 0
