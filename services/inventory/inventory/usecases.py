"""Inventory's use cases. Each takes the Database (an event handler, the unit of work its event is
handled in) and the card keyring where secrets are involved; each change is one unit of work: state,
the events it publishes and the event it consumed.
"""

import contextlib
import logging

import sqlalchemy as sa

from inventory import domain, schemas
from inventory.crypto import CardIntegrityError, SealedSecret
from inventory.db import (
    cards,
    categories,
    insert_ignoring_conflicts,
    orders,
    products,
    reveal_audit,
    suppliers,
)
from inventory.suppliers import upstream_stock
from kameng_common import auditlog
from kameng_common.db import utc_isoformat, utcnow
from kameng_common.errors import Conflict, Forbidden, InvalidInput, KamengError, NotFound
from kameng_common.validation import load_or_invalid

_log = logging.getLogger(__name__)

# digests looked up per query when checking a batch for cards already stored
_LOOKUP_CHUNK = 500


# ---- catalogue


def create_category(db, name):
    """Idempotent on the name: creating an existing category returns it."""
    data = load_or_invalid(schemas.CreateCategory(), {"name": name})
    with db.unit_of_work() as uow:
        insert_ignoring_conflicts(uow, categories, [{"name": data["name"], "created_at": utcnow()}], ["name"])
        row = uow.execute(
            sa.select(categories.c.id, categories.c.name).where(categories.c.name == data["name"])
        ).one()
    return {"id": row.id, "name": row.name}


def create_product(
    db, name, category_id, kind, price, currency="CNY", level_prices=None, supplier_id=None, supplier_sku=None
):
    """Idempotent on (category, name): the same definition again returns the product it made.

    A direct product may name its supplier and its sku there (both or neither).
    """
    data = load_or_invalid(
        schemas.CreateProduct(),
        {
            "name": name,
            "category_id": category_id,
            "kind": kind,
            "price": price,
            "currency": currency,
            "level_prices": level_prices,
            "supplier_id": supplier_id,
            "supplier_sku": supplier_sku,
        },
    )
    data["level_prices"] = data["level_prices"] or {}
    if (data["supplier_id"] is None) != (data["supplier_sku"] is None):
        raise InvalidInput("supplier_id and supplier_sku: give both or neither")
    if data["supplier_id"] is not None and data["kind"] != domain.DIRECT:
        raise InvalidInput("only a direct product is fulfilled by a supplier")
    with db.unit_of_work() as uow:
        category = uow.execute(
            sa.select(categories.c.id).where(categories.c.id == data["category_id"])
        ).first()
        if category is None:
            raise InvalidInput(f"category {data['category_id']} does not exist")
        if data["supplier_id"] is not None:
            known = uow.execute(
                sa.select(suppliers.c.id).where(suppliers.c.id == data["supplier_id"])
            ).first()
            if known is None:
                raise InvalidInput(f"supplier {data['supplier_id']} does not exist", "supplier_not_found")
        insert_ignoring_conflicts(uow, products, [{**data, "created_at": utcnow()}], ["category_id", "name"])
        product = uow.execute(
            sa.select(products).where(
                products.c.category_id == data["category_id"], products.c.name == data["name"]
            )
        ).one()
    existing = {key: getattr(product, key) for key in data}
    if existing != data:
        raise Conflict(f"a different product named {data['name']!r} already exists in this category")
    return schemas.Product().dump(product._mapping)


def list_products(db, level="regular", limit=50, cursor=None):
    """One page of the catalogue, priced at ``level``, with each card product's available stock."""
    data = load_or_invalid(schemas.ListProducts(), {"level": _level(level), "limit": limit, "cursor": cursor})
    query = sa.select(products).order_by(products.c.id).limit(data["limit"] + 1)
    if data["cursor"] is not None:
        query = query.where(products.c.id > data["cursor"])
    with db.reading() as session:
        rows = session.execute(query).all()
        page = rows[: data["limit"]]
        stock = _available_counts(session, [row.id for row in page if row.kind == domain.CARD])
        supplied = upstream_stock(session, [row.id for row in page if row.kind == domain.DIRECT])
    return {
        "items": [
            {
                "id": row.id,
                "name": row.name,
                "category_id": row.category_id,
                "kind": row.kind,
                "price": domain.price_for_level(row.price, row.level_prices, data["level"]),
                "currency": row.currency,
                # a direct product is fulfilled by its supplier: its stock is the supplier's
                "stock": stock.get(row.id, 0) if row.kind == domain.CARD else supplied.get(row.id),
            }
            for row in page
        ],
        "next_cursor": str(page[-1].id) if len(rows) > data["limit"] else None,
    }


