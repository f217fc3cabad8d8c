"""The dead-letter queues: what failed for good, and how to send it back.

A message arrives in ``kameng.dlq.<service>`` once its handler has failed
``MAX_ATTEMPTS`` times or it broke its contract. ``replay`` sends it straight
back to the queue it came from (not to the exchange, so other subscribers do
not see it twice), with a fresh delivery count.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pika

from kameng_common import topology
from kameng_common.config import pika_parameters


@contextmanager
def _channel(amqp_uri: str) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika_parameters(amqp_uri))
    try:
        channel = connection.channel()
        yield channel
    finally:
        if connection.is_open:
            connection.close()


def _origin_queue(properties: pika.BasicProperties) -> str | None:
    """Where the handler left it; a quorum queue's own dead-lettering says so in x-death."""
    headers = properties.headers or {}
    deaths = headers.get("x-death") or [{}]
    return headers.get(topology.ORIGIN_QUEUE_HEADER) or deaths[0].get("queue")


def _describe(properties: pika.BasicProperties, body: bytes) -> dict[str, Any]:
    headers = properties.headers or {}
    deaths = headers.get("x-death") or [{}]
    try:
        event = json.loads(body)
    except ValueError:
        event = {}
    return {
        "message_id": properties.message_id,
        "event_type": event.get("type") if isinstance(event, dict) else None,
        "correlation_id": properties.correlation_id,
        "queue": _origin_queue(properties),
        "failure": headers.get(topology.FAILURE_HEADER) or deaths[0].get("reason"),
        "attempts": headers.get(topology.ATTEMPTS_HEADER) or deaths[0].get("count"),
    }


def depth(amqp_uri: str, service: str) -> int:
    with _channel(amqp_uri) as channel:
        topology.declare_dead_lettering(channel, service)
        return channel.queue_declare(topology.dead_letter_queue(service), passive=True).method.message_count


def list_dead_letters(amqp_uri: str, service: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Describe the dead letters of a service without taking them off the queue."""
    found: list[dict[str, Any]] = []
    with _channel(amqp_uri) as channel:
        topology.declare_dead_lettering(channel, service)
        queue = topology.dead_letter_queue(service)
        while len(found) < limit:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            found.append(_describe(properties, body))
        # closing the channel returns every unacked message to the queue
    return found


def replay(amqp_uri: str, service: str, message_id: str | None = None) -> int:
    """Re-deliver dead letters (all, or the one with ``message_id``) to their queues; returns how many."""
    replayed = 0
    with _channel(amqp_uri) as channel:
        topology.declare_dead_lettering(channel, service)
        channel.confirm_delivery()
        queue = topology.dead_letter_queue(service)
        seen = 0
        total = channel.queue_declare(queue, passive=True).method.message_count
        while seen < total:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            seen += 1
            origin = _origin_queue(properties)
            if origin is None or (message_id and properties.message_id != message_id):
                continue  # left unacked: closing the channel puts it back
            headers = {
                key: value for key, value in (properties.headers or {}).items() if not key.startswith("x-")
            }
            properties.headers = headers
            channel.basic_publish("", origin, body, properties=properties, mandatory=True)
            channel.basic_ack(method.delivery_tag)
            replayed += 1
    return replayed


def discard(amqp_uri: str, service: str, message_id: str) -> int:
    """Remove one dead letter for good (an operator's decision, once it is understood); returns how many."""
    discarded = 0
    with _channel(amqp_uri) as channel:
        topology.declare_dead_lettering(channel, service)
        queue = topology.dead_letter_queue(service)
        total = channel.queue_declare(queue, passive=True).method.message_count
        for _ in range(total):
            method, properties, _body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            if properties.message_id == message_id:
                channel.basic_ack(method.delivery_tag)
                discarded += 1
            # anything else stays unacked: closing the channel puts it back
    return discarded
