"""Upstream suppliers: who they are, and their catalogue, cost prices and stock as last synced.

``Upstream`` (upstream.py) speaks to them; this module keeps what they said.
A direct product names its supplier and its sku there; its stock is the
supplier's, and its cost price what the supplier charges.
"""

import logging

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from inventory import schemas
from inventory.db import insert_ignoring_conflicts, products, supplier_products, suppliers
from inventory.upstream import SupplierRefused, SupplierUnreachable, Upstream
from kameng_common.db import utc_isoformat, utcnow
from kameng_common.errors import Conflict, KamengError, NotFound, Unavailable
from kameng_common.sealing import SealError
from kameng_common.validation import load_or_invalid

_log = logging.getLogger(__name__)

SYNC_ERROR_LENGTH = 200
MAX_DEADLINE_SECONDS = 7 * 24 * 3600


class CreateSupplier(Schema):
    name = schemas.Text(required=True, validate=validate.Length(min=1, max=100))
    base_url = fields.Url(
        required=True, schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=500)
    )
    key_id = schemas.Text(required=True, validate=validate.Length(min=1, max=64))
    secret = fields.String(required=True, validate=validate.Length(min=8, max=256))
    # how long a line bought from it may take before it is refunded; None: the shop's default
    deadline_seconds = fields.Integer(
        strict=True,
        allow_none=True,
        load_default=None,
        validate=validate.Range(min=1, max=MAX_DEADLINE_SECONDS),
    )


class SupplierRef(Schema):
    supplier_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))


def create_supplier(db, sealer, name, base_url, key_id, secret, deadline_seconds=None):
    """A new supplier; the same name again with the same address, key and deadline answers the one made
    first."""
    data = load_or_invalid(
        CreateSupplier,
        {
            "name": name,
            "base_url": base_url,
            "key_id": key_id,
            "secret": secret,
            "deadline_seconds": deadline_seconds,
        },
    )
    data["base_url"] = data["base_url"].rstrip("/")
    with db.unit_of_work() as uow:
        existing = uow.execute(sa.select(suppliers).where(suppliers.c.name == data["name"])).first()
        if existing is None:
            inserted = insert_ignoring_conflicts(
                uow,
                suppliers,
                [
                    {
                        "name": data["name"],
                        "base_url": data["base_url"],
                        "key_id": data["key_id"],
                        "deadline_seconds": data["deadline_seconds"],
                        # sealed to the name: the row's id is not known before the insert
                        **dict(
                            zip(
                                ("seal_key_id", "sealed_secret"),
                                sealer.seal(data["name"], data["secret"]),
                                strict=True,
                            )
                        ),
                        "created_at": utcnow(),
                    }
                ],
                ["name"],
            )
            if not inserted:
                raise Conflict(f"a supplier named {data['name']!r} is being created at this moment")
        existing = uow.execute(sa.select(suppliers).where(suppliers.c.name == data["name"])).one()
    if (existing.base_url, existing.key_id, existing.deadline_seconds) != (
        data["base_url"],
        data["key_id"],
        data["deadline_seconds"],
    ):
        raise Conflict(f"a different supplier named {data['name']!r} already exists")
    return supplier_out(existing)


def list_suppliers(db):
    with db.reading() as session:
        rows = session.execute(sa.select(suppliers).order_by(suppliers.c.id)).all()
    return {"items": [supplier_out(row) for row in rows], "next_cursor": None}


def supplier_out(row):
    """A supplier as answered: never its secret."""
    return {
        "id": row.id,
        "name": row.name,
        "base_url": row.base_url,
        "key_id": row.key_id,
        "deadline_seconds": row.deadline_seconds,
        "created_at": utc_isoformat(row.created_at),
        "synced_at": utc_isoformat(row.synced_at),
        "sync_error": row.sync_error,
    }


def supplier_row(db, supplier_id):
    with db.reading() as session:
        row = session.execute(sa.select(suppliers).where(suppliers.c.id == supplier_id)).first()
    if row is None:
        raise NotFound(f"supplier {supplier_id} does not exist", "supplier_not_found")
    return row


