"""The load: many concurrent buyers doing the whole purchase through the gateway's HTTP API.

One asyncio loop drives every buyer, each on its own keep-alive connection
(see rawhttp.py for why not a general HTTP client). The generator's own CPU
is measured all the same and reported beside the suite's.

A buyer is closed-loop: order → wait until awaiting_payment → mockpay intent
→ signed notification → wait until delivered, with the cards, then the next
purchase at once. Each wait long-polls the order (``changed_from`` the status
last seen), so each state is timed when the answer showing it arrives; the
last one waits through awaiting_payment and paid at once and asks for the
cards with the delivered order (``include=cards``). Where the gateway places
and pays in one request (``payment_method`` on ``POST /orders``, which
answers the order already awaiting payment), the buyer does that instead of
the first wait and the intent: three requests a purchase, the provider's
notification included.
"""

import asyncio
import datetime
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field

from rawhttp import HttpStatusError, JsonClient

# statuses an order never leaves; a buyer waiting for another one has failed
FINAL_STATUSES = {"delivered", "cancelled", "refunded", "expired", "failed"}
CARDS_PER_IMPORT = 1000
# the longest wait asked of one request: well within rawhttp's request timeout
LONG_POLL_SECONDS = 10
PASSWORD = "bench-correct-horse-battery"


class PurchaseFailed(Exception):
    pass


# what a purchase can fail with: an unexpected status, a broken connection, no answer in time
FAILURES = (PurchaseFailed, HttpStatusError, OSError, asyncio.IncompleteReadError, TimeoutError)


@dataclass
class Purchase:
    buyer: int  # index into the buyers' tokens
    started: float
    order_created: float = None
    awaiting_payment: float = None
    notified: float = None
    delivered: float = None
    finished: float = None
    order_id: str = None
    paid: bool = False  # the gateway accepted the payment notification
    amount: int = None  # what the payment asked for: the order's total, after any coupon
    cards: list = field(default_factory=list)
    polls: int = 0
    # every HTTP request the purchase made, the provider's notification included
    requests: int = 0
    error: str = None


async def logged_in(gateway_url, username, password):
    client = JsonClient(gateway_url)
    answer = await client.request(
        "POST", "/api/v1/auth/token", json_body={"username": username, "password": password}
    )
    client.token = answer["access_token"]
    return client


async def seed_catalogue(gateway_url, admin, products, cards, concurrency=2):
    """Create ``products`` card products and import ``cards`` cards spread over them, in bulk."""
    staff = await logged_in(gateway_url, *admin)
    category = await staff.request("POST", "/api/v1/admin/categories", json_body={"name": "Bench cards"})
    created = []
    for number in range(products):
        created.append(
            await staff.request(
                "POST",
                "/api/v1/admin/products",
                json_body={
                    "name": f"Bench card {number + 1}",
                    "category_id": category["id"],
                    "kind": "card",
                    "price": 1000 + 100 * number,
                },
            )
        )
    staff.close()
    batches = []
    for index, product in enumerate(created):
        share = cards // products + (1 if index < cards % products else 0)
        for start in range(0, share, CARDS_PER_IMPORT):
            batches.append(
                (
                    product["id"],
                    [
                        {"number": f"B{uuid.uuid4().hex[:18]}", "secret": uuid.uuid4().hex.upper()}
                        for _ in range(min(CARDS_PER_IMPORT, share - start))
                    ],
                )
            )

    # a few imports at once: each is one RPC that encrypts and inserts its batch
    async def importer():
        client = await logged_in(gateway_url, *admin)
        imported = 0
        while batches:
            product_id, batch = batches.pop()
            result = await client.request(
                "POST", f"/api/v1/admin/products/{product_id}/cards", json_body={"cards": batch}
            )
            imported += result["imported"]
        client.close()
        return imported

    return created, sum(await asyncio.gather(*(importer() for _ in range(concurrency))))


