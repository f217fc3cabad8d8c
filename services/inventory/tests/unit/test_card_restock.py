"""A card product linked to a supplier: the cards it lacks when an order is paid are bought there, once."""

import datetime

import pytest
import sqlalchemy as sa

from inventory import catalogue, domain, fulfilment, restock, suppliers, usecases
from inventory.db import fulfilments
from inventory.fulfilment import CARDS_COLLECTED_LATE
from inventory.upstream import FAILED, PENDING, SUCCEEDED, SupplierRefused, UpstreamOrder, UpstreamProduct
from kameng_common.errors import InvalidInput
from kameng_common.sealing import Sealer, generate_keys_line, parse_keys

SKU = "4"


@pytest.fixture
def shop(any_shop):
    """On SQLite, then on PostgreSQL."""
    return any_shop


@pytest.fixture
def sealer():
    return Sealer(parse_keys(generate_keys_line("k1")), "supplier")


class CardSupplier:
    """An upstream shop selling cards: one order per client_order_id, its cards read once delivered."""

    def __init__(self, stock=None):
        self.stock = stock
        self.orders = {}  # client_order_id -> (upstream id, quantity)
        self.placed = []
        self.outcome = SUCCEEDED
        self.cards_when_placed = False
        self.short_by = 0
        self.fail_with = None

    def connect(self, sealer, row):
        return self

    def products(self):
        return [UpstreamProduct(SKU, "Game card", "card", 900, "CNY", self.stock)]

    def place_order(self, sku, quantity, recharge_account, client_order_id, callback_url=None):
        if self.fail_with:
            raise self.fail_with
        self.placed.append((sku, quantity, recharge_account, client_order_id))
        upstream_id, _ = self.orders.setdefault(client_order_id, (f"up-{len(self.orders) + 1}", quantity))
        return self._answer(upstream_id, with_cards=self.cards_when_placed)

    def order(self, supplier_order_id):
        if self.fail_with:
            raise self.fail_with
        return self._answer(supplier_order_id, with_cards=True)

    def _answer(self, upstream_id, with_cards):
        quantity = next(q for up, q in self.orders.values() if up == upstream_id)
        cards = None
        if with_cards and self.outcome == SUCCEEDED:
            cards = tuple(
                (f"{upstream_id}-N{i}", f"{upstream_id}-S{i}") for i in range(quantity - self.short_by)
            )
        return UpstreamOrder(upstream_id, self.outcome, cards)


@pytest.fixture
def upstream():
    return CardSupplier()


@pytest.fixture
def linked(shop, sealer, upstream):
    """A card product with one card of its own, linked to the supplier's sku (synced)."""
    supplier = suppliers.create_supplier(shop.db, sealer, "Up", "http://up.test", "k", "secret-0123456789")
    product = shop.product(kind="card", cards=1, supplier_id=supplier["id"], supplier_sku=SKU)
    suppliers.sync_supplier(shop.db, sealer, supplier["id"], connect=upstream.connect)
    return product


def advance(shop, sealer, upstream, now=None):
    return fulfilment.advance_fulfilments(shop.db, sealer, shop.keyring, None, upstream.connect, now=now)


def later(seconds):
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)