def quote(db, items, level="regular"):
    """The price of ``items`` at ``level``; lines of the same product are merged."""
    data = load_or_invalid(schemas.Quote(), {"items": items, "level": _level(level)})
    lines = domain.merge_lines(data["items"])
    with db.reading() as session:
        rows = session.execute(sa.select(products).where(products.c.id.in_(list(lines)))).all()
    found = {row.id: row._mapping for row in rows}
    for product_id in lines:
        if product_id not in found:
            raise NotFound(f"product {product_id} does not exist")
    return domain.quote(lines, found, data["level"])


def _level(level):
    # an anonymous buyer has no level: it pays the regular price
    return domain.REGULAR if level is None else level


def stock_levels(db):
    """{product id (as text, like every JSON key): available cards} for every card product."""
    with db.reading() as session:
        card_products = (
            session.execute(sa.select(products.c.id).where(products.c.kind == domain.CARD)).scalars().all()
        )
        stock = _available_counts(session, card_products)
    return {str(product_id): stock.get(product_id, 0) for product_id in card_products}


def _available_counts(session, product_ids):
    if not product_ids:
        return {}
    return dict(
        session.execute(
            sa.select(cards.c.product_id, sa.func.count())
            .where(cards.c.product_id.in_(product_ids), cards.c.status == domain.AVAILABLE)
            .group_by(cards.c.product_id)
        ).all()
    )


# ---- card stock


def import_cards(db, keyring, product_id, cards_in):
    """Encrypt and store card keys; a number the product already has is a duplicate, not an error.

    Idempotent: importing the same batch again imports nothing and counts duplicates.
    """
    data = load_or_invalid(schemas.ImportCards(), {"product_id": product_id, "cards": cards_in})
    product_id = data["product_id"]
    with db.reading() as session:
        kind = session.execute(
            sa.select(products.c.kind).where(products.c.id == product_id)
        ).scalar_one_or_none()
    if kind is None:
        raise NotFound(f"product {product_id} does not exist")
    if kind != domain.CARD:
        raise InvalidInput("a direct product is fulfilled by its supplier and holds no cards")

    cleaned = [domain.clean_card(raw) for raw in data["cards"]]
    rejected = cleaned.count(None)
    batch = {}  # newest-key digest -> (number, secret)
    for card in filter(None, cleaned):
        batch.setdefault(keyring.number_digest(card[0]), card)
    duplicates = len(cleaned) - rejected - len(batch)

    now = utcnow()
    rows = []
    for digest, (number, secret) in batch.items():
        sealed = keyring.seal(product_id, number, secret)
        rows.append(
            {
                "product_id": product_id,
                "number": number,
                "number_digest": digest,
                "key_id": sealed.key_id,
                "nonce": sealed.nonce,
                "ciphertext": sealed.ciphertext,
                "status": domain.AVAILABLE,
                "imported_at": now,
            }
        )
    with db.unit_of_work() as uow:
        stored = _stored_numbers(uow, keyring, product_id, [number for number, _ in batch.values()])
        fresh = [row for row in rows if row["number"] not in stored]
        # a concurrent import of the same number loses here instead of failing
        imported = len(insert_ignoring_conflicts(uow, cards, fresh, ["product_id", "number_digest"]))
    duplicates += len(rows) - imported
    return {"imported": imported, "duplicates": duplicates, "rejected": rejected}


def _stored_numbers(uow, keyring, product_id, numbers):
    """Which of ``numbers`` the product already holds, by digest under every key (old ones too)."""
    by_digest = {digest: number for number in numbers for digest in keyring.number_digests(number)}
    digests = list(by_digest)
    stored = set()
    for start in range(0, len(digests), _LOOKUP_CHUNK):
        found = uow.execute(
            sa.select(cards.c.number_digest).where(
                cards.c.product_id == product_id,
                cards.c.number_digest.in_(digests[start : start + _LOOKUP_CHUNK]),
            )
        ).scalars()
        stored.update(by_digest[digest] for digest in found)
    return stored


