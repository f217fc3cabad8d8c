import json

import pika
import pytest
import sqlalchemy as sa

from kameng_common.db import Database, messaging_tables
from kameng_common.migrations import upgrade
from kameng_common.relay import OutboxRelay

from customers.service import CustomersService


@pytest.fixture
def config(rabbit_config, database_url, argon2_parameters):
    upgrade("customers", database_url)
    return {
        **rabbit_config,
        "DATABASE_URL": database_url,
        "ARGON2_TIME_COST": argon2_parameters["time_cost"],
        "ARGON2_MEMORY_KIB": argon2_parameters["memory_cost"],
        "ARGON2_PARALLELISM": argon2_parameters["parallelism"],
    }


@pytest.fixture
def container(container_factory, config):
    container = container_factory(CustomersService, config)
    container.start()
    return container


@pytest.fixture
def publish(rabbit_config):
    """Publish an event the way its source service does (outbox row, then the relay); returns the envelope."""
    outbox_db = Database("sqlite://", messaging_tables(sa.MetaData()))
    outbox_db.create_all()

    def publish(source, event_type, payload, correlation_id):
        relay = OutboxRelay(outbox_db, source, rabbit_config["AMQP_URI"])
        try:
            with outbox_db.unit_of_work() as uow:
                event_id = uow.publish(event_type, payload, correlation_id=correlation_id)
            assert relay.publish_pending() == 1
        finally:
            relay.stop()
        outbox = outbox_db.tables["outbox"]
        with outbox_db.reading() as session:
            return json.loads(session.execute(
                sa.select(outbox.c.body).where(outbox.c.event_id == event_id)).scalar_one())

    yield publish
    outbox_db.dispose()


@pytest.fixture
def send_raw(rabbit_config):
    """Publish a body as it is, bypassing the contracts (a broken or replayed message)."""
    def send_raw(exchange, routing_key, body):
        connection = pika.BlockingConnection(pika.URLParameters(rabbit_config["AMQP_URI"]))
        try:
            connection.channel().basic_publish(
                exchange, routing_key, json.dumps(body),
                pika.BasicProperties(content_type="application/json", delivery_mode=2))
        finally:
            connection.close()

    return send_raw