def test_the_cards_an_order_lacks_are_bought_once_and_delivered_with_its_own(shop, sealer, upstream, linked):
    assert (
        usecases.get_product(shop.db, linked)["stock"] is None
    )  # its own card, and the supplier's: unlimited
    assert shop.created("o1", (linked, 3))["reserved"]
    assert len(shop.cards_of("o1", domain.RESERVED)) == 1  # its own card held; the rest comes once paid
    shop.paid("o1", (linked, 3))
    shop.paid("o1", (linked, 3))  # a redelivered event
    assert shop.stock_state("o1") == domain.STOCK_FULFILLING
    assert advance(shop, sealer, upstream) == {SUCCEEDED: 1}
    assert advance(shop, sealer, upstream, now=later(120)) == {}
    assert upstream.placed == [(SKU, 2, None, "o1-1")]
    assert shop.stock_state("o1") == domain.STOCK_SOLD
    [delivered] = shop.published("cards.delivered")
    assert len(delivered["card_ids"]) == 3 and delivered["card_ids"] == shop.cards_of("o1", domain.SOLD)
    revealed = usecases.reveal_cards(shop.db, shop.keyring, "o1", "c1")
    assert {card["secret"] for card in revealed} >= {"up-1-S0", "up-1-S1"}
    [line] = fulfilment.order_fulfilments(shop.db, "o1")
    assert (line["purpose"], line["quantity"], line["status"]) == (domain.RESTOCK, 2, SUCCEEDED)
    snapshot = usecases.audit_snapshot(shop.db)
    assert snapshot["sold"]["o1"]["cards"] == {str(linked): 3}
    assert snapshot["supplier_orders_reused"] == []


def test_an_order_with_enough_cards_of_its_own_buys_nothing(shop, sealer, upstream, linked):
    shop.created("o1", (linked, 1))
    shop.paid("o1", (linked, 1))
    assert shop.stock_state("o1") == domain.STOCK_SOLD
    assert advance(shop, sealer, upstream) == {} and upstream.placed == []


def test_the_cards_are_read_from_the_upstream_order_once_it_is_delivered(shop, sealer, upstream, linked):
    upstream.outcome = PENDING
    shop.created("o1", (linked, 2))
    shop.paid("o1", (linked, 2))
    assert advance(shop, sealer, upstream) == {"waiting": 1}
    upstream.outcome = SUCCEEDED  # delivered: the placing answer names no cards, reading the order does
    assert advance(shop, sealer, upstream, now=later(60)) == {SUCCEEDED: 1}
    assert len(upstream.placed) == 1
    assert len(shop.cards_of("o1", domain.SOLD)) == 2


@pytest.mark.parametrize("answer", ["refused", "failed upstream", "short"])
def test_a_restock_that_fails_refunds_the_order_and_gives_its_own_cards_back(
    shop, sealer, upstream, linked, answer
):
    if answer == "refused":
        upstream.fail_with = SupplierRefused("insufficient_balance")
    elif answer == "failed upstream":
        upstream.outcome = FAILED
    else:
        upstream.short_by = 1
    shop.created("o1", (linked, 3))
    shop.paid("o1", (linked, 3))
    assert advance(shop, sealer, upstream) == {FAILED: 1}
    assert shop.published("stock.sale_failed") == [{"order_id": "o1", "reason": fulfilment.RESTOCK_FAILED}]
    assert shop.stock_state("o1") == domain.STOCK_SALE_FAILED
    assert shop.cards_of("o1") == []
    # its own card is back, and what the supplier did deliver stays in stock
    assert shop.available(linked) == (2 if answer == "short" else 1)


def test_a_restock_with_no_answer_by_the_suppliers_deadline_is_refunded(shop, sealer, upstream):
    supplier = suppliers.create_supplier(
        shop.db, sealer, "Slow", "http://slow.test", "k", "secret-0123456789", deadline_seconds=5
    )
    assert supplier["deadline_seconds"] == 5
    product = shop.product(kind="card", supplier_id=supplier["id"], supplier_sku=SKU)
    suppliers.sync_supplier(shop.db, sealer, supplier["id"], connect=upstream.connect)
    upstream.outcome = PENDING
    shop.created("o1", (product, 1))
    shop.paid("o1", (product, 1))
    assert advance(shop, sealer, upstream) == {"waiting": 1}
    assert advance(shop, sealer, upstream, now=later(10)) == {FAILED: 1}
    assert shop.published("stock.sale_failed") == [{"order_id": "o1", "reason": fulfilment.RESTOCK_FAILED}]