def upstream_for(sealer, row, timeout=10):
    try:
        secret = sealer.open(row.name, row.seal_key_id, row.sealed_secret)
    except SealError as error:
        _log.error("supplier %s: %s", row.id, error)
        raise KamengError("the supplier's secret cannot be read", code="supplier_secret_integrity") from None
    return Upstream(row.base_url, row.key_id, secret, timeout=timeout)


def sync_supplier(db, sealer, supplier_id, connect=upstream_for):
    """Pull the supplier's catalogue now: cost prices and stock of its products, and of ours made from them.

    A product it no longer lists keeps its line with stock 0. An unreachable
    supplier changes nothing but its ``sync_error``, and answers 503.
    """
    supplier_id = load_or_invalid(SupplierRef, {"supplier_id": supplier_id})["supplier_id"]
    row = supplier_row(db, supplier_id)
    try:
        listed = connect(sealer, row).products()
    except (SupplierRefused, SupplierUnreachable) as error:
        _record_sync_error(db, supplier_id, str(error))
        raise Unavailable(
            f"supplier {supplier_id} did not answer its catalogue: {error}", "supplier_unavailable"
        ) from None
    now = utcnow()
    with db.unit_of_work() as uow:
        uow.execute(
            supplier_products.update()
            .where(
                supplier_products.c.supplier_id == supplier_id,
                supplier_products.c.sku.not_in([item.sku for item in listed]),
            )
            .values(stock=0, synced_at=now)
        )
        for item in listed:
            values = {
                "name": item.name,
                "kind": item.kind,
                "cost_price": item.cost_price,
                "currency": item.currency,
                "stock": item.stock,
                "synced_at": now,
            }
            uow.execute(
                uow.insert(supplier_products)
                .values(supplier_id=supplier_id, sku=item.sku, **values)
                .on_conflict_do_update(index_elements=["supplier_id", "sku"], set_=values)
            )
            uow.execute(
                products.update()
                .where(products.c.supplier_id == supplier_id, products.c.supplier_sku == item.sku)
                .values(cost_price=item.cost_price)
            )
        uow.execute(
            suppliers.update().where(suppliers.c.id == supplier_id).values(synced_at=now, sync_error=None)
        )
    return {"supplier_id": supplier_id, "products": len(listed), "synced_at": utc_isoformat(now)}


def sync_all(db, sealer, connect=upstream_for):
    """The periodic sync: every supplier, one failing not stopping the others; ``{supplier id: outcome}``."""
    with db.reading() as session:
        ids = session.execute(sa.select(suppliers.c.id).order_by(suppliers.c.id)).scalars().all()
    outcomes = {}
    for supplier_id in ids:
        try:
            sync_supplier(db, sealer, supplier_id, connect)
            outcomes[supplier_id] = "ok"
        except KamengError as error:
            _log.warning("supplier %s: sync failed: %s", supplier_id, error)
            outcomes[supplier_id] = error.code
    return outcomes


def _record_sync_error(db, supplier_id, error):
    with db.unit_of_work() as uow:
        uow.execute(
            suppliers.update()
            .where(suppliers.c.id == supplier_id)
            .values(sync_error=error[:SYNC_ERROR_LENGTH])
        )


def upstream_stock(session, product_ids):
    """{product id: the supplier's stock (None: unlimited)} for linked direct products; 0 if never synced."""
    if not product_ids:
        return {}
    rows = session.execute(
        sa.select(products.c.id, supplier_products.c.stock, supplier_products.c.sku)
        .select_from(
            products.outerjoin(
                supplier_products,
                sa.and_(
                    supplier_products.c.supplier_id == products.c.supplier_id,
                    supplier_products.c.sku == products.c.supplier_sku,
                ),
            )
        )
        .where(products.c.id.in_(product_ids), products.c.supplier_id.is_not(None))
    ).all()
    return {product_id: (0 if sku is None else stock) for product_id, stock, sku in rows}
