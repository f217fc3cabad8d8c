"""Inventory's use cases. Each takes the Database (an event handler, the unit of work its event is
handled in) and the card keyring where secrets are involved; each change is one unit of work: state,
the events it publishes and the event it consumed.
"""

import contextlib
import datetime
import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from inventory import domain, fulfilment, refunds, restock, sale, schemas
from inventory.crypto import CardIntegrityError, Keyring, SealedSecret
from inventory.db import (
    cards,
    categories,
    insert_ignoring_conflicts,
    loop_sales,
    orders,
    price_history,
    products,
    reveal_audit,
    suppliers,
)
from inventory.metrics import CARDS_IMPORTED, RESERVATIONS_SWEPT
from inventory.stock import live_loop_card, loop_units_taken, stock_of, stocked_products
from inventory.suppliers import upstream_stock
from kameng_common import auditlog, contracts
from kameng_common.db import Database, UnitOfWork, as_utc, utc_isoformat, utcnow
from kameng_common.errors import Conflict, Forbidden, InvalidInput, KamengError, NotFound, Unavailable
from kameng_common.money import shop_price
from kameng_common.orphans import SWEEP_PAGE, OrderStatuses, statuses_of
from kameng_common.validation import load_or_invalid, schema_instance

_log = logging.getLogger(__name__)

# digests looked up per query when checking a batch for cards already stored
_LOOKUP_CHUNK = 500

# a card of an import batch: (position in the batch, number, secret, its digests under the older keys)
_Batched = tuple[int, str, str, list[str]]


# ---- catalogue


def create_category(db: Database, name: str, parent_id: int | None = None) -> dict[str, Any]:
    """Idempotent on (parent, name): creating an existing category returns it."""
    data = load_or_invalid(schemas.CreateCategory, {"name": name, "parent_id": parent_id})
    with db.unit_of_work() as uow:
        lock_categories(uow)
        if data["parent_id"] is not None and category_row(uow, data["parent_id"]) is None:
            raise InvalidInput(f"parent category {data['parent_id']} does not exist")
        row = _sibling_named(uow, data["parent_id"], data["name"])
        if row is None:
            uow.execute(categories.insert().values(**data, created_at=utcnow()))
            row = _sibling_named(uow, data["parent_id"], data["name"])
            assert row is not None, "the category was just inserted"
    return schema_instance(schemas.Category).dump(row._mapping)


def lock_categories(uow: UnitOfWork) -> None:
    """Serialize the writers of the category tree until commit.

    Sibling names and the absence of cycles are checked by reading the tree, so
    two writers must not check at once. SQLite's unit of work holds the
    database's write lock already; on PostgreSQL category writes are rare staff
    actions, so a table lock that lets readers through is simplest.
    """
    if uow.connection.dialect.name == "postgresql":
        uow.execute(sa.text("LOCK TABLE categories IN SHARE ROW EXCLUSIVE MODE"))


def category_row(connection: sa.Connection | UnitOfWork, category_id: int) -> sa.Row[Any] | None:
    return connection.execute(sa.select(categories).where(categories.c.id == category_id)).first()


def _sibling_named(uow: UnitOfWork, parent_id: int | None, name: str) -> sa.Row[Any] | None:
    return uow.execute(
        sa.select(categories).where(
            categories.c.parent_id.is_(None) if parent_id is None else categories.c.parent_id == parent_id,
            categories.c.name == name,
        )
    ).first()


