import json

import eventlet
import pika
import pytest

from kameng_common import topology
from kameng_common.config import pika_parameters
from kameng_common.migrations import upgrade
from risk.service import RiskService

ASSESSED_QUEUE = topology.event_queue("risk", "risk.assessed", "orders", "on_risk_assessed")


@pytest.fixture
def config(rabbit_config, database_url):
    upgrade("risk", database_url)
    return {
        **rabbit_config,
        "DATABASE_URL": database_url,
        "REVIEW_AMOUNT": 1_000,
        "REJECT_AMOUNT": 10_000,
        "VELOCITY_REVIEW": 20,
        "VELOCITY_REJECT": 60,
        "VELOCITY_WINDOW_SECONDS": 60,
        "SIGNIN_REVIEW_AMOUNT": 500,
    }


@pytest.fixture
def container(container_factory, config):
    container = container_factory(RiskService, config)
    container.start()
    return container


@pytest.fixture
def broker(rabbit_config):
    connection = pika.BlockingConnection(pika_parameters(rabbit_config["AMQP_URI"]))
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
