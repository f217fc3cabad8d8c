"""Talk to a running suite the way any REST client would: seed a demo shop, buy a card."""

import hashlib
import hmac
import html.parser
import json
import random
import time
import urllib.parse
import uuid

import requests

DEMO_CATALOGUE = (
    # name, price in fen, price per membership level, cards to import
    ("Steam Wallet 100 CNY", 9800, {"vip": 9500, "svip": 9300}, 200),
    ("PlayStation Store 50 CNY", 4900, {"vip": 4750}, 100),
    ("Tencent QQ Coins 100", 9500, {"vip": 9300}, 100),
)
# an expired order still takes a late payment, and a failed sale still awaits its refund
FINAL_STATUSES = {"delivered", "cancelled", "refunded"}
# the longest wait asked of one request: well within Gateway.request's 30 s
LONG_POLL_SECONDS = 10
# how many times a read refused with 429 is asked again after its Retry-After
BUSY_RETRIES = 20


class ApiError(RuntimeError):
    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status  # the HTTP status answered


class Gateway:
    def __init__(self, base_url, token=None):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.token = token

    def request(self, method, path, expected=(200, 201), **kwargs):
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = self._send(method, path, headers, kwargs)
        # a busy gateway refuses a long-poll with 429 and says when to come back; reads are
        # safe to ask again
        for _ in range(BUSY_RETRIES):
            if response.status_code != 429 or method != "GET" or 429 in expected:
                break
            time.sleep(float(response.headers.get("Retry-After", 1)) * random.uniform(1, 1.5))
            response = self._send(method, path, headers, kwargs)
        if response.status_code not in expected:
            raise ApiError(f"{method} {path} → {response.status_code} {response.text}", response.status_code)
        return response.json() if response.content else None

    def _send(self, method, path, headers, kwargs):
        try:
            return self.http.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)
        except requests.ConnectionError:
            # mostly a kept-alive connection the server closed as we reused it; the calls
            # made here are idempotent (idempotency keys, trade numbers) or count
            # duplicates (card import), so once more is safe
            return self.http.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)

    def log_in(self, username, password):
        self.token = self.request(
            "POST", "/api/v1/auth/token", json={"username": username, "password": password}
        )["access_token"]
        return self

    def register(self, username, password):
        return self.request(
            "POST",
            "/api/v1/auth/register",
            expected=(201, 409),
            json={"username": username, "password": password},
        )


def seed_demo_shop(gateway_url, admin, customer, cards_scale=1):
    """Create the demo catalogue with card stock and the demo customer; returns the products."""
    staff = Gateway(gateway_url).log_in(*admin)
    category = staff.request("POST", "/api/v1/admin/categories", json={"name": "Game cards"})
    products = []
    for name, price, level_prices, cards in DEMO_CATALOGUE:
        product = staff.request(
            "POST",
            "/api/v1/admin/products",
            json={
                "name": name,
                "category_id": category["id"],
                "kind": "card",
                "price": price,
                "level_prices": level_prices,
            },
        )
        lines = "\n".join(
            f"{random.randrange(10**15, 10**16)} {uuid.uuid4().hex.upper()}"
            for _ in range(cards * cards_scale)
        )
        staff.request(
            "POST",
            f"/api/v1/admin/products/{product['id']}/cards",
            data=lines,
            headers={"Content-Type": "text/plain"},
        )
        products.append(product)
    Gateway(gateway_url).register(*customer)
    return products


DEMO_TOP_UP = ("Mobile top-up 50 CNY", 5000, "1")  # name, price in fen, its sku at the supplier


def seed_demo_supplier(gateway_url, admin, supplier_url, key_id, secret):
    """The local supplier simulator as a supplier, synced, and one direct top-up bought from it."""
    staff = Gateway(gateway_url).log_in(*admin)
    supplier = staff.request(
        "POST",
        "/api/v1/admin/suppliers",
        json={"name": "Demo supplier", "base_url": supplier_url, "key_id": key_id, "secret": secret},
    )
    staff.request("POST", f"/api/v1/admin/suppliers/{supplier['id']}/sync")
    category = staff.request("POST", "/api/v1/admin/categories", json={"name": "Top-ups"})
    name, price, sku = DEMO_TOP_UP
    return staff.request(
        "POST",
        "/api/v1/admin/products",
        json={
            "name": name,
            "category_id": category["id"],
            "kind": "direct",
            "price": price,
            "supplier_id": supplier["id"],
            "supplier_sku": sku,
        },
    )


def sign_mockpay(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wait_for_status(buyer, order_id, wanted, timeout=30):
    """The order once its status is one of ``wanted`` or final, long-polling the gateway."""
    deadline = time.monotonic() + timeout
    order = buyer.request("GET", f"/api/v1/orders/{order_id}")
    while order["status"] not in wanted and order["status"] not in FINAL_STATUSES:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ApiError(f"order {order_id} still {order['status']} after {timeout} s")
        order = buyer.request(
            "GET",
            f"/api/v1/orders/{order_id}",
            params={"changed_from": order["status"], "wait": min(remaining, LONG_POLL_SECONDS)},
        )
    return order


def notify_mockpay(gateway_url, payment, mockpay_secret):
    body = json.dumps(
        {
            "payment_id": payment["payment_id"],
            "trade_no": f"MOCK{uuid.uuid4().hex[:20]}",
            "amount": payment["amount"],
            "currency": payment["currency"],
            "status": "SUCCESS",
        }
    ).encode()
    Gateway(gateway_url).request(
        "POST",
        "/api/v1/payments/notify/mockpay",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Mockpay-Signature": sign_mockpay(mockpay_secret, body),
        },
    )


