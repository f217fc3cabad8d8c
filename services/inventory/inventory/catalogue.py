"""Catalogue management by staff: the category tree, product changes and their price history,
the card listing and voiding. Each change is one unit of work; ``actor`` is the staff id.
"""

import sqlalchemy as sa

from inventory import domain, restock, schemas
from inventory.db import cards, categories, loop_sales, price_history, products
from inventory.stock import stock_of
from inventory.usecases import category_row, lock_categories, record_price
from kameng_common.db import utcnow
from kameng_common.errors import Conflict, InvalidInput, NotFound
from kameng_common.validation import load_or_invalid, schema_instance

# ---- categories


def list_categories(db, limit=schemas.MAX_CATEGORY_PAGE, cursor=None):
    """The category tree as a flat list, ``{id, name, parent_id}`` each, by id."""
    data = load_or_invalid(schemas.ListCategories, {"limit": limit, "cursor": cursor})
    query = sa.select(categories).order_by(categories.c.id).limit(data["limit"] + 1)
    if data["cursor"] is not None:
        query = query.where(categories.c.id > data["cursor"])
    with db.reading() as session:
        rows = session.execute(query).all()
    page = rows[: data["limit"]]
    return {
        "items": schemas.Category(many=True).dump([row._mapping for row in page]),
        "next_cursor": str(page[-1].id) if len(rows) > data["limit"] else None,
    }


def update_category(db, category_id, changes):
    """Rename a category, move it under another parent (None: to the root), or both.

    Names stay unique among siblings (409), and a category is never moved
    under itself or one of its descendants (422).
    """
    data = load_or_invalid(schemas.UpdateCategory, {**changes, "category_id": category_id})
    category_id = data.pop("category_id")
    if not data:
        raise InvalidInput("name or parent_id: say what to change")
    with db.unit_of_work() as uow:
        lock_categories(uow)
        row = category_row(uow, category_id)
        if row is None:
            raise NotFound(f"category {category_id} does not exist")
        name = data.get("name", row.name)
        parent_id = data.get("parent_id", row.parent_id)
        if "parent_id" in data and parent_id is not None:
            if category_row(uow, parent_id) is None:
                raise InvalidInput(f"parent category {parent_id} does not exist")
            parents = dict(uow.execute(sa.select(categories.c.id, categories.c.parent_id)).all())
            if domain.category_cycle(category_id, parent_id, parents):
                raise InvalidInput(f"category {category_id} cannot move under itself or its own subcategory")
        sibling = uow.execute(
            sa.select(categories.c.id).where(
                categories.c.parent_id.is_(None)
                if parent_id is None
                else categories.c.parent_id == parent_id,
                categories.c.name == name,
                categories.c.id != category_id,
            )
        ).first()
        if sibling is not None:
            raise Conflict(f"a category named {name!r} already exists there")
        uow.execute(
            categories.update().where(categories.c.id == category_id).values(name=name, parent_id=parent_id)
        )
        row = category_row(uow, category_id)
        assert row is not None, "the category was just updated"
    return schema_instance(schemas.Category).dump(row._mapping)


# ---- products


def get_product_for_staff(db, product_id):
    """Everything staff may see of a product: its base and level prices, status, limit and stock."""
    data = load_or_invalid(schemas.ProductRef, {"product_id": product_id})
    with db.reading() as session:
        row = _product(session, data["product_id"])
        stock = stock_of(session, [row])[row.id]
    return {**schema_instance(schemas.Product).dump(row._mapping), "stock": stock}


def update_product(db, product_id, changes, actor=None):
    """Change a product's name, price, level prices, status, (loop) stock limit or low-stock threshold.

    A new price or level prices go into the price history; orders already
    placed keep the price they were quoted (they carry it). Unchanged fields
    may be sent: only what differs is a change.
    """
    data = load_or_invalid(schemas.UpdateProduct, {**changes, "product_id": product_id})
    product_id = data.pop("product_id")
    if not data:
        raise InvalidInput(
            "name, price, level_prices, status, stock_limit or low_stock_threshold: say what to change"
        )
    with db.unit_of_work() as uow:
        row = _product(uow, product_id, for_update=True)
        if "stock_limit" in data and data["stock_limit"] is not None and row.kind != domain.LOOP:
            raise InvalidInput("stock_limit: only a loop product has a stock limit")
        changed = {key: value for key, value in data.items() if getattr(row, key) != value}
        if "name" in changed:
            clash = uow.execute(
                sa.select(products.c.id).where(
                    products.c.category_id == row.category_id,
                    products.c.name == changed["name"],
                    products.c.id != product_id,
                )
            ).first()
            if clash is not None:
                raise Conflict(f"a product named {changed['name']!r} already exists in this category")
        if changed:
            now = utcnow()
            uow.execute(
                products.update().where(products.c.id == product_id).values(**changed, updated_at=now)
            )
            row = _product(uow, product_id)
            if {"price", "level_prices"} & set(changed):
                record_price(uow, row, actor, now)
            if {"stock_limit", "low_stock_threshold"} & set(changed):
                restock.watch_stock(uow, [product_id])
        stock = stock_of(uow, [row])[row.id]
    return {**schema_instance(schemas.Product).dump(row._mapping), "stock": stock}


