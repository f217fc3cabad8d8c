"""An event no handler can take ends in the dead-letter queue, shows in metrics; the replay command re-delivers it."""

import json
import os
import subprocess
import sys
import time
import uuid

import pika

from kameng_common import topology
from kameng_common.config import pika_parameters


def kameng(suite, *args):
    env = dict(os.environ, KAMENG_AMQP_URI=suite.settings.amqp_uri)
    result = subprocess.run(
        [sys.executable, "-m", "kameng_cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def dead_letters(suite, message_id):
    listed = [json.loads(line) for line in kameng(suite, "dlq", "list", "--service", "risk").splitlines()]
    return [letter for letter in listed if letter["message_id"] == message_id]


def wait_for_dead_letter(suite, message_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = dead_letters(suite, message_id)
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{message_id} never reached the dead-letter queue")


def dead_letters_gauge(service_metrics, service):
    """The service's kameng_dead_letters gauge: the depth of its dead-letter queue when scraped."""
    [depth] = [
        sample.value
        for sample in service_metrics(service)
        if sample.name == "kameng_dead_letters" and sample.labels["service"] == service
    ]
    return depth


def wait_for_gauge(service_metrics, service, expected, timeout=30):
    deadline = time.monotonic() + timeout
    while (depth := dead_letters_gauge(service_metrics, service)) != expected:
        assert time.monotonic() < deadline, f"{service}'s kameng_dead_letters is {depth}, not {expected}"
        time.sleep(0.5)


def test_poison_event_is_dead_lettered_listed_and_replayed(suite, service_metrics):
    subscribers = ("risk", "inventory")
    before = {service: dead_letters_gauge(service_metrics, service) for service in subscribers}
    message_id = str(uuid.uuid4())
    poison = {
        "id": message_id,
        "type": "order.expired",
        "version": 1,
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "correlation_id": "no-such-order",
        "payload": {"reason": "not paid in time"},
    }  # breaks the contract: no order id
    connection = pika.BlockingConnection(pika_parameters(suite.settings.amqp_uri))
    connection.channel().basic_publish(
        topology.events_exchange("orders"),
        "order.expired",
        json.dumps(poison),
        pika.BasicProperties(content_type="application/json", message_id=message_id, delivery_mode=2),
    )
    connection.close()

    [letter] = wait_for_dead_letter(suite, message_id)
    assert letter["queue"] == topology.event_queue("orders", "order.expired", "risk", "on_order_expired")
    assert letter["failure"].startswith("contract")
    for service in subscribers:
        wait_for_gauge(service_metrics, service, before[service] + 1)

    assert "risk: replayed 1" in kameng(suite, "dlq", "replay", "--service", "risk", "--id", message_id)
    # re-delivered to its queue, it fails again and comes back: nothing was dropped
    time.sleep(0.5)
    [again] = wait_for_dead_letter(suite, message_id)
    assert again["failure"].startswith("contract")

    # later tests audit this suite: an operator who has seen enough discards it, from
    # both subscribers of order.expired
    discarded = kameng(suite, "dlq", "discard", "--id", message_id)
    assert "risk: discarded 1" in discarded and "inventory: discarded 1" in discarded
    assert not dead_letters(suite, message_id)
    for service in subscribers:
        assert dead_letters_gauge(service_metrics, service) == before[service]
