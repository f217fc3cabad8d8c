"""nameko glue shared by every service: database with relay, reliable events, RPC, instrumentation."""

import inspect
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache, partial, wraps
from types import TracebackType
from typing import Any

import eventlet
import kombu.exceptions
import sqlalchemy as sa
from kombu import Queue
from marshmallow import ValidationError
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    NON_PERSISTENT,
    PERSISTENT,
    SERIALIZER_CONFIG_KEY,
)
from nameko.events import SERVICE_POOL, EventHandler
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.messaging import QueueConsumer
from nameko.rpc import (
    MethodProxy,
    ReplyListener,
    Responder,
    Rpc,
    RpcConsumer,
    RpcProxy,
    ServiceProxy,
    get_rpc_exchange,
)
from nameko.timer import Timer

from kameng_common import contracts, topology
from kameng_common.db import DATABASE_UNAVAILABLE, Database, consumer_name
from kameng_common.errors import KamengError, Unavailable
from kameng_common.logs import correlation_id
from kameng_common.metrics import (
    EVENT_DURATION,
    EVENTS_HANDLED,
    RPC_DURATION,
    RPC_REQUESTS,
    TIMER_RUNS,
    callback_gauge,
)
from kameng_common.relay import OutboxRelay

_log = logging.getLogger(__name__)

# nameko builds a kombu Connection for every message it publishes (each RPC request and
# reply), and kombu then tries to import librabbitmq, a C client Kameng does not use:
# a failed import is searched for along sys.path every time. None in sys.modules makes
# that import fail at once, and kombu uses py-amqp as it did.
sys.modules.setdefault("librabbitmq", None)  # type: ignore[arg-type]

# what nameko hands to handle_result: (type, value, traceback) of a failure, or None
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | None


class _QueueConsumer(QueueConsumer):
    """nameko's, where acking or requeueing on a connection the broker has just dropped is not fatal.

    nameko forgives amqp's ConnectionError there, but not the socket's own
    (ConnectionResetError, BrokenPipeError), which kills the container: a
    broker restart would stop every service that was finishing a message.
    The broker has taken the message back already and delivers it again.
    """

    def ack_message(self, message: Any) -> None:
        try:
            super().ack_message(message)
        except OSError:
            _log.warning("could not ack a message: its connection is gone; the broker redelivers it")

    def requeue_message(self, message: Any) -> None:
        try:
            super().requeue_message(message)
        except OSError:
            _log.warning("could not requeue a message: its connection is gone; the broker redelivers it")


class _UnconfirmedReplies(Publisher):
    """Replies go out without waiting for the broker's confirm, and transient.

    The reply queue is the caller's own, exclusive and not durable; a reply
    lost with the broker only lets the caller time out and ask again, which
    every state-changing RPC allows (they are idempotent). A confirm would
    cost each call a round trip to the broker.
    """

    use_confirms = False
    delivery_mode = NON_PERSISTENT


class _Responder(Responder):
    publisher_cls = _UnconfirmedReplies


class _RpcConsumer(RpcConsumer):
    queue_consumer = _QueueConsumer()

    def handle_result(self, message: Any, result: object, exc_info: ExcInfo) -> tuple[object, ExcInfo]:
        # nameko's own, with the responder above
        config = self.container.config
        responder = _Responder(
            config[AMQP_URI_CONFIG_KEY],
            get_rpc_exchange(config),
            config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER),
            message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY),
            login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
        )
        try:
            result, exc_info = responder.send_response(result, exc_info)
        except Exception:
            # nameko would let this kill the container, and the service with it. The
            # reply is lost with the broker: the caller times out and may ask again,
            # which every RPC allows.
            _log.warning(
                "could not send the reply to %s; the caller will time out",
                message.delivery_info.get("routing_key"),
                exc_info=True,
            )
        self.queue_consumer.ack_message(message)
        return result, exc_info


class KamengRpc(Rpc):
    """nameko's RPC entrypoint, where a KamengError is the caller's fault, not a crash, and
    a database that is down answers 503 Unavailable rather than a generic failure."""

    rpc_consumer = _RpcConsumer()

    def handle_result(
        self, message: Any, worker_ctx: Any, result: object, exc_info: ExcInfo
    ) -> tuple[object, ExcInfo]:
        if exc_info is not None and isinstance(exc_info[1], DATABASE_UNAVAILABLE):
            error = Unavailable(f"The {self.container.service_name} database is not reachable.")
            exc_info = (Unavailable, error, exc_info[2])
        return super().handle_result(message, worker_ctx, result, exc_info)


