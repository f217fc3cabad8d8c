"""Service calls made while answering a request: correlated, counted and timed."""

import time

from flask import current_app, g

from kameng_common.errors import KamengError, Unavailable
from kameng_gateway import metrics

RPC_EXTENSION = "kameng_rpc"


def client():
    """The app's RPC client (``create_app(rpc=...)`` or the pika RpcClient)."""
    return current_app.extensions[RPC_EXTENSION]


def call(service, method, *args, **kwargs):
    """``service.method(*args, **kwargs)`` on behalf of the current request."""
    return timed_call(client(), service, method, *args, correlation_id=g.correlation_id, **kwargs)


def timed_call(rpc, service, method, *args, **kwargs):
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
