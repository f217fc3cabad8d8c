"""Direct top-ups: bought once per paid line, with an idempotency id the supplier sees; refunded on failure."""

import datetime
import json
import os

import pytest

from inventory import domain, fulfilment, suppliers, usecases
from inventory.db import products
from inventory.upstream import FAILED, PENDING, SUCCEEDED, SupplierRefused, SupplierUnreachable, UpstreamOrder
from kameng_common.contracts import load_event, new_event
from kameng_common.errors import InvalidInput
from kameng_common.sealing import Sealer, generate_keys_line, parse_keys
from kameng_common.testing import deliver


@pytest.fixture
def sealer():
    return Sealer(parse_keys(generate_keys_line("k1")), "supplier")


class FakeSupplier:
    """A supplier that keeps one upstream order per client_order_id, as the channel API does."""

    def __init__(self):
        self.orders = {}
        self.placed = []
        self.outcome = PENDING
        self.fail_with = None

    def connect(self, sealer, row):
        return self

    def place_order(self, sku, quantity, recharge_account, client_order_id, callback_url=None):
        if self.fail_with:
            raise self.fail_with
        self.placed.append((sku, quantity, recharge_account, client_order_id))
        upstream_id = self.orders.setdefault(client_order_id, f"up-{len(self.orders) + 1}")
        return UpstreamOrder(upstream_id, self.outcome)

    def order(self, supplier_order_id):
        if self.fail_with:
            raise self.fail_with
        return UpstreamOrder(supplier_order_id, self.outcome)


@pytest.fixture
def top_up(shop, sealer):
    supplier = suppliers.create_supplier(shop.db, sealer, "Up", "http://up.test", "k", "secret-0123456789")
    return shop.product(kind="direct", price=5000, supplier_id=supplier["id"], supplier_sku="7")


def monkeypatch_deadline(seconds):
    os.environ[fulfilment.DEADLINE_ENV] = str(seconds)


@pytest.fixture(autouse=True)
def _restore_deadline():
    yield
    os.environ.pop(fulfilment.DEADLINE_ENV, None)


def event(event_type, payload):
    return load_event(json.dumps(new_event(event_type, payload, payload["order_id"])))


def pay(shop, order_id, product_id, account="13800000000", deadline=600):
    items = [{"product_id": product_id, "quantity": 1, "unit_price": 5000, "recharge_account": account}]
    handled = event(
        "order.paid",
        {
            "order_id": order_id,
            "customer_id": "c1",
            "items": items,
            "payment_id": f"pay-{order_id}",
            "amount": 5000,
            "currency": "CNY",
        },
    )
    monkeypatch_deadline(deadline)
    deliver(shop.db, "inventory", usecases.on_order_paid, handled)
    return handled


def advance(shop, sealer, upstream, now=None):
    return fulfilment.advance_fulfilments(shop.db, sealer, shop.keyring, None, upstream.connect, now=now)


def later(seconds):
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)


def test_a_paid_top_up_is_placed_once_and_delivered_when_the_supplier_says_so(shop, sealer, top_up):
    upstream = FakeSupplier()
    again = pay(shop, "o1", top_up)
    deliver(shop.db, "inventory", usecases.on_order_paid, again)  # a redelivered event
    assert shop.stock_state("o1") == domain.STOCK_FULFILLING
    assert advance(shop, sealer, upstream) == {"waiting": 1}
    assert upstream.placed == [("7", 1, "13800000000", "o1-1")]
    assert fulfilment.order_fulfilments(shop.db, "o1") == [
        {
            "line_no": 1,
            "product_id": top_up,
            "purpose": domain.TOP_UP,
            "quantity": 1,
            "status": PENDING,
            "supplier_order_id": "up-1",
        }
    ]
    upstream.outcome = SUCCEEDED
    with shop.db.unit_of_work() as uow:  # the supplier's price, as its catalogue's sync sets it
        uow.execute(products.update().where(products.c.id == top_up).values(cost_price=4850))
    assert advance(shop, sealer, upstream, now=later(60)) == {SUCCEEDED: 1}
    assert upstream.placed == [("7", 1, "13800000000", "o1-1")]  # polled, not placed again
    assert shop.published("cards.delivered") == [
        {
            "order_id": "o1",
            "card_ids": [],
            "currency": "CNY",
            "lines": [{"product_id": top_up, "quantity": 1, "unit_price": 5000, "unit_cost": 4850}],
        }
    ]
    assert shop.stock_state("o1") == domain.STOCK_SOLD


