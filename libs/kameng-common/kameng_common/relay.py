"""The outbox relay: publishes committed events with publisher confirms.

A row is marked published only after the broker confirmed it and routed it
to at least one queue (``mandatory``), so an event is never lost between the
database and the broker; a crash in between publishes it again, which the
consumers' inbox absorbs.

The unit of work hands its events to the relay of its own process as it
commits, and the relay publishes them from memory: on that path the only
query is marking them published. Rows nobody handed over (a relay that died,
a broker that was down) are claimed from the table every ``idle_wait``
seconds, once their lease has run out.
"""

import collections
import datetime
import logging
import time
from typing import Any

import pika
import sqlalchemy as sa
from eventlet.queue import Empty, Full, LightQueue

from kameng_common import topology
from kameng_common.config import pika_parameters
from kameng_common.db import OUTBOX_LEASE, Database, OutboxEvent, utcnow
from kameng_common.metrics import EVENTS_PUBLISHED

_log = logging.getLogger(__name__)

PRECONDITION_FAILED = 406
KEEP_PUBLISHED = datetime.timedelta(days=7)


class OutboxRelay:
    def __init__(
        self, database: Database, service: str, amqp_uri: str, batch_size: int = 200, idle_wait: float = 0.5
    ) -> None:
        self.database = database
        self.service = service
        self.amqp_uri = amqp_uri
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self._outbox = database.tables["outbox"]
        # While the broker is down events pile up here; past this many the oldest
        # are forgotten, and claimed from the table once their lease runs out.
        self._handed_over: collections.deque[OutboxEvent] = collections.deque(maxlen=50 * batch_size)
        self._next_sweep = 0.0
        # eventlet primitives: services run green, and a real lock would block every greenthread
        self._wake = LightQueue(maxsize=1)
        self._stopped = False
        self._connection: pika.BlockingConnection | None = None
        self._channel: Any = None
        database.hand_over_events_to(self)

    def run(self) -> None:
        """Publish until stopped; survives broker and database outages."""
        failures = 0
        cycles = 0
        while not self._stopped:
            try:
                self._ensure_channel()  # declares the topology before the first event, too
                published = self.publish_pending()
                cycles += 1
                if cycles % 1000 == 0:
                    self.prune()
                if published < self.batch_size and not self._handed_over:
                    self._wait_for_work(self.idle_wait)
                    self._keep_connection_alive()
                failures = 0
            except Exception as exc:
                failures += 1
                _report_failure(exc)
                self._disconnect()
                self._wait_for_work(min(0.2 * 2**failures, 5))

    def hand_over(self, events: list[OutboxEvent]) -> None:
        """Events (db.OutboxEvent) whose unit of work has just committed, leased to this relay."""
        self._handed_over.extend(events)
        self.wake()

    def wake(self) -> None:
        try:
            self._wake.put_nowait(True)
        except Full:
            pass  # already awake

    def _wait_for_work(self, timeout: float) -> None:
        try:
            self._wake.get(timeout=timeout)
        except Empty:
            pass

    def stop(self) -> None:
        self._stopped = True
        self.wake()
        self._disconnect()

    def publish_pending(self) -> int:
        """Publish what was handed over and, when a sweep is due, what the table holds unleased."""
        # OutboxEvents, then outbox rows (which have the same fields)
        events: list[Any] = [
            self._handed_over.popleft() for _ in range(min(len(self._handed_over), self.batch_size))
        ]
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self.idle_wait
            events += self._claim()
        if not events:
            return 0
        confirmed: list[Any] = []
        try:
            channel = self._ensure_channel()
            for event in events:
                channel.basic_publish(
                    exchange=topology.events_exchange(self.service),
                    routing_key=event.event_type,
                    body=event.body,
                    properties=pika.BasicProperties(
                        content_type="application/json",
                        delivery_mode=pika.DeliveryMode.Persistent,
                        message_id=event.event_id,
                        correlation_id=event.correlation_id,
                        headers={"nameko.correlation_id": event.correlation_id},
                    ),
                    mandatory=True,
                )
                confirmed.append(event)
        except Exception as exc:
            self._release(events[len(confirmed) :], repr(exc))
            raise
        finally:
            self._mark_published(confirmed)
        for event in confirmed:
            EVENTS_PUBLISHED.labels(self.service, event.event_type).inc()
        return len(events)

    def _claim(self) -> list[Any]:
        """Lease a batch of unleased rows, in one statement; other replicas skip rows that are leased."""
        outbox = self._outbox
        now = utcnow()
        claimable = (
            sa.select(outbox.c.id)
            .where(
                outbox.c.published_at.is_(None),
                sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
            )
            .order_by(outbox.c.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        with self.database.unit_of_work() as uow:
            rows = uow.execute(
                outbox.update()
                .where(outbox.c.id.in_(claimable.scalar_subquery()))
                .values(lease_until=now + OUTBOX_LEASE, attempts=outbox.c.attempts + 1)
                .returning(
                    outbox.c.id,
                    outbox.c.event_id,
                    outbox.c.event_type,
                    outbox.c.correlation_id,
                    outbox.c.body,
                )
            ).all()
        # RETURNING gives no order; events go out in the order they were written
        return sorted(rows, key=lambda row: row.id)

    def _mark_published(self, events: list[Any]) -> None:
        if not events:
            return
        with self.database.unit_of_work() as uow:
            uow.execute(
                self._outbox.update()
                .where(self._outbox.c.event_id.in_([event.event_id for event in events]))
                .values(published_at=utcnow(), lease_until=None, last_error=None)
            )

    def _release(self, events: list[Any], error: str) -> None:
        """Give back events that were not published, so the next sweep needn't wait for the lease."""
        if not events:
            return
        self._next_sweep = 0.0
        with self.database.unit_of_work() as uow:
            uow.execute(
                self._outbox.update()
                .where(self._outbox.c.event_id.in_([event.event_id for event in events]))
                .values(lease_until=None, last_error=error[:1000])
            )

    def prune(self) -> None:
        with self.database.unit_of_work() as uow:
            uow.execute(self._outbox.delete().where(self._outbox.c.published_at < utcnow() - KEEP_PUBLISHED))

    def _ensure_channel(self) -> Any:
        if self._channel is None or self._channel.is_closed:
            self._disconnect()
            parameters = pika_parameters(self.amqp_uri)
            parameters.heartbeat = 60
            self._connection = pika.BlockingConnection(parameters)
            channel = self._connection.channel()
            topology.declare_publisher_topology(channel, self.service)
            topology.declare_dead_lettering(channel, self.service)
            channel.confirm_delivery()
            self._channel = channel
        return self._channel

    def _keep_connection_alive(self) -> None:
        # a blocking connection answers heartbeats only when asked to
        if self._connection is not None and self._connection.is_open:
            self._connection.process_data_events(time_limit=0)

    def _disconnect(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # already broken: nothing left to close cleanly
                _log.debug("closing a broken relay connection", exc_info=True)


def _report_failure(exc: Exception) -> None:
    if isinstance(exc, pika.exceptions.ChannelClosedByBroker) and exc.reply_code == PRECONDITION_FAILED:
        # retrying cannot help: an operator must delete or migrate the queue
        _log.error(
            "RabbitMQ refused the event topology: a queue exists with other arguments "
            "(another KAMENG_QUEUE_TYPE or an older release); delete or migrate it. %s",
            exc.reply_text,
        )
    else:
        _log.warning("outbox relay failed; retrying", exc_info=True)
