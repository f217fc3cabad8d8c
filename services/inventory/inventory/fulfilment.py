"""Direct top-ups: each paid direct line is bought from its supplier, once, and ends succeeded or failed.

``record_direct_lines`` writes one ``fulfilments`` row per direct line in the
unit of work that handles order.paid. ``advance_fulfilments`` (a timer) takes
due rows under a lease and asks the supplier: a row without an upstream order
places one with ``client_order_id`` = order id + line number, so a retry,
a redelivered event or a restart that lost the answer finds the same upstream
order instead of topping up twice; a row with one polls it. A supplier's
callback only makes its row due at once. Once the supplier says delivered
the line has ``succeeded``; once it says no (a 4xx, or its order refunded),
or nothing has come by the deadline, the line has ``failed``. When every
direct line of an order has succeeded, inventory publishes cards.delivered
(the order's cards, if any); when one fails, stock.sale_failed, and orders
refunds the order.
"""

import datetime
import logging
import os

import sqlalchemy as sa
from prometheus_client import Counter

from inventory import domain, restock, suppliers
from inventory.db import cards, fulfilments, orders
from inventory.upstream import FAILED, PENDING, SUCCEEDED, SupplierRefused, SupplierUnreachable
from kameng_common.channel import signature_matches
from kameng_common.db import utc_isoformat, utcnow
from kameng_common.errors import Unauthorized

_log = logging.getLogger(__name__)

FULFILMENTS = Counter("kameng_direct_fulfilments_total", "Direct top-up lines ended, by outcome", ["outcome"])
UPSTREAM_CALLS = Counter(
    "kameng_supplier_calls_total", "Calls to suppliers for top-ups, by kind and outcome", ["call", "outcome"]
)

TOP_UP_FAILED = "top_up_failed"
# how long a paid top-up may take before it is refused and refunded
DEFAULT_DEADLINE_SECONDS = 600
DEADLINE_ENV = "KAMENG_FULFILMENT_DEADLINE"


def deadline_seconds():
    return int(os.environ.get(DEADLINE_ENV) or DEFAULT_DEADLINE_SECONDS)


BATCH = 20
LEASE = datetime.timedelta(seconds=30)
FIRST_RETRY_SECONDS = 1
MAX_RETRY_SECONDS = 30
FAILURE_LENGTH = 200


def client_order_id(order_id, line_no):
    """The idempotency id the supplier sees for one order line: the same line, the same id, always."""
    return f"{order_id}-{line_no}"


