"""Reservation (asked by orders), release and sale (orders' events), in every order they may arrive."""

import pytest

from inventory import domain, usecases
from inventory.db import products
from kameng_common.testing import deliver

RESERVED, SOLD = domain.RESERVED, domain.SOLD


def test_an_order_reserves_exactly_its_quantities(any_shop):
    first, second = any_shop.product(cards=5), any_shop.product(cards=5)
    answer = any_shop.created("o1", (first, 2), (second, 1), (first, 1))
    assert answer == {"order_id": "o1", "reserved": True, "reason": None}
    assert any_shop.published() == []  # orders hears the answer; no event
    assert len(any_shop.cards_of("o1", RESERVED)) == 4
    assert (any_shop.available(first), any_shop.available(second)) == (2, 4)
    assert any_shop.stock_state("o1") == domain.STOCK_RESERVED


def test_an_order_that_cannot_have_every_line_reserves_nothing(any_shop):
    plenty, scarce = any_shop.product(cards=5), any_shop.product(cards=1)
    any_shop.created("o1", (plenty, 2), (scarce, 2))
    assert any_shop.rejected() == [{"order_id": "o1", "reason": "out_of_stock"}]
    assert any_shop.reserved() == []
    assert any_shop.cards_of("o1") == []
    assert (any_shop.available(plenty), any_shop.available(scarce)) == (5, 1)


def test_a_direct_product_is_accepted_without_cards(shop):
    card, direct = shop.product(cards=1), shop.product(kind="direct")
    shop.created("o1", (card, 1), (direct, 3))
    assert shop.reserved() == ["o1"]
    assert len(shop.cards_of("o1")) == 1


def test_an_unknown_product_is_refused(shop):
    shop.created("o1", (999, 1))
    assert shop.rejected() == [{"order_id": "o1", "reason": "unknown_product"}]


def test_a_repeated_reservation_holds_nothing_more_and_answers_the_same(any_shop):
    product = any_shop.product(cards=5)
    first = any_shop.created("o1", (product, 2))
    assert any_shop.created("o1", (product, 2)) == first  # a retry, or orders re-driving the order
    assert len(any_shop.cards_of("o1")) == 2
    assert any_shop.available(product) == 3


def test_a_repeated_refused_reservation_is_refused_again_and_holds_nothing(any_shop):
    product = any_shop.product(cards=1)
    any_shop.created("o1", (product, 2))
    any_shop.add_cards(product, 5)
    assert any_shop.created("o1", (product, 2))["reason"] == domain.REJECTED_BEFORE
    assert any_shop.cards_of("o1") == []


@pytest.mark.parametrize("close", ["cancelled", "expired"])
def test_closing_an_order_releases_its_cards_once(any_shop, close):
    product = any_shop.product(cards=3)
    any_shop.created("o1", (product, 2))
    getattr(any_shop, close)("o1")
    assert any_shop.available(product) == 3
    assert any_shop.stock_state("o1") == domain.STOCK_RELEASED
    any_shop.created("o2", (product, 2))
    getattr(any_shop, close)("o1")  # late duplicate: o2 keeps its cards
    assert len(any_shop.cards_of("o2", RESERVED)) == 2
    assert any_shop.available(product) == 1


@pytest.mark.parametrize("close", ["cancelled", "expired"])
def test_an_order_closed_before_it_was_created_reserves_nothing(any_shop, close):
    product = any_shop.product(cards=3)
    getattr(any_shop, close)("o1")
    any_shop.created("o1", (product, 1))
    assert any_shop.rejected() == [{"order_id": "o1", "reason": "order_closed"}]
    assert any_shop.available(product) == 3
    assert any_shop.stock_state("o1") == domain.STOCK_REJECTED


def test_payment_sells_the_reserved_cards(any_shop):
    product = any_shop.product(cards=3)
    any_shop.created("o1", (product, 2))
    reserved = any_shop.cards_of("o1", RESERVED)
    any_shop.paid("o1", (product, 2))
    assert any_shop.cards_of("o1", SOLD) == reserved
    assert any_shop.published("cards.delivered") == [
        {
            "order_id": "o1",
            "card_ids": reserved,
            "currency": "CNY",
            "lines": [{"product_id": product, "quantity": 2, "unit_price": 1000, "unit_cost": None}],
        }
    ]
    assert any_shop.stock_state("o1") == domain.STOCK_SOLD
    assert any_shop.available(product) == 1