def rpc(fn: Callable | None = None, **kwargs: Any) -> Any:
    """``@rpc`` for KamengRpc, bare or with nameko's keyword arguments.

    nameko's decorator drops its keyword arguments when applied bare (``@rpc``),
    so they are bound first.
    """
    kwargs.setdefault("expected_exceptions", (KamengError,))
    decorator = KamengRpc.decorator(**kwargs)
    return decorator if fn is None else decorator(fn)


class _TimedMethodProxy(MethodProxy):
    def __init__(
        self,
        worker_ctx: Any,
        service_name: str,
        method_name: str,
        reply_listener: Any,
        timeout: float,
        **options: Any,
    ) -> None:
        super().__init__(worker_ctx, service_name, method_name, reply_listener, **options)
        self.timeout = timeout

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call_async(*args, **kwargs).result()

    def call_async(self, *args: Any, **kwargs: Any) -> "_TimedReply":
        """Send the call now and answer a reply whose ``result()`` waits for it, as a call would:
        several calls sent before any result is asked run in parallel."""
        try:
            reply = self._call(*args, **kwargs)
        except UnknownService:
            raise Unavailable(f"The {self.service_name} service is not running.") from None
        except kombu.exceptions.OperationalError as exc:
            raise Unavailable("The message broker is not reachable.") from exc
        return _TimedReply(reply, self.service_name, time.monotonic() + self.timeout)


class _TimedReply:
    def __init__(self, reply: Any, service_name: str, deadline: float) -> None:
        self.reply = reply
        self.service_name = service_name
        self.deadline = deadline

    def result(self) -> Any:
        """The answer, or the callee's error; Unavailable once the call's timeout has passed since it was sent."""
        with eventlet.Timeout(max(0.0, self.deadline - time.monotonic()), False):
            return self.reply.result()
        raise Unavailable(f"The {self.service_name} service did not answer in time.")


class _TimedServiceProxy(ServiceProxy):
    def __init__(
        self, worker_ctx: Any, service_name: str, reply_listener: Any, timeout: float, **options: Any
    ) -> None:
        super().__init__(worker_ctx, service_name, reply_listener, **options)
        self.timeout = timeout

    def __getattr__(self, name: str) -> _TimedMethodProxy:
        return _TimedMethodProxy(
            self.worker_ctx, self.service_name, name, self.reply_listener, self.timeout, **self.options
        )


class _ReplyListener(ReplyListener):
    queue_consumer = _QueueConsumer()


class RemoteService(RpcProxy):
    """nameko's RpcProxy, but a call gives up after ``timeout`` seconds with Unavailable, as
    does a call to a service that is not running, or made while the broker is unreachable;
    nameko's waits forever and holds a worker.

    Requests are transient and expire with the timeout: nobody waits for an
    answer after that, and a durable copy would only cost a disk write.
    """

    rpc_reply_listener = _ReplyListener()

    def __init__(self, target_service: str, timeout: float = 10.0) -> None:
        super().__init__(target_service, delivery_mode=NON_PERSISTENT, expiration=timeout)
        self.timeout = timeout

    def get_dependency(self, worker_ctx: Any) -> _TimedServiceProxy:
        return _TimedServiceProxy(
            worker_ctx, self.target_service, self.rpc_reply_listener, self.timeout, **self.options
        )


class ServiceDatabase(DependencyProvider):
    """The service's own database (``DATABASE_URL``), with the relay that publishes its outbox."""

    database: Database
    relay: OutboxRelay

    def __init__(self, metadata: sa.MetaData) -> None:
        self.metadata = metadata

    def setup(self) -> None:
        config = self.container.config
        self.database = Database(config["DATABASE_URL"], self.metadata)
        self.relay = OutboxRelay(self.database, self.container.service_name, config["AMQP_URI"])
        service = self.container.service_name
        callback_gauge(
            "kameng_outbox_backlog",
            "Events written but not yet confirmed by the broker",
            ["service"],
            lambda: {(service,): self.database.outbox_backlog()},
        )

    def start(self) -> None:
        self.container.spawn_managed_thread(self.relay.run)

    def stop(self) -> None:
        self.relay.stop()
        self.database.dispose()

    def kill(self) -> None:
        self.relay.stop()

    def get_dependency(self, worker_ctx: Any) -> Database:
        return self.database


