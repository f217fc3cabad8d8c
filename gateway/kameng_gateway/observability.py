"""Per-request correlation id, JSON access log line and HTTP metrics.

The correlation id is the order id when the request is about an order,
else a request id (the caller's ``X-Request-Id`` when it is a sane token).
It goes to the services as nameko's ``correlation_id`` context, into every
log line, and back to the caller as ``X-Request-Id``. Bodies, tokens and
query strings are never logged.
"""

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from kameng_common.logs import correlation_id
from kameng_gateway import metrics

REQUEST_ID_HEADER = "X-Request-Id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# probes and scrapes would drown the access log
_QUIET_PATHS = ("/health/live", "/health/ready", "/metrics")

_log = logging.getLogger("kameng_gateway.access")


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_forget)


def set_correlation_id(value: object) -> None:
    """Correlate the rest of this request (logs, RPC calls, response) with ``value``."""
    g.correlation_id = str(value)
    correlation_id.set(g.correlation_id)


def _start() -> None:
    g.started = time.perf_counter()
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = offered if _SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
    order_id = (request.view_args or {}).get("order_id")
    set_correlation_id(order_id or g.request_id)


def _finish(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule else "unmatched"
    seconds = time.perf_counter() - g.started
    metrics.observe_request(route, request.method, str(response.status_code), seconds)
    response.headers[REQUEST_ID_HEADER] = g.correlation_id
    level = logging.DEBUG if request.path in _QUIET_PATHS else logging.INFO
    _log.log(
        level,
        "request",
        extra={
            "method": request.method,
            "route": route,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "request_id": g.request_id,
        },
    )
    return response


def _forget(exc: BaseException | None) -> None:
    correlation_id.set(None)
