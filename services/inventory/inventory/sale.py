"""The end of an order's stock: sold to it, or given back; shared by order.paid and the lines bought upstream."""

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from inventory import domain, restock
from inventory.db import cards, loop_sales, orders, products
from kameng_common.db import UnitOfWork, utcnow


def sell(uow: UnitOfWork, order_id: str, now: datetime.datetime) -> list[int]:
    """The order's held cards and loop units become its own; cards.delivered names them (if any)."""
    uow.execute(
        cards.update()
        .where(cards.c.order_id == order_id, cards.c.status == domain.RESERVED)
        .values(status=domain.SOLD, sold_at=now)
    )
    uow.execute(
        loop_sales.update()
        .where(loop_sales.c.order_id == order_id, loop_sales.c.status == domain.RESERVED)
        .values(status=domain.SOLD, sold_at=now)
    )
    set_stock_state(uow, order_id, domain.STOCK_SOLD)
    return delivered_card_ids(uow, order_id)


def publish_delivered(
    uow: UnitOfWork, order_id: str, card_ids: list[int], items: Iterable[Mapping[str, Any]]
) -> None:
    """cards.delivered: the cards sold to the order and, for finance's margins, each of its lines
    with its price and its product's cost price at this moment (None where the shop does not know
    it; a product bought from a supplier costs what the supplier's catalogue said at the last sync)."""
    items = list(items)
    found = uow.execute(
        sa.select(products.c.id, products.c.cost_price, products.c.currency).where(
            products.c.id.in_({item["product_id"] for item in items})
        )
    ).all()
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
    sold = sa.select(cards.c.id).where(
        cards.c.order_id == order_id, cards.c.status.in_((domain.SOLD, domain.REFUNDED))
    )
    looped = sa.select(loop_sales.c.card_id).where(
        loop_sales.c.order_id == order_id, loop_sales.c.status == domain.SOLD
    )
    return sorted(uow.execute(sa.union(sold, looped)).scalars())


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
    uow.execute(orders.update().where(orders.c.id == order_id).values(stock_state=state, updated_at=utcnow()))
