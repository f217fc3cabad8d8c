"""What a product has in stock, read the same way by the catalogue, the metrics and the saga."""

import sqlalchemy as sa

from inventory import domain
from inventory.db import cards, loop_sales, products
from inventory.suppliers import upstream_stock


def stock_of(connection, rows, with_upstream_cards=False):
    """{product id: units a buyer may order now, or None where unlimited} for product ``rows``.

    A card product has its available cards; a loop product has what its limit
    leaves (None without a limit) once it has a live card, else 0; a direct
    product is fulfilled by its supplier: its stock is the supplier's (None
    when unlimited or when it names no supplier). ``with_upstream_cards``
    (what a buyer may order; ``rows`` then carry ``supplier_id``): a card
    product linked to a supplier adds the supplier's stock to its own cards
    (None when unlimited).
    """
    by_kind: dict[str, list] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    direct_ids = [row.id for row in by_kind.get(domain.DIRECT, [])]
    stock: dict[int, int | None] = {product_id: None for product_id in direct_ids}
    stock.update(upstream_stock(connection, direct_ids))
    card_ids = [row.id for row in by_kind.get(domain.CARD, [])]
    available = available_cards(connection, card_ids + [row.id for row in by_kind.get(domain.LOOP, [])])
    stock.update({product_id: available.get(product_id, 0) for product_id in card_ids})
    linked = [row.id for row in by_kind.get(domain.CARD, []) if with_upstream_cards and row.supplier_id]
    for product_id, upstream in upstream_stock(connection, linked).items():
        stock[product_id] = None if upstream is None else stock[product_id] + upstream
    loops = by_kind.get(domain.LOOP, [])
    taken = loop_units_taken(connection, [row.id for row in loops if row.stock_limit is not None])
    for row in loops:
        if not available.get(row.id):
            stock[row.id] = 0
        else:
            stock[row.id] = domain.loop_units_left(row.stock_limit, taken.get(row.id, 0))
    return stock


def available_cards(connection, product_ids):
    """{product id: available cards} (absent where none)."""
    if not product_ids:
        return {}
    return dict(
        connection.execute(
            sa.select(cards.c.product_id, sa.func.count())
            .where(cards.c.product_id.in_(product_ids), cards.c.status == domain.AVAILABLE)
            .group_by(cards.c.product_id)
        ).all()
    )


def loop_units_taken(connection, product_ids):
    """{loop product id: units reserved or sold} (absent where none)."""
    if not product_ids:
        return {}
    return dict(
        connection.execute(
            sa.select(loop_sales.c.product_id, sa.func.sum(loop_sales.c.quantity))
            .where(loop_sales.c.product_id.in_(product_ids))
            .group_by(loop_sales.c.product_id)
        ).all()
    )


def live_loop_card(connection, product_id):
    """The id of the card a loop product delivers now (its one available card), or None."""
    return connection.execute(
        sa.select(cards.c.id)
        .where(cards.c.product_id == product_id, cards.c.status == domain.AVAILABLE)
        .order_by(cards.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def stocked_products(connection):
    """Rows (id, kind, stock_limit) of every product that holds stock here."""
    return connection.execute(
        sa.select(products.c.id, products.c.kind, products.c.stock_limit)
        .where(products.c.kind.in_(domain.STOCKED_KINDS))
        .order_by(products.c.id)
    ).all()