class _HiddenInputs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.action = ""
        self.fields: dict[str | None, str | None] = {}

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action") or ""
        elif tag == "input" and values.get("type") == "hidden":
            self.fields[values["name"]] = values.get("value", "")


def press_pay(method, payment):
    """What a buyer's browser does on the sandbox's page: press "pay"."""
    if method == "alipay":
        url = urllib.parse.urlsplit(payment["pay_url"])
        target = f"{url.scheme}://{url.netloc}/alipay/pay"
        answer = requests.post(target, data=dict(urllib.parse.parse_qsl(url.query)), timeout=30)
    elif method == "wechat":
        answer = requests.post(payment["code_url"], timeout=30)
    elif method == "unionpay":
        # the gateway's checkout page holds the signed form the browser posts to UnionPay
        page = _HiddenInputs()
        page.feed(requests.get(payment["pay_url"], timeout=30).text)
        url = urllib.parse.urlsplit(page.action)
        answer = requests.post(f"{url.scheme}://{url.netloc}/unionpay/pay", data=page.fields, timeout=30)
    else:
        raise ApiError(f"the demo cannot pay with {method}")
    if answer.status_code != 200:
        raise ApiError(f"{method} sandbox: HTTP {answer.status_code}: {answer.text[:300]}")


def buy_card(gateway_url, customer, mockpay_secret, say=print, method="mockpay"):
    """One purchase through the public API, narrated; returns the order and its cards."""
    buyer = Gateway(gateway_url).log_in(*customer)
    product = next(
        (item for item in _catalogue(buyer) if item["kind"] != "direct" and (item["stock"] or 0) > 0), None
    )
    if product is None:
        raise ApiError("no product has cards in stock; seed the shop first")
    say(
        f"buying 1 × {product['name']} at {product['price'] / 100:.2f} {product['currency']} "
        f"({product['stock']} in stock)"
    )
    order = _order_and_pay(
        gateway_url, buyer, [{"product_id": product["id"], "quantity": 1}], mockpay_secret, say, method
    )
    cards = buyer.request("GET", f"/api/v1/orders/{order['id']}/cards")
    return order, cards


DEMO_RECHARGE_ACCOUNT = "13800138000"


def buy_top_up(
    gateway_url, customer, mockpay_secret, say=print, method="mockpay", account=DEMO_RECHARGE_ACCOUNT
):
    """A direct top-up through the public API, narrated: once paid, the supplier tops ``account`` up.

    Returns the order, or None where no direct product is on sale (no supplier seeded).
    """
    buyer = Gateway(gateway_url).log_in(*customer)
    product = next(
        (item for item in _catalogue(buyer) if item["kind"] == "direct" and item["stock"] != 0), None
    )
    if product is None:
        return None
    say(f"topping up {account} with {product['name']} at {product['price'] / 100:.2f} {product['currency']}")
    line = {"product_id": product["id"], "quantity": 1, "recharge_account": account}
    order = _order_and_pay(gateway_url, buyer, [line], mockpay_secret, say, method)
    fulfilment = order["items"][0]["fulfilment"]
    say(f"the supplier's order {fulfilment['supplier_order_id']}: {fulfilment['status']}")
    return order


def _catalogue(buyer):
    """Every product on sale, page after page."""
    cursor = None
    while True:
        page = buyer.request("GET", "/api/v1/products", params={"limit": 100, "cursor": cursor})
        yield from page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return


def _order_and_pay(gateway_url, buyer, items, mockpay_secret, say, method):
    """Order ``items``, pay, and return the order once delivered (an ApiError if it ends otherwise)."""
    order = buyer.request(
        "POST", "/api/v1/orders", headers={"Idempotency-Key": str(uuid.uuid4())}, json={"items": items}
    )
    say(f"order {order['id']} is {order['status']}")
    order = wait_for_status(buyer, order["id"], {"awaiting_payment", "on_hold"})
    say(f"order is {order['status']}")
    if order["status"] != "awaiting_payment":
        raise ApiError(f"order ended {order['status']}: {order.get('history')}")
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": method})
    say(f"payment {payment['payment_id']} created for {payment['amount'] / 100:.2f} {payment['currency']}")
    if method == "mockpay":
        notify_mockpay(gateway_url, payment, mockpay_secret)
        say("mockpay notified the gateway of the payment")
    else:
        say(f"paying at {payment.get('pay_url') or payment.get('code_url')}")
        press_pay(method, payment)
        say(f"the {method} sandbox (paysim) sent its signed notification to the gateway")
    order = wait_for_status(buyer, order["id"], {"delivered"})
    if order["status"] != "delivered":
        raise ApiError(f"order ended {order['status']}")
    return order
