"""Exchanges and queues, named and shaped in one place.

The publisher's relay and the consumer's nameko entrypoint both declare event
queues from here: RabbitMQ refuses a redeclaration with other arguments, so
there must be only one definition.

Queues are classic on one machine and quorum queues in a cluster
(``KAMENG_QUEUE_TYPE=quorum``); retries and dead-lettering work the same on
both, because the reliable event handler counts attempts itself.
"""

import os
from collections.abc import Iterator
from typing import Any

from kameng_common.contracts import CONTRACTS

DEAD_LETTER_EXCHANGE = "kameng.dead-letter"
# how many times a failing handler is tried before its event is dead-lettered
MAX_ATTEMPTS = 5
# a quorum queue's own bound, for a message that crashes its consumer's process each time
QUORUM_DELIVERY_LIMIT = 20
ATTEMPTS_HEADER = "x-kameng-attempts"
ORIGIN_QUEUE_HEADER = "x-kameng-origin-queue"
FAILURE_HEADER = "x-kameng-failure"


def queue_type() -> str:
    queue_kind = os.environ.get("KAMENG_QUEUE_TYPE", "classic")
    if queue_kind not in ("classic", "quorum"):
        raise ValueError(f"KAMENG_QUEUE_TYPE must be classic or quorum, not {queue_kind!r}")
    return queue_kind


def events_exchange(source_service: str) -> str:
    # nameko's own naming, so nameko's event handlers bind to it unchanged
    return f"{source_service}.events"


def event_queue(source_service: str, event_type: str, service: str, method: str) -> str:
    # nameko's SERVICE_POOL queue naming
    return f"evt-{source_service}-{event_type}--{service}.{method}"


def dead_letter_queue(service: str) -> str:
    return f"kameng.dlq.{service}"


def dead_letter_routing_key(service: str, queue: str) -> str:
    return f"{service}.{queue}"


def event_queue_arguments(service: str, queue: str) -> dict[str, str | int]:
    if queue_type() == "classic":
        return {"x-queue-type": "classic"}
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": QUORUM_DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": dead_letter_routing_key(service, queue),
    }


def subscriptions(source_service: str) -> Iterator[tuple[str, str, str, str]]:
    """(event_type, service, method, queue) for every subscriber of a source's events."""
    for event_type, item in CONTRACTS.items():
        if item.source != source_service:
            continue
        for service, method in item.subscribers:
            yield event_type, service, method, event_queue(source_service, event_type, service, method)


def declare_dead_lettering(channel: Any, service: str) -> None:
    """Declare the dead-letter exchange and one service's dead-letter queue (pika channel)."""
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, exchange_type="topic", durable=True)
    queue = dead_letter_queue(service)
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": queue_type()})
    channel.queue_bind(queue, DEAD_LETTER_EXCHANGE, routing_key=f"{service}.#")


def declare_publisher_topology(channel: Any, source_service: str) -> None:
    """Declare a source's exchange and every subscriber queue of its events (pika channel)."""
    channel.exchange_declare(events_exchange(source_service), exchange_type="topic", durable=True)
    for event_type, service, _method, queue in subscriptions(source_service):
        declare_dead_lettering(channel, service)
        channel.queue_declare(queue, durable=True, arguments=event_queue_arguments(service, queue))
        channel.queue_bind(queue, events_exchange(source_service), routing_key=event_type)
