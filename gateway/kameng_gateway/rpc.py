"""A blocking client for the services' nameko RPC, written on pika.

It speaks nameko 2.14's protocol: a JSON ``{"args", "kwargs"}`` request
published to the durable topic exchange ``nameko-rpc`` under
``<service>.<method>``, with ``reply_to`` naming a routing key bound on that
exchange to the caller's own reply queue, and a ``correlation_id`` that the
service copies onto its ``{"result", "error"}`` reply.

A pika ``BlockingConnection`` must never be shared between threads, so each
thread keeps its own connection, channel and exclusive reply queue, reuses
them across requests, and opens new ones after a connection error.
"""

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pika
from pika.exceptions import AMQPError

from kameng_common.errors import KamengError, Unavailable, error_class

RPC_EXCHANGE = "nameko-rpc"
TRANSIENT = 1

_log = logging.getLogger(__name__)

T = TypeVar("T")


class _Returned(Exception):
    """The broker returned the request: no queue takes it, so the service is not running."""


class _ThreadChannel:
    """One thread's connection, channel and reply queue; one call at a time."""

    def __init__(self, parameters: pika.URLParameters) -> None:
        self._awaited_id: str | None = None
        self._reply: bytes | None = None
        self._returned = False
        self.reply_routing_key = str(uuid.uuid4())
        self.connection = pika.BlockingConnection(parameters)
        try:
            self.channel = self._open_channel()
        except (AMQPError, OSError):
            self.close()
            raise

    def _open_channel(self) -> Any:
        channel = self.connection.channel()
        channel.exchange_declare(RPC_EXCHANGE, exchange_type="topic", durable=True)
        reply_queue = f"rpc.reply-gateway-{self.reply_routing_key}"
        channel.queue_declare(reply_queue, exclusive=True, auto_delete=True)
        channel.queue_bind(reply_queue, RPC_EXCHANGE, routing_key=self.reply_routing_key)
        channel.basic_consume(reply_queue, self._on_reply, auto_ack=True)
        # No publisher confirms: they would cost every call a round trip. A
        # mandatory request that no queue takes comes back as basic.return,
        # which arrives before any reply could.
        channel.add_on_return_callback(self._on_return)
        return channel

    def _on_reply(self, channel: Any, delivery: Any, properties: pika.BasicProperties, body: bytes) -> None:
        # a reply to a call that timed out earlier is dropped here
        if properties.correlation_id == self._awaited_id:
            self._reply = body

    def _on_return(self, channel: Any, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        if properties.correlation_id == self._awaited_id:
            self._returned = True

    def call(self, routing_key: str, body: str, headers: dict[str, str], deadline: float) -> bytes | None:
        """The reply body, or None when the deadline passes first; raises _Returned."""
        self._publish(routing_key, body, headers, timeout=deadline - time.monotonic())
        return self._wait_for_reply(deadline)

    def _publish(self, routing_key: str, body: str, headers: dict[str, str], timeout: float) -> None:
        self._awaited_id = str(uuid.uuid4())
        self._reply = None
        self._returned = False
        properties = pika.BasicProperties(
            content_type="application/json",
            content_encoding="utf-8",
            reply_to=self.reply_routing_key,
            correlation_id=self._awaited_id,
            headers=headers,
            delivery_mode=TRANSIENT,
            # nobody waits for the answer after the timeout: let the broker
            # drop the request rather than have a service act on it late
            expiration=str(max(1, int(timeout * 1000))),
        )
        self.channel.basic_publish(RPC_EXCHANGE, routing_key, body, properties, mandatory=True)

    def _wait_for_reply(self, deadline: float) -> bytes | None:
        while self._reply is None:
            if self._returned:
                raise _Returned()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.connection.process_data_events(time_limit=remaining)
        return self._reply

    def check_alive(self) -> None:
        self.connection.process_data_events(time_limit=0)

    def close(self) -> None:
        try:
            if self.connection.is_open:
                self.connection.close()
        except (AMQPError, OSError):
            pass  # it is being thrown away because it failed already


class RpcClient:
    """Calls nameko services; safe to share between threads."""

    def __init__(self, amqp_uri: str, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._parameters = pika.URLParameters(amqp_uri)
        # connecting and a broker in flow control never take longer than a call may
        self._parameters.socket_timeout = timeout
        self._parameters.stack_timeout = timeout
        self._parameters.blocked_connection_timeout = timeout
        self._parameters.connection_attempts = 1
        self._local = threading.local()

    def call(
        self,
        service: str,
        method: str,
        *args: Any,
        timeout: float | None = None,
        correlation_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """The result of ``service.method(*args, **kwargs)``.

        Raises the remote KamengError as its own class, ``Unavailable`` when
        the broker or the service does not answer within ``timeout`` seconds,
        and a generic ``KamengError`` (500) for any other remote failure.
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        routing_key = f"{service}.{method}"
        body = json.dumps({"args": list(args), "kwargs": kwargs})
        headers = {"nameko.correlation_id": correlation_id} if correlation_id else {}

        try:
            reply = self._on_live_channel(lambda channel: channel.call(routing_key, body, headers, deadline))
        except _Returned:
            raise Unavailable(f"The {service} service is not running.") from None
        if reply is None:
            raise Unavailable(f"The {service} service did not answer in time.")
        return _result_or_raise(routing_key, json.loads(reply))

    def ping(self) -> None:
        """Raise ``Unavailable`` unless the broker answers on this thread's connection."""
        self._on_live_channel(_ThreadChannel.check_alive)

    def close(self) -> None:
        """Close the calling thread's connection."""
        self._discard()

    def _on_live_channel(self, action: Callable[[_ThreadChannel], T]) -> T:
        """What ``action(channel)`` returns, run on this thread's channel.

        An idle connection may have been closed by the broker since the last
        call, so one fresh connection is tried before giving up. The services'
        commands are idempotent: a request sent twice is harmless.
        """
        try:
            return action(self._channel())
        except (AMQPError, OSError):
            self._discard()
        try:
            return action(self._channel())
        except (AMQPError, OSError) as exc:
            self._discard()
            raise _broker_unavailable(exc) from exc

    def _channel(self) -> _ThreadChannel:
        channel = getattr(self._local, "channel", None)
        if channel is None:
            channel = self._local.channel = _ThreadChannel(self._parameters)
        return channel

    def _discard(self) -> None:
        channel = getattr(self._local, "channel", None)
        if channel is not None:
            channel.close()
        self._local.channel = None


def _broker_unavailable(exc: Exception) -> Unavailable:
    return Unavailable(f"The message broker is not reachable ({exc.__class__.__name__}).")


def _result_or_raise(routing_key: str, reply: dict[str, Any]) -> Any:
    error = reply.get("error")
    if not error:
        return reply.get("result")
    kameng_class = error_class(error.get("exc_path"))
    if kameng_class is None:
        # the remote message and traceback stay in the service's own log
        _log.error("rpc %s failed remotely with %s", routing_key, error.get("exc_type"))
        raise KamengError("The service could not complete the request.")
    message, *code_and_details = error.get("exc_args") or [error.get("value", "")]
    raise kameng_class(message, *code_and_details[:2])
