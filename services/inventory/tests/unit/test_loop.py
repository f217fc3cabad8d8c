"""Loop products: one card delivered to every buyer, up to an optional limit of units.

The races run on SQLite and PostgreSQL: 50 buyers for a loop card with a limit
of 10 get exactly 10 delivered, whichever way the stock is claimed.
"""

from collections import Counter

import pytest
import sqlalchemy as sa

from inventory import catalogue, domain, usecases
from inventory.db import loop_sales
from kameng_common.errors import Conflict
from kameng_common.testing import deliver


def _loop_sales(db):
    with db.reading() as session:
        return session.execute(sa.select(loop_sales).order_by(loop_sales.c.id)).all()


def test_every_buyer_is_delivered_the_same_card(shop, db, keyring):
    product = shop.product(kind="loop", cards=1)
    for order_id, customer in (("o1", "alice"), ("o2", "bob")):
        shop.created(order_id, (product, 1), customer_id=customer)
        shop.paid(order_id, (product, 1), customer_id=customer)
    first, second = shop.published("cards.delivered")
    assert first["card_ids"] == second["card_ids"] and len(first["card_ids"]) == 1
    assert usecases.reveal_cards(db, keyring, "o1", "alice") == usecases.reveal_cards(
        db, keyring, "o2", "bob"
    )
    # the card stays in stock for the next buyer, and is never sold as a card
    assert [card["state"] for card in catalogue.list_cards(db, product)["items"]] == ["available"]
    assert catalogue.list_cards(db, product)["items"][0]["loop_orders"] == 2


def test_without_a_limit_a_loop_product_has_unlimited_stock_once_it_has_its_card(shop, db):
    product = shop.product(kind="loop")
    assert usecases.get_product(db, product)["stock"] == 0
    shop.add_cards(product, 1)
    assert usecases.get_product(db, product)["stock"] is None
    shop.created("o1", (product, 500))
    assert shop.stock_state("o1") == domain.STOCK_RESERVED


def test_reservations_count_against_the_limit_and_a_release_gives_them_back(shop, db):
    product = shop.product(kind="loop", stock_limit=3, cards=1)
    shop.created("o1", (product, 2))
    assert usecases.get_product(db, product)["stock"] == 1
    shop.created("o2", (product, 2))
    assert shop.stock_state("o2") == domain.STOCK_REJECTED
    shop.expired("o1")
    assert usecases.get_product(db, product)["stock"] == 3
    shop.created("o3", (product, 3))
    assert shop.stock_state("o3") == domain.STOCK_RESERVED
    assert usecases.stock_levels(db) == {str(product): 0}


def test_a_late_payment_claims_units_again_or_fails_the_sale(shop, db):
    product = shop.product(kind="loop", stock_limit=1, cards=1)
    shop.created("o1", (product, 1))
    shop.expired("o1")
    shop.created("o2", (product, 1))
    shop.paid("o1", (product, 1))  # paid after expiry, and o2 holds the only unit
    assert shop.stock_state("o1") == domain.STOCK_SALE_FAILED
    shop.paid("o2", (product, 1))
    assert shop.stock_state("o2") == domain.STOCK_SOLD
    assert [(row.order_id, row.status) for row in _loop_sales(db)] == [("o2", domain.SOLD)]


def test_a_paid_order_is_sold_once_however_often_its_events_come(shop, db):
    product = shop.product(kind="loop", stock_limit=5, cards=1)
    shop.created("o1", (product, 2))
    paid = shop.paid("o1", (product, 2))
    shop.created("o1", (product, 2))
    deliver(db, "inventory", usecases.on_order_paid, paid)
    assert [(row.quantity, row.status) for row in _loop_sales(db)] == [(2, domain.SOLD)]
    assert len(shop.published("cards.delivered")) == 1


def test_an_order_of_cards_and_a_loop_product_holds_both_or_neither(shop, db):
    cards_product = shop.product(cards=1)
    loop = shop.product(kind="loop", stock_limit=1, cards=1)
    shop.created("o1", (loop, 1), (cards_product, 2))  # one card short: nothing held
    assert shop.stock_state("o1") == domain.STOCK_REJECTED
    assert _loop_sales(db) == [] and shop.available(cards_product) == 1
    shop.created("o2", (loop, 1), (cards_product, 1))
    shop.paid("o2", (loop, 1), (cards_product, 1))
    [delivered] = shop.published("cards.delivered")
    assert len(delivered["card_ids"]) == 2


def test_replacing_the_card_serves_new_buyers_and_old_orders_keep_theirs(shop, db, keyring):
    product = shop.product(kind="loop", cards=1)
    shop.created("o1", (product, 1), customer_id="alice")
    shop.paid("o1", (product, 1), customer_id="alice")
    [old] = catalogue.list_cards(db, product)["items"]
    assert catalogue.void_card(db, old["id"])["state"] == "void"
    shop.created("o2", (product, 1))
    assert shop.stock_state("o2") == domain.STOCK_REJECTED  # no live card to deliver
    shop.add_cards(product, 1)
    shop.created("o3", (product, 1), customer_id="carol")
    shop.paid("o3", (product, 1), customer_id="carol")
    [alice_card] = usecases.reveal_cards(db, keyring, "o1", "alice")
    [carol_card] = usecases.reveal_cards(db, keyring, "o3", "carol")
    assert alice_card["number"] == old["number"] != carol_card["number"]


def test_a_reserved_card_cannot_be_voided(shop, db):
    product = shop.product(cards=1)
    shop.created("o1", (product, 1))
    [card] = catalogue.list_cards(db, product)["items"]
    with pytest.raises(Conflict, match="reserved"):
        catalogue.void_card(db, card["id"])


def test_fifty_buyers_for_a_loop_card_limited_to_ten_get_exactly_ten(any_shop, racing):
    product = any_shop.product(kind="loop", stock_limit=10, cards=1)
    failures = racing(lambda order_id: any_shop.created(order_id, (product, 1)), [f"o{i}" for i in range(50)])
    reserved = any_shop.reserved()
    assert failures == Counter()
    assert len(reserved) == 10 and len(any_shop.rejected()) == 40
    paid = [any_shop.paid_event(order_id, (product, 1)) for order_id in reserved]
    racing(lambda event: deliver(any_shop.db, "inventory", usecases.on_order_paid, event), paid)
    assert len(any_shop.published("cards.delivered")) == 10
    assert Counter(row.status for row in _loop_sales(any_shop.db)) == {domain.SOLD: 10}
    assert usecases.get_product(any_shop.db, product)["stock"] == 0
    snapshot = usecases.audit_snapshot(any_shop.db)
    assert snapshot["loop_products"][str(product)] == {"stock_limit": 10, "sold": 10, "reserved": 0}
    assert snapshot["sold_twice"] == []


def test_fifty_late_payments_for_a_loop_card_limited_to_ten_deliver_exactly_ten(any_shop, racing):
    product = any_shop.product(kind="loop", stock_limit=10, cards=1)
    for i in range(50):  # expired before they were created: each payment claims its unit itself
        any_shop.expired(f"o{i}")
    paid = [any_shop.paid_event(f"o{i}", (product, 1)) for i in range(50)]
    racing(lambda event: deliver(any_shop.db, "inventory", usecases.on_order_paid, event), paid)
    assert len(any_shop.published("cards.delivered")) == 10
    assert len(any_shop.published("stock.sale_failed")) == 40
    assert len(_loop_sales(any_shop.db)) == 10