def check_health(service: str, database: Database) -> dict[str, str]:
    """The body of every service's ``health`` RPC."""
    try:
        database.check()
    except Exception as exc:
        raise Unavailable(f"{service} database unavailable") from exc
    return {"service": service, "database": "ok"}


# while the service's database does not answer, an event goes back on its queue this often
OUTAGE_RETRY_SECONDS = 1.0


class ReliableEventHandler(EventHandler):
    """An event handler that never drops an event.

    nameko acks an event whose handler raised; this one puts a copy back on
    its queue with the attempt counted (after a short back-off, so that a
    lock or a restart can pass) and acks the original only once the broker
    has confirmed the copy. After ``MAX_ATTEMPTS``, or at once for an event
    that breaks its contract, the copy goes to the service's dead-letter
    queue instead, naming the queue it came from, for ``kameng dlq replay``.
    A failure while the service's database is down is not counted: the event
    goes back every ``OUTAGE_RETRY_SECONDS`` until the database answers.
    The handler receives the validated envelope.
    """

    queue_consumer = _QueueConsumer()
    queue: Queue

    def __init__(self, source_service: str, event_type: str, **kwargs: Any) -> None:
        super().__init__(
            source_service, event_type, handler_type=SERVICE_POOL, reliable_delivery=True, **kwargs
        )

    def setup(self) -> None:
        subscribed = (self.container.service_name, self.method_name)
        if subscribed not in contracts.contract(self.event_type).subscribers:
            raise ValueError(
                f"{subscribed} handles {self.event_type} but is not a subscriber in kameng_common.contracts"
            )
        super().setup()
        name = self.queue.name
        self.queue = Queue(
            name,
            exchange=self.queue.exchange,
            routing_key=self.event_type,
            durable=True,
            queue_arguments=topology.event_queue_arguments(self.container.service_name, name),
        )
        self.publisher = Publisher(
            self.container.config["AMQP_URI"], mandatory=True, serializer="json", delivery_mode=PERSISTENT
        )

    def handle_message(self, body: Any, message: Any) -> None:
        try:
            event = contracts.load_event(body)
        except (ValidationError, ValueError, TypeError) as exc:
            _log.error(
                "event breaks its contract",
                extra={"queue": self.queue.name, "message_id": message.properties.get("message_id")},
            )
            self._dead_letter(body, message, f"contract: {exc}", attempts=1)
            return
        context_data = self.unpack_message_headers(message)
        context_data["correlation_id"] = event["correlation_id"]
        try:
            self.container.spawn_worker(
                self,
                (event,),
                {},
                context_data=context_data,
                handle_result=partial(self.handle_result, message, body),
            )
        except Exception:
            self.queue_consumer.requeue_message(message)
            raise

    def handle_result(
        self, message: Any, body: Any, worker_ctx: Any, result: object = None, exc_info: ExcInfo = None
    ) -> tuple[object, ExcInfo]:
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return result, exc_info
        if self._database_down(exc_info[1]):
            # not the event's fault: it waits for the database without using up its attempts
            eventlet.sleep(OUTAGE_RETRY_SECONDS)
            self._send_on(body, message, exchange="", routing_key=self.queue.name, headers={})
            return result, exc_info
        attempts = int((message.headers or {}).get(topology.ATTEMPTS_HEADER, 0)) + 1
        failure = f"{exc_info[0].__name__}: {exc_info[1]}"[:500]
        if attempts >= topology.MAX_ATTEMPTS:
            self._dead_letter(body, message, failure, attempts)
        else:
            eventlet.sleep(min(0.05 * 2**attempts, 2.0))
            self._send_on(
                body,
                message,
                exchange="",
                routing_key=self.queue.name,
                headers={topology.ATTEMPTS_HEADER: attempts},
            )
        return result, exc_info

    def _database_down(self, error: BaseException) -> bool:
        """Whether ``error`` is the service's database failing, and it does not answer now either.

        A database that answers again (a stale pooled connection, a query
        that fails on its own) leaves the failure to count as an attempt.
        """
        if not isinstance(error, DATABASE_UNAVAILABLE):
            return False
        for dependency in self.container.dependencies:
            if isinstance(dependency, ServiceDatabase):
                try:
                    dependency.database.check()
                except DATABASE_UNAVAILABLE:
                    return True
        return False

    def _dead_letter(self, body: Any, message: Any, failure: str, attempts: int) -> None:
        service = self.container.service_name
        self._send_on(
            body,
            message,
            exchange=topology.DEAD_LETTER_EXCHANGE,
            routing_key=topology.dead_letter_routing_key(service, self.queue.name),
            headers={
                topology.ORIGIN_QUEUE_HEADER: self.queue.name,
                topology.FAILURE_HEADER: failure,
                topology.ATTEMPTS_HEADER: attempts,
            },
        )

    def _send_on(
        self, body: Any, message: Any, exchange: str, routing_key: str, headers: Mapping[str, object]
    ) -> None:
        """Publish a copy (confirmed) and ack the original; if the copy can't be sent, requeue it."""
        properties = message.properties
        try:
            self.publisher.publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                headers={**(message.headers or {}), **headers},
                message_id=properties.get("message_id"),
                correlation_id=properties.get("correlation_id"),
            )
        except Exception:
            _log.warning("could not re-publish a failed event; requeueing it", exc_info=True)
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)