def test_a_sale_carries_each_lines_cost_price_as_it_was_when_sold(any_shop):
    costed, uncosted = any_shop.product(cards=3), any_shop.product(cards=3)
    with any_shop.db.unit_of_work() as uow:  # as a supplier's sync sets it
        uow.execute(products.update().where(products.c.id == costed).values(cost_price=640))
    any_shop.created("o1", (costed, 2), (uncosted, 1))
    any_shop.paid("o1", (costed, 2), (uncosted, 1))
    with any_shop.db.unit_of_work() as uow:
        uow.execute(products.update().where(products.c.id == costed).values(cost_price=700))

    [delivered] = any_shop.published("cards.delivered")
    assert delivered["lines"] == [
        {"product_id": costed, "quantity": 2, "unit_price": 1000, "unit_cost": 640},
        {"product_id": uncosted, "quantity": 1, "unit_price": 1000, "unit_cost": None},
    ]


def test_a_repeated_payment_delivers_nothing_twice(any_shop):
    product = any_shop.product(cards=5)
    any_shop.created("o1", (product, 2))
    paid = any_shop.paid("o1", (product, 2))
    deliver(any_shop.db, "inventory", usecases.on_order_paid, paid)
    any_shop.paid("o1", (product, 2))
    assert len(any_shop.published("cards.delivered")) == 1
    assert len(any_shop.cards_of("o1", SOLD)) == 2
    assert any_shop.available(product) == 3


@pytest.mark.parametrize("close", ["cancelled", "expired"])
def test_a_late_payment_reserves_again_and_sells(any_shop, close):
    product = any_shop.product(cards=3)
    any_shop.created("o1", (product, 2))
    getattr(any_shop, close)("o1")
    any_shop.paid("o1", (product, 2))
    assert len(any_shop.cards_of("o1", SOLD)) == 2
    assert any_shop.published("cards.delivered")[0]["card_ids"] == any_shop.cards_of("o1", SOLD)
    assert any_shop.available(product) == 1


def test_a_late_payment_without_stock_fails_the_sale_and_holds_nothing(any_shop):
    product = any_shop.product(cards=3)
    any_shop.created("o1", (product, 2))
    any_shop.expired("o1")
    any_shop.created("o2", (product, 2))  # someone else took the cards
    any_shop.paid("o1", (product, 2))
    assert any_shop.published("stock.sale_failed") == [{"order_id": "o1", "reason": "out_of_stock"}]
    assert any_shop.published("cards.delivered") == []
    assert any_shop.cards_of("o1") == []
    assert any_shop.available(product) == 1
    assert any_shop.stock_state("o1") == domain.STOCK_SALE_FAILED
    any_shop.paid("o1", (product, 1))  # another copy: decided already
    assert len(any_shop.published("stock.sale_failed")) == 1


def test_a_payment_that_lost_part_of_its_reservation_tops_it_up(any_shop):
    first, second = any_shop.product(cards=2), any_shop.product(cards=2)
    any_shop.created("o1", (first, 1))  # holds one line only
    any_shop.paid("o1", (first, 1), (second, 2))
    assert len(any_shop.cards_of("o1", SOLD)) == 3
    assert (any_shop.available(first), any_shop.available(second)) == (1, 0)


def test_a_payment_seen_before_the_order_sells_and_the_late_order_changes_nothing(any_shop):
    product = any_shop.product(cards=3)
    any_shop.paid("o1", (product, 2))
    assert any_shop.created("o1", (product, 2))["reserved"]  # it holds what it bought
    assert len(any_shop.cards_of("o1", SOLD)) == 2
    assert len(any_shop.published("cards.delivered")) == 1
    assert any_shop.available(product) == 1


def test_an_expiry_seen_after_the_payment_leaves_the_sale_alone(any_shop):
    product = any_shop.product(cards=3)
    any_shop.created("o1", (product, 2))
    any_shop.paid("o1", (product, 2))
    any_shop.expired("o1")
    any_shop.cancelled("o1")
    assert len(any_shop.cards_of("o1", SOLD)) == 2
    assert any_shop.stock_state("o1") == domain.STOCK_SOLD
    assert any_shop.available(product) == 1


def test_a_paid_direct_product_without_a_supplier_is_refunded_not_left_unserved(shop):
    direct = shop.product(kind="direct")
    shop.created("o1", (direct, 1))
    shop.paid("o1", (direct, 1))
    assert shop.stock_state("o1") == domain.STOCK_SALE_FAILED
    assert shop.published("stock.sale_failed") == [{"order_id": "o1", "reason": domain.NO_SUPPLIER}]
    assert shop.published("cards.delivered") == []
