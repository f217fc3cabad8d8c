import json

import pika
import pytest

from customers.service import CustomersService
from kameng_common.config import pika_parameters
from kameng_common.migrations import upgrade


@pytest.fixture
def config(rabbit_config, database_url, argon2_parameters):
    upgrade("customers", database_url)
    return {
        **rabbit_config,
        "DATABASE_URL": database_url,
        "ARGON2_TIME_COST": argon2_parameters["time_cost"],
        "ARGON2_MEMORY_KIB": argon2_parameters["memory_cost"],
        "ARGON2_PARALLELISM": argon2_parameters["parallelism"],
        "COMMISSION_HOLD_SECONDS": 0,
        "COMMISSION_SETTLE_INTERVAL": 1,
        # the sweep runs when a test hooks it, and then gives back any hold whose order orders does not know
        "COUPON_HOLD_GRACE_SECONDS": 0,
        "COUPON_HOLD_SWEEP_INTERVAL": 3600,
    }


@pytest.fixture
def container(container_factory, config):
    container = container_factory(CustomersService, config)
    container.start()
    return container


@pytest.fixture
def send_raw(rabbit_config):
    """Publish a body as it is, bypassing the contracts (a broken or replayed message)."""

    def send_raw(exchange, routing_key, body):
        connection = pika.BlockingConnection(pika_parameters(rabbit_config["AMQP_URI"]))
        try:
            connection.channel().basic_publish(
                exchange,
                routing_key,
                json.dumps(body),
                pika.BasicProperties(content_type="application/json", delivery_mode=2),
            )
        finally:
            connection.close()

    return send_raw