def create_product(
    db: Database,
    name: str,
    category_id: int,
    kind: str,
    price: int,
    currency: str = "CNY",
    level_prices: dict[str, int] | None = None,
    supplier_id: int | None = None,
    supplier_sku: str | None = None,
    stock_limit: int | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Idempotent on (category, name): the same definition again returns the product it made.

    A direct product may name its supplier and its sku there (both or
    neither), and so may a card product, whose missing cards are then bought
    there on demand when an order is paid; a loop product may have a
    ``stock_limit``. Its first price goes into the
    price history, changed by ``actor`` (a staff id).
    """
    data = load_or_invalid(
        schemas.CreateProduct,
        {
            "name": name,
            "category_id": category_id,
            "kind": kind,
            "price": price,
            "currency": currency,
            "level_prices": level_prices,
            "supplier_id": supplier_id,
            "supplier_sku": supplier_sku,
            "stock_limit": stock_limit,
        },
    )
    data["level_prices"] = data["level_prices"] or {}
    if (data["supplier_id"] is None) != (data["supplier_sku"] is None):
        raise InvalidInput("supplier_id and supplier_sku: give both or neither")
    if data["supplier_id"] is not None and data["kind"] not in domain.UPSTREAM_KINDS:
        raise InvalidInput("only a direct or a card product is bought from a supplier")
    if data["stock_limit"] is not None and data["kind"] != domain.LOOP:
        raise InvalidInput("stock_limit: only a loop product has a stock limit")
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
        now = utcnow()
        created = insert_ignoring_conflicts(
            uow, products, [{**data, "created_at": now, "updated_at": now}], ["category_id", "name"]
        )
        product = uow.execute(
            sa.select(products).where(
                products.c.category_id == data["category_id"], products.c.name == data["name"]
            )
        ).one()
        if created:
            record_price(uow, product, actor, now)
    existing = {key: getattr(product, key) for key in data}
    if existing != data:
        raise Conflict(f"a different product named {data['name']!r} already exists in this category")
    return schema_instance(schemas.Product).dump(product._mapping)


def record_price(
    uow: UnitOfWork, product: sa.Row[Any] | Mapping[str, Any], actor: str | None, at: datetime.datetime
) -> None:
    """Add ``product``'s current price (a row or a mapping) to its price history."""
    values = product._mapping if isinstance(product, sa.Row) else product
    uow.execute(
        price_history.insert().values(
            product_id=values["id"],
            price=values["price"],
            currency=values["currency"],
            level_prices=values["level_prices"],
            changed_by=actor,
            changed_at=at,
        )
    )


def list_products(
    db: Database,
    level: str | None = "regular",
    limit: int = 50,
    cursor: int | str | None = None,
    include_off_sale: bool = False,
    markup_bp: int = 0,
) -> dict[str, Any]:
    """One page of the catalogue, priced at ``level`` (plus an agent's shop's ``markup_bp``), with
    each product's stock.

    Buyers see the products on sale; staff may ask for those off sale too.
    """
    data = load_or_invalid(
        schemas.ListProducts,
        {"level": _level(level), "limit": limit, "cursor": cursor, "markup_bp": markup_bp},
    )
    query = sa.select(products).order_by(products.c.id).limit(data["limit"] + 1)
    if data["cursor"] is not None:
        query = query.where(products.c.id > data["cursor"])
    if not include_off_sale:
        query = query.where(products.c.status == domain.ON_SALE)
    with db.reading() as session:
        rows = session.execute(query).all()
        page = rows[: data["limit"]]
        stock = stock_of(session, page, with_upstream_cards=True)
    return {
        "items": [priced_product(row, data["level"], stock[row.id], data["markup_bp"]) for row in page],
        "next_cursor": str(page[-1].id) if len(rows) > data["limit"] else None,
    }


def get_product(db: Database, product_id: int, level: str | None = "regular") -> dict[str, Any]:
    """One product priced at ``level`` with its stock; a product off sale is hidden from buyers."""
    data = load_or_invalid(schemas.GetProduct, {"product_id": product_id, "level": _level(level)})
    with db.reading() as session:
        row = session.execute(sa.select(products).where(products.c.id == data["product_id"])).first()
        if row is None or row.status != domain.ON_SALE:
            raise NotFound(f"product {data['product_id']} does not exist")
        stock = stock_of(session, [row], with_upstream_cards=True)[row.id]
    return priced_product(row, data["level"], stock)


def priced_product(row: sa.Row[Any], level: str, stock: int | None, markup_bp: int = 0) -> dict[str, Any]:
    """A product row as buyers see it: its price at ``level`` (and a shop's markup) and its ``stock``
    (None: unlimited)."""
    return {
        "id": row.id,
        "name": row.name,
        "category_id": row.category_id,
        "kind": row.kind,
        "price": shop_price(domain.price_for_level(row.price, row.level_prices, level), markup_bp),
        "currency": row.currency,
        "status": row.status,
        "stock": stock,
    }


def quote(db: Database, items: list[dict[str, Any]], level: str | None = "regular") -> dict[str, Any]:
    """The price of ``items`` at ``level``; lines of the same product are merged.

    A product off sale cannot be ordered (409 ``not_on_sale``); an order placed
    before keeps the price it was quoted.
    """
    data = load_or_invalid(schemas.Quote, {"items": items, "level": _level(level)})
    lines = domain.merge_lines(data["items"])
    with db.reading() as session:
        rows = session.execute(sa.select(products).where(products.c.id.in_(list(lines)))).all()
    found = {row.id: row._mapping for row in rows}
    for product_id in lines:
        if product_id not in found:
            raise NotFound(f"product {product_id} does not exist")
    refusal = domain.direct_line_refusal(
        data["items"],
        {product_id: row["kind"] for product_id, row in found.items()},
        {product_id for product_id, row in found.items() if row["supplier_id"] is not None},
    )
    if refusal is not None:
        raise InvalidInput(refusal, "invalid_direct_line")
    priced = {
        product_id: domain.PricedProduct(
            name=row["name"],
            status=row["status"],
            currency=row["currency"],
            category_id=row["category_id"],
            price=row["price"],
            level_prices=row["level_prices"],
        )
        for product_id, row in found.items()
    }
    return domain.quote(lines, priced, data["level"])


def _level(level: str | None) -> str:
    # an anonymous buyer has no level: it pays the regular price
    return domain.REGULAR if level is None else level


def stock_levels(db: Database) -> dict[str, int]:
    """{product id (as text, like every JSON key): units orderable} for every product holding stock.

    A card product counts its available cards, a loop product what its limit
    leaves; a loop product without a limit has no number to give and is left out.
    """
    with db.reading() as session:
        stock = stock_of(session, stocked_products(session))
    return {str(product_id): units for product_id, units in stock.items() if units is not None}


# ---- card stock


def import_cards(db: Database, keyring: Keyring, product_id: int, cards_in: list[Any]) -> dict[str, Any]:
    """Encrypt and store card keys; a number the product already has is a duplicate, not an error.

    Answers the counts and, for the caller to report by line, the 0-based
    positions in ``cards_in`` of the duplicates (within the batch or against
    stock) and of the rejected cards (malformed, or a second card for a loop
    product, which delivers one). Idempotent: importing the same batch again
    imports nothing and counts duplicates.
    """
    data = load_or_invalid(schemas.ImportCards, {"product_id": product_id, "cards": cards_in})
    product_id = data["product_id"]
    rejected, duplicates = [], []
    batch: dict[str, _Batched] = {}  # newest-key digest -> the card
    for position, raw in enumerate(data["cards"]):
        card = domain.clean_card(raw)
        if card is None:
            rejected.append(position)
            continue
        *older, newest = keyring.number_digests(card[0])
        if newest in batch:
            duplicates.append(position)
        else:
            batch[newest] = (position, card[0], card[1], older)

    with db.unit_of_work() as uow:
        product = uow.execute(
            sa.select(products.c.kind).where(products.c.id == product_id).with_for_update()
        ).first()
        if product is None:
            raise NotFound(f"product {product_id} does not exist")
        if product.kind == domain.DIRECT:
            raise InvalidInput("a direct product is fulfilled by its supplier and holds no cards")
        # numbers the product holds already are never sealed again; a number stored
        # under an older card key has another digest, so those are looked up too
        stored = _stored_digests(uow, product_id, batch)
        duplicates += [batch.pop(digest)[0] for digest in stored]
        if product.kind == domain.LOOP:
            rejected += _beyond_one_loop_card(uow, keyring, product_id, batch)
        sealed = keyring.seal_many(product_id, [(number, secret) for _, number, secret, _ in batch.values()])
        now = utcnow()
        rows = [
            {
                "product_id": product_id,
                "number": number,
                "number_digest": digest,
                "key_id": seal.key_id,
                "nonce": seal.nonce,
                "ciphertext": seal.ciphertext,
                "status": domain.AVAILABLE,
                "imported_at": now,
            }
            for (digest, (_, number, _, _)), seal in zip(batch.items(), sealed, strict=True)
        ]
        # a number already stored, by a concurrent import too, loses here instead of failing
        inserted = _insert_new_cards(uow, rows)
        restock.watch_stock(uow, [product_id])
    duplicates += [position for digest, (position, *_) in batch.items() if digest not in inserted]
    for outcome, count in (
        ("imported", len(inserted)),
        ("duplicate", len(duplicates)),
        ("rejected", len(rejected)),
    ):
        CARDS_IMPORTED.labels(outcome).inc(count)
    return {
        "imported": len(inserted),
        "duplicates": len(duplicates),
        "rejected": len(rejected),
        "duplicate_positions": sorted(duplicates),
        "rejected_positions": sorted(rejected),
    }


def _stored_digests(uow: UnitOfWork, product_id: int, batch: dict[str, _Batched]) -> set[str]:
    """The newest-key digests in ``batch`` whose number the product holds, under any card key."""
    by_digest = {}
    for newest, (*_, olders) in batch.items():
        by_digest[newest] = newest
        by_digest.update(dict.fromkeys(olders, newest))
    digests = list(by_digest)
    stored: set[str] = set()
    for start in range(0, len(digests), _LOOKUP_CHUNK):
        found = uow.execute(
            sa.select(cards.c.number_digest).where(
                cards.c.product_id == product_id,
                cards.c.number_digest.in_(digests[start : start + _LOOKUP_CHUNK]),
            )
        ).scalars()
        stored.update(by_digest[digest] for digest in found)
    return stored


def _beyond_one_loop_card(
    uow: UnitOfWork, keyring: Keyring, product_id: int, batch: dict[str, _Batched]
) -> list[int]:
    """Keep in ``batch`` the one card a loop product may take; returns the positions refused.

    A loop product delivers one live card: while it has one, the same number
    again is a duplicate and any other is refused (void the live card first to
    replace it).
    """
    live = live_loop_card(uow, product_id)
    if live is not None:
        live_digest = uow.execute(sa.select(cards.c.number_digest).where(cards.c.id == live)).scalar_one()
        keep = []
    else:
        live_digest, keep = None, list(batch)[:1]
    refused = []
    for digest in list(batch):
        if digest != live_digest and digest not in keep:
            refused.append(batch.pop(digest)[0])
    return refused


def _insert_new_cards(uow: UnitOfWork, rows: list[dict[str, Any]]) -> set[str]:
    """Insert ``rows``, skipping numbers the product holds already; the digests inserted."""
    if not rows:
        return set()
    statement = (
        uow.insert(cards)
        .on_conflict_do_nothing(index_elements=["product_id", "number_digest"])
        .returning(cards.c.number_digest)
    )
    return set(uow.execute(statement, rows).scalars())


_REFUSALS = {
    domain.NOT_FOUND: lambda order_id: NotFound(f"order {order_id} not found"),
    domain.FORBIDDEN: lambda order_id: Forbidden("only the customer who bought an order may read its cards"),
    domain.NOT_DELIVERED: lambda order_id: Conflict(f"the cards of order {order_id} are not delivered yet"),
    domain.INTEGRITY_ERROR: lambda order_id: KamengError(
        f"a card of order {order_id} failed its integrity check", code="card_integrity"
    ),
}


def reveal_cards(db: Database, keyring: Keyring, order_id: str, customer_id: str) -> list[dict[str, str]]:
    """The order's cards in clear, for the customer who bought it; every attempt is audited."""
    data = load_or_invalid(schemas.RevealCards, {"order_id": order_id, "customer_id": customer_id})
    order_id, customer_id = data["order_id"], data["customer_id"]
    revealed = []
    with db.unit_of_work() as uow:
        order = uow.execute(sa.select(orders).where(orders.c.id == order_id)).first()
        refusal = domain.reveal_refusal(
            None if order is None else domain.SoldOrder(order.customer_id, order.stock_state), customer_id
        )
        if refusal is None:
            sold = uow.execute(
                sa.select(cards)
                .where(cards.c.id.in_(sale.delivered_card_ids(uow, order_id)))
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


def audit_snapshot(db: Database) -> dict[str, Any]:
    """What inventory knows of the orders' cards, aggregated, for ``kameng audit``; never a secret.

    ``sold`` and ``reserved`` are keyed by order id, a loop product's units
    counted like cards; ``given_back``: the cards of orders refunded in full,
    refunded or void as the card refund policy said, by order and product; ``sold_twice`` lists the cards that share one number of
    a product and are sold to more than one order, which the table's
    constraints should make impossible (a loop card is never sold as a card:
    each buyer's claim on it is a loop sale); ``loop_products`` gives each loop
    product's limit and the units sold and reserved against it.
    """
    with db.reading_snapshot() as session:
        by_status: dict[str, int] = dict(
            session.execute(sa.select(cards.c.status, sa.func.count()).group_by(cards.c.status)).all()
        )
        direct_products = (
            session.execute(
                sa.select(products.c.id).where(products.c.kind == domain.DIRECT).order_by(products.c.id)
            )
            .scalars()
            .all()
        )
        sold_rows = list(
            session.execute(
                sa.select(cards.c.order_id, cards.c.product_id, sa.func.count(), sa.func.max(cards.c.sold_at))
                .where(cards.c.status == domain.SOLD)
                .group_by(cards.c.order_id, cards.c.product_id)
            ).all()
        )
        sold_rows += session.execute(
            sa.select(
                loop_sales.c.order_id, loop_sales.c.product_id, loop_sales.c.quantity, loop_sales.c.sold_at
            ).where(loop_sales.c.status == domain.SOLD)
        ).all()
        given_back_rows = session.execute(
            sa.select(cards.c.order_id, cards.c.product_id, sa.func.count())
            .where(cards.c.refunded_at.is_not(None))
            .group_by(cards.c.order_id, cards.c.product_id)
        ).all()
        reserved_rows = list(
            session.execute(
                sa.select(cards.c.order_id, sa.func.count(), sa.func.max(cards.c.reserved_at))
                .where(cards.c.status == domain.RESERVED)
                .group_by(cards.c.order_id)
            ).all()
        )
        reserved_rows += session.execute(
            sa.select(loop_sales.c.order_id, loop_sales.c.quantity, loop_sales.c.reserved_at).where(
                loop_sales.c.status == domain.RESERVED
            )
        ).all()
        loop_rows = session.execute(
            sa.select(
                products.c.id, products.c.stock_limit, loop_sales.c.status, sa.func.sum(loop_sales.c.quantity)
            )
            .select_from(products.outerjoin(loop_sales, loop_sales.c.product_id == products.c.id))
            .where(products.c.kind == domain.LOOP)
            .group_by(products.c.id, products.c.stock_limit, loop_sales.c.status)
        ).all()
        sold_twice = _cards_sold_to_several_orders(session)
        direct_lines, supplier_orders_reused = fulfilment.audit_fulfilments(session)
        stock_alerts = restock.alert_states(session)
    sold: dict[str, dict[str, Any]] = {}
    last_sale: dict[str, datetime.datetime] = {}
    for order_id, product_id, count, sold_at in sold_rows:
        sold.setdefault(order_id, {"cards": {}})["cards"][str(product_id)] = count
        last_sale[order_id] = max(last_sale.get(order_id, sold_at), sold_at)
    for order_id, order in sold.items():
        order["sold_at"] = utc_isoformat(last_sale[order_id])
    given_back: dict[str, dict[str, Any]] = {}
    for order_id, product_id, count in given_back_rows:
        given_back.setdefault(order_id, {"cards": {}})["cards"][str(product_id)] = count
    reserved: dict[str, dict[str, Any]] = {}
    for order_id, count, reserved_at in reserved_rows:
        held = reserved.setdefault(order_id, {"cards": 0, "reserved_at": reserved_at})
        held["cards"] += count
        held["reserved_at"] = max(held["reserved_at"], reserved_at)
    loops: dict[str, dict[str, Any]] = {}
    for product_id, stock_limit, status, units in loop_rows:
        loop = loops.setdefault(str(product_id), {"stock_limit": stock_limit, "sold": 0, "reserved": 0})
        if status is not None:
            loop[status] = int(units)
    return {
        "service": "inventory",
        "cards": {status: by_status.get(status, 0) for status in domain.CARD_STATES},
        "direct_products": [str(product_id) for product_id in direct_products],
        "sold": sold,
        "given_back": given_back,
        "reserved": {
            order_id: {"cards": held["cards"], "reserved_at": utc_isoformat(held["reserved_at"])}
            for order_id, held in reserved.items()
        },
        "loop_products": loops,
        "sold_twice": sold_twice,
        "fulfilments": direct_lines,
        "supplier_orders_reused": supplier_orders_reused,
        "stock_alerts": stock_alerts,
        "outbox": db.outbox_status(),
    }


def _cards_sold_to_several_orders(session: sa.Connection) -> list[dict[str, Any]]:
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
    found: dict[tuple[int, str], Any] = {}
    for product_id, number, card_id, order_id in rows:
        card = found.setdefault(
            (product_id, number), {"product_id": str(product_id), "card_ids": [], "order_ids": []}
        )
        card["card_ids"].append(card_id)
        if order_id not in card["order_ids"]:
            card["order_ids"].append(order_id)
    return list(found.values())


# ---- the purchase saga


def reserve(
    db: Database,
    order_id: str,
    customer_id: str,
    items: list[dict[str, Any]],
    level: str | None = None,
    markup_bp: int = 0,
) -> dict[str, Any]:
    """Hold every card a new order's ``items`` need, all or none: ``{order_id, reserved, reason}``.

    With ``level`` (orders placing a new order, before it stores it), inventory prices ``items`` itself
    as ``quote`` does, its refusals raised before anything is written, keeps each line at that price
    plus an agent shop's ``markup_bp`` (what the order charges, for the sale's lines), and answers the
    quote too (``quote``). Without it, the lines come priced by orders (``unit_price``), as an older
    orders asks for an order it stored first.

    Idempotent per order: asked again (a retry, orders re-driving an order it
    did not record), it holds nothing more and answers as the first time did
    (a refusal's reason then is ``rejected_before``; with ``level``, the quote
    priced again, and the lines kept at it); asked again for other items, it
    refuses (``idempotency_key_reused``: they are another order's). An order
    closed before it asked is refused; one that never completes is released by
    its ``order.expired`` or ``order.cancelled``, and one orders never stored by
    ``release_orphaned_reservations``.
    """
    if level is None:
        data = load_or_invalid(
            schemas.Reservation, {"order_id": order_id, "customer_id": customer_id, "items": items}
        )
        lines = contracts.OrderLine(many=True).dump(data["items"])
        priced = None
    else:
        data = load_or_invalid(
            schemas.PricedReservation,
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "items": items,
                "level": level,
                "markup_bp": markup_bp,
            },
        )
        priced = quote(db, data["items"], data["level"])
        lines = _kept_lines(priced, data["items"], data["markup_bp"])
    with db.unit_of_work() as uow:
        order = _order_for_update(uow, order_id, customer_id, lines)
        action = domain.on_reservation_asked(order.stock_state, order.closed_at is not None)
        if action == domain.IGNORE:
            if priced is not None:
                _check_same_items(order, lines)
                if order.stock_state == domain.STOCK_RESERVED and order.closed_at is None:
                    # the buyer's retry, about to store the order at this quote: the sweep must wait
                    _keep_priced_reservation(uow, order_id, lines)
            refusal = None if domain.reserved_before(order.stock_state) else domain.REJECTED_BEFORE
        else:
            # a card product linked to a supplier holds what it has: the rest is bought once paid
            refusal = (
                domain.ORDER_CLOSED
                if action == domain.REJECT_CLOSED
                else _reserve(uow, order_id, domain.merge_lines(lines))[0]
            )
            sale.set_stock_state(uow, order_id, domain.STOCK_REJECTED if refusal else domain.STOCK_RESERVED)
            if priced is not None:
                _keep_priced_reservation(uow, order_id, lines)
    answer = _reservation(order_id, refusal)
    return answer if priced is None else {**answer, "quote": priced}


def _kept_lines(
    priced: Mapping[str, Any], requested: list[dict[str, Any]], markup_bp: int
) -> list[dict[str, Any]]:
    """The lines kept for an order inventory priced: as ``contracts.OrderLine``, at the quote's prices
    plus the shop's markup (``shop_price``, as orders charges them), with each direct line's account."""
    accounts = {
        item["product_id"]: item["recharge_account"] for item in requested if item["recharge_account"]
    }
    lines = []
    for line in priced["items"]:
        kept = {
            "product_id": line["product_id"],
            "quantity": line["quantity"],
            "unit_price": shop_price(line["unit_price"], markup_bp),
        }
        if line["product_id"] in accounts:
            kept["recharge_account"] = accounts[line["product_id"]]
        lines.append(kept)
    return lines


def _check_same_items(order: sa.Row[Any], lines: list[dict[str, Any]]) -> None:
    """A reservation asked again is for the order's own items: other items are another request made
    with the key the order's id follows from."""
    if order.items is not None and domain.merge_lines(order.items) != domain.merge_lines(lines):
        raise InvalidInput(
            "this order was reserved for other items; use a fresh Idempotency-Key for a new order",
            code="idempotency_key_reused",
        )


def _keep_priced_reservation(uow: UnitOfWork, order_id: str, lines: list[dict[str, Any]]) -> None:
    """Keep the lines as priced now, and when orders asked, from which the sweep counts its grace."""
    now = utcnow()
    uow.execute(
        orders.update()
        .where(orders.c.id == order_id)
        .values(items=lines, reserve_asked_at=now, updated_at=now)
    )


def _reservation(order_id: str, refusal: str | None) -> dict[str, Any]:
    return {"order_id": order_id, "reserved": refusal is None, "reason": refusal}


def release_orphaned_reservations(
    db: Database, order_statuses: OrderStatuses, grace_seconds: float, now: datetime.datetime | None = None
) -> int:
    """Give back every reservation asked more than ``grace_seconds`` ago whose order orders does not know
    (orders stopped, or lost the answer, between reserving and storing it, and the buyer never retried);
    answers how many went back.

    Only reservations made with their price (``reserve`` with a level) are swept: orders asks those
    before it stores the order. ``order_statuses(order_ids)`` is orders' answer; nothing goes back when
    it does not answer. A reservation orders knows (its order's events close it), or that holds nothing,
    is not asked about again. Each goes back in its own unit of work, only if it is still held and not
    asked again since (a retry of its order renews it); asked again after, it reserves anew.
    """
    now = now or utcnow()
    asked_before = now - datetime.timedelta(seconds=grace_seconds)
    released = 0
    while True:
        with db.reading() as session:
            page = session.execute(
                sa.select(orders.c.id, orders.c.stock_state, orders.c.closed_at)
                .where(orders.c.reserve_asked_at < asked_before)
                .order_by(orders.c.reserve_asked_at, orders.c.id)
                .limit(SWEEP_PAGE)
            ).all()
        if not page:
            return released
        held = [row.id for row in page if row.stock_state == domain.STOCK_RESERVED and row.closed_at is None]
        try:
            known = statuses_of(order_statuses, held) if held else {}
        except Unavailable as exc:
            _log.warning("orders did not answer; no reservation given back", extra={"error": str(exc)})
            return released
        orphans = [order_id for order_id in held if order_id not in known]
        with db.unit_of_work() as uow:
            uow.execute(
                orders.update()
                .where(
                    orders.c.id.in_([row.id for row in page if row.id not in orphans]),
                    orders.c.reserve_asked_at < asked_before,
                )
                .values(reserve_asked_at=None)
            )
        for order_id in orphans:
            if _release_orphan(db, order_id, asked_before):
                released += 1
                _log.info("reservation of an order never stored given back", extra={"order_id": order_id})


def give_back_reservation(db: Database, order_id: str) -> dict[str, Any]:
    """Give back at once the stock reserved with its price for an order orders refused before storing it
    (its coupon was refused): ``{order_id, released}``. Only a reservation orders asked before storing
    its order, still held; asked again after, it reserves anew."""
    data = load_or_invalid(schemas.GiveBackReservation, {"order_id": order_id})
    return {"order_id": data["order_id"], "released": _release_unstored(db, data["order_id"])}


def _release_orphan(db: Database, order_id: str, asked_before: datetime.datetime) -> bool:
    """Give back the order's reservation if it is still held as the sweep found it; whether it went back."""
    released = _release_unstored(db, order_id, asked_before)
    if released:
        RESERVATIONS_SWEPT.inc()
    return released


def _release_unstored(db: Database, order_id: str, asked_before: datetime.datetime | None = None) -> bool:
    """Give back the reservation asked for an order before orders stored it (last asked before
    ``asked_before``, if given), if it is still held; whether it went back."""
    with db.unit_of_work() as uow:
        order = uow.execute(sa.select(orders).where(orders.c.id == order_id).with_for_update()).first()
        asked_at = None if order is None else order.reserve_asked_at
        if (
            order is None
            or order.stock_state != domain.STOCK_RESERVED
            or order.closed_at is not None
            or asked_at is None
            or (asked_before is not None and as_utc(asked_at) >= asked_before)
        ):
            return False
        sale.release(uow, order_id)
        uow.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(stock_state=domain.STOCK_SWEPT, reserve_asked_at=None, updated_at=utcnow())
        )
    return True