def test_an_order_beyond_the_suppliers_stock_is_refused(shop, sealer, linked):
    suppliers.sync_supplier(shop.db, sealer, 1, connect=CardSupplier(stock=2).connect)
    assert usecases.get_product(shop.db, linked)["stock"] == 3  # its own card and the supplier's two
    assert shop.created("o1", (linked, 4)) == {
        "order_id": "o1",
        "reserved": False,
        "reason": domain.OUT_OF_STOCK,
    }
    assert shop.created("o2", (linked, 3))["reserved"]


def test_only_a_card_or_direct_product_names_a_supplier(shop, sealer):
    supplier = suppliers.create_supplier(shop.db, sealer, "Up", "http://up.test", "k", "secret-0123456789")
    with pytest.raises(InvalidInput):
        shop.product(kind="loop", supplier_id=supplier["id"], supplier_sku=SKU)
    with pytest.raises(InvalidInput):
        suppliers.create_supplier(
            shop.db, sealer, "Bad", "http://bad.test", "k", "secret-0123456789", deadline_seconds=0
        )
    assert supplier["deadline_seconds"] is None  # the shop's default


def test_orders_racing_for_a_linked_products_last_cards_each_hold_some_and_buy_the_rest(
    shop, sealer, upstream, linked, racing
):
    shop.add_cards(linked, 4)  # five cards of its own, for ten orders of two
    orders = [f"o{i}" for i in range(10)]
    racing(lambda order_id: shop.created(order_id, (linked, 2)), orders)
    assert sorted(shop.reserved()) == sorted(orders)
    for order_id in orders:
        shop.paid(order_id, (linked, 2))
    while advance(shop, sealer, upstream, now=later(60)):
        pass
    bought = sum(quantity for _, quantity, _, _ in upstream.placed)
    # a reservation on PostgreSQL skips the cards another one has locked: it may buy more instead
    assert bought + (5 - shop.available(linked)) == 20 and bought >= 15
    assert len(upstream.placed) == len({placed[3] for placed in upstream.placed})  # once per order
    assert all(len(shop.cards_of(order_id, domain.SOLD)) == 2 for order_id in orders)
    assert usecases.audit_snapshot(shop.db)["sold_twice"] == []


# ---- late collection: a restock line failed by its deadline, its upstream order placed and paid


@pytest.fixture
def late(shop, sealer, upstream):
    """An order of two cards of a product with none of its own, failed by its supplier's deadline
    while the upstream order was still pending: ``(product id, supplier id)``."""
    supplier = suppliers.create_supplier(
        shop.db, sealer, "Slow", "http://slow.test", "k", "secret-0123456789", deadline_seconds=5
    )
    product = shop.product(kind="card", supplier_id=supplier["id"], supplier_sku=SKU)
    suppliers.sync_supplier(shop.db, sealer, supplier["id"], connect=upstream.connect)
    catalogue.update_product(shop.db, product, {"low_stock_threshold": 1})
    upstream.outcome = PENDING
    shop.created("o1", (product, 2))
    shop.paid("o1", (product, 2))
    assert advance(shop, sealer, upstream) == {"waiting": 1}
    assert advance(shop, sealer, upstream, now=later(10)) == {FAILED: 1}
    assert shop.published("stock.sale_failed") == [{"order_id": "o1", "reason": fulfilment.RESTOCK_FAILED}]
    restock.sweep(shop.db)
    assert usecases.audit_snapshot(shop.db)["stock_alerts"][str(product)]["low"] is True
    return product, supplier["id"]


def line_row(shop):
    with shop.db.reading() as session:
        return session.execute(sa.select(fulfilments)).one()


