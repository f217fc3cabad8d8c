"""The channel protocol's request signature, shared by every side that speaks it.

A request to ``/api/channel/v1/...`` (and a delivery callback) carries
``X-Kameng-Key``, ``X-Kameng-Timestamp`` (unix seconds), ``X-Kameng-Nonce``
(random, single use) and ``X-Kameng-Signature``: the hex HMAC-SHA256, under
the key's secret, of::

    METHOD \\n PATH[?QUERY] \\n TIMESTAMP \\n NONCE \\n SHA256-HEX(BODY)

PATH is the request path (the channel routes need no percent-encoding);
``?QUERY``, the query string as sent, follows only when there is one; BODY
is the raw body (empty for a GET).
"""

import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from typing import Any

import requests

KEY_HEADER = "X-Kameng-Key"
TIMESTAMP_HEADER = "X-Kameng-Timestamp"
NONCE_HEADER = "X-Kameng-Nonce"
SIGNATURE_HEADER = "X-Kameng-Signature"
HEADERS = (KEY_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)

# how far a request's timestamp may be from the receiver's clock
TIMESTAMP_WINDOW_SECONDS = 300
MAX_NONCE_LENGTH = 128


def string_to_sign(method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes | None) -> str:
    """The text a signature covers; ``query`` without its "?", ``body`` as bytes."""
    target = f"{path}?{query}" if query else path
    body_digest = hashlib.sha256(body or b"").hexdigest()
    return f"{method.upper()}\n{target}\n{timestamp}\n{nonce}\n{body_digest}"


def signature(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signature_matches(secret: str, message: str, claimed: str) -> bool:
    return hmac.compare_digest(signature(secret, message), claimed.strip().lower())


def timestamp_fresh(timestamp: str | None, now: float | None = None) -> bool:
    """Whether a header's timestamp is a whole number within the window of ``now``."""
    if timestamp is None:
        return False
    try:
        value = int(timestamp)
    except (TypeError, ValueError):
        return False
    return abs((now if now is not None else time.time()) - value) <= TIMESTAMP_WINDOW_SECONDS


def signed_headers(
    key_id: str,
    secret: str,
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    now: float | None = None,
) -> dict[str, str]:
    """The four headers of a signed request (the client side)."""
    timestamp = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(16)
    message = string_to_sign(method, path, query, timestamp, nonce, body)
    return {
        KEY_HEADER: key_id,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(secret, message),
    }


class ChannelError(Exception):
    """A channel request answered with an error; ``status`` is the HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ChannelClient:
    """The client side of the channel API: signed requests to a Kameng shop (or anything speaking it)."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: str,
        timeout: float = 10,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self.secret = secret
        self.timeout = timeout
        self.http = session or requests.Session()

    def request(self, method: str, path: str, json_body: object = None, query: str = "") -> Any:
        body = b"" if json_body is None else _json_bytes(json_body)
        full_path = urllib.parse.urlsplit(self.base_url).path.rstrip("/") + path
        headers = signed_headers(self.key_id, self.secret, method, full_path, query, body)
        if body:
            headers["Content-Type"] = "application/json"
        url = urllib.parse.urlunsplit(
            urllib.parse.urlsplit(self.base_url)._replace(path=full_path, query=query)
        )
        try:
            response = self.http.request(
                method, url, data=body or None, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as error:
            raise ChannelError(f"{method} {full_path}: no answer ({type(error).__name__})") from None
        if response.status_code >= 400:
            try:
                refusal = response.json()["error"]
                code, message = refusal.get("code"), refusal.get("message")
            except (ValueError, KeyError, TypeError, AttributeError):
                code, message = None, response.text[:200]
            raise ChannelError(
                f"{method} {full_path}: {response.status_code} {message}", response.status_code, code
            )
        return response.json()

    def products(self) -> list[dict[str, Any]]:
        """Every product of the catalogue, page after page."""
        products: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = urllib.parse.urlencode({"limit": 100, **({"cursor": cursor} if cursor else {})})
            page = self.request("GET", "/api/channel/v1/products", query=query)
            products.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return products

    def place_order(
        self, items: list[dict[str, Any]], client_order_id: str, callback_url: str | None = None
    ) -> Any:
        body: dict[str, Any] = {"items": items, "client_order_id": client_order_id}
        if callback_url:
            body["callback_url"] = callback_url
        return self.request("POST", "/api/channel/v1/orders", body)

    def order(self, order_id: str) -> Any:
        return self.request("GET", f"/api/channel/v1/orders/{order_id}")

    def balance(self) -> Any:
        return self.request("GET", "/api/channel/v1/balance")


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