def event_handler(source_service: str, event_type: str, **options: Any) -> Callable[[Callable], Any]:
    """Subscribe ``method(self, uow, event)`` to ``event_type`` of ``source_service``, once per event.

    The method runs in a unit of work of the service's database that first
    records the event in the inbox under ``<service>.<method>``: the mark,
    the state change and the events it publishes commit together, and a
    redelivered event is skipped before the method sees it. The method (and
    the use case it calls) only acts within ``uow``.
    """

    def decorate(method: Callable) -> Any:
        @wraps(method)
        def handle_once(self: Any, event: dict[str, Any]) -> Any:
            consumer = consumer_name(self.name, method.__name__)
            database = service_database(self)
            return database.handle_once(consumer, event["id"], lambda uow: method(self, uow, event))

        return ReliableEventHandler.decorator(source_service, event_type, **options)(handle_once)

    return decorate


def service_database(service: object) -> Database:
    """The Database a worker's ``service`` instance was given by its ServiceDatabase."""
    # mypy does not take a class as hashable, which every class is
    return getattr(service, _database_attribute(type(service)))  # type: ignore[arg-type]


@cache
def _database_attribute(service_class: type) -> str:
    for name, _provider in inspect.getmembers(
        service_class, lambda member: isinstance(member, ServiceDatabase)
    ):
        return name
    raise TypeError(f"{service_class.__name__} has no ServiceDatabase for its event handlers' inbox")


class ConfiguredTimer(Timer):
    """A timer whose interval (seconds) is a config value, read when the container starts."""

    def __init__(self, interval_setting: str, **kwargs: Any) -> None:
        super().__init__(interval=None, **kwargs)
        self.interval_setting = interval_setting

    def setup(self) -> None:
        self.interval = float(self.container.config[self.interval_setting])


timer = Timer.decorator
configured_timer = ConfiguredTimer.decorator


class BusinessGauge(DependencyProvider):
    """A business gauge read from the service's database at scrape time.

    Every service declares its gauges this way, beside its other dependencies.
    ``source(database)`` is a read-only query of the service's use cases: it
    returns the value of a gauge without labels, or {label value (a tuple for
    several labels): value}.
    """

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], source: Callable[[Database], Any]
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.source = source

    def setup(self) -> None:
        database = next(
            dependency
            for dependency in self.container.dependencies
            if isinstance(dependency, ServiceDatabase)
        )
        callback_gauge(self.name, self.documentation, self.labels, lambda: self._samples(database.database))

    def _samples(self, database: Database) -> dict[tuple, float]:
        found = self.source(database)
        if not self.labels:
            return {(): found}
        return {key if isinstance(key, tuple) else (key,): value for key, value in found.items()}


class Instrumentation(DependencyProvider):
    """Counts and times every entrypoint by outcome, and puts its correlation id in the logs."""

    def __init__(self) -> None:
        self._started: dict[Any, float] = {}

    def worker_setup(self, worker_ctx: Any) -> None:
        self._started[worker_ctx] = time.perf_counter()
        correlation_id.set(worker_ctx.context_data.get("correlation_id"))

    def worker_result(self, worker_ctx: Any, result: object = None, exc_info: ExcInfo = None) -> None:
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
                _log.error("event handler %s failed; it will be retried", name, exc_info=exc_info)
        elif isinstance(entrypoint, Timer):
            TIMER_RUNS.labels(service, name, outcome).inc()

    def worker_teardown(self, worker_ctx: Any) -> None:
        self._started.pop(worker_ctx, None)
        correlation_id.set(None)
