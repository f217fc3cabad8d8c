"""Faults under load: a component killed mid-stream, the broker restarted, PostgreSQL stopped,
and events delivered twice and out of order.

A steady stream of buyers runs the whole purchase through HTTP while one
process is SIGKILLed and brought back, or while the machine's RabbitMQ is
restarted or its PostgreSQL cluster stopped for a few seconds; afterwards
every order must reach a final status, no effect may be lost or doubled, and
the audit must find nothing. The broker and PostgreSQL tests hit every other
user of them on the machine: the slow set runs alone (``make test-slow``).
"""

import datetime
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import pika
import pytest
import requests
import sqlalchemy as sa

from kameng_cli import audit, shop
from kameng_cli.suite import SERVICES
from kameng_common import db, topology
from kameng_common.testing import POSTGRES_ADMIN_URL, RABBIT_API

pytestmark = pytest.mark.slow

BUYERS = 8
# long enough for any event to have travelled, short enough for the drain's wait
GRACE_SECONDS = 10
CONNECT_TIMEOUT, READ_TIMEOUT = 5, 30  # the gateway's RPC timeout is 10 s: 30 s without an answer is a hang
FINAL = {"delivered", "cancelled", "refunded"}
EVENT_SOURCES = ("orders", "inventory", "payments", "risk")


@dataclass
class Purchase:
    buyer: int
    order_id: str = None
    notified: str = None  # None: never notified; "ok": answered 200; "unsure": sent, no 200 seen
    ordered_at: float = None  # time.monotonic() when the order was answered; None if found by the drain
    cards: list = None
    status: str = None


@dataclass
class Tally:
    errors: list = field(default_factory=list)  # (moment, what) of 4xx/5xx with a proper error body
    connection_errors: list = field(default_factory=list)
    bad_error_bodies: list = field(default_factory=list)
    hangs: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind, what):
        with self.lock:
            getattr(self, kind).append((time.monotonic(), what))


class Client:
    """A buyer's HTTP client that never waits past READ_TIMEOUT and files every failure in the Tally."""

    def __init__(self, base_url, token, tally):
        self.base_url, self.token, self.tally = base_url, token, tally
        self.http = requests.Session()

    def call(self, method, path, ok=(200, 201), headers=None, **kwargs):
        """The decoded answer, or None after a failure (which is counted)."""
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self.http.request(
                method,
                self.base_url + path,
                headers=headers,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                **kwargs,
            )
        except requests.Timeout as error:
            if isinstance(error, requests.ConnectTimeout):
                self.tally.add("connection_errors", f"{method} {path}: {error!r}")
            else:
                self.tally.add("hangs", f"{method} {path}: no answer within {READ_TIMEOUT} s")
            return None
        except requests.ConnectionError as error:
            self.tally.add("connection_errors", f"{method} {path}: {error!r}")
            return None
        if response.status_code in ok:
            return response.json() if response.content else {}
        try:
            body = response.json()
            well_formed = set(body["error"]) >= {"code", "message"}
        except (ValueError, KeyError, TypeError):
            well_formed = False
        if 400 <= response.status_code < 600 and well_formed:
            self.tally.add("errors", f"{method} {path} → {response.status_code} {body['error']['code']}")
        else:
            self.tally.add(
                "bad_error_bodies", f"{method} {path} → {response.status_code} {response.text[:300]}"
            )
        return None


