"""Signed channel requests: who sent this ``/api/channel/v1/...`` request, if anyone may have.

The scheme is kameng_common.channel's. The timestamp is checked here, the
signature by orders (which holds the keys' secrets), and the nonce last, so
that a forged request cannot use up a nonce. Anything wrong is a 401 before
the view runs, so nothing changes.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from kameng_common import channel as protocol
from kameng_common.errors import Forbidden, Unauthorized
from kameng_gateway import remote
from kameng_gateway.nonces import NONCES_EXTENSION

CHANNEL_AUTH = "channelSignature"

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class ChannelCaller:
    key_id: str
    customer_id: str
    scopes: tuple[str, ...]


def channel_caller() -> ChannelCaller:
    return g.channel_caller


def signed_request_required(scope: str) -> Callable[[View], View]:
    """The request is signed by a live API key that holds ``scope``."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = _verified_caller()
            if scope not in caller.scopes:
                raise Forbidden(f"This API key lacks the scope {scope}.", "insufficient_scope")
            g.channel_caller = caller
            return view(*args, **kwargs)

        return cast(View, wrapper)

    return decorate


def _verified_caller() -> ChannelCaller:
    headers = {name: request.headers.get(name, "").strip() for name in protocol.HEADERS}
    missing = [name for name, value in headers.items() if not value]
    if missing:
        raise Unauthorized(f"Sign the request: {', '.join(missing)} missing.", "signature_required")
    nonce = headers[protocol.NONCE_HEADER]
    if len(nonce) > protocol.MAX_NONCE_LENGTH or len(headers[protocol.KEY_HEADER]) > 40:
        raise Unauthorized("The request's signature does not verify.", "invalid_signature")
    if not protocol.timestamp_fresh(headers[protocol.TIMESTAMP_HEADER]):
        raise Unauthorized(
            f"{protocol.TIMESTAMP_HEADER} must be unix seconds within "
            f"{protocol.TIMESTAMP_WINDOW_SECONDS} s of now.",
            "stale_request",
        )
    message = protocol.string_to_sign(
        request.method,
        request.path,
        request.query_string.decode("latin-1"),
        headers[protocol.TIMESTAMP_HEADER],
        nonce,
        request.get_data(cache=True),
    )
    verified = remote.call(
        "orders",
        "verify_channel_request",
        headers[protocol.KEY_HEADER],
        message,
        headers[protocol.SIGNATURE_HEADER],
    )
    if not current_app.extensions[NONCES_EXTENSION].first_use(verified["key_id"], nonce):
        raise Unauthorized("This nonce was used before: a request is sent once.", "replayed_request")
    return ChannelCaller(verified["key_id"], verified["customer_id"], tuple(verified["scopes"]))
