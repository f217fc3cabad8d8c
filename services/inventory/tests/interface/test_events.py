"""Reservations over RPC, and order events through the broker: the reliable handler, the inbox and the
outbox relay."""

import json

import pika
import pytest
import sqlalchemy as sa
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from inventory.crypto import generate_keys_line
from inventory.db import cards, metadata
from inventory.service import InventoryService
from kameng_common import topology
from kameng_common.config import pika_parameters
from kameng_common.contracts import new_event
from kameng_common.migrations import upgrade

DELIVERED_QUEUE = topology.event_queue("inventory", "cards.delivered", "orders", "on_cards_delivered")


@pytest.fixture
def config(amqp_uri, database_url, monkeypatch):
    monkeypatch.setenv("KAMENG_CARD_KEYS", generate_keys_line("k1"))
    upgrade("inventory", database_url)
    return {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": database_url,
        "max_workers": 4,
        "SUPPLIER_SYNC_SECONDS": 3600,
        "FULFILMENT_INTERVAL_SECONDS": 3600,
        "FULFILMENT_DEADLINE_SECONDS": 600,
        "STOCK_ALERT_SWEEP_SECONDS": 3600,
        "RESERVATION_GRACE_SECONDS": 600,
        "RESERVATION_SWEEP_SECONDS": 3600,
    }


@pytest.fixture
def container(config, container_factory):
    # after config: the container stops before its vhost and database go
    container = container_factory(InventoryService, config)
    container.start()
    return container


@pytest.fixture
def broker(config):
    connection = pika.BlockingConnection(pika_parameters(config["AMQP_URI"]))
    channel = connection.channel()
    # what the relays declare before they publish: the queues (and dead-letter queues)
    # of every subscriber of the orders events, which this test publishes, and of
    # inventory's events, which it reads as the orders service would
    topology.declare_publisher_topology(channel, "orders")
    topology.declare_publisher_topology(channel, "inventory")
    yield channel
    connection.close()


def publish(channel, envelope):
    """As the orders service's relay publishes: persistent JSON to orders.events, keyed by type."""
    channel.basic_publish(
        topology.events_exchange("orders"),
        envelope["type"],
        json.dumps(envelope),
        pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            message_id=envelope["id"],
            correlation_id=envelope["correlation_id"],
        ),
        mandatory=True,
    )


def deliver(container, channel, envelope, handler):
    with entrypoint_waiter(container, handler, timeout=15) as waited:
        publish(channel, envelope)
    waited.get()  # re-raises what the handler raised


def received(channel, queue, timeout=15):
    """The next message the relay sent to ``queue``."""
    for method, _properties, body in channel.consume(queue, inactivity_timeout=timeout):
        assert method is not None, f"nothing reached {queue}"
        channel.basic_ack(method.delivery_tag)
        channel.cancel()
        return json.loads(body)


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def outbox_rows(container):
    database = _database(container)
    outbox = metadata.tables["outbox"]
    with database.reading() as session:
        return session.execute(sa.select(outbox.c.event_type, outbox.c.event_id).order_by(outbox.c.id)).all()


def _database(container):
    return next(dependency.database for dependency in container.dependencies if dependency.attr_name == "db")


def reserved_cards(container, order_id):
    with _database(container).reading() as session:
        return (
            session.execute(sa.select(cards.c.id).where(cards.c.order_id == order_id).order_by(cards.c.id))
            .scalars()
            .all()
        )


def _stock(container, count):
    category = call(container, "create_category", "Cards")
    product = call(container, "create_product", "Steam 100", category["id"], "card", 10000)
    call(
        container,
        "import_cards",
        product["id"],
        [{"number": f"N{i}", "secret": f"S{i}"} for i in range(count)],
    )
    return product["id"]


def _reserve(container, product, quantity):
    lines = [{"product_id": product, "quantity": quantity, "unit_price": 10000}]
    return call(container, "reserve", "o1", "alice", lines)


def test_a_reservation_asked_twice_holds_once_and_publishes_nothing(container, broker):
    product = _stock(container, 3)

    assert _reserve(container, product, 2) == {"order_id": "o1", "reserved": True, "reason": None}
    held = reserved_cards(container, "o1")
    assert len(held) == 2

    assert _reserve(container, product, 2)["reserved"]  # orders asks again
    assert reserved_cards(container, "o1") == held
    assert outbox_rows(container) == []


def test_a_paid_order_is_delivered_and_its_buyer_reads_the_cards(container, broker):
    product = _stock(container, 3)
    _reserve(container, product, 2)
    deliver(
        container,
        broker,
        new_event(
            "order.paid",
            {
                "order_id": "o1",
                "customer_id": "alice",
                "payment_id": "p1",
                "amount": 20000,
                "currency": "CNY",
                "items": [{"product_id": product, "quantity": 2, "unit_price": 10000}],
            },
            "o1",
        ),
        "on_order_paid",
    )

    delivered = received(broker, DELIVERED_QUEUE)
    assert delivered["payload"] == {
        "order_id": "o1",
        "card_ids": reserved_cards(container, "o1"),
        "currency": "CNY",
        "lines": [{"product_id": product, "quantity": 2, "unit_price": 10000, "unit_cost": None}],
    }
    assert "S0" not in json.dumps(delivered) and "S1" not in json.dumps(delivered)
    revealed = call(container, "reveal_cards", "o1", "alice")
    assert sorted(card["secret"] for card in revealed) == ["S0", "S1"]


def test_an_event_that_breaks_its_contract_is_dead_lettered(container, broker):
    broken = new_event("order.expired", {"order_id": "o1"}, "o1")
    del broken["payload"]["order_id"]
    publish(broker, broken)
    dead = received(broker, topology.dead_letter_queue("inventory"))
    assert dead["id"] == broken["id"]
