"""A new order's reservation priced by inventory itself (orders asks it once, before it stores the order),
and the sweep that gives back the reservations of orders never stored."""

import datetime

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from inventory import catalogue, domain, usecases
from inventory.db import orders
from kameng_common.db import utcnow
from kameng_common.errors import Conflict, InvalidInput, NotFound, Unavailable

RESERVED = domain.RESERVED
GRACE = 600


def reserve(shop, order_id, *pairs, level="regular", markup_bp=0, customer_id="c1"):
    items = [{"product_id": product_id, "quantity": quantity} for product_id, quantity in pairs]
    return usecases.reserve(shop.db, order_id, customer_id, items, level, markup_bp)


def kept(shop, order_id):
    """The order's row in inventory, or None."""
    with shop.db.reading() as session:
        return session.execute(sa.select(orders).where(orders.c.id == order_id)).first()


def swept():
    return REGISTRY.get_sample_value("kameng_reservations_swept_total") or 0


class Orders:
    """orders' order_statuses: the orders it stored, by status; or no answer at all."""

    def __init__(self, stored=None, answer=None):
        self.stored = stored or {}
        self.answer = answer
        self.asked = []

    def order_statuses(self, order_ids):
        self.asked.append(sorted(order_ids))
        if isinstance(self.answer, Exception):
            raise self.answer
        if self.answer is not None:
            return self.answer
        return {
            "orders": {order_id: self.stored[order_id] for order_id in order_ids if order_id in self.stored}
        }


def sweep(shop, orders_service, after=GRACE + 1):
    now = utcnow() + datetime.timedelta(seconds=after)
    return usecases.release_orphaned_reservations(shop.db, orders_service.order_statuses, GRACE, now=now)


# --- pricing as quote does, in the one request


def test_a_reservation_at_a_level_answers_the_quote_and_keeps_its_prices_for_the_sale(any_shop):
    card = any_shop.product(price=1000, cards=5, level_prices={"vip": 800})
    loop = any_shop.product(kind="loop", price=300, cards=1, stock_limit=10)
    answer = reserve(any_shop, "o1", (card, 2), (loop, 1), level="vip")
    quote = usecases.quote(
        any_shop.db, [{"product_id": card, "quantity": 2}, {"product_id": loop, "quantity": 1}], "vip"
    )
    assert answer == {"order_id": "o1", "reserved": True, "reason": None, "quote": quote}
    assert [line["unit_price"] for line in quote["items"]] == [800, 300] and quote["total"] == 1900
    assert len(any_shop.cards_of("o1", RESERVED)) == 2
    assert kept(any_shop, "o1").items == [
        {"product_id": card, "quantity": 2, "unit_price": 800},
        {"product_id": loop, "quantity": 1, "unit_price": 300},
    ]
    assert any_shop.published() == []


def test_a_shops_reservation_keeps_its_lines_at_the_shops_price_and_quotes_the_agent_price(shop):
    card = shop.product(price=1000, cards=2, level_prices={"agent": 800})
    answer = reserve(shop, "o1", (card, 1), level="agent", markup_bp=1_250)
    assert answer["quote"]["items"][0]["unit_price"] == 800  # orders marks it up by the same rule
    assert kept(shop, "o1").items == [{"product_id": card, "quantity": 1, "unit_price": 900}]


def test_a_reservation_refused_for_its_stock_answers_the_quote_too(shop):
    card = shop.product(price=1000, cards=1)
    answer = reserve(shop, "o1", (card, 2))
    assert (answer["reserved"], answer["reason"], answer["quote"]["total"]) == (False, "out_of_stock", 2000)
    assert shop.cards_of("o1") == []


