"""The outbox relay, the reliable event handler, the inbox and the dead-letter queue, on a real broker."""

import time

import eventlet
import pika
import pytest
import sqlalchemy as sa
from nameko.containers import ServiceContainer

from kameng_common import dlq, extensions, topology
from kameng_common.config import pika_parameters
from kameng_common.db import Database, messaging_tables
from kameng_common.extensions import Instrumentation, ServiceDatabase, event_handler
from kameng_common.relay import OutboxRelay

ORDER = {
    "order_id": "o-1",
    "customer_id": "c-1",
    "payment_id": "p-1",
    "amount": 100,
    "currency": "CNY",
    "items": [{"product_id": 1, "quantity": 1, "unit_price": 100}],
}

handled = []
fail_until = {"calls": 0, "failures": 0, "error": None}


def consumer_metadata():
    metadata = messaging_tables(sa.MetaData())
    sa.Table("seen", metadata, sa.Column("order_id", sa.String(36), primary_key=True))
    return metadata


class InventoryStandIn:
    """Stands in for inventory: it subscribes to order.paid as inventory.on_order_paid."""

    name = "inventory"
    db = ServiceDatabase(consumer_metadata())
    instrumentation = Instrumentation()

    @event_handler("orders", "order.paid")
    def on_order_paid(self, uow, event):
        fail_until["calls"] += 1
        if fail_until["calls"] <= fail_until["failures"]:
            raise fail_until["error"] or RuntimeError("transient fault")
        uow.execute(self.db.tables["seen"].insert().values(order_id=event["payload"]["order_id"]))
        uow.after_commit(lambda: handled.append(event["id"]))


