"""The end of an order's stock: sold to it, or given back; shared by order.paid and the lines bought upstream."""

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from inventory import domain, restock
from inventory.db import cards, loop_sales, orders, products
from kameng_common.db import UnitOfWork, utcnow

# built once, as the purchase runs them every time: values are bound when they run (an UPDATE's
# parameters may not take its columns' names)
_SELL_CARDS = (
    cards.update()
    .where(cards.c.order_id == sa.bindparam("for_order"), cards.c.status == domain.RESERVED)
    .values(status=domain.SOLD, sold_at=sa.bindparam("at"))
)
_SELL_LOOP_UNITS = (
    loop_sales.update()
    .where(loop_sales.c.order_id == sa.bindparam("for_order"), loop_sales.c.status == domain.RESERVED)
    .values(status=domain.SOLD, sold_at=sa.bindparam("at"))
)
_DELIVERED_CARD_IDS = sa.union(
    sa.select(cards.c.id).where(
        cards.c.order_id == sa.bindparam("order_id"), cards.c.status.in_((domain.SOLD, domain.REFUNDED))
    ),
    sa.select(loop_sales.c.card_id).where(
        loop_sales.c.order_id == sa.bindparam("order_id"), loop_sales.c.status == domain.SOLD
    ),
)
_SALE_COSTS = sa.select(products.c.id, products.c.cost_price, products.c.currency).where(
    products.c.id.in_(sa.bindparam("ids", expanding=True))
)
_SET_STOCK_STATE = (
    orders.update()
    .where(orders.c.id == sa.bindparam("for_order"))
    .values(stock_state=sa.bindparam("new_state"), updated_at=sa.bindparam("at"))
)


def sell(uow: UnitOfWork, order_id: str, now: datetime.datetime) -> list[int]:
    """The order's held cards and loop units become its own; cards.delivered names them (if any)."""
    uow.execute(_SELL_CARDS, {"for_order": order_id, "at": now})
    uow.execute(_SELL_LOOP_UNITS, {"for_order": order_id, "at": now})
    set_stock_state(uow, order_id, domain.STOCK_SOLD)
    return delivered_card_ids(uow, order_id)


def publish_delivered(
    uow: UnitOfWork, order_id: str, card_ids: list[int], items: Iterable[Mapping[str, Any]]
) -> None:
    """cards.delivered: the cards sold to the order and, for finance's margins, each of its lines
    with its price and its product's cost price at this moment (None where the shop does not know
    it; a product bought from a supplier costs what the supplier's catalogue said at the last sync)."""
    items = list(items)
    found = uow.execute(_SALE_COSTS, {"ids": sorted({item["product_id"] for item in items})}).all()
    costs = {row.id: row.cost_price for row in found}
    lines = [
        {
            "product_id": item["product_id"],
            "quantity": item["quantity"],
            "unit_price": item["unit_price"],
            "unit_cost": costs.get(item["product_id"]),
        }
        for item in items
    ]
    payload: dict[str, Any] = {"order_id": order_id, "card_ids": card_ids, "lines": lines}
    if found:
        payload["currency"] = found[0].currency  # an order's products share one currency (quote)
    uow.publish("cards.delivered", payload, correlation_id=order_id)


def delivered_card_ids(uow: UnitOfWork, order_id: str) -> list[int]:
    """The cards sold to an order (marked refunded ones too): its own, and each loop product's card."""
    return sorted(uow.execute(_DELIVERED_CARD_IDS, {"order_id": order_id}).scalars())


def release(uow: UnitOfWork, order_id: str) -> None:
    """Give back every card and loop unit the order holds (not those sold to it)."""
    cards_released: Iterable[int] = uow.execute(
        cards.update()
        .where(cards.c.order_id == order_id, cards.c.status == domain.RESERVED)
        .values(status=domain.AVAILABLE, order_id=None, reserved_at=None)
        .returning(cards.c.product_id)
    ).scalars()
    released = set(cards_released) | set(
        uow.execute(
            loop_sales.delete()
            .where(loop_sales.c.order_id == order_id, loop_sales.c.status == domain.RESERVED)
            .returning(loop_sales.c.product_id)
        ).scalars()
    )
    restock.watch_stock(uow, released)


def set_stock_state(uow: UnitOfWork, order_id: str, state: str) -> None:
    uow.execute(_SET_STOCK_STATE, {"for_order": order_id, "new_state": state, "at": utcnow()})