async def register_buyers(gateway_url, count, concurrency=4, attempts=5, invite_code=None):
    """``count`` distinct customers, logged in: (username, token) each; in ``invite_code``'s downline if given.

    Each account costs two argon2 hashes: on a busy machine customers may not
    answer in time, so a 503 is tried again (a retried sign-up that went
    through the first time answers 409).
    """
    invited = {"invite_code": invite_code} if invite_code else {}
    prefix = uuid.uuid4().hex[:8]
    numbers = list(range(count))
    accounts = {}

    async def retried(call):
        for attempt in range(attempts):
            try:
                return await call()
            except HttpStatusError as exc:
                if exc.status != 503 or attempt == attempts - 1:
                    raise

    async def registrar():
        client = JsonClient(gateway_url)
        while numbers:
            username = f"bench_{prefix}_{numbers.pop()}"
            await retried(
                lambda: client.request(
                    "POST",
                    "/api/v1/auth/register",
                    expected=(201, 409),
                    json_body={"username": username, "password": PASSWORD, **invited},
                )
            )
            buyer = await retried(lambda: logged_in(gateway_url, username, PASSWORD))
            buyer.close()
            accounts[username] = buyer.token
        client.close()

    await asyncio.gather(*(registrar() for _ in range(concurrency)))
    return sorted(accounts.items())


async def seed_marketing(gateway_url, admin, rates_bp, coupon_terms):
    """A line of ``len(rates_bp)`` agents under that commission plan, and a public coupon for the run.

    Returns the coupon's code, the lowest agent's invite code (buyers who register
    with it are in every agent's downline) and the agents' (username, token), the
    top first.
    """
    staff = await logged_in(gateway_url, *admin)
    prefix = uuid.uuid4().hex[:8]
    agents, parent = [], None
    for level in range(len(rates_bp)):
        username = f"bench_agent_{prefix}_{level}"
        client = JsonClient(gateway_url)
        customer = await client.request(
            "POST", "/api/v1/auth/register", json_body={"username": username, "password": PASSWORD}
        )
        client.close()
        made = await staff.request(
            "POST",
            "/api/v1/admin/agents",
            json_body={"customer_id": customer["id"], **({"parent_agent_id": parent} if parent else {})},
        )
        parent, invite_code = made["agent_id"], made["invite_code"]
        agent = await logged_in(gateway_url, username, PASSWORD)
        agent.close()
        agents.append((username, agent.token))
    await staff.request("PUT", "/api/v1/admin/commission-plan", json_body={"rates_bp": list(rates_bp)})
    now = datetime.datetime.now(datetime.UTC)
    coupon = await staff.request(
        "POST",
        "/api/v1/admin/coupons",
        json_body={
            "code": f"BENCH{prefix.upper()}",
            "starts_at": (now - datetime.timedelta(minutes=1)).isoformat(),
            "ends_at": (now + datetime.timedelta(days=1)).isoformat(),
            "public": True,
            **coupon_terms,
        },
    )
    staff.close()
    return coupon["code"], invite_code, agents


async def commissions_credited(gateway_url, agent_tokens):
    """What each agent has earned in all (pending and available), in the order of ``agent_tokens``."""
    earned = []
    for token in agent_tokens:
        client = JsonClient(gateway_url, token)
        earnings = await client.request("GET", "/api/v1/agent/earnings")
        client.close()
        earned.append(earnings["pending"] + earnings["available"])
    return earned