_REFUSALS = {
    domain.NOT_FOUND: lambda order_id: NotFound(f"order {order_id} not found"),
    domain.FORBIDDEN: lambda order_id: Forbidden("only the customer who bought an order may read its cards"),
    domain.NOT_DELIVERED: lambda order_id: Conflict(f"the cards of order {order_id} are not delivered yet"),
    domain.INTEGRITY_ERROR: lambda order_id: KamengError(
        f"a card of order {order_id} failed its integrity check", code="card_integrity"
    ),
}


def reveal_cards(db, keyring, order_id, customer_id):
    """The order's cards in clear, for the customer who bought it; every attempt is audited."""
    data = load_or_invalid(schemas.RevealCards(), {"order_id": order_id, "customer_id": customer_id})
    order_id, customer_id = data["order_id"], data["customer_id"]
    revealed = []
    with db.unit_of_work() as uow:
        order = uow.execute(sa.select(orders).where(orders.c.id == order_id)).first()
        refusal = domain.reveal_refusal(None if order is None else order._mapping, customer_id)
        if refusal is None:
            sold = uow.execute(
                sa.select(cards)
                .where(cards.c.order_id == order_id, cards.c.status == domain.SOLD)
                .order_by(cards.c.id)
            ).all()
            try:
                revealed = [
                    {
                        "number": card.number,
                        "secret": keyring.open(
                            card.product_id,
                            card.number,
                            SealedSecret(card.key_id, card.nonce, card.ciphertext),
                        ),
                    }
                    for card in sold
                ]
            except CardIntegrityError as error:
                _log.error("order %s: %s", order_id, error)
                refusal, revealed = domain.INTEGRITY_ERROR, []
        uow.execute(
            reveal_audit.insert().values(
                order_id=order_id,
                requested_by=customer_id,
                outcome=refusal or domain.REVEALED,
                cards_revealed=len(revealed),
                at=utcnow(),
            )
        )
        auditlog.record(
            uow,
            "inventory",
            customer_id,
            "cards.revealed",
            f"order:{order_id}",
            {"outcome": refusal or domain.REVEALED, "cards": len(revealed)},
        )
    if refusal is not None:
        raise _REFUSALS[refusal](order_id)
    return revealed


# ---- the audit


def audit_snapshot(db):
    """What inventory knows of the orders' cards, aggregated, for ``kameng audit``; never a secret.

    ``sold`` and ``reserved`` are keyed by order id; ``sold_twice`` lists the
    cards that share one number of a product and are sold to more than one
    order, which the table's constraints should make impossible.
    """
    with db.reading_snapshot() as session:
        by_status = dict(
            session.execute(sa.select(cards.c.status, sa.func.count()).group_by(cards.c.status)).all()
        )
        direct_products = (
            session.execute(
                sa.select(products.c.id).where(products.c.kind == domain.DIRECT).order_by(products.c.id)
            )
            .scalars()
            .all()
        )
        sold_rows = session.execute(
            sa.select(cards.c.order_id, cards.c.product_id, sa.func.count(), sa.func.max(cards.c.sold_at))
            .where(cards.c.status == domain.SOLD)
            .group_by(cards.c.order_id, cards.c.product_id)
        ).all()
        reserved_rows = session.execute(
            sa.select(cards.c.order_id, sa.func.count(), sa.func.max(cards.c.reserved_at))
            .where(cards.c.status == domain.RESERVED)
            .group_by(cards.c.order_id)
        ).all()
        sold_twice = _cards_sold_to_several_orders(session)
    sold, last_sale = {}, {}
    for order_id, product_id, count, sold_at in sold_rows:
        sold.setdefault(order_id, {"cards": {}})["cards"][str(product_id)] = count
        last_sale[order_id] = max(last_sale.get(order_id, sold_at), sold_at)
    for order_id, order in sold.items():
        order["sold_at"] = utc_isoformat(last_sale[order_id])
    return {
        "service": "inventory",
        "cards": {
            status: by_status.get(status, 0) for status in (domain.AVAILABLE, domain.RESERVED, domain.SOLD)
        },
        "direct_products": [str(product_id) for product_id in direct_products],
        "sold": sold,
        "reserved": {
            order_id: {"cards": count, "reserved_at": utc_isoformat(reserved_at)}
            for order_id, count, reserved_at in reserved_rows
        },
        "sold_twice": sold_twice,
        "outbox": db.outbox_status(),
    }


