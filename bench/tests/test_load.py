"""load.py: a buyer's purchase and its counters, and the helpers that seed and settle, on stand-in clients."""

import asyncio
import hashlib
import hmac
import json

import load
import pytest


class Gateway:
    """Stands in for a JsonClient: answers each (method, path) from its list in ``answers`` in turn (or
    by calling it with the request's options), and records the calls."""

    def __init__(self, answers, token=None):
        self.answers = answers
        self.token = token
        self.calls = []
        self.closed = False

    async def request(self, method, path, **options):
        self.calls.append((method, path, options))
        answers = self.answers[(method, path)]
        answer = answers(options) if callable(answers) else answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self):
        self.closed = True


PAYMENT = {"payment_id": "p1", "amount": 900, "currency": "CNY"}


def order(status, **fields):
    return {"id": "o1", "status": status, **fields}


def buyers(**options):
    return load.Buyers("http://gateway", ["token"], [{"id": 7}], "mockpay-secret", **options)


def test_a_purchase_placed_and_paid_at_once_takes_three_requests():
    buyer = Gateway(
        {
            ("POST", "/api/v1/orders"): [order("awaiting_payment", payment=PAYMENT)],
            ("GET", "/api/v1/orders/o1"): [order("delivered", cards=[{"number": "A"}])],
        }
    )
    provider = Gateway({("POST", "/api/v1/payments/notify/mockpay"): [{"ok": True}]})
    purchase = load.Purchase(buyer=0, started=0.0)
    asyncio.run(
        buyers(pay_on_order=True, coupon_code="BENCHX")._purchase(buyer, provider, {"id": 7}, purchase)
    )

    placed = buyer.calls[0][2]["json_body"]
    assert placed == {
        "items": [{"product_id": 7, "quantity": 1}],
        "payment_method": "mockpay",
        "coupon_code": "BENCHX",
    }
    assert (purchase.requests, purchase.polls) == (3, 1)
    assert purchase.paid and purchase.amount == 900 and purchase.cards == [{"number": "A"}]
    assert purchase.order_created <= purchase.awaiting_payment <= purchase.notified <= purchase.delivered
    assert purchase.delivered <= purchase.finished
    # one long-poll through both statuses before delivered, asking for the cards with the order
    assert buyer.calls[1][2]["params"] == {
        "changed_from": "awaiting_payment,paid",
        "wait": load.LONG_POLL_SECONDS,
        "include": "cards",
    }
    # the provider's notification is signed with the shop's secret over the very bytes sent
    notification = provider.calls[0][2]
    body = notification["data"]
    assert json.loads(body)["amount"] == 900 and json.loads(body)["status"] == "SUCCESS"
    expected = hmac.new(b"mockpay-secret", body, hashlib.sha256).hexdigest()
    assert notification["headers"]["X-Mockpay-Signature"] == expected


def test_a_purchase_that_asks_for_its_payment():
    buyer = Gateway(
        {
            ("POST", "/api/v1/orders"): [order("pending")],
            ("GET", "/api/v1/orders/o1"): [
                order("awaiting_payment"),
                order("paid"),
                order("delivered", cards=[{"number": "A"}]),
            ],
            ("POST", "/api/v1/orders/o1/payments"): [PAYMENT],
        }
    )
    provider = Gateway({("POST", "/api/v1/payments/notify/mockpay"): [None]})
    purchase = load.Purchase(buyer=0, started=0.0)
    asyncio.run(buyers()._purchase(buyer, provider, {"id": 7}, purchase))
    assert "payment_method" not in buyer.calls[0][2]["json_body"]
    assert buyer.calls[1][2]["params"]["changed_from"] == "pending"
    assert buyer.calls[3][2]["params"]["changed_from"] == "awaiting_payment,paid"  # no repeat of paid
    # order, poll, payment, notification, and two polls to delivered
    assert (purchase.requests, purchase.polls) == (6, 3)


def test_an_order_that_ends_otherwise_fails_the_purchase():
    buyer = Gateway({("GET", "/api/v1/orders/o1"): [order("cancelled")]})
    purchase = load.Purchase(buyer=0, started=0.0, order_id="o1")
    with pytest.raises(load.PurchaseFailed, match="order ended cancelled while waiting for delivered"):
        asyncio.run(buyers()._poll_until(buyer, purchase, order("paid"), "delivered"))
    assert purchase.polls == 1


def test_a_wait_that_runs_out_fails_the_purchase():
    purchase = load.Purchase(buyer=0, started=0.0, order_id="o1")
    with pytest.raises(load.PurchaseFailed, match="order still paid after 0 s waiting for delivered"):
        asyncio.run(buyers(wait_timeout=0)._poll_until(Gateway({}), purchase, order("paid"), "delivered"))


def test_a_delivered_order_with_two_cards_fails_the_purchase():
    buyer = Gateway(
        {
            ("POST", "/api/v1/orders"): [order("awaiting_payment", payment=PAYMENT)],
            ("GET", "/api/v1/orders/o1"): [order("delivered", cards=[{"number": "A"}, {"number": "B"}])],
        }
    )
    provider = Gateway({("POST", "/api/v1/payments/notify/mockpay"): [None]})
    purchase = load.Purchase(buyer=0, started=0.0)
    with pytest.raises(load.PurchaseFailed, match="holds 2 cards"):
        asyncio.run(buyers(pay_on_order=True)._purchase(buyer, provider, {"id": 7}, purchase))
    assert len(purchase.cards) == 2  # kept, so that the buyers' audit counts it oversold


