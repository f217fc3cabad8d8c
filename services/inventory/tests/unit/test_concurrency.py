"""A card is sold to at most one order, however many reservations and handlers race for it.

On PostgreSQL the greenthreads' transactions really interleave (psycopg2 yields
while it waits); on SQLite the unit of work's write lock serializes them.
"""

from collections import Counter

import eventlet
import sqlalchemy as sa

from inventory import domain, usecases
from inventory.db import cards
from kameng_common.testing import deliver


def _race(handler, events):
    """Handle every event (or call) at once; one that raises is retried, as the broker or the caller would."""
    failures = Counter()

    def deliver(event):
        for _ in range(10):
            try:
                return handler(event)
            except Exception as error:
                failures[type(error).__name__] += 1
        raise AssertionError(f"{event!r} never succeeded")

    pool = eventlet.GreenPool(len(events))
    list(pool.imap(deliver, events))
    return failures


def _holders(db):
    with db.reading() as session:
        return session.execute(
            sa.select(cards.c.id, cards.c.status, cards.c.order_id).where(cards.c.order_id.is_not(None))
        ).all()


def _created(shop, order_id, product, quantity):
    """orders asking to reserve a new order: a call to race with others."""
    return lambda: shop.created(order_id, (product, quantity))


def _paid(make_event, order_id, product, quantity):
    return make_event(
        "order.paid",
        {
            "order_id": order_id,
            "customer_id": "c1",
            "items": [{"product_id": product, "quantity": quantity, "unit_price": 100}],
            "payment_id": f"pay-{order_id}",
            "amount": 100 * quantity,
            "currency": "CNY",
        },
    )


def test_fifty_orders_racing_for_the_last_ten_cards_reserve_exactly_ten(any_shop):
    product = any_shop.product(cards=10)
    failures = _race(lambda call: call(), [_created(any_shop, f"o{i}", product, 1) for i in range(50)])
    holders = _holders(any_shop.db)
    assert failures == Counter()
    assert len(holders) == 10
    assert len({holder.order_id for holder in holders}) == 10  # no order got two, no card twice
    assert len(any_shop.reserved()) == 10
    assert len(any_shop.rejected()) == 40
    assert any_shop.available(product) == 0


def test_racing_multi_card_orders_hold_all_their_cards_or_none(any_shop):
    product = any_shop.product(cards=10)
    _race(lambda call: call(), [_created(any_shop, f"o{i}", product, 3) for i in range(20)])
    per_order = Counter(holder.order_id for holder in _holders(any_shop.db))
    reserved = set(any_shop.reserved())
    assert set(per_order) == reserved and set(per_order.values()) <= {3}
    assert 1 <= len(reserved) <= 3
    assert any_shop.available(product) == 10 - 3 * len(reserved)
    assert len(any_shop.rejected()) == 20 - len(reserved)


def test_late_payments_racing_for_the_last_cards_sell_each_card_once(any_shop, make_event):
    product = any_shop.product(cards=10)
    for i in range(30):  # expired before they were created
        any_shop.expired(f"o{i}")
    events = [_paid(make_event, f"o{i}", product, 1) for i in range(30)]
    _race(lambda event: deliver(any_shop.db, "inventory", usecases.on_order_paid, event), events)
    holders = _holders(any_shop.db)
    assert len(holders) == 10 and {holder.status for holder in holders} == {domain.SOLD}
    assert len({holder.order_id for holder in holders}) == 10
    delivered = any_shop.published("cards.delivered")
    assert sorted(card for payload in delivered for card in payload["card_ids"]) == sorted(
        holder.id for holder in holders
    )
    assert len(any_shop.published("stock.sale_failed")) == 20


def test_payment_and_expiry_racing_on_each_order_end_in_a_sale(any_shop, make_event):
    product = any_shop.product(cards=20)
    for i in range(20):
        any_shop.created(f"o{i}", (product, 1))
    events = []
    for i in range(20):
        events.append(_paid(make_event, f"o{i}", product, 1))
        events.append(make_event("order.expired", {"order_id": f"o{i}"}))
    handlers = {"order.paid": usecases.on_order_paid, "order.expired": usecases.on_order_expired}
    _race(lambda event: deliver(any_shop.db, "inventory", handlers[event["type"]], event), events)
    holders = _holders(any_shop.db)
    assert Counter(holder.status for holder in holders) == {domain.SOLD: 20}
    assert len({holder.order_id for holder in holders}) == 20
    assert len(any_shop.published("cards.delivered")) == 20


def test_one_reservation_asked_many_times_at_once_holds_once(any_shop):
    product = any_shop.product(cards=10)
    _race(lambda call: call(), [_created(any_shop, "o1", product, 2)] * 8)
    assert any_shop.reserved() == ["o1"] * 8
    assert len(any_shop.cards_of("o1")) == 2
