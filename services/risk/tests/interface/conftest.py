import json

import eventlet
import pika
import pytest
import sqlalchemy as sa

from kameng_common import topology
from kameng_common.db import Database, messaging_tables
from kameng_common.migrations import upgrade
from kameng_common.relay import OutboxRelay

from risk.service import RiskService

ASSESSED_QUEUE = topology.event_queue("risk", "risk.assessed", "orders", "on_risk_assessed")


@pytest.fixture
def config(rabbit_config, database_url):
    upgrade("risk", database_url)
    return {**rabbit_config, "DATABASE_URL": database_url, "REVIEW_AMOUNT": 1_000, "REJECT_AMOUNT": 10_000,
            "VELOCITY_REVIEW": 20, "VELOCITY_REJECT": 60, "VELOCITY_WINDOW_SECONDS": 60}


@pytest.fixture
def container(container_factory, config):
    container = container_factory(RiskService, config)
    container.start()
    return container


@pytest.fixture
def publish(rabbit_config):
    """Publish an event the way its source service does (outbox row, then the relay); returns the envelope."""
    outbox_db = Database("sqlite://", messaging_tables(sa.MetaData()))
    outbox_db.create_all()
    outbox = outbox_db.tables["outbox"]

    def publish(source, event_type, payload, correlation_id):
        relay = OutboxRelay(outbox_db, source, rabbit_config["AMQP_URI"])
        try:
            with outbox_db.unit_of_work() as uow:
                event_id = uow.publish(event_type, payload, correlation_id=correlation_id)
            assert relay.publish_pending() == 1
        finally:
            relay.stop()
        with outbox_db.reading() as session:
            return json.loads(session.execute(
                sa.select(outbox.c.body).where(outbox.c.event_id == event_id)).scalar_one())

    yield publish
    outbox_db.dispose()


@pytest.fixture
def broker(rabbit_config):
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_config["AMQP_URI"]))
    yield connection.channel()
    connection.close()


@pytest.fixture
def assessed(broker):
    """The risk.assessed events waiting in orders' queue, as envelopes; waits up to ``timeout`` for ``count``."""
    def assessed(count=1, timeout=10):
        received = []
        for _ in range(int(timeout / 0.05)):
            method, _properties, body = broker.basic_get(ASSESSED_QUEUE, auto_ack=True)
            if method is not None:
                received.append(json.loads(body))
            elif len(received) >= count:
                break
            else:
                eventlet.sleep(0.05)
        return received

    return assessed
