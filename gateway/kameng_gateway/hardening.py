"""What every answer and every request body gets, whatever the route.

- JSON bodies nested deeper than ``MAX_JSON_DEPTH`` are refused (400) before
  any view sees them: a deep enough one would exhaust the parser's recursion.
- ``<int:...>`` in a route matches only ids a 32-bit column holds; a bigger
  number is a route that does not exist (404), never a database error.
- Security headers on every answer, errors included; ``Cache-Control:
  no-store`` on all of them but the few public documents that name no one
  (and the web app's assets, which say so themselves).
"""

import json
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, Map

from kameng_gateway.schemas import MAX_ID

MAX_JSON_DEPTH = 32

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # an API answers data, never a page to render: nothing may load or frame it
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
# the same for everyone and no secret: a cache may keep them
PUBLIC_PATHS = ("/openapi.json", "/health/live")


class BoundedIdConverter(IntegerConverter):
    """``<int:...>``: a non-negative integer a 32-bit id column holds."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class BoundedJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            data = json.loads(s, **kwargs)
        except RecursionError:
            raise _too_deep() from None
        if _depth_exceeds(data, MAX_JSON_DEPTH):
            raise _too_deep()
        return data


def _too_deep() -> BadRequest:
    return BadRequest(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.")


def _depth_exceeds(data: object, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children: Iterable
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def install(app: Flask) -> None:
    """Before any blueprint is registered: the converter shapes the routes as they are added."""
    app.url_map.converters["int"] = BoundedIdConverter
    app.json = BoundedJSONProvider(app)
    app.after_request(_secure)


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # the web app's hashed assets declare themselves public: the same for everyone, for good
    if request.path not in PUBLIC_PATHS and not response.headers.get("Cache-Control", "").startswith(
        "public"
    ):
        response.headers["Cache-Control"] = "no-store"
    return response