def on_order_cancelled(uow: UnitOfWork, event: dict[str, Any]) -> None:
    _close_order(uow, event)


def on_order_expired(uow: UnitOfWork, event: dict[str, Any]) -> None:
    _close_order(uow, event)


def _close_order(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """Release the order's reservation and leave a tombstone, so a late reservation holds nothing."""
    payload = event["payload"]
    order_id = payload["order_id"]
    reason = payload.get("reason") or event["type"].removeprefix("order.")
    order = _order_for_update(uow, order_id)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if order.closed_at is None:
        values.update(closed_at=values["updated_at"], close_reason=reason[:64])
    if domain.on_order_closed(order.stock_state) == domain.RELEASE:
        sale.release(uow, order_id)
        values["stock_state"] = domain.STOCK_RELEASED
    uow.execute(orders.update().where(orders.c.id == order_id).values(**values))


def on_order_paid(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """Sell the order's cards; an order that lost its reservation (paid after expiry) reserves again.

    An order with a direct line, or short of cards of a product linked to a
    supplier, has those lines bought from the supplier first (fulfilment.py).
    """
    payload = event["payload"]
    order_id = payload["order_id"]
    order = _order_for_update(uow, order_id, payload["customer_id"], payload["items"])
    if domain.on_order_paid(order.stock_state) == domain.IGNORE:
        return
    shortfall, to_buy = _reserve(uow, order_id, domain.merge_lines(payload["items"]))
    upstream_lines, links = _upstream_lines(uow, payload["items"], to_buy)
    direct_lines = [line for _, purpose, line in upstream_lines if purpose == domain.TOP_UP]
    if not shortfall and any(line["product_id"] not in links for line in direct_lines):
        shortfall = domain.NO_SUPPLIER
    if not shortfall and any(not line.get("recharge_account") for line in direct_lines):
        shortfall = domain.NO_RECHARGE_ACCOUNT
    if shortfall:
        sale.release(uow, order_id)
        sale.set_stock_state(uow, order_id, domain.STOCK_SALE_FAILED)
        uow.publish("stock.sale_failed", {"order_id": order_id, "reason": shortfall}, correlation_id=order_id)
        return
    now = utcnow()
    if upstream_lines:
        # its cards stay held until every line bought upstream has an outcome (fulfilment.py)
        fulfilment.record_upstream_lines(
            uow, order_id, upstream_lines, links, now, fulfilment.deadline_seconds()
        )
        sale.set_stock_state(uow, order_id, domain.STOCK_FULFILLING)
        return
    card_ids = sale.sell(uow, order_id, now)
    if card_ids:
        sale.publish_delivered(uow, order_id, card_ids, payload["items"])
    if order.refunded_at is not None:
        # its money went back before its sale: its cards go back at once
        refunds.give_back_cards(uow, order_id, now)


def on_payment_refunded(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """An order whose money is given back in full gives back its sold cards (refunds.py); once.

    A refund in part, or of a sum paid twice, leaves its cards as they are.
    """
    payload = event["payload"]
    if not payload.get("order_refunded_in_full"):
        return
    order_id = payload["order_id"]
    order = _order_for_update(uow, order_id)
    if order.refunded_at is not None:
        return
    now = utcnow()
    uow.execute(orders.update().where(orders.c.id == order_id).values(refunded_at=now, updated_at=now))
    refunds.give_back_cards(uow, order_id, now)


def _upstream_lines(
    uow: UnitOfWork, items: list[dict[str, Any]], to_buy: dict[int, int]
) -> tuple[list[tuple[int, str, dict[str, Any]]], dict[int, tuple[int, str]]]:
    """``([(line number, purpose, line)], {product id: (supplier id, sku)})``: the order's direct lines
    (``TOP_UP``) and, for each linked card product in ``to_buy``, the cards it lacks (``RESTOCK``,
    numbered as the product's first line)."""
    product_ids = [item["product_id"] for item in items]
    rows = uow.execute(
        sa.select(products.c.id, products.c.kind, products.c.supplier_id, products.c.supplier_sku).where(
            products.c.id.in_(product_ids)
        )
    ).all()
    kinds = {row.id: row.kind for row in rows}
    links = {row.id: (row.supplier_id, row.supplier_sku) for row in rows if row.supplier_id is not None}
    lines: list[tuple[int, str, dict[str, Any]]] = []
    for line_no, item in enumerate(items, start=1):
        product_id = item["product_id"]
        if kinds.get(product_id) == domain.DIRECT:
            lines.append((line_no, domain.TOP_UP, item))
        elif product_id in to_buy:
            lines.append(
                (line_no, domain.RESTOCK, {"product_id": product_id, "quantity": to_buy.pop(product_id)})
            )
    return lines, links


def _order_for_update(
    uow: UnitOfWork, order_id: str, customer_id: str | None = None, items: list[dict[str, Any]] | None = None
) -> sa.Row[Any]:
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


class _Shortfall(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# built once, as every reservation runs them: values are bound when they run (an UPDATE's
# parameters may not take its columns' names)
_PRODUCT_KINDS = sa.select(products.c.id, products.c.kind, products.c.supplier_id).where(
    products.c.id.in_(sa.bindparam("ids", expanding=True))
)
_CARDS_HELD = (
    sa.select(cards.c.product_id, sa.func.count())
    .where(cards.c.order_id == sa.bindparam("order_id"), cards.c.status == domain.RESERVED)
    .group_by(cards.c.product_id)
)
_LOOPS_HELD = sa.select(loop_sales.c.product_id).where(loop_sales.c.order_id == sa.bindparam("order_id"))
_PICK_CARDS = (
    sa.select(cards.c.id)
    .where(cards.c.product_id == sa.bindparam("product_id"), cards.c.status == domain.AVAILABLE)
    .order_by(cards.c.id)
    .limit(sa.bindparam("quantity", type_=sa.Integer))
    .with_for_update(skip_locked=True)
)
_HOLD_PICKED = (
    cards.update()
    .where(cards.c.id.in_(sa.bindparam("ids", expanding=True)), cards.c.status == domain.AVAILABLE)
    .values(status=domain.RESERVED, order_id=sa.bindparam("for_order"), reserved_at=sa.bindparam("at"))
)


def _reserve(uow: UnitOfWork, order_id: str, lines: dict[int, int]) -> tuple[str | None, dict[int, int]]:
    """Hold every card the order's lines need beyond those it holds already: all of them or none.

    A card product linked to a supplier holds the cards it has, and the rest
    are to be bought from the supplier once the order is paid, as far as the
    supplier's stock (last synced) goes. Returns ``(refusal, to_buy)``: the
    reason of a refusal (nothing changed) or None, and ``{linked card product
    id: cards to buy}``.
    """
    rows = uow.execute(_PRODUCT_KINDS, {"ids": list(lines)}).all()
    kinds = {row.id: row.kind for row in rows}
    if any(product_id not in kinds for product_id in lines):
        return domain.UNKNOWN_PRODUCT, {}
    linked = {row.id for row in rows if row.kind == domain.CARD and row.supplier_id is not None}
    held = dict(uow.execute(_CARDS_HELD, {"order_id": order_id}).all())
    held_loops = set(uow.execute(_LOOPS_HELD, {"order_id": order_id}).scalars())
    now = utcnow()
    card_demand = domain.demand(lines, kinds, domain.CARD)
    loop_demand = {
        product_id: quantity
        for product_id, quantity in domain.demand(lines, kinds, domain.LOOP).items()
        if product_id not in held_loops
    }
    # a hold that falls short changes nothing, so only holds of several products, or a linked
    # product's partial hold, need undoing
    several = len(card_demand) + len(loop_demand) > 1 or bool(linked & card_demand.keys())
    undoable = uow.connection.begin_nested() if several else contextlib.nullcontext()
    to_buy: dict[int, int] = {}
    holding = set()  # the products this call holds more of: their stock changed
    try:
        with undoable:
            for product_id, quantity in card_demand.items():
                missing = quantity - held.get(product_id, 0)
                if missing <= 0:
                    continue
                holding.add(product_id)
                if product_id in linked:
                    missing -= _hold_cards(uow, order_id, product_id, missing, now, partial=True)
                    if missing:
                        to_buy[product_id] = missing
                elif _hold_cards(uow, order_id, product_id, missing, now) < missing:
                    raise _Shortfall(domain.OUT_OF_STOCK)
            upstream = upstream_stock(uow, list(to_buy))
            if any(
                upstream[product_id] is not None and upstream[product_id] < n
                for product_id, n in to_buy.items()
            ):
                raise _Shortfall(domain.OUT_OF_STOCK)
            for product_id, quantity in loop_demand.items():
                holding.add(product_id)
                if not _hold_loop_units(uow, order_id, product_id, quantity, now):
                    raise _Shortfall(domain.OUT_OF_STOCK)
    except _Shortfall as shortfall:
        return shortfall.reason, {}
    if holding:
        restock.watch_stock(uow, sorted(holding))
    return None, to_buy


def _hold_loop_units(
    uow: UnitOfWork, order_id: str, product_id: int, quantity: int, now: datetime.datetime
) -> bool:
    """Claim ``quantity`` units of a loop product's live card for the order; False when it can't.

    The product row is locked first (PostgreSQL; SQLite's unit of work holds
    the write lock already), so that concurrent claims count the units taken
    one after the other and never sell past the limit.
    """
    stock_limit = uow.execute(
        sa.select(products.c.stock_limit).where(products.c.id == product_id).with_for_update()
    ).scalar_one()
    card_id = live_loop_card(uow, product_id)
    if card_id is None:
        return False
    if stock_limit is not None:
        taken = loop_units_taken(uow, [product_id]).get(product_id, 0)
        left = domain.loop_units_left(stock_limit, taken)
        if left is not None and left < quantity:
            return False
    uow.execute(
        loop_sales.insert().values(
            order_id=order_id,
            product_id=product_id,
            card_id=card_id,
            quantity=quantity,
            status=domain.RESERVED,
            reserved_at=now,
        )
    )
    return True


def _hold_cards(
    uow: UnitOfWork,
    order_id: str,
    product_id: int,
    quantity: int,
    now: datetime.datetime,
    partial: bool = False,
) -> int:
    """Reserve ``quantity`` available cards of a product for the order, or none unless ``partial``
    (then as many as there are, up to ``quantity``); returns how many are available (partial: held).

    PostgreSQL: the rows are locked as they are picked, and rows another
    reservation has locked are skipped rather than waited for. SQLite: the unit
    of work holds the database's write lock (BEGIN IMMEDIATE), so nobody else
    picks at the same time.
    """
    picked = uow.execute(_PICK_CARDS, {"product_id": product_id, "quantity": quantity}).scalars().all()
    if len(picked) < quantity and not partial:
        return len(picked)
    return uow.execute(_HOLD_PICKED, {"ids": picked, "for_order": order_id, "at": now}).rowcount