def test_a_crash_between_placing_and_recording_places_the_same_upstream_order_again(shop, sealer, top_up):
    upstream = FakeSupplier()
    pay(shop, "o1", top_up)
    # the supplier took the order, and the answer was lost with the process
    upstream.place_order("7", 1, "13800000000", "o1-1")
    upstream.outcome = SUCCEEDED
    assert advance(shop, sealer, upstream) == {SUCCEEDED: 1}
    assert len(upstream.orders) == 1
    snapshot = usecases.audit_snapshot(shop.db)
    assert snapshot["fulfilments"]["o1"][0]["supplier_order_id"] == "up-1"
    assert snapshot["supplier_orders_reused"] == []


@pytest.mark.parametrize(
    "answer", [SupplierRefused("insufficient_balance"), "refunded"], ids=["refused", "failed upstream"]
)
def test_a_refused_or_failed_top_up_refunds_the_order(shop, sealer, top_up, answer):
    upstream = FakeSupplier()
    if answer == "refunded":
        upstream.outcome = FAILED
    else:
        upstream.fail_with = answer
    pay(shop, "o1", top_up)
    assert advance(shop, sealer, upstream) == {FAILED: 1}
    assert shop.published("stock.sale_failed") == [{"order_id": "o1", "reason": fulfilment.TOP_UP_FAILED}]
    assert fulfilment.order_fulfilments(shop.db, "o1")[0]["status"] == FAILED


def test_an_unreachable_supplier_is_retried_until_the_deadline_then_refunded(shop, sealer, top_up):
    upstream = FakeSupplier()
    upstream.fail_with = SupplierUnreachable("no answer (ConnectTimeout)")
    pay(shop, "o1", top_up, deadline=30)
    assert advance(shop, sealer, upstream) == {"retry": 1}
    assert advance(shop, sealer, upstream) == {}  # backing off
    assert advance(shop, sealer, upstream, now=later(5)) == {"retry": 1}
    upstream.fail_with = None
    upstream.outcome = PENDING
    assert advance(shop, sealer, upstream, now=later(20)) == {"waiting": 1}
    assert advance(shop, sealer, upstream, now=later(120)) == {FAILED: 1}
    assert shop.published("stock.sale_failed") == [{"order_id": "o1", "reason": fulfilment.TOP_UP_FAILED}]
    # a top-up its supplier completes after the deadline is the supplier's to reverse: not asked again
    assert advance(shop, sealer, upstream, now=later(4000)) == {}


def test_a_line_being_worked_on_is_not_taken_by_another_worker(shop, sealer, top_up):
    pay(shop, "o1", top_up)
    now = datetime.datetime.now(datetime.UTC)
    assert len(fulfilment._take_due(shop.db, now)) == 1
    assert fulfilment._take_due(shop.db, now) == []
    assert len(fulfilment._take_due(shop.db, now + fulfilment.LEASE)) == 1


@pytest.mark.parametrize(
    "items, complaint",
    [
        ([{"product_id": "top_up", "quantity": 1}], "recharge_account"),
        (
            [
                {"product_id": "top_up", "quantity": 1, "recharge_account": "1"},
                {"product_id": "card", "quantity": 1},
            ],
            "on its own",
        ),
        ([{"product_id": "orphan", "quantity": 1, "recharge_account": "1"}], "no supplier"),
    ],
)
def test_a_direct_line_is_quoted_only_with_an_account_alone_and_with_a_supplier(
    shop, top_up, items, complaint
):
    ids = {"top_up": top_up, "card": shop.product(), "orphan": shop.product(kind="direct")}
    items = [{**item, "product_id": ids[item["product_id"]]} for item in items]
    with pytest.raises(InvalidInput) as refused:
        usecases.quote(shop.db, items)
    assert complaint in refused.value.message


def test_a_callback_signed_by_the_supplier_makes_its_line_due_and_a_forged_one_is_refused(
    shop, sealer, top_up
):
    from kameng_common import channel as protocol
    from kameng_common.errors import Unauthorized

    upstream = FakeSupplier()
    pay(shop, "o1", top_up)
    advance(shop, sealer, upstream)
    body = json.dumps({"id": "up-1", "status": "delivered"}).encode()
    message = protocol.string_to_sign("POST", "/api/v1/supplier-callbacks/1", "", "1", "n", body)
    signature = protocol.signature("secret-0123456789", message)
    with pytest.raises(Unauthorized):
        fulfilment.accept_callback(
            shop.db, sealer, 1, "k", message, protocol.signature("forged", message), "up-1"
        )
    assert fulfilment.accept_callback(shop.db, sealer, 1, "k", message, signature, "up-1") == {
        "accepted": True
    }
    upstream.outcome = SUCCEEDED
    assert advance(shop, sealer, upstream) == {SUCCEEDED: 1}