def test_cards_delivered_after_the_deadline_are_stocked_once_as_available(shop, sealer, upstream, late):
    product, supplier_id = late
    snapshot = usecases.audit_snapshot(shop.db)
    [line] = snapshot["fulfilments"]["o1"]
    assert line["status"] == FAILED and line["collect_until"] is not None  # the order stays refunded
    assert snapshot["supplier_orders_reused"] == []
    assert advance(shop, sealer, upstream, now=later(30)) == {}  # asked less often now
    assert advance(shop, sealer, upstream, now=later(80)) == {"late_waiting": 1}
    stale = line_row(shop)  # what a second replica took before the first one collected
    upstream.outcome = SUCCEEDED
    collected_before = CARDS_COLLECTED_LATE._value.get()
    assert fulfilment.make_due(shop.db, supplier_id, "up-1")  # the supplier's callback
    assert advance(shop, sealer, upstream, now=later(81)) == {"late_collected": 1}
    assert shop.available(product) == 2 and shop.cards_of("o1") == []  # the order stays refunded
    assert CARDS_COLLECTED_LATE._value.get() - collected_before == 2
    assert usecases.audit_snapshot(shop.db)["stock_alerts"][str(product)]["low"] is False
    # a redelivered callback, a later timer, the second replica: nothing stocked twice
    assert not fulfilment.make_due(shop.db, supplier_id, "up-1")
    assert advance(shop, sealer, upstream, now=later(10_000)) == {}
    now = later(90)
    assert fulfilment._collect_late(shop.db, sealer, shop.keyring, stale, upstream.connect, now) == (
        "late_already_ended"
    )
    assert shop.available(product) == 2
    row = line_row(shop)
    assert (row.status, row.collect_until, row.collected_cards) == (FAILED, None, 2)
    assert usecases.audit_snapshot(shop.db)["fulfilments"]["o1"][0]["collect_until"] is None
    assert fulfilment.order_fulfilments(shop.db, "o1")[0]["status"] == FAILED


def test_a_late_collection_stops_when_the_supplier_says_its_order_failed(shop, sealer, upstream, late):
    product, _ = late
    upstream.outcome = FAILED
    assert advance(shop, sealer, upstream, now=later(80)) == {"late_failed": 1}
    upstream.outcome = SUCCEEDED
    assert advance(shop, sealer, upstream, now=later(100_000)) == {}
    assert shop.available(product) == 0
    assert line_row(shop).collect_until is None


def test_a_late_collection_ends_with_its_window(shop, sealer, upstream, late):
    product, _ = late
    upstream.fail_with = SupplierRefused("order_not_found")  # asked again all the same
    assert advance(shop, sealer, upstream, now=later(80)) == {"late_waiting": 1}
    upstream.fail_with = None
    window = fulfilment.DEFAULT_LATE_COLLECT_SECONDS
    assert advance(shop, sealer, upstream, now=later(window - 3600)) == {"late_waiting": 1}
    # the last ask is at the window's end
    assert advance(shop, sealer, upstream, now=later(window + 10)) == {"late_expired": 1}
    upstream.outcome = SUCCEEDED
    assert advance(shop, sealer, upstream, now=later(window + 100_000)) == {}
    assert shop.available(product) == 0


def test_a_window_of_zero_collects_nothing_late_and_a_bad_one_is_refused(shop, sealer, upstream, monkeypatch):
    monkeypatch.setenv(fulfilment.LATE_COLLECT_ENV, "0")
    supplier = suppliers.create_supplier(
        shop.db, sealer, "Slow", "http://slow.test", "k", "secret-0123456789", deadline_seconds=5
    )
    product = shop.product(kind="card", supplier_id=supplier["id"], supplier_sku=SKU)
    suppliers.sync_supplier(shop.db, sealer, supplier["id"], connect=upstream.connect)
    upstream.outcome = PENDING
    shop.created("o1", (product, 1))
    shop.paid("o1", (product, 1))
    assert advance(shop, sealer, upstream) == {"waiting": 1}
    assert advance(shop, sealer, upstream, now=later(10)) == {FAILED: 1}
    assert line_row(shop).collect_until is None
    monkeypatch.setenv(fulfilment.LATE_COLLECT_ENV, "a week")
    with pytest.raises(ValueError, match=fulfilment.LATE_COLLECT_ENV):
        fulfilment.late_collect_seconds()