def record_direct_lines(uow, order_id, direct_lines, supplier_links, now, deadline_seconds):
    """In order.paid's unit of work: a pending fulfilment per direct line (none twice)."""
    rows = []
    for line_no, line in direct_lines:
        supplier_id, sku = supplier_links[line["product_id"]]
        rows.append(
            {
                "order_id": order_id,
                "line_no": line_no,
                "product_id": line["product_id"],
                "supplier_id": supplier_id,
                "supplier_sku": sku,
                "quantity": line["quantity"],
                "recharge_account": line["recharge_account"],
                "client_order_id": client_order_id(order_id, line_no),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "deadline_at": now + datetime.timedelta(seconds=deadline_seconds),
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        uow.execute(uow.insert(fulfilments).on_conflict_do_nothing(), rows)


def advance_fulfilments(db, sealer, callback_base_url=None, connect=suppliers.upstream_for, now=None):
    """Ask the suppliers about every due pending line; returns ``{outcome: count}``."""
    now = now or utcnow()
    outcomes: dict[str, int] = {}
    for row in _take_due(db, now):
        outcome = _advance(db, sealer, row, callback_base_url, connect, now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def accept_callback(db, sealer, supplier_id, key_id, message, signature, supplier_order_id):
    """A supplier pushed an outcome: if it signed it, its line is asked about at once; else Unauthorized."""
    row = suppliers.supplier_row(db, supplier_id)
    secret = suppliers.upstream_for(sealer, row).client.secret
    if key_id != row.key_id or not signature_matches(secret, message, signature):
        raise Unauthorized("The callback's signature does not verify.", "invalid_signature")
    return {"accepted": make_due(db, supplier_id, str(supplier_order_id)[:64])}


def make_due(db, supplier_id, supplier_order_id):
    """A supplier's callback: its line is asked about at once (the callback's word is not taken alone)."""
    with db.unit_of_work() as uow:
        return (
            uow.execute(
                fulfilments.update()
                .where(
                    fulfilments.c.supplier_id == supplier_id,
                    fulfilments.c.supplier_order_id == supplier_order_id,
                    fulfilments.c.status == PENDING,
                )
                .values(next_attempt_at=utcnow())
            ).rowcount
            > 0
        )


def _take_due(db, now):
    with db.unit_of_work() as uow:
        due = uow.execute(
            sa.select(fulfilments)
            .where(fulfilments.c.status == PENDING, fulfilments.c.next_attempt_at <= now)
            .order_by(fulfilments.c.next_attempt_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        for row in due:
            uow.execute(
                fulfilments.update()
                .where(fulfilments.c.order_id == row.order_id, fulfilments.c.line_no == row.line_no)
                .values(next_attempt_at=now + LEASE)
            )
    return due


def _advance(db, sealer, row, callback_base_url, connect, now):
    call = "poll" if row.supplier_order_id else "place"
    try:
        upstream = connect(sealer, suppliers.supplier_row(db, row.supplier_id))
        if row.supplier_order_id is None:
            callback_url = f"{callback_base_url}/{row.supplier_id}" if callback_base_url else None
            answer = upstream.place_order(
                row.supplier_sku, row.quantity, row.recharge_account, row.client_order_id, callback_url
            )
        else:
            answer = upstream.order(row.supplier_order_id)
    except SupplierRefused as refusal:
        UPSTREAM_CALLS.labels(call, "refused").inc()
        return _finish(db, row, FAILED, None, f"the supplier refused: {refusal}")
    except (SupplierUnreachable, Exception) as error:
        UPSTREAM_CALLS.labels(call, "unreachable").inc()
        if now >= row.deadline_at.replace(tzinfo=row.deadline_at.tzinfo or datetime.UTC):
            return _finish(
                db, row, FAILED, row.supplier_order_id, "no answer from the supplier by the deadline"
            )
        _retry(db, row, str(error)[:FAILURE_LENGTH], now)
        return "retry"
    UPSTREAM_CALLS.labels(call, "ok").inc()
    if answer.outcome == PENDING:
        deadline = row.deadline_at.replace(tzinfo=row.deadline_at.tzinfo or datetime.UTC)
        if now >= deadline:
            return _finish(db, row, FAILED, answer.supplier_order_id, "not topped up by the deadline")
        _retry(db, row, None, now, supplier_order_id=answer.supplier_order_id)
        return "waiting"
    failure = None if answer.outcome == SUCCEEDED else "the supplier's top-up failed"
    return _finish(db, row, answer.outcome, answer.supplier_order_id, failure)


def _retry(db, row, error, now, supplier_order_id=None):
    delay = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** min(row.attempts, 10))
    values = {
        "attempts": row.attempts + 1,
        "next_attempt_at": now + datetime.timedelta(seconds=delay),
        "failure": error,
        "updated_at": now,
    }
    if supplier_order_id is not None:
        values["supplier_order_id"] = supplier_order_id
    with db.unit_of_work() as uow:
        uow.execute(
            fulfilments.update()
            .where(
                fulfilments.c.order_id == row.order_id,
                fulfilments.c.line_no == row.line_no,
                fulfilments.c.status == PENDING,
            )
            .values(**values)
        )


def _finish(db, row, status, supplier_order_id, failure):
    """The line's outcome, and the order's once all its direct lines have one: one unit of work."""
    now = utcnow()
    with db.unit_of_work() as uow:
        order = uow.execute(sa.select(orders).where(orders.c.id == row.order_id).with_for_update()).one()
        changed = uow.execute(
            fulfilments.update()
            .where(
                fulfilments.c.order_id == row.order_id,
                fulfilments.c.line_no == row.line_no,
                fulfilments.c.status == PENDING,
            )
            .values(
                status=status,
                supplier_order_id=supplier_order_id or row.supplier_order_id,
                failure=None if failure is None else failure[:FAILURE_LENGTH],
                attempts=row.attempts + 1,
                updated_at=now,
            )
        ).rowcount
        if not changed:
            return "already_finished"
        _settle_order(uow, order, now)
    FULFILMENTS.labels(status).inc()
    return status


def _settle_order(uow, order, now):
    statuses = [
        status
        for (status,) in uow.execute(
            sa.select(fulfilments.c.status).where(fulfilments.c.order_id == order.id)
        ).all()
    ]
    if order.stock_state != domain.STOCK_FULFILLING:
        return
    if FAILED in statuses:
        _release(uow, order.id)
        _set_stock_state(uow, order.id, domain.STOCK_SALE_FAILED, now)
        uow.publish(
            "stock.sale_failed", {"order_id": order.id, "reason": TOP_UP_FAILED}, correlation_id=order.id
        )
    elif all(status == SUCCEEDED for status in statuses):
        uow.execute(
            cards.update()
            .where(cards.c.order_id == order.id, cards.c.status == domain.RESERVED)
            .values(status=domain.SOLD, sold_at=now)
        )
        _set_stock_state(uow, order.id, domain.STOCK_SOLD, now)
        card_ids = (
            uow.execute(
                sa.select(cards.c.id)
                .where(cards.c.order_id == order.id, cards.c.status == domain.SOLD)
                .order_by(cards.c.id)
            )
            .scalars()
            .all()
        )
        uow.publish("cards.delivered", {"order_id": order.id, "card_ids": card_ids}, correlation_id=order.id)


def _release(uow, order_id):
    released = uow.execute(
        cards.update()
        .where(cards.c.order_id == order_id, cards.c.status == domain.RESERVED)
        .values(status=domain.AVAILABLE, order_id=None, reserved_at=None)
        .returning(cards.c.product_id)
    ).scalars()
    restock.watch_stock(uow, set(released))


def _set_stock_state(uow, order_id, state, now):
    uow.execute(orders.update().where(orders.c.id == order_id).values(stock_state=state, updated_at=now))


def order_fulfilments(db, order_id):
    """Per direct line of an order: ``{line_no, product_id, status, supplier_order_id}``."""
    with db.reading() as session:
        rows = session.execute(
            sa.select(fulfilments).where(fulfilments.c.order_id == order_id).order_by(fulfilments.c.line_no)
        ).all()
    return [
        {
            "line_no": row.line_no,
            "product_id": row.product_id,
            "status": row.status,
            "supplier_order_id": row.supplier_order_id,
        }
        for row in rows
    ]


def audit_fulfilments(session):
    """{order id: [{status, supplier_order_id, supplier_id, updated_at}]} and the upstream ids used twice."""
    rows = session.execute(
        sa.select(fulfilments).order_by(fulfilments.c.order_id, fulfilments.c.line_no)
    ).all()
    by_order: dict[str, list] = {}
    seen: dict = {}
    reused: list = []
    for row in rows:
        by_order.setdefault(row.order_id, []).append(
            {
                "line_no": row.line_no,
                "status": row.status,
                "supplier_id": row.supplier_id,
                "supplier_order_id": row.supplier_order_id,
                "updated_at": utc_isoformat(row.updated_at),
            }
        )
        if row.supplier_order_id is not None:
            key = (row.supplier_id, row.supplier_order_id)
            if key in seen:
                reused.append({"supplier_id": row.supplier_id, "supplier_order_id": row.supplier_order_id})
            seen[key] = row.order_id
    return by_order, reused
