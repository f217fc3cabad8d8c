"""nameko glue shared by every service: database with relay, reliable events, RPC, instrumentation."""
import logging
import sys
import time
from functools import partial

import eventlet
from kombu import Queue
from marshmallow import ValidationError
from nameko.events import SERVICE_POOL, EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.timer import Timer

from kameng_common import contracts, topology
from kameng_common.db import Database
from kameng_common.errors import KamengError, Unavailable
from kameng_common.logs import correlation_id
from kameng_common.metrics import (
    EVENT_DURATION, EVENTS_HANDLED, RPC_DURATION, RPC_REQUESTS, TIMER_RUNS, callback_gauge)
from kameng_common.relay import OutboxRelay

_log = logging.getLogger(__name__)

def rpc(fn=None, **kwargs):
    """nameko's ``@rpc``, where a KamengError is the caller's fault, answered over RPC, not logged as a crash.

    nameko's decorator drops its keyword arguments when applied bare (``@rpc``),
    so they are bound first; ``@rpc`` and ``@rpc(...)`` both work.
    """
    kwargs.setdefault("expected_exceptions", (KamengError,))
    decorator = Rpc.decorator(**kwargs)
    return decorator if fn is None else decorator(fn)


class ServiceDatabase(DependencyProvider):
    """The service's own database (``DATABASE_URL``), with the relay that publishes its outbox."""

    def __init__(self, metadata):
        self.metadata = metadata
        self.database = None
        self.relay = None

    def setup(self):
        config = self.container.config
        self.database = Database(config["DATABASE_URL"], self.metadata)
        self.relay = OutboxRelay(self.database, self.container.service_name, config["AMQP_URI"])
        service = self.container.service_name
        callback_gauge("kameng_outbox_backlog", "Events written but not yet confirmed by the broker",
                       ["service"], lambda: {(service,): self.database.outbox_backlog()})

    def start(self):
        self.container.spawn_managed_thread(self.relay.run)

    def stop(self):
        self.relay.stop()
        self.database.dispose()

    def kill(self):
        self.relay.stop()

    def get_dependency(self, worker_ctx):
        return self.database


def check_health(service, database):
    """The body of every service's ``health`` RPC."""
    try:
        database.check()
    except Exception as exc:
        raise Unavailable(f"{service} database unavailable") from exc
    return {"service": service, "database": "ok"}


class ReliableEventHandler(EventHandler):
    """An event handler that never drops an event.

    The queue is a quorum queue that dead-letters after ``DELIVERY_LIMIT``
    deliveries; a handler that raises is requeued after a short back-off
    instead of being acked, and an event that breaks its contract goes to the
    dead-letter queue at once. The handler receives the validated envelope.
    """

    def __init__(self, source_service, event_type, **kwargs):
        super().__init__(source_service, event_type, handler_type=SERVICE_POOL,
                         reliable_delivery=True, requeue_on_error=True, **kwargs)

    def setup(self):
        subscribed = (self.container.service_name, self.method_name)
        if subscribed not in contracts.contract(self.event_type).subscribers:
            raise ValueError(f"{subscribed} handles {self.event_type} but is not a subscriber "
                             "in kameng_common.contracts")
        super().setup()
        name = self.queue.name
        self.queue = Queue(
            name, exchange=self.queue.exchange, routing_key=self.event_type, durable=True,
            queue_arguments=topology.event_queue_arguments(self.container.service_name, name))

    def handle_message(self, body, message):
        try:
            event = contracts.load_event(body)
        except (ValidationError, ValueError, TypeError):
            # treated as a failure: after the delivery limit the broker dead-letters it
            _log.error("event breaks its contract", extra={
                "queue": self.queue.name, "message_id": message.properties.get("message_id")})
            self.handle_message_processed(message, exc_info=sys.exc_info())
            return
        context_data = self.unpack_message_headers(message)
        context_data["correlation_id"] = event["correlation_id"]
        try:
            self.container.spawn_worker(
                self, (event,), {}, context_data=context_data,
                handle_result=partial(self.handle_result, message))
        except Exception:
            self.queue_consumer.requeue_message(message)
            raise

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return
        deliveries = message.headers.get("x-delivery-count", 0) if message.headers else 0
        # back off a little so that a transient fault (a lock, a restart) can pass
        eventlet.sleep(min(0.05 * 2 ** deliveries, 2.0))
        self.queue_consumer.requeue_message(message)


event_handler = ReliableEventHandler.decorator
timer = Timer.decorator


class Instrumentation(DependencyProvider):
    """Counts and times every entrypoint by outcome, and puts its correlation id in the logs."""

    def __init__(self):
        self._started = {}

    def worker_setup(self, worker_ctx):
        self._started[worker_ctx] = time.perf_counter()
        correlation_id.set(worker_ctx.context_data.get("correlation_id"))

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        elapsed = time.perf_counter() - self._started.pop(worker_ctx, time.perf_counter())
        service = self.container.service_name
        entrypoint = worker_ctx.entrypoint
        name = entrypoint.method_name
        if exc_info is None:
            outcome = "ok"
        elif isinstance(exc_info[1], KamengError) and exc_info[1].status < 500:
            outcome = "rejected"
        else:
            outcome = "error"
        if isinstance(entrypoint, Rpc):
            RPC_REQUESTS.labels(service, name, outcome).inc()
            RPC_DURATION.labels(service, name).observe(elapsed)
        elif isinstance(entrypoint, EventHandler):
            EVENTS_HANDLED.labels(service, name, outcome).inc()
            EVENT_DURATION.labels(service, name).observe(elapsed)
            if outcome == "error":
                _log.error("event handler %s failed; it will be retried", name,
                           exc_info=exc_info)
        elif isinstance(entrypoint, Timer):
            TIMER_RUNS.labels(service, name, outcome).inc()

    def worker_teardown(self, worker_ctx):
        self._started.pop(worker_ctx, None)
        correlation_id.set(None)