def price_history_of(db, product_id, limit=50, cursor=None):
    """A product's prices, newest first: each with who set it and when."""
    data = load_or_invalid(
        schemas.ListPriceHistory, {"product_id": product_id, "limit": limit, "cursor": cursor}
    )
    query = (
        sa.select(price_history)
        .where(price_history.c.product_id == data["product_id"])
        .order_by(price_history.c.id.desc())
        .limit(data["limit"] + 1)
    )
    if data["cursor"] is not None:
        query = query.where(price_history.c.id < data["cursor"])
    with db.reading() as session:
        _product(session, data["product_id"])
        rows = session.execute(query).all()
    page = rows[: data["limit"]]
    return {
        "items": schemas.PriceChange(many=True).dump([row._mapping for row in page]),
        "next_cursor": str(page[-1].id) if len(rows) > data["limit"] else None,
    }


def _product(connection, product_id, for_update=False):
    query = sa.select(products).where(products.c.id == product_id)
    row = connection.execute(query.with_for_update() if for_update else query).first()
    if row is None:
        raise NotFound(f"product {product_id} does not exist")
    return row


# ---- cards


def list_cards(db, product_id, state=None, limit=50, cursor=None):
    """A product's cards by id: number, state and when each changed; never a secret.

    A loop product's card stays ``available`` while it is delivered to buyers:
    ``loop_orders`` says how many orders hold it.
    """
    data = load_or_invalid(
        schemas.ListCards, {"product_id": product_id, "state": state, "limit": limit, "cursor": cursor}
    )
    query = (
        sa.select(cards.c.id, cards.c.number, cards.c.status, cards.c.order_id)
        .add_columns(
            cards.c.imported_at, cards.c.reserved_at, cards.c.sold_at, cards.c.voided_at, cards.c.refunded_at
        )
        .where(cards.c.product_id == data["product_id"])
        .order_by(cards.c.id)
        .limit(data["limit"] + 1)
    )
    if data["state"] is not None:
        query = query.where(cards.c.status == data["state"])
    if data["cursor"] is not None:
        query = query.where(cards.c.id > data["cursor"])
    with db.reading() as session:
        product = _product(session, data["product_id"])
        rows = session.execute(query).all()
        page = rows[: data["limit"]]
        holders = _loop_orders(session, [row.id for row in page]) if product.kind == domain.LOOP else None
    items = schemas.CardState(many=True).dump([row._mapping for row in page])
    if holders is not None:
        for item in items:
            item["loop_orders"] = holders.get(item["id"], 0)
    return {"items": items, "next_cursor": str(page[-1].id) if len(rows) > data["limit"] else None}


def _loop_orders(connection, card_ids):
    if not card_ids:
        return {}
    return dict(
        connection.execute(
            sa.select(loop_sales.c.card_id, sa.func.count())
            .where(loop_sales.c.card_id.in_(card_ids))
            .group_by(loop_sales.c.card_id)
        ).all()
    )


def void_card(db, card_id):
    """Take a card out of stock for good: an available card only (409 for one reserved or sold).

    Voiding the card of a loop product stops its delivery to new buyers; the
    orders that hold it keep it. Voiding a void card again changes nothing.
    """
    data = load_or_invalid(schemas.VoidCard, {"card_id": card_id})
    with db.unit_of_work() as uow:
        card = uow.execute(
            sa.select(cards.c.id, cards.c.product_id, cards.c.number, cards.c.status)
            .where(cards.c.id == data["card_id"])
            .with_for_update()
        ).first()
        if card is None:
            raise NotFound(f"card {data['card_id']} does not exist")
        if card.status in (domain.RESERVED, domain.SOLD, domain.REFUNDED):
            raise Conflict(f"card {card.id} is {card.status}: only a card not sold may be voided")
        if card.status == domain.AVAILABLE:
            uow.execute(
                cards.update()
                .where(cards.c.id == card.id, cards.c.status == domain.AVAILABLE)
                .values(status=domain.VOID, voided_at=utcnow())
            )
            restock.watch_stock(uow, [card.product_id])
        row = uow.execute(
            sa.select(cards.c.id, cards.c.number, cards.c.status, cards.c.order_id)
            .add_columns(
                cards.c.imported_at,
                cards.c.reserved_at,
                cards.c.sold_at,
                cards.c.voided_at,
                cards.c.refunded_at,
            )
            .where(cards.c.id == card.id)
        ).one()
    return {**schema_instance(schemas.CardState).dump(row._mapping), "product_id": card.product_id}