class Buyers:
    """Runs the buyers until the deadline, then lets each finish the purchase it is in."""

    def __init__(
        self,
        gateway_url,
        tokens,
        products,
        mockpay_secret,
        *,
        pay_on_order=False,
        coupon_code=None,
        wait_timeout=30.0,
    ):
        self.gateway_url = gateway_url
        self.coupon_code = coupon_code
        self.pay_on_order = pay_on_order
        self.tokens = tokens
        self.products = products
        self.mockpay_secret = mockpay_secret.encode()
        self.wait_timeout = wait_timeout
        self.purchases = []

    async def run(self, seconds, ramp_seconds=1.0):
        self.stop_at = time.monotonic() + seconds
        await asyncio.gather(
            *(
                self._buyer(
                    number,
                    self.products[number % len(self.products)],
                    delay=ramp_seconds * number / len(self.tokens),
                )
                for number in range(len(self.tokens))
            )
        )
        return self.purchases

    async def _buyer(self, number, product, delay):
        buyer = JsonClient(self.gateway_url, self.tokens[number])
        provider = JsonClient(self.gateway_url)  # mockpay's notifications come on their own connection
        await asyncio.sleep(delay)  # staggered, so the buyers don't march in step
        while time.monotonic() < self.stop_at:
            purchase = Purchase(buyer=number, started=time.monotonic())
            self.purchases.append(purchase)
            try:
                await self._purchase(buyer, provider, product, purchase)
            except FAILURES as exc:
                purchase.error = str(exc) or type(exc).__name__
            except (KeyError, ValueError) as exc:  # an answer without the fields the API promises
                purchase.error = f"unexpected answer: {exc!r}"
        buyer.close()
        provider.close()

    async def _purchase(self, buyer, provider, product, purchase):
        wanted = {"items": [{"product_id": product["id"], "quantity": 1}]}
        if self.pay_on_order:
            wanted["payment_method"] = "mockpay"
        if self.coupon_code:
            wanted["coupon_code"] = self.coupon_code
        purchase.requests += 1
        order = await buyer.request(
            "POST", "/api/v1/orders", headers={"Idempotency-Key": str(uuid.uuid4())}, json_body=wanted
        )
        purchase.order_created = time.monotonic()
        purchase.order_id = order["id"]
        payment = order.get("payment")
        purchase.awaiting_payment, order = await self._poll_until(buyer, purchase, order, "awaiting_payment")
        if payment is None:
            purchase.requests += 1
            payment = await buyer.request(
                "POST", f"/api/v1/orders/{order['id']}/payments", json_body={"method": "mockpay"}
            )
        purchase.amount = payment["amount"]
        body = json.dumps(
            {
                "payment_id": payment["payment_id"],
                "trade_no": f"BENCH{uuid.uuid4().hex[:20]}",
                "amount": payment["amount"],
                "currency": payment["currency"],
                "status": "SUCCESS",
            }
        ).encode()
        signature = hmac.new(self.mockpay_secret, body, hashlib.sha256).hexdigest()
        purchase.notified = time.monotonic()
        purchase.requests += 1
        await provider.request(
            "POST",
            "/api/v1/payments/notify/mockpay",
            data=body,
            headers={"Content-Type": "application/json", "X-Mockpay-Signature": signature},
        )
        purchase.paid = True
        # one long-poll through awaiting_payment and paid, answered with the cards once delivered
        purchase.delivered, order = await self._poll_until(
            buyer, purchase, order, "delivered", waited_through=("awaiting_payment", "paid"), include="cards"
        )
        purchase.cards = order["cards"]
        purchase.finished = time.monotonic()
        if len(purchase.cards) != 1:
            raise PurchaseFailed(f"delivered order holds {len(purchase.cards)} cards, not 1")

    async def _poll_until(self, buyer, purchase, order, wanted, waited_through=(), include=None):
        """``(when, order)``: the answer showing ``wanted``, long-polling from ``order``, the last seen.

        Each long-poll waits through the status last seen and ``waited_through``."""
        deadline = time.monotonic() + self.wait_timeout
        while order["status"] != wanted:
            status = order["status"]
            if status in FINAL_STATUSES:
                raise PurchaseFailed(f"order ended {status} while waiting for {wanted}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PurchaseFailed(
                    f"order still {status} after {self.wait_timeout:.0f} s waiting for {wanted}"
                )
            order = await buyer.request(
                "GET",
                f"/api/v1/orders/{purchase.order_id}",
                params={
                    "changed_from": ",".join(dict.fromkeys((status, *waited_through))),
                    "wait": min(remaining, LONG_POLL_SECONDS),
                    "include": include,
                },
            )
            purchase.polls += 1
            purchase.requests += 1
        return time.monotonic(), order


async def places_and_pays_at_once(gateway_url):
    """Whether ``POST /orders`` takes a ``payment_method`` (and answers the payment with the order)."""
    client = JsonClient(gateway_url)
    spec = await client.request("GET", "/openapi.json")
    client.close()
    return "payment_method" in json.dumps(spec["components"]["schemas"].get("OrderCreation", {}))


async def settle_unfinished(gateway_url, tokens_by_order, timeout=30.0, poll_interval=0.5):
    """Statuses of paid orders a buyer gave up on, after giving them ``timeout`` more seconds."""
    statuses = {}
    deadline = time.monotonic() + timeout
    pending = dict(tokens_by_order)
    while pending:
        for order_id, token in list(pending.items()):
            client = JsonClient(gateway_url, token)
            statuses[order_id] = (await client.request("GET", f"/api/v1/orders/{order_id}"))["status"]
            client.close()
            if statuses[order_id] in FINAL_STATUSES:
                del pending[order_id]
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(poll_interval)
    return statuses


async def stock_left(gateway_url, product_ids):
    """Cards still in stock over ``product_ids``, as the public catalogue shows them."""
    client = JsonClient(gateway_url)
    page = await client.request("GET", "/api/v1/products", params={"limit": 100})
    client.close()
    return sum(item["stock"] for item in page["items"] if item["id"] in product_ids)
