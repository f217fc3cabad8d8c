"""``kameng supplier-sim``: an upstream supplier for development and tests.

The server side of the channel API (``/api/channel/v1/...``), signed requests
and all, selling direct top-ups and game cards: a Kameng shop configured with
it as a supplier tops up (or buys the cards a linked card product lacks)
through it as it would through any upstream shop. Knobs make
it misbehave the ways real suppliers do: slow answers, 5xx answers, top-ups
that fail, callbacks lost or sent twice. They can be changed while it runs
(``POST /_sim/knobs``, from this machine only); ``GET /_sim/state`` shows what
it did.

Its orders live in memory, keyed by (API key, client_order_id): the same
client_order_id is the same order, so a buyer that retries never tops up
twice. An order completes ``fulfil_seconds`` after it is placed, as
``delivered`` or, with probability ``failure_rate``, ``refunded``; a delivered
card order's cards (fresh numbers and secrets) come with reading it, as
Kameng's channel API answers them.
"""

import dataclasses
import http.server
import json
import random
import re
import threading
import time
import urllib.parse
import uuid

import requests

from kameng_common import channel as protocol

DEFAULT_SIM_PORT = 8100
DEFAULT_PRODUCTS = (
    {
        "id": 1,
        "name": "Mobile top-up 50 CNY",
        "kind": "direct",
        "price": 4850,
        "currency": "CNY",
        "stock": None,
    },
    {
        "id": 2,
        "name": "Mobile top-up 100 CNY",
        "kind": "direct",
        "price": 9700,
        "currency": "CNY",
        "stock": None,
    },
    {"id": 3, "name": "Game credit 30 CNY", "kind": "direct", "price": 2900, "currency": "CNY", "stock": 0},
    {"id": 4, "name": "Game card 10 CNY", "kind": "card", "price": 900, "currency": "CNY", "stock": None},
)
_ORDER_PATH = re.compile(r"^/api/channel/v1/orders/([0-9a-f-]{36})$")


@dataclasses.dataclass
class Knobs:
    response_delay: float = 0.0  # seconds before answering any channel request
    error_rate: float = 0.0  # share of channel requests answered 503
    fulfil_seconds: float = 0.5  # from order to outcome
    failure_rate: float = 0.0  # share of top-ups that fail (the order ends refunded)
    lost_callbacks: float = 0.0  # share of outcomes never pushed
    duplicate_callbacks: float = 0.0  # share of outcomes pushed twice