def _cards_sold_to_several_orders(session):
    """[{product_id, card_ids, order_ids}] for each card number of a product sold to several orders.

    A card row has one order, so this can only happen to a number stored twice
    (under two card keys' digests, say): grouped by the number itself.
    """
    shared = (
        sa.select(cards.c.product_id, cards.c.number)
        .where(cards.c.status == domain.SOLD)
        .group_by(cards.c.product_id, cards.c.number)
        .having(sa.func.count(sa.distinct(cards.c.order_id)) > 1)
        .subquery()
    )
    rows = session.execute(
        sa.select(cards.c.product_id, cards.c.number, cards.c.id, cards.c.order_id)
        .join(shared, sa.and_(cards.c.product_id == shared.c.product_id, cards.c.number == shared.c.number))
        .where(cards.c.status == domain.SOLD)
        .order_by(cards.c.product_id, cards.c.number, cards.c.id)
    ).all()
    found = {}
    for product_id, number, card_id, order_id in rows:
        card = found.setdefault(
            (product_id, number), {"product_id": str(product_id), "card_ids": [], "order_ids": []}
        )
        card["card_ids"].append(card_id)
        if order_id not in card["order_ids"]:
            card["order_ids"].append(order_id)
    return list(found.values())


# ---- the purchase saga


def on_order_created(uow, event):
    payload = event["payload"]
    order_id = payload["order_id"]
    order = _order_for_update(uow, order_id, payload["customer_id"], payload["items"])
    action = domain.on_order_created(order.stock_state, order.closed_at is not None)
    if action == domain.IGNORE:
        return
    if action == domain.REJECT_CLOSED:
        _reject(uow, order_id, domain.ORDER_CLOSED)
        return
    lines = domain.merge_lines(payload["items"])
    shortfall = _reserve(uow, order_id, lines)
    if shortfall:
        _reject(uow, order_id, shortfall)
        return
    _set_stock_state(uow, order_id, domain.STOCK_RESERVED)
    uow.publish(
        "stock.reserved",
        {
            "order_id": order_id,
            "items": [
                {"product_id": product_id, "quantity": quantity} for product_id, quantity in lines.items()
            ],
        },
        correlation_id=order_id,
    )


def on_order_cancelled(uow, event):
    _close_order(uow, event)


def on_order_expired(uow, event):
    _close_order(uow, event)


def _close_order(uow, event):
    """Release the order's reservation and leave a tombstone, so a late order.created reserves nothing."""
    payload = event["payload"]
    order_id = payload["order_id"]
    reason = payload.get("reason") or event["type"].removeprefix("order.")
    order = _order_for_update(uow, order_id)
    values = {"updated_at": utcnow()}
    if order.closed_at is None:
        values.update(closed_at=values["updated_at"], close_reason=reason[:64])
    if domain.on_order_closed(order.stock_state) == domain.RELEASE:
        _release(uow, order_id)
        values["stock_state"] = domain.STOCK_RELEASED
    uow.execute(orders.update().where(orders.c.id == order_id).values(**values))


def on_order_paid(uow, event):
    """Sell the order's cards; an order that lost its reservation (paid after expiry) reserves again."""
    payload = event["payload"]
    order_id = payload["order_id"]
    order = _order_for_update(uow, order_id, payload["customer_id"], payload["items"])
    if domain.on_order_paid(order.stock_state) == domain.IGNORE:
        return
    lines = domain.merge_lines(payload["items"])
    shortfall = _reserve(uow, order_id, lines)
    if shortfall:
        _release(uow, order_id)
        _set_stock_state(uow, order_id, domain.STOCK_SALE_FAILED)
        uow.publish("stock.sale_failed", {"order_id": order_id, "reason": shortfall}, correlation_id=order_id)
        return
    now = utcnow()
    uow.execute(
        cards.update()
        .where(cards.c.order_id == order_id, cards.c.status == domain.RESERVED)
        .values(status=domain.SOLD, sold_at=now)
    )
    _set_stock_state(uow, order_id, domain.STOCK_SOLD)
    card_ids = (
        uow.execute(
            sa.select(cards.c.id)
            .where(cards.c.order_id == order_id, cards.c.status == domain.SOLD)
            .order_by(cards.c.id)
        )
        .scalars()
        .all()
    )
    if card_ids:
        uow.publish("cards.delivered", {"order_id": order_id, "card_ids": card_ids}, correlation_id=order_id)