class Stream:
    """BUYERS threads, each buying one card after another through HTTP until stopped."""

    def __init__(self, suite, buyers, product, coupon_code=None):
        self.suite, self.product, self.coupon_code = suite, product, coupon_code
        self.tally = Tally()
        self.stop_event = threading.Event()
        self.purchases = []
        self.lock = threading.Lock()
        self.clients = [Client(suite.settings.gateway_url, buyer.token, self.tally) for buyer in buyers]
        self.threads = [
            threading.Thread(target=self._buy_until_stopped, args=(index,), daemon=True)
            for index in range(len(buyers))
        ]

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def stop(self, timeout=180):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        assert not any(thread.is_alive() for thread in self.threads), "a buyer thread hung"

    def _retry(self, attempt, seconds):
        """Call ``attempt`` until it answers (not None) or ``seconds`` pass; None then."""
        deadline = time.monotonic() + seconds
        while True:
            answer = attempt()
            if answer is not None or time.monotonic() > deadline:
                return answer
            time.sleep(0.3)

    def _wait_for(self, client, order_id, wanted, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            order = client.call("GET", f"/api/v1/orders/{order_id}")
            if order is not None and (
                order["status"] in wanted or order["status"] in FINAL or order["status"] == "expired"
            ):
                return order
            time.sleep(0.2)
        return None

    def _expired_while_retrying(self, client, order_id, answer):
        """Whether ``answer`` is a 409 saying the order can no longer be paid because it expired.

        A payment request retried through an outage can outlast the order's TTL; the order's
        expiry is then the right answer. A 409 for an order that did not expire is an error.
        """
        if "error" not in answer:
            return False
        order = client.call("GET", f"/api/v1/orders/{order_id}")
        if (
            answer["error"]["code"] == "order_not_payable"
            and order is not None
            and order["status"] == "expired"
        ):
            return True
        self.tally.add("errors", f"POST /api/v1/orders/{order_id}/payments → 409 {answer['error']['code']}")
        return True

    def _buy_until_stopped(self, index):
        client = self.clients[index]
        while not self.stop_event.is_set():
            self._buy_one(index, client)

    def _buy_one(self, index, client):
        purchase = Purchase(buyer=index)
        key = str(uuid.uuid4())
        body = {"items": [{"product_id": self.product["id"], "quantity": 1}]}
        if self.coupon_code is not None:
            body["coupon_code"] = self.coupon_code
        # the same key on every attempt: a retry after a lost answer finds the order already made
        order = self._retry(
            lambda: client.call("POST", "/api/v1/orders", headers={"Idempotency-Key": key}, json=body), 30
        )
        if order is None:
            return  # if it was made after all, the drain finds it in the buyer's list
        purchase.order_id, purchase.ordered_at = order["id"], time.monotonic()
        with self.lock:
            self.purchases.append(purchase)
        order = self._wait_for(client, order["id"], {"awaiting_payment"}, 40)
        if order is None or order["status"] != "awaiting_payment":
            return
        payment = self._retry(
            lambda: client.call(
                "POST",
                f"/api/v1/orders/{order['id']}/payments",
                ok=(200, 201, 409),
                json={"method": "mockpay"},
            ),
            20,
        )
        if payment is None or self._expired_while_retrying(client, order["id"], payment):
            return
        notification = json.dumps(
            {
                "payment_id": payment["payment_id"],
                "trade_no": f"T{uuid.uuid4().hex[:16]}",
                "amount": payment["amount"],
                "currency": payment["currency"],
                "status": "SUCCESS",
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Mockpay-Signature": shop.sign_mockpay(self.suite.mockpay_secret, notification),
        }
        purchase.notified = "unsure"
        # the provider repeats its notification, trade number and all, until it is acknowledged
        answer = self._retry(
            lambda: Client(self.suite.settings.gateway_url, None, self.tally).call(
                "POST", "/api/v1/payments/notify/mockpay", data=notification, headers=headers
            ),
            30,
        )
        if answer is None:
            return
        purchase.notified = "ok"
        order = self._wait_for(client, order["id"], {"delivered"}, 40)
        if order is not None and order["status"] == "delivered":
            purchase.cards = self._retry(
                lambda: client.call("GET", f"/api/v1/orders/{order['id']}/cards"), 20
            )

    def drain(self, timeout):
        """Wait, paying and retrying nothing, until every order the buyers made is final; returns them all."""
        for index, client in enumerate(self.clients):
            known = {purchase.order_id for purchase in self.purchases if purchase.buyer == index}
            for order_id in self._list_orders(client):
                if order_id not in known:  # made, though its answer was lost
                    self.purchases.append(Purchase(buyer=index, order_id=order_id))
        deadline = time.monotonic() + timeout
        waiting = list(self.purchases)
        while waiting:
            still = []
            for purchase in waiting:
                order = self.clients[purchase.buyer].call("GET", f"/api/v1/orders/{purchase.order_id}")
                status = order and order["status"]
                purchase.status = status
                settled = status in FINAL or (status == "expired" and purchase.notified != "ok")
                if settled and status == "delivered" and not purchase.cards:
                    purchase.cards = self.clients[purchase.buyer].call(
                        "GET", f"/api/v1/orders/{purchase.order_id}/cards"
                    )
                    settled = purchase.cards is not None
                if not settled:
                    still.append(purchase)
            waiting = still
            if waiting and time.monotonic() > deadline:
                raise AssertionError(
                    "orders not final after the drain: "
                    + ", ".join(
                        f"{purchase.order_id} {purchase.status} (notified {purchase.notified})"
                        for purchase in waiting
                    )
                )
            if waiting:
                time.sleep(1)
        return self.purchases

    def _list_orders(self, client):
        found, cursor = [], None
        while True:
            page = self._retry(
                lambda: client.call("GET", "/api/v1/orders", params={"limit": 100, "cursor": cursor}), 60
            )
            assert page is not None, "the buyer's orders could not be listed"
            found += [order["id"] for order in page["items"]]
            cursor = page.get("next_cursor")
            if not cursor:
                return found


def run_audit(suite):
    return audit.audit(
        suite.settings.amqp_uri,
        audit.Timeouts(order_ttl=suite.order_ttl, expiry_interval=1, grace=GRACE_SECONDS),
    )


def settled_audit(suite):
    """The audit once it passes, or its last report after a relay's lease and the grace have run out.

    An event leased by a relay that was SIGKILLed before the broker's confirm stays
    unpublished until its lease (db.OUTBOX_LEASE) runs out; then the new process
    publishes it. Until then the audit, whose grace is shorter, rightly sees a backlog.
    """
    started = time.monotonic()
    deadline = started + db.OUTBOX_LEASE.total_seconds() + GRACE_SECONDS + 15
    first = None
    while True:
        report = run_audit(suite)
        first = first or report
        if report.ok or time.monotonic() > deadline:
            if time.monotonic() - started > 1:
                print(
                    f"the audit passed {time.monotonic() - started:.0f} s after the drain"
                    if report.ok
                    else "the audit still fails",
                    "; at first:",
                    first.render(),
                    sep="\n",
                )
            return report
        time.sleep(2)


def assert_drained_cleanly(suite, summary, purchases, tally):
    """After the drain: the audit passes, nothing was lost or doubled, nothing hung, every error was well-formed."""
    report = settled_audit(suite)
    assert report.ok, summary + "\n" + report.render()
    assert_no_effect_lost_or_doubled(purchases)
    assert not tally.hangs, tally.hangs[:5]
    assert not tally.bad_error_bodies, tally.bad_error_bodies[:5]


def assert_no_effect_lost_or_doubled(purchases):
    for purchase in purchases:
        if purchase.notified == "ok":
            assert purchase.status in ("delivered", "refunded"), (
                f"order {purchase.order_id} was paid but ended {purchase.status}"
            )
    delivered = [purchase for purchase in purchases if purchase.status == "delivered"]
    for purchase in delivered:
        assert len(purchase.cards) == 1, f"order {purchase.order_id} holds {purchase.cards}"
    numbers = [card["number"] for purchase in delivered for card in purchase.cards]
    assert len(numbers) == len(set(numbers)), "a card was delivered to two orders"


@pytest.fixture
def stream_buyers(new_buyer):
    return [new_buyer() for _ in range(BUYERS)]


@pytest.mark.parametrize("name", ["inventory", "orders", "payments", "customers", "risk", "gateway"])
def test_kill_9_each_component_mid_stream(suite, name, staff, stream_buyers, product_with_cards):
    product, _cards = product_with_cards(400)
    stream = Stream(suite, stream_buyers, product).start()
    started = time.monotonic()
    try:
        time.sleep(2)
        killed_at = time.monotonic()
        suite.kill(name)
        time.sleep(2)
        suite.start_process(name)
        suite.wait_ready()
        back_at = time.monotonic()
        time.sleep(5)  # the stream goes on against the restarted component
    finally:
        stream.stop()
    stream_seconds = time.monotonic() - started
    with held_orders_rejected(staff):
        purchases = stream.drain(timeout=suite.order_ttl + 60)
    tally = stream.tally
    summary = (
        f"{name}: {len(purchases)} orders in {stream_seconds:.0f} s, "
        f"{sum(p.status == 'delivered' for p in purchases)} delivered; "
        f"{len(tally.errors)} error answers, {len(tally.connection_errors)} connection errors"
    )
    print(summary)

    assert_drained_cleanly(suite, summary, purchases, tally)
    if name != "gateway":
        assert not tally.connection_errors, tally.connection_errors[:5]
    else:
        # refused connections only while the gateway was down (and in flight as it was killed)
        late = [what for moment, what in tally.connection_errors if not killed_at - 1 <= moment <= back_at]
        assert not late, late[:5]
    assert any(purchase.status == "delivered" for purchase in purchases), summary


# the commission plan of the agents' stream: the buyers' own agent, then that agent's parent
AGENT_RATES_BP = (1000, 500)
AGENT_STREAM_PRICE = 1000


def _agent_line_with_buyers(suite, staff, buyers):
    """Two agents, the second under the first, and ``buyers`` logged-in customers the second invited."""

    def customer(invite_code=None):
        username, password = f"line_{uuid.uuid4().hex[:10]}", "correct-horse-battery"
        gateway = shop.Gateway(suite.settings.gateway_url)
        body = {"username": username, "password": password}
        if invite_code:
            body["invite_code"] = invite_code
        customer = gateway.request("POST", "/api/v1/auth/register", json=body, expected=(201,))
        return customer["id"], gateway.log_in(username, password)

    line = []
    for parent in (None, "top"):
        customer_id, gateway = customer()
        body = {"customer_id": customer_id}
        if parent:
            body["parent_agent_id"] = line[-1][0]["agent_id"]
        line.append((staff.request("POST", "/api/v1/admin/agents", json=body, expected=(201,)), gateway))
    staff.request("PUT", "/api/v1/admin/commission-plan", json={"rates_bp": list(AGENT_RATES_BP)})
    invite_code = line[-1][0]["invite_code"]
    return [gateway for _agent, gateway in reversed(line)], [customer(invite_code)[1] for _ in range(buyers)]


@contextmanager
def held_orders_rejected(staff):
    """Support rejecting every order risk holds, until the block ends; yields the reasons seen.

    An outage leaves some orders unpaid until they expire, and risk's card-testing
    rule then holds those buyers' next orders for a review nobody else would make.
    """
    reasons, done = set(), threading.Event()

    def reject():
        while not done.wait(1):
            for review in staff.request("GET", "/api/v1/admin/reviews?limit=100")["items"]:
                reasons.update(review["reasons"])
                staff.request(
                    "POST",
                    f"/api/v1/admin/reviews/{review['order_id']}/decision",
                    json={"decision": "reject", "reason": "held after an outage"},
                    expected=(200, 409),
                )

    thread = threading.Thread(target=reject, daemon=True)
    thread.start()
    try:
        yield reasons
    finally:
        done.set()
        thread.join()


def _earned(agent):
    earnings = agent.request("GET", "/api/v1/agent/earnings")
    return earnings["pending"] + earnings["available"]


@pytest.mark.parametrize("name", ["customers", "payments"])
def test_kill_9_while_a_line_of_agents_earns_on_the_stream(suite, name, staff, product_with_cards):
    """customers credits commissions and payments posts them on the ledger: either SIGKILLed
    mid-stream, every delivered order still pays each agent up the line once, on the ledger too."""
    agents, buyers = _agent_line_with_buyers(suite, staff, BUYERS)
    product, _cards = product_with_cards(400, price=AGENT_STREAM_PRICE)
    stream = Stream(suite, buyers, product).start()
    try:
        time.sleep(2)
        suite.kill(name)
        time.sleep(2)
        suite.start_process(name)
        suite.wait_ready()
        time.sleep(5)
    finally:
        stream.stop()
    with held_orders_rejected(staff) as reasons:
        purchases = stream.drain(timeout=suite.order_ttl + 60)
    delivered = sum(purchase.status == "delivered" for purchase in purchases)
    summary = f"{name}: {len(purchases)} orders, {delivered} delivered down the line; held for {reasons or 'nothing'}"
    print(summary)

    # commission_twice, agent_balance_mismatch, agent_ledger_mismatch, customer_stats_mismatch
    assert_drained_cleanly(suite, summary, purchases, stream.tally)
    assert not stream.tally.connection_errors, stream.tally.connection_errors[:5]
    assert delivered, summary
    expected = [delivered * AGENT_STREAM_PRICE * rate // 10_000 for rate in AGENT_RATES_BP]
    wait_until(
        lambda: [_earned(agent) for agent in agents] == expected,
        60,
        f"the agents did not earn {expected} on {delivered} delivered orders",
    )
    assert settled_audit(suite).ok


def test_kill_9_customers_while_orders_use_a_coupon(suite, staff, stream_buyers, product_with_cards):
    """customers holds every order's coupon as it is placed: SIGKILLed mid-stream, orders answer 503
    meanwhile and their retries (the same key, so the same order) hold once; afterwards every paid
    order spent its use, every closed one gave it back, and no limit was passed."""
    product, _cards = product_with_cards(400, price=1000)
    now = datetime.datetime.now(datetime.UTC)
    coupon = staff.request(
        "POST",
        "/api/v1/admin/coupons",
        json={
            "code": f"F{uuid.uuid4().hex[:10]}",
            "kind": "percent_off",
            "value": 10,
            "starts_at": (now - datetime.timedelta(minutes=1)).isoformat(),
            "ends_at": (now + datetime.timedelta(hours=1)).isoformat(),
            "per_customer_limit": 1000,
        },
        expected=(201,),
    )
    stream = Stream(suite, stream_buyers, product, coupon_code=coupon["code"]).start()
    try:
        time.sleep(2)
        suite.kill("customers")
        time.sleep(2)
        suite.start_process("customers")
        suite.wait_ready()
        time.sleep(5)
    finally:
        stream.stop()
    with held_orders_rejected(staff):
        purchases = stream.drain(timeout=suite.order_ttl + 60)
    delivered = [purchase for purchase in purchases if purchase.status == "delivered"]
    summary = f"customers: {len(purchases)} orders with a coupon, {len(delivered)} delivered"
    print(summary)

    # coupon_over_limit, coupon_use_count_mismatch, coupon_hold_orphaned, coupon_not_spent, ...
    assert_drained_cleanly(suite, summary, purchases, stream.tally)
    assert not stream.tally.connection_errors, stream.tally.connection_errors[:5]
    assert delivered, summary
    client = stream.clients[delivered[0].buyer]
    assert client.call("GET", f"/api/v1/orders/{delivered[0].order_id}")["total"] == 900


def wait_for_stock(stock_of, product_id, wanted, timeout, failure):
    deadline = time.monotonic() + timeout
    while stock_of(product_id) != wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{failure} within {timeout} s")
        time.sleep(0.2)


def test_kill_9_orders_between_a_coupon_hold_and_the_store_gives_the_use_back(
    suite, staff, new_buyer, product_with_cards
):
    """orders dies while it waits for customers' hold of the order's coupon; customers makes the hold
    after that (its answer goes nowhere), so the order is never stored. customers' sweep gives the use
    back once KAMENG_COUPON_HOLD_GRACE_SECONDS (60 s in these tests) have passed, and the buyer's late
    retry with the same key holds it again and is placed with its discount, the use counted once."""
    product, _cards = product_with_cards(2)
    buyer = new_buyer()
    now = datetime.datetime.now(datetime.UTC)
    coupon = staff.request(
        "POST",
        "/api/v1/admin/coupons",
        json={
            "code": f"H{uuid.uuid4().hex[:10]}",
            "kind": "amount_off",
            "value": 100,
            "starts_at": (now - datetime.timedelta(minutes=1)).isoformat(),
            "ends_at": (now + datetime.timedelta(hours=1)).isoformat(),
            "total_limit": 1,
        },
        expected=(201,),
    )

    def used():
        return staff.request("GET", f"/api/v1/admin/coupons/{coupon['id']}")["used"]

    def place(expected):
        return buyer.request(
            "POST",
            "/api/v1/orders",
            headers={"Idempotency-Key": key},
            json={"items": [{"product_id": product["id"], "quantity": 1}], "coupon_code": coupon["code"]},
            expected=expected,
        )

    key = str(uuid.uuid4())
    customers = suite.processes["customers"].pid
    os.killpg(customers, signal.SIGSTOP)  # the hold is asked and waits in customers' queue
    try:
        placing = in_background(lambda: place(expected=(503,)))
        time.sleep(2)
        suite.kill("orders")  # the crash: the hold asked for, the order not stored
    finally:
        os.killpg(customers, signal.SIGCONT)
    try:
        wait_until(lambda: used() == 1, 30, "customers never made the hold orders asked for")
        placing.join(60)
        assert placing.outcome["error"] is None, placing.outcome["error"]  # 503: a retry is safe
    finally:
        suite.start_process("orders")
        suite.wait_ready()
    assert buyer.request("GET", "/api/v1/orders")["items"] == []

    # nobody retries: the sweep gives the use back after its grace period
    wait_until(lambda: used() == 0, 60 + 60, "the orphaned hold never went back")

    order = place(expected=(201,))
    assert (order["discount"], order["total"]) == (100, 900)
    assert used() == 1
    report = settled_audit(suite)
    assert report.ok, report.render()


def test_kill_9_orders_between_reserving_and_storing_gives_the_stock_back(
    suite, new_buyer, product_with_cards, stock_of
):
    """orders dies while it waits for inventory's reservation of a new order (which prices it too);
    inventory makes the reservation after that (its answer goes nowhere), so the order is never stored.
    inventory's sweep gives the card back once KAMENG_RESERVATION_GRACE_SECONDS (60 s in these tests)
    have passed, and the buyer's late retry with the same key reserves it anew and is placed."""
    product, _cards = product_with_cards(2)
    buyer = new_buyer()
    key = str(uuid.uuid4())

    def place(expected):
        return buyer.request(
            "POST",
            "/api/v1/orders",
            headers={"Idempotency-Key": key},
            json={"items": [{"product_id": product["id"], "quantity": 1}]},
            expected=expected,
        )

    inventory = suite.processes["inventory"].pid
    os.killpg(inventory, signal.SIGSTOP)  # the reservation is asked and waits in inventory's queue
    try:
        placing = in_background(lambda: place(expected=(503,)))
        time.sleep(2)
        suite.kill("orders")  # the crash: the reservation asked for, the order not stored
    finally:
        os.killpg(inventory, signal.SIGCONT)
    try:
        wait_for_stock(
            stock_of, product["id"], 1, 30, "inventory never made the reservation orders asked for"
        )
        placing.join(60)
        assert placing.outcome["error"] is None, placing.outcome["error"]  # 503: a retry is safe
    finally:
        suite.start_process("orders")
        suite.wait_ready()
    assert buyer.request("GET", "/api/v1/orders")["items"] == []

    # nobody retries: the sweep gives the card back after its grace period
    wait_for_stock(stock_of, product["id"], 2, 60 + 60, "the orphaned reservation never went back")

    order = place(expected=(201,))
    assert order["status"] == "awaiting_payment"
    assert stock_of(product["id"]) == 1  # reserved anew, once
    report = settled_audit(suite)
    assert report.ok, report.render()


def test_kill_9_orders_between_reserving_and_recording_leaks_no_stock(
    suite, new_buyer, product_with_cards, stock_of
):
    """orders dies after inventory held the card and it stored the order, before it recorded risk's answer:
    the order stored pending is placed again by the sweeper (the same reservation) or expires, and the
    card goes back."""
    product, _cards = product_with_cards(2)
    buyer = new_buyer()
    key = str(uuid.uuid4())
    order_request = {"items": [{"product_id": product["id"], "quantity": 1}]}
    suite.kill("risk")  # orders asks inventory and risk at once, and waits for risk's answer
    try:
        placing = in_background(
            lambda: buyer.request(
                "POST",
                "/api/v1/orders",
                headers={"Idempotency-Key": key},
                json=order_request,
                expected=(503,),
            )
        )
        wait_for_stock(stock_of, product["id"], 1, 30, "inventory never held the card")
        suite.kill("orders")  # the crash: reserved, not recorded
        placing.join(60)
        assert placing.outcome["error"] is None, placing.outcome["error"]  # 503: a retry is safe
    finally:
        suite.start_process("risk")
        suite.start_process("orders")
        suite.wait_ready()

    # the sweeper places it again, or (not in time) its payment deadline gives it up
    [order] = buyer.request("GET", "/api/v1/orders")["items"]
    order = shop.wait_for_status(buyer, order["id"], {"awaiting_payment", "expired"}, timeout=60)
    if order["status"] == "awaiting_payment":
        assert stock_of(product["id"]) == 1  # the reservation made before the crash, not a second one
        order = shop.wait_for_status(buyer, order["id"], {"expired"}, timeout=suite.order_ttl + 30)
    # unpaid, it expires, and the one card it held goes back
    assert order["status"] == "expired"
    wait_for_stock(stock_of, product["id"], 2, 30, "the card never went back")
    report = settled_audit(suite)
    assert report.ok, report.render()


def in_background(call):
    """Run ``call`` in a thread; ``.outcome`` holds its result or error once joined."""
    outcome = {"result": None, "error": None}

    def run():
        try:
            outcome["result"] = call()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.outcome = outcome
    thread.start()
    return thread


OUTAGE_SECONDS = 5


def error_status(what):
    """The HTTP status of an error answer as the Tally files it: "POST /path → 503 code"."""
    return int(what.split(" → ")[1].split()[0])


def wait_until(predicate, timeout, failure):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{failure} within {timeout} s")
        time.sleep(0.5)


def rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def broker_answers(amqp_uri):
    try:
        pika.BlockingConnection(pika.URLParameters(amqp_uri)).close()
        return requests.get(f"{RABBIT_API}/overview", timeout=5).ok
    except (pika.exceptions.AMQPError, OSError, requests.RequestException):
        return False


@contextmanager
def rabbitmq_restarted(suite):
    """The broker's application stopped until the block ends, then started again.

    Every connection drops; durable queues and persistent messages survive, as
    they would a restart of the node.
    """
    try:
        rabbitmqctl("stop_app")
        yield
    finally:
        rabbitmqctl("start_app")
        wait_until(
            lambda: broker_answers(suite.settings.amqp_uri),
            120,
            "RabbitMQ (AMQP and management API) did not answer again",
        )


def pg_ctlcluster(*args):
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", *args],
        check=True,
        capture_output=True,
        timeout=120,
    )


def postgresql_answers():
    engine = sa.create_engine(POSTGRES_ADMIN_URL, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@contextmanager
def postgresql_stopped(_suite):
    """The PostgreSQL cluster stopped until the block ends (fast: every session cut), then started again."""
    try:
        pg_ctlcluster("stop", "-m", "fast")
        yield
    finally:
        pg_ctlcluster("start")
        wait_until(postgresql_answers, 60, "PostgreSQL did not answer again")


def wait_not_ready(suite, down):
    """The gateway's readiness report once it answers 503 and ``down(report)`` holds."""
    deadline = time.monotonic() + OUTAGE_SECONDS
    while True:
        response = requests.get(f"{suite.settings.gateway_url}/health/ready", timeout=READ_TIMEOUT)
        report = response.json()["error"]["details"] if response.status_code == 503 else response.json()
        if response.status_code == 503 and down(report):
            return report
        assert time.monotonic() < deadline, f"readiness during the outage: {response.status_code} {report}"
        time.sleep(0.3)


def work_done(service_metrics):
    """Per service: the calls (health checks aside) and events it handled successfully, from its metrics."""
    counted = ("kameng_rpc_requests_total", "kameng_events_handled_total")
    return {
        service: sum(
            sample.value
            for sample in service_metrics(service)
            if sample.name in counted
            and sample.labels["outcome"] == "ok"
            and sample.labels["entrypoint"] != "health"
        )
        for service in SERVICES
    }


def stream_through_outage(suite, staff, buyers, product, service_metrics, outage, down):
    """Buy through ``outage`` (OUTAGE_SECONDS long) and 5 s past the suite's recovery; then drain and audit.

    While it lasts the gateway must report not ready, as ``down(report)`` says;
    afterwards the suite must be ready again by itself, with the very processes
    it had, and every service must go on handling calls and events.
    """
    processes = {name: process.pid for name, process in suite.processes.items()}
    stream = Stream(suite, buyers, product).start()
    started = time.monotonic()
    try:
        time.sleep(2)
        with outage(suite):
            down_at = time.monotonic()
            not_ready = wait_not_ready(suite, down)
            time.sleep(max(0.0, down_at + OUTAGE_SECONDS - time.monotonic()))
        back_at = time.monotonic()
        suite.wait_ready()
        ready_at = time.monotonic()
        work_before = work_done(service_metrics)
        time.sleep(5)  # the stream goes on against the recovered suite
    finally:
        stream.stop()
    stream_seconds = time.monotonic() - started
    with held_orders_rejected(staff):
        purchases = stream.drain(timeout=suite.order_ttl + 60)
    tally = stream.tally
    down = (["broker"] if not_ready["broker"] != "ok" else []) + [
        f"{service} ({probe['error']})"
        for service, probe in not_ready["services"].items()
        if probe["status"] != "ok"
    ]
    summary = (
        f"{outage.__name__}: {len(purchases)} orders in {stream_seconds:.0f} s, "
        f"{sum(p.status == 'delivered' for p in purchases)} delivered; not ready meanwhile: "
        f"{', '.join(down)}; ready again {ready_at - back_at:.1f} s after the outage; "
        f"{len(tally.errors)} error answers {sorted({what.split(' → ')[1] for _m, what in tally.errors})}"
    )
    print(summary)

    assert_drained_cleanly(suite, summary, purchases, tally)
    assert not tally.connection_errors, tally.connection_errors[:5]
    # a client learns that a service it needs is down, and nothing else
    not_unavailable = [what for _moment, what in tally.errors if error_status(what) != 503]
    assert not not_unavailable, not_unavailable[:5]
    suite.check_alive()
    assert {name: process.pid for name, process in suite.processes.items()} == processes, (
        "a process was restarted"
    )
    idle = [service for service, count in work_done(service_metrics).items() if count <= work_before[service]]
    assert not idle, f"{idle} handled no call and no event once the suite was ready again"
    assert any(
        purchase.status == "delivered" and (purchase.ordered_at or 0) > ready_at for purchase in purchases
    ), "no purchase ordered after the recovery was delivered: " + summary


def test_rabbitmq_restart_mid_stream(suite, staff, stream_buyers, product_with_cards, service_metrics):
    product, _cards = product_with_cards(400)
    stream_through_outage(
        suite,
        staff,
        stream_buyers,
        product,
        service_metrics,
        rabbitmq_restarted,
        down=lambda report: report["broker"] != "ok",
    )


def test_postgresql_stop_mid_stream(suite, staff, stream_buyers, product_with_cards, service_metrics):
    if suite.kind != "postgresql":
        pytest.skip("the services of this suite keep their data in SQLite")
    product, _cards = product_with_cards(400)

    def every_database_down(report):
        return all(
            probe["status"] == "unavailable" and "database" in probe["error"]
            for probe in report["services"].values()
        )

    stream_through_outage(
        suite, staff, stream_buyers, product, service_metrics, postgresql_stopped, down=every_database_down
    )


class EventTap:
    """A queue of our own bound to every event exchange with ``#``: a copy of every event published."""

    def __init__(self, amqp_uri):
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
        self.channel = self.connection.channel()
        self.queue = self.channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        for source in EVENT_SOURCES:
            topology.declare_publisher_topology(self.channel, source)
            self.channel.queue_bind(self.queue, topology.events_exchange(source), routing_key="#")

    def drain(self):
        captured = []
        while True:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return captured
            captured.append((method.exchange, method.routing_key, properties, body))

    def republish(self, messages):
        for exchange, routing_key, properties, body in messages:
            self.channel.basic_publish(exchange, routing_key, body, properties)

    def wait_until_consumed(self, timeout=60):
        """Until every subscriber queue of every source is empty and has nothing unacknowledged."""
        queues = [queue for source in EVENT_SOURCES for *_rest, queue in topology.subscriptions(source)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = [
                queue
                for queue in queues
                if self.channel.queue_declare(queue, passive=True).method.message_count
            ]
            if not busy:
                return
            time.sleep(0.5)
        raise AssertionError(f"event queues still hold messages: {busy}")

    def close(self):
        self.connection.close()


def test_duplicate_and_out_of_order_events_change_nothing(suite, new_buyer, product_with_cards, notify):
    product, _cards = product_with_cards(5)
    buyers = [new_buyer() for _ in range(4)]
    tap = EventTap(suite.settings.amqp_uri)
    try:
        orders = []
        for buyer in buyers[:3]:
            order = buyer.request(
                "POST",
                "/api/v1/orders",
                headers={"Idempotency-Key": str(uuid.uuid4())},
                json={"items": [{"product_id": product["id"], "quantity": 1}]},
            )
            order = shop.wait_for_status(buyer, order["id"], {"awaiting_payment"})
            assert order["status"] == "awaiting_payment", order
            orders.append((buyer, order))
        # three paid and delivered; then one asks for more than is left and is cancelled
        for buyer, order in orders:
            payment = buyer.request(
                "POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"}
            )
            assert notify(payment).status_code == 200
            assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"
        greedy = buyers[3].request(
            "POST",
            "/api/v1/orders",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={"items": [{"product_id": product["id"], "quantity": 5}]},
        )
        assert shop.wait_for_status(buyers[3], greedy["id"], {"cancelled"})["status"] == "cancelled"
        tap.wait_until_consumed()
        time.sleep(2)  # the last relays' events reach the tap

        def state():
            seen = {}
            for buyer, order in [*orders, (buyers[3], greedy)]:
                current = buyer.request("GET", f"/api/v1/orders/{order['id']}")
                cards = (
                    buyer.request("GET", f"/api/v1/orders/{order['id']}/cards")
                    if current["status"] == "delivered"
                    else None
                )
                seen[order["id"]] = (
                    current["status"],
                    [step["status"] for step in current["history"]],
                    cards,
                )
            return seen

        before = state()
        captured = tap.drain()
        kinds = {(exchange, routing_key) for exchange, routing_key, _p, _b in captured}
        assert {exchange for exchange, _key in kinds} >= {
            "orders.events",
            "inventory.events",
            "payments.events",
        }, kinds

        print(f"replaying {len(captured)} events twice, in reverse: {sorted(kinds)}")
        tap.republish(list(reversed(captured)) * 2)
        time.sleep(2)
        tap.wait_until_consumed()
        time.sleep(3)
        after = state()
    finally:
        tap.close()

    assert after == before
    report = run_audit(suite)
    assert report.ok, f"{len(captured)} events replayed twice, in reverse\n" + report.render()