@pytest.mark.parametrize(
    "items_of, refusal, code",
    [
        (lambda card, off, direct: [(999, 1)], NotFound, "not_found"),
        (lambda card, off, direct: [(card, 1), (off, 1)], Conflict, "not_on_sale"),
        (lambda card, off, direct: [(direct, 1)], InvalidInput, "invalid_direct_line"),
    ],
)
def test_what_quote_refuses_is_refused_before_anything_is_written(any_shop, items_of, refusal, code):
    card, off = any_shop.product(cards=3), any_shop.product(cards=3)
    catalogue.update_product(any_shop.db, off, {"status": "off_sale"})
    direct = any_shop.product(kind="direct")
    with pytest.raises(refusal) as refused:
        reserve(any_shop, "o1", *items_of(card, off, direct))
    assert refused.value.code == code
    assert kept(any_shop, "o1") is None
    assert any_shop.cards_of("o1") == [] and any_shop.available(card) == 3


def test_asked_again_it_holds_nothing_more_and_answers_the_reservation_and_quote_again(any_shop):
    card = any_shop.product(price=1000, cards=5)
    first = reserve(any_shop, "o1", (card, 2))
    assert reserve(any_shop, "o1", (card, 2)) == first
    assert len(any_shop.cards_of("o1", RESERVED)) == 2 and any_shop.available(card) == 3


def test_asked_again_after_a_price_change_it_keeps_the_lines_at_the_price_it_answers(shop):
    card = shop.product(price=1000, cards=5)
    reserve(shop, "o1", (card, 1))
    catalogue.update_product(shop.db, card, {"price": 1200})
    assert reserve(shop, "o1", (card, 1))["quote"]["total"] == 1200  # orders stores this price
    assert kept(shop, "o1").items == [{"product_id": card, "quantity": 1, "unit_price": 1200}]


def test_asked_again_for_other_items_it_refuses_and_changes_nothing(shop):
    card = shop.product(cards=5)
    reserve(shop, "o1", (card, 2))
    with pytest.raises(InvalidInput) as refused:
        reserve(shop, "o1", (card, 3))
    assert refused.value.code == "idempotency_key_reused"
    assert len(shop.cards_of("o1", RESERVED)) == 2


def test_without_a_level_the_lines_come_priced_by_orders_as_before(shop):
    card = shop.product(price=1000, cards=5)
    answer = shop.created("o1", (card, 2))
    assert answer == {"order_id": "o1", "reserved": True, "reason": None}
    assert kept(shop, "o1").items == [{"product_id": card, "quantity": 2, "unit_price": 1000}]
    assert kept(shop, "o1").reserve_asked_at is None  # asked for an order stored first: never swept


# --- the sweep of reservations whose order orders never stored


def test_the_sweep_gives_back_a_reservation_whose_order_orders_does_not_know(any_shop):
    card = any_shop.product(cards=3)
    reserve(any_shop, "never-stored", (card, 2))
    before = swept()
    orders_service = Orders()

    assert sweep(any_shop, orders_service) == 1

    assert orders_service.asked == [["never-stored"]]
    assert any_shop.available(card) == 3 and any_shop.cards_of("never-stored") == []
    assert any_shop.stock_state("never-stored") == domain.STOCK_SWEPT
    assert swept() == before + 1
    assert sweep(any_shop, orders_service) == 0 and len(orders_service.asked) == 1  # once


def test_a_reservation_swept_is_made_anew_when_the_buyer_retries(any_shop):
    card = any_shop.product(cards=3)
    reserve(any_shop, "late", (card, 2))
    sweep(any_shop, Orders())
    again = reserve(any_shop, "late", (card, 2))
    assert again["reserved"] is True
    assert len(any_shop.cards_of("late", RESERVED)) == 2 and any_shop.available(card) == 1