@pytest.fixture
def gateway(monkeypatch):
    """load's JsonClient replaced: every client made answers from the one ``answers``, calls recorded."""
    made = {"answers": {}, "clients": []}

    def client(gateway_url, token=None):
        # the clients share the answers: each takes the next
        made["clients"].append(Gateway(made["answers"], token))
        return made["clients"][-1]

    monkeypatch.setattr(load, "JsonClient", client)
    return made


def test_seed_catalogue_spreads_the_cards_in_batches(gateway, monkeypatch):
    monkeypatch.setattr(load, "CARDS_PER_IMPORT", 1000)
    imported = []

    def importing(product_id):
        def answer(options):
            imported.append((product_id, len(options["json_body"]["cards"])))
            return {"imported": len(options["json_body"]["cards"])}

        return answer

    gateway["answers"].update(
        {
            ("POST", "/api/v1/auth/token"): [{"access_token": "t"}] * 3,
            ("POST", "/api/v1/admin/categories"): [{"id": 1}],
            ("POST", "/api/v1/admin/products"): [{"id": 10}, {"id": 11}],
            ("POST", "/api/v1/admin/products/10/cards"): importing(10),
            ("POST", "/api/v1/admin/products/11/cards"): importing(11),
        }
    )
    created, count = asyncio.run(load.seed_catalogue("http://gateway", ("admin", "pw"), 2, 2501))
    assert created == [{"id": 10}, {"id": 11}]
    assert count == 2501
    # 1251 cards for the first product, 1250 for the second, in imports of at most 1000
    assert sorted(imported) == [(10, 251), (10, 1000), (11, 250), (11, 1000)]
    assert all(client.closed for client in gateway["clients"])


def test_register_buyers_tries_a_busy_sign_up_again(gateway):
    busy = load.HttpStatusError("POST", "/api/v1/auth/register", 503, b"busy")
    gateway["answers"].update(
        {
            ("POST", "/api/v1/auth/register"): [busy, {"id": 1}, {"id": 2}],
            ("POST", "/api/v1/auth/token"): [{"access_token": "t1"}, {"access_token": "t2"}],
        }
    )
    accounts = asyncio.run(load.register_buyers("http://gateway", 2, concurrency=1, invite_code="INV"))
    assert sorted(token for _name, token in accounts) == ["t1", "t2"]
    registered = [options["json_body"] for method, path, options in gateway["clients"][0].calls]
    assert all(body["invite_code"] == "INV" for body in registered)
    assert len(registered) == 3  # the busy one, again, and the second buyer


def test_register_buyers_gives_up_on_other_errors(gateway):
    refused = load.HttpStatusError("POST", "/api/v1/auth/register", 400, b"bad")
    gateway["answers"][("POST", "/api/v1/auth/register")] = [refused]
    with pytest.raises(load.HttpStatusError):
        asyncio.run(load.register_buyers("http://gateway", 1, concurrency=1))


def test_commissions_credited_pending_and_available(gateway):
    gateway["answers"][("GET", "/api/v1/agent/earnings")] = [
        {"pending": 80, "available": 10},
        {"pending": 45, "available": 0},
    ]
    assert asyncio.run(load.commissions_credited("http://gateway", ["a", "b"])) == [90, 45]
    assert [client.token for client in gateway["clients"]] == ["a", "b"]


def test_settle_unfinished_waits_until_each_order_is_final(gateway):
    gateway["answers"].update(
        {
            ("GET", "/api/v1/orders/o1"): [order("paid"), order("delivered")],
            ("GET", "/api/v1/orders/o2"): [order("refunded")],
        }
    )
    statuses = asyncio.run(
        load.settle_unfinished("http://gateway", {"o1": "t1", "o2": "t2"}, poll_interval=0)
    )
    assert statuses == {"o1": "delivered", "o2": "refunded"}


def test_settle_unfinished_gives_up_with_the_last_status(gateway):
    gateway["answers"][("GET", "/api/v1/orders/o1")] = [order("paid")]
    statuses = asyncio.run(
        load.settle_unfinished("http://gateway", {"o1": "t1"}, timeout=-1, poll_interval=0)
    )
    assert statuses == {"o1": "paid"}


def test_stock_left_counts_only_the_run_s_products(gateway):
    gateway["answers"][("GET", "/api/v1/products")] = [
        {"items": [{"id": 10, "stock": 5}, {"id": 11, "stock": 7}, {"id": 99, "stock": 1000}]}
    ]
    assert asyncio.run(load.stock_left("http://gateway", {10, 11})) == 12


@pytest.mark.parametrize(
    ("schemas", "expected"),
    [
        ({"OrderCreation": {"properties": {"items": {}, "payment_method": {}}}}, True),
        ({"OrderCreation": {"properties": {"items": {}}}}, False),
        ({}, False),
    ],
)
def test_places_and_pays_at_once_reads_the_openapi(gateway, schemas, expected):
    gateway["answers"][("GET", "/openapi.json")] = [{"components": {"schemas": schemas}}]
    assert asyncio.run(load.places_and_pays_at_once("http://gateway")) is expected
