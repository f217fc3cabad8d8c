"""Service calls made while answering a request: correlated, counted and timed."""

import time
from typing import Any, Protocol

from flask import current_app, g

from kameng_common.errors import KamengError, Unavailable
from kameng_gateway import metrics

RPC_EXTENSION = "kameng_rpc"


class Rpc(Protocol):
    """What the gateway calls the services with: rpc.RpcClient, or a stand-in in tests."""

    def call(
        self,
        service: str,
        method: str,
        *args: Any,
        timeout: float | None = None,
        correlation_id: str | None = None,
        **kwargs: Any,
    ) -> Any: ...

    def ping(self) -> None: ...


def client() -> Rpc:
    """The app's RPC client (``create_app(rpc=...)`` or the pika RpcClient)."""
    return current_app.extensions[RPC_EXTENSION]


def call(service: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """``service.method(*args, **kwargs)`` on behalf of the current request."""
    return timed_call(client(), service, method, *args, correlation_id=g.correlation_id, **kwargs)


def timed_call(rpc: Rpc, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """A call on ``rpc``, counted by outcome; usable outside a request context."""
    started = time.perf_counter()
    outcome = "error"
    try:
        result = rpc.call(service, method, *args, **kwargs)
        outcome = "ok"
        return result
    except Unavailable:
        outcome = "unavailable"
        raise
    except KamengError as error:
        outcome = "error" if error.status >= 500 else "rejected"
        raise
    finally:
        metrics.observe_rpc_call(service, method, outcome, time.perf_counter() - started)