def test_the_sweep_keeps_reservations_of_orders_stored_and_does_not_ask_about_them_again(any_shop):
    card = any_shop.product(cards=5)
    reserve(any_shop, "stored", (card, 1))
    reserve(any_shop, "closed", (card, 1))
    orders_service = Orders({"stored": "awaiting_payment", "closed": "cancelled"})

    # orders knows both: their own events (paid, cancelled, expired) take them from here
    assert sweep(any_shop, orders_service) == 0
    assert len(any_shop.cards_of("stored", RESERVED)) == len(any_shop.cards_of("closed", RESERVED)) == 1
    assert sweep(any_shop, orders_service) == 0
    assert orders_service.asked == [["closed", "stored"]]


def test_the_sweep_leaves_young_reservations_and_does_not_ask_about_what_holds_nothing(any_shop):
    card = any_shop.product(cards=1)
    reserve(any_shop, "young", (card, 1))
    reserve(any_shop, "refused", (card, 1))  # out of stock: nothing held
    orders_service = Orders()
    assert sweep(any_shop, orders_service, after=GRACE - 60) == 0
    assert orders_service.asked == []
    assert sweep(any_shop, orders_service) == 1
    assert orders_service.asked == [["young"]]
    assert kept(any_shop, "refused").reserve_asked_at is None


@pytest.mark.parametrize(
    "answer", [Unavailable("orders is not running"), {"orders": None}, [], {"orders": {"x": 1}}]
)
def test_nothing_goes_back_while_orders_does_not_answer_or_answers_nonsense(shop, answer):
    card = shop.product(cards=2)
    reserve(shop, "o1", (card, 2))
    assert sweep(shop, Orders(answer=answer)) == 0
    assert len(shop.cards_of("o1", RESERVED)) == 2
    assert sweep(shop, Orders()) == 1  # asked again at the next sweep


def test_a_retry_while_the_sweep_asks_orders_keeps_the_reservation(any_shop):
    """The buyer's retry reserves the order again (renewing the ask) just as the sweep hears orders does
    not know it: the retry is about to store it, so it is not given back."""
    card = any_shop.product(cards=2)
    reserve(any_shop, "racing", (card, 2))
    long_ago = utcnow() - datetime.timedelta(seconds=2 * GRACE)
    with any_shop.db.unit_of_work() as uow:
        uow.execute(orders.update().where(orders.c.id == "racing").values(reserve_asked_at=long_ago))

    class RetryingMeanwhile(Orders):
        def order_statuses(self, order_ids):
            reserve(any_shop, "racing", (card, 2))
            return super().order_statuses(order_ids)

    assert usecases.release_orphaned_reservations(any_shop.db, RetryingMeanwhile().order_statuses, GRACE) == 0
    assert len(any_shop.cards_of("racing", RESERVED)) == 2


def test_an_order_closed_meanwhile_is_released_by_its_event_not_the_sweep(shop):
    card = shop.product(cards=2)
    reserve(shop, "o1", (card, 1))
    shop.expired("o1")
    orders_service = Orders()
    assert sweep(shop, orders_service) == 0 and orders_service.asked == []
    assert shop.stock_state("o1") == domain.STOCK_RELEASED and shop.available(card) == 2


# --- orders gives back at once the reservation of an order it refused before storing it


def test_a_reservation_given_back_goes_back_once_and_is_made_anew_when_asked_again(any_shop):
    card = any_shop.product(cards=2)
    reserve(any_shop, "refused", (card, 2))
    assert usecases.give_back_reservation(any_shop.db, "refused") == {"order_id": "refused", "released": True}
    assert any_shop.available(card) == 2
    assert usecases.give_back_reservation(any_shop.db, "refused")["released"] is False
    assert reserve(any_shop, "refused", (card, 2))["reserved"] is True


def test_only_a_reservation_priced_before_its_order_was_stored_is_given_back(shop):
    card = shop.product(cards=2)
    shop.created("stored-first", (card, 1))  # an older orders stores its order before reserving
    assert usecases.give_back_reservation(shop.db, "stored-first")["released"] is False
    assert usecases.give_back_reservation(shop.db, "unknown")["released"] is False
    assert len(shop.cards_of("stored-first", RESERVED)) == 1