class SimState:
    """Everything the simulator knows; survives a stop and start of its server."""

    def __init__(self, keys, products=DEFAULT_PRODUCTS, knobs=None, seed=None):
        self.keys = dict(keys)
        self.products = {product["id"]: dict(product) for product in products}
        self.knobs = knobs or Knobs()
        self.orders = {}  # order id -> order
        self.by_client_order = {}  # (key id, client_order_id) -> order id
        self.nonces = {}  # (key id, nonce) -> expiry
        self.callbacks_sent = 0
        self.top_ups = 0  # orders delivered, top-ups and card orders alike
        self.cards_sold = 0
        # channel requests received, counted before the response delay: one may be in flight
        self.requests = 0
        self.lock = threading.Lock()
        self.random = random.Random(seed)

    def snapshot(self):
        with self.lock:
            return {
                "knobs": dataclasses.asdict(self.knobs),
                "orders": len(self.orders),
                "top_ups": self.top_ups,
                "cards_sold": self.cards_sold,
                "requests": self.requests,
                "callbacks_sent": self.callbacks_sent,
                "by_status": _count(order["status"] for order in self.orders.values()),
                "client_order_ids": sorted(client_order_id for _key, client_order_id in self.by_client_order),
            }

    def place(self, key_id, body):
        """(status, answer) for a POST /orders."""
        items, client_order_id = body.get("items"), body.get("client_order_id")
        if (
            not isinstance(client_order_id, str)
            or not client_order_id
            or not isinstance(items, list)
            or not items
        ):
            return 422, _error("invalid_input", "items and client_order_id are required")
        with self.lock:
            existing = self.by_client_order.get((key_id, client_order_id))
            if existing is not None:
                return 201, _without_cards(self.orders[existing])
            lines = []
            for item in items:
                product = self.products.get(item.get("product_id")) if isinstance(item, dict) else None
                if product is None:
                    return 422, _error("invalid_input", "unknown product")
                quantity = item.get("quantity")
                if not isinstance(quantity, int) or quantity < 1:
                    return 422, _error("invalid_input", "quantity must be a whole number from 1")
                if product["kind"] == "direct" and not item.get("recharge_account"):
                    return 422, _error("invalid_input", "a direct product needs recharge_account")
                if product["stock"] is not None and product["stock"] < quantity:
                    return 422, _error("out_of_stock", "not enough stock")
                lines.append(
                    {
                        "product_id": product["id"],
                        "name": product["name"],
                        "quantity": quantity,
                        "unit_price": product["price"],
                        "recharge_account": item.get("recharge_account"),
                        "kind": product["kind"],
                    }
                )
            now = _now()
            order = {
                "id": str(uuid.uuid4()),
                "client_order_id": client_order_id,
                "callback_url": body.get("callback_url"),
                "customer_id": key_id,
                "status": "paid",
                "items": lines,
                "total": sum(line["quantity"] * line["unit_price"] for line in lines),
                "currency": "CNY",
                "created_at": now,
                "updated_at": now,
            }
            self.orders[order["id"]] = order
            self.by_client_order[(key_id, client_order_id)] = order["id"]
        completion = threading.Timer(self.knobs.fulfil_seconds, self._complete, (key_id, order["id"]))
        completion.daemon = True  # an order that never completes does not keep the process alive
        completion.start()
        return 201, _without_cards(order)

    def _complete(self, key_id, order_id):
        with self.lock:
            order = self.orders[order_id]
            failed = self.random.random() < self.knobs.failure_rate
            order["status"] = "refunded" if failed else "delivered"
            order["updated_at"] = _now()
            if not failed:
                self.top_ups += 1
                order["cards"] = [
                    {"number": f"SIM-{uuid.uuid4().hex[:16]}", "secret": uuid.uuid4().hex}
                    for line in order["items"]
                    if line["kind"] == "card"
                    for _ in range(line["quantity"])
                ]
                self.cards_sold += len(order["cards"])
            pushes = 0
            if order["callback_url"] and self.random.random() >= self.knobs.lost_callbacks:
                pushes = 2 if self.random.random() < self.knobs.duplicate_callbacks else 1
            answer = dict(order)
        for _ in range(pushes):
            self._push(key_id, answer)

    def _push(self, key_id, order):
        body = json.dumps(
            {
                key: order[key]
                for key in ("id", "client_order_id", "status", "total", "currency", "updated_at")
            }
        ).encode()
        url = urllib.parse.urlsplit(order["callback_url"])
        headers = protocol.signed_headers(key_id, self.keys[key_id], "POST", url.path or "/", url.query, body)
        try:
            requests.post(
                order["callback_url"],
                data=body,
                headers={**headers, "Content-Type": "application/json"},
                timeout=5,
            )
        except requests.RequestException:
            return  # a supplier's callback is best effort: the buyer polls
        with self.lock:
            self.callbacks_sent += 1

    def fresh_nonce(self, key_id, nonce):
        now = time.time()
        with self.lock:
            for seen, expiry in list(self.nonces.items()):
                if expiry < now:
                    del self.nonces[seen]
            if (key_id, nonce) in self.nonces:
                return False
            self.nonces[(key_id, nonce)] = now + 2 * protocol.TIMESTAMP_WINDOW_SECONDS
            return True


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_Server"

    server_version = "kameng-supplier-sim"

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method):
        state = self.server.state
        target = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if target.path.startswith("/_sim/"):
            return self._sim(method, target.path, body)
        with state.lock:
            state.requests += 1
        knobs = state.knobs
        if knobs.response_delay:
            time.sleep(knobs.response_delay)
        if state.random.random() < knobs.error_rate:
            return self._answer(503, _error("unavailable", "the supplier is having a bad day"))
        key_id = self._verified(method, target, body)
        if key_id is None:
            return self._answer(401, _error("invalid_signature", "the request's signature does not verify"))
        if method == "GET" and target.path == "/api/channel/v1/products":
            return self._answer(200, {"items": list(state.products.values()), "next_cursor": None})
        if method == "GET" and target.path == "/api/channel/v1/balance":
            return self._answer(200, {"customer_id": key_id, "balance": 10**12, "currency": "CNY"})
        if method == "POST" and target.path == "/api/channel/v1/orders":
            try:
                payload = json.loads(body)
            except ValueError:
                return self._answer(400, _error("invalid_json", "the body is not JSON"))
            return self._answer(*state.place(key_id, payload if isinstance(payload, dict) else {}))
        match = _ORDER_PATH.match(target.path)
        if method == "GET" and match:
            order = state.orders.get(match[1])
            if order is None or order["customer_id"] != key_id:
                return self._answer(404, _error("not_found", "order not found"))
            return self._answer(200, order)
        return self._answer(404, _error("not_found", "no such route"))

    def _verified(self, method, target, body):
        headers = {name: self.headers.get(name, "") for name in protocol.HEADERS}
        secret = self.server.state.keys.get(headers[protocol.KEY_HEADER])
        if secret is None or not protocol.timestamp_fresh(headers[protocol.TIMESTAMP_HEADER]):
            return None
        message = protocol.string_to_sign(
            method,
            target.path,
            target.query,
            headers[protocol.TIMESTAMP_HEADER],
            headers[protocol.NONCE_HEADER],
            body,
        )
        if not protocol.signature_matches(secret, message, headers[protocol.SIGNATURE_HEADER]):
            return None
        if not self.server.state.fresh_nonce(headers[protocol.KEY_HEADER], headers[protocol.NONCE_HEADER]):
            return None
        return headers[protocol.KEY_HEADER]

    def _sim(self, method, path, body):
        if self.client_address[0] not in ("127.0.0.1", "::1"):
            return self._answer(403, _error("forbidden", "the simulator's controls answer this machine only"))
        state = self.server.state
        if method == "POST" and path == "/_sim/knobs":
            try:
                changes = json.loads(body)
                for name, value in changes.items():
                    if name not in Knobs.__dataclass_fields__:
                        raise ValueError(name)
                    setattr(state.knobs, name, float(value))
            except (ValueError, TypeError, AttributeError):
                return self._answer(
                    422, _error("invalid_input", f"knobs: {', '.join(Knobs.__dataclass_fields__)}")
                )
        elif not (method == "GET" and path == "/_sim/state"):
            return self._answer(404, _error("not_found", "no such route"))
        return self._answer(200, state.snapshot())

    def _answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    """The simulator's HTTP server; its handlers read the shared state from it."""

    daemon_threads = True

    def __init__(self, address, state):
        super().__init__(address, _Handler)
        self.state = state


class SupplierSim:
    """The simulator's HTTP server on ``port``; ``stop()`` then ``start()`` is a supplier down and back."""

    def __init__(self, state, port, host="127.0.0.1"):
        self.state = state
        self.host, self.port = host, port
        self._server: _Server | None = None

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}"

    def start(self):
        self._server = _Server((self.host, self.port), self.state)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def serve_forever(self):
        self._server = _Server((self.host, self.port), self.state)
        self._server.serve_forever()


def _without_cards(order):
    """A placing's answer: like Kameng's, it names no cards (they come with reading the order)."""
    return {key: value for key, value in order.items() if key != "cards"}


def _error(code, message):
    return {"error": {"code": code, "message": message}}


def _count(values):
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