def _order_for_update(uow, order_id, customer_id=None, items=None):
    """Inventory's row for the order, created if new and locked until commit.

    The lock serializes the handlers of one order's events, which arrive on
    different queues and may run at once.
    """
    now = utcnow()
    insert_ignoring_conflicts(
        uow,
        orders,
        [{"id": order_id, "customer_id": customer_id, "items": items, "created_at": now, "updated_at": now}],
        ["id"],
    )
    order = uow.execute(sa.select(orders).where(orders.c.id == order_id).with_for_update()).one()
    if order.customer_id is None and customer_id is not None:
        # a tombstone left by an early cancel or expiry learns whose order it was
        uow.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(customer_id=customer_id, items=items, updated_at=now)
        )
    return order


def _set_stock_state(uow, order_id, state):
    uow.execute(orders.update().where(orders.c.id == order_id).values(stock_state=state, updated_at=utcnow()))


def _reject(uow, order_id, reason):
    _set_stock_state(uow, order_id, domain.STOCK_REJECTED)
    uow.publish("stock.rejected", {"order_id": order_id, "reason": reason}, correlation_id=order_id)


class _Shortfall(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _reserve(uow, order_id, lines):
    """Hold every card the order's lines need beyond those it holds already: all of them or none.

    Returns None on success, else the reason of the refusal (nothing changed).
    """
    kinds = dict(
        uow.execute(sa.select(products.c.id, products.c.kind).where(products.c.id.in_(list(lines)))).all()
    )
    if any(product_id not in kinds for product_id in lines):
        return domain.UNKNOWN_PRODUCT
    held = dict(
        uow.execute(
            sa.select(cards.c.product_id, sa.func.count())
            .where(cards.c.order_id == order_id, cards.c.status == domain.RESERVED)
            .group_by(cards.c.product_id)
        ).all()
    )
    now = utcnow()
    demand = domain.card_demand(lines, kinds)
    # a hold that falls short changes nothing, so only holds of several products need undoing
    undoable = uow.connection.begin_nested() if len(demand) > 1 else contextlib.nullcontext()
    try:
        with undoable:
            for product_id, quantity in demand.items():
                missing = quantity - held.get(product_id, 0)
                if missing > 0 and _hold_cards(uow, order_id, product_id, missing, now) < missing:
                    raise _Shortfall(domain.OUT_OF_STOCK)
    except _Shortfall as shortfall:
        return shortfall.reason
    return None


def _hold_cards(uow, order_id, product_id, quantity, now):
    """Reserve up to ``quantity`` available cards of a product for the order; returns how many.

    PostgreSQL: the rows are locked as they are picked, and rows another
    reservation has locked are skipped rather than waited for. SQLite: the unit
    of work holds the database's write lock (BEGIN IMMEDIATE), so nobody else
    picks at the same time.
    """
    picked = (
        uow.execute(
            sa.select(cards.c.id)
            .where(cards.c.product_id == product_id, cards.c.status == domain.AVAILABLE)
            .order_by(cards.c.id)
            .limit(quantity)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if len(picked) < quantity:
        return len(picked)
    return uow.execute(
        cards.update()
        .where(cards.c.id.in_(picked), cards.c.status == domain.AVAILABLE)
        .values(status=domain.RESERVED, order_id=order_id, reserved_at=now)
    ).rowcount


def _release(uow, order_id):
    uow.execute(
        cards.update()
        .where(cards.c.order_id == order_id, cards.c.status == domain.RESERVED)
        .values(status=domain.AVAILABLE, order_id=None, reserved_at=None)
    )