def wait_for(predicate, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        eventlet.sleep(0.05)
    return False


@pytest.fixture
def publisher(tmp_path, amqp_uri):
    """The orders side: a database with an outbox and its relay running."""
    database = Database(f"sqlite:///{tmp_path / 'orders.db'}", messaging_tables(sa.MetaData()))
    database.create_all()
    relay = OutboxRelay(database, "orders", amqp_uri)
    runner = eventlet.spawn(relay.run)
    yield database
    relay.stop()
    runner.wait()


def start_consumer(amqp_uri, url):
    handled.clear()
    fail_until.update(calls=0, failures=0, error=None)
    Database(url, consumer_metadata()).create_all()
    container = ServiceContainer(InventoryStandIn, {"AMQP_URI": amqp_uri, "DATABASE_URL": url})
    container.start()
    return container


@pytest.fixture
def consumer(tmp_path, amqp_uri):
    container = start_consumer(amqp_uri, f"sqlite:///{tmp_path / 'inventory.db'}")
    yield container
    container.stop()


def service_database(container):
    # the extension instance lives on the container, not on the class
    return next(ext for ext in container.dependencies if isinstance(ext, ServiceDatabase)).database


def seen_count(container):
    database = service_database(container)
    with database.reading() as session:
        return session.execute(sa.text("SELECT count(*) FROM seen")).scalar_one()


def publish(database, payload=ORDER):
    with database.unit_of_work() as uow:
        return uow.publish("order.paid", payload, correlation_id=payload["order_id"])


def test_event_published_before_consumer_starts_is_not_lost(publisher, amqp_uri, tmp_path):
    event_id = publish(publisher)
    assert wait_for(lambda: publisher.outbox_backlog() == 0)
    container = start_consumer(amqp_uri, f"sqlite:///{tmp_path / 'late.db'}")
    try:
        assert wait_for(lambda: event_id in handled)
    finally:
        container.stop()


def test_duplicate_delivery_changes_nothing(publisher, consumer, amqp_uri):
    event_id = publish(publisher)
    assert wait_for(lambda: seen_count(consumer) == 1)
    with publisher.reading() as session:
        body = session.execute(sa.text("SELECT body FROM outbox")).scalar_one()
    connection = pika.BlockingConnection(pika_parameters(amqp_uri))
    channel = connection.channel()
    for _ in range(3):
        channel.basic_publish(
            topology.events_exchange("orders"),
            "order.paid",
            body,
            pika.BasicProperties(content_type="application/json", message_id=event_id),
        )
    connection.close()
    eventlet.sleep(1)
    assert seen_count(consumer) == 1
    assert fail_until["calls"] == 1  # the inbox kept the copies from the handler itself


def test_transient_failure_is_retried(publisher, consumer):
    fail_until["failures"] = 2
    publish(publisher)
    assert wait_for(lambda: seen_count(consumer) == 1)
    assert fail_until["calls"] == 3


def test_poison_message_is_dead_lettered_and_replayed(publisher, consumer, amqp_uri):
    fail_until["failures"] = 10_000
    event_id = publish(publisher)
    assert wait_for(lambda: dlq.depth(amqp_uri, "inventory") == 1, timeout=30)
    [letter] = dlq.list_dead_letters(amqp_uri, "inventory")
    assert letter["message_id"] == event_id
    assert letter["attempts"] == topology.MAX_ATTEMPTS
    assert fail_until["calls"] == topology.MAX_ATTEMPTS
    assert "transient fault" in letter["failure"]
    assert letter["queue"] == topology.event_queue("orders", "order.paid", "inventory", "on_order_paid")
    assert dlq.depth(amqp_uri, "inventory") == 1  # listing took nothing away
    assert seen_count(consumer) == 0

    fail_until["failures"] = 0
    assert dlq.replay(amqp_uri, "inventory") == 1
    assert wait_for(lambda: seen_count(consumer) == 1)
    assert dlq.depth(amqp_uri, "inventory") == 0


def database_error():
    return sa.exc.OperationalError("INSERT INTO inbox", {}, Exception("connection refused"))


def test_an_event_waits_out_a_database_outage_without_using_up_its_attempts(
    publisher, consumer, amqp_uri, monkeypatch
):
    monkeypatch.setattr(extensions, "OUTAGE_RETRY_SECONDS", 0.05)

    def database_down():
        raise database_error()

    monkeypatch.setattr(service_database(consumer), "check", database_down)
    fail_until.update(failures=2 * topology.MAX_ATTEMPTS, error=database_error())
    publish(publisher)
    assert wait_for(lambda: seen_count(consumer) == 1, timeout=30)
    assert fail_until["calls"] == 2 * topology.MAX_ATTEMPTS + 1
    assert dlq.depth(amqp_uri, "inventory") == 0


def test_a_database_error_while_the_database_answers_counts_as_an_attempt(publisher, consumer, amqp_uri):
    fail_until.update(failures=10_000, error=database_error())
    event_id = publish(publisher)
    assert wait_for(lambda: dlq.depth(amqp_uri, "inventory") == 1, timeout=30)
    [letter] = dlq.list_dead_letters(amqp_uri, "inventory")
    assert letter["message_id"] == event_id
    assert letter["attempts"] == topology.MAX_ATTEMPTS
    assert letter["failure"].startswith("OperationalError")


def test_event_breaking_its_contract_is_dead_lettered_at_once(consumer, amqp_uri):
    connection = pika.BlockingConnection(pika_parameters(amqp_uri))
    channel = connection.channel()
    channel.basic_publish(
        topology.events_exchange("orders"),
        "order.paid",
        b'{"type": "order.paid"}',
        pika.BasicProperties(content_type="application/json", message_id="broken"),
    )
    connection.close()
    assert wait_for(lambda: dlq.depth(amqp_uri, "inventory") == 1)
    assert fail_until["calls"] == 0
    [letter] = dlq.list_dead_letters(amqp_uri, "inventory")
    assert letter["failure"].startswith("contract")


def test_relay_keeps_events_while_the_broker_refuses(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'orders.db'}", messaging_tables(sa.MetaData()))
    database.create_all()
    relay = OutboxRelay(database, "orders", "amqp://guest:guest@127.0.0.1:1/")
    publish(database)
    with pytest.raises(Exception):
        relay.publish_pending()
    assert database.outbox_backlog() == 1
    with database.reading() as session:
        lease, error = session.execute(sa.text("SELECT lease_until, last_error FROM outbox")).one()
    assert lease is None and error


@pytest.fixture
def quorum_queues(monkeypatch):
    monkeypatch.setenv("KAMENG_QUEUE_TYPE", "quorum")


def test_quorum_queues_retry_and_dead_letter_the_same_way(quorum_queues, publisher, amqp_uri, tmp_path):
    # a deployment declares the topology before the services start (deploy/rabbitmq)
    connection = pika.BlockingConnection(pika_parameters(amqp_uri))
    topology.declare_publisher_topology(connection.channel(), "orders")
    connection.close()
    container = start_consumer(amqp_uri, f"sqlite:///{tmp_path / 'quorum.db'}")
    try:
        fail_until["failures"] = 1
        publish(publisher)
        assert wait_for(lambda: seen_count(container) == 1)
        fail_until.update(calls=0, failures=10_000)
        publish(publisher, {**ORDER, "order_id": "o-2"})
        assert wait_for(lambda: dlq.depth(amqp_uri, "inventory") == 1, timeout=30)
    finally:
        container.stop()
