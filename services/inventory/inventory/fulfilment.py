"""Lines bought from suppliers: each paid direct line's top-up, and the cards a card product linked
to a supplier lacked when its order was paid; bought once, each ends succeeded or failed.

``record_upstream_lines`` writes one ``fulfilments`` row per such line in the
unit of work that handles order.paid. ``advance_fulfilments`` (a timer) takes
due rows under a lease and asks the supplier: a row without an upstream order
places one with ``client_order_id`` = order id + line number, so a retry,
a redelivered event or a restart that lost the answer finds the same upstream
order instead of buying twice; a row with one polls it. A supplier's
callback only makes its row due at once. Once the supplier says delivered
the line has ``succeeded`` (a restock line once its cards are sealed into
stock, held for the order, in the same unit of work); once it says no (a 4xx,
or its order refunded), or nothing has come by the deadline, the line has
``failed``. When every such line of an order has succeeded, inventory sells
the order's cards and publishes cards.delivered; when one fails,
stock.sale_failed, and orders refunds the order.

A restock line that failed by its deadline while its upstream order was
placed (and paid from the shop's balance at the supplier) is collected late:
its upstream order is still asked about, less and less often, until
``collect_until`` (``KAMENG_LATE_RESTOCK_COLLECT_SECONDS`` after the
deadline). Once the supplier says delivered, its cards are sealed into the
product's stock as available (the order is refunded already) in one unit of
work that ends the collection, so no card is stocked twice; once it says the
order failed, or the window ends, collection stops. A top-up the supplier
completes after its deadline is the supplier's to reverse: it is not collected.
"""

import datetime
import logging
import os

import sqlalchemy as sa
from prometheus_client import Counter

from inventory import domain, refunds, restock, sale, suppliers
from inventory.db import cards, fulfilments, insert_ignoring_conflicts, orders
from inventory.db import suppliers as suppliers_table
from inventory.upstream import FAILED, PENDING, SUCCEEDED, SupplierRefused, SupplierUnreachable
from kameng_common.channel import signature_matches
from kameng_common.db import as_utc, utc_isoformat, utcnow
from kameng_common.errors import Unauthorized

_log = logging.getLogger(__name__)

FULFILMENTS = Counter("kameng_direct_fulfilments_total", "Direct top-up lines ended, by outcome", ["outcome"])
RESTOCKS = Counter(
    "kameng_card_restocks_total", "Card lines bought from suppliers on demand, ended, by outcome", ["outcome"]
)
RESTOCKED_CARDS = Counter("kameng_cards_restocked_total", "Cards bought from suppliers on demand")
LATE_COLLECTIONS = Counter(
    "kameng_late_restock_collections_total",
    "Restock lines failed by their deadline whose late collection ended, by outcome",
    ["outcome"],
)
CARDS_COLLECTED_LATE = Counter(
    "kameng_cards_collected_late_total", "Cards suppliers delivered after their line's deadline, stocked"
)
UPSTREAM_CALLS = Counter(
    "kameng_supplier_calls_total",
    "Calls to suppliers for top-ups and restocks, by kind and outcome",
    ["call", "outcome"],
)

TOP_UP_FAILED = "top_up_failed"
RESTOCK_FAILED = "restock_failed"
# how long a paid line bought from a supplier may take before it is refused and refunded
# (a supplier's own deadline_seconds, when it has one, wins)
DEFAULT_DEADLINE_SECONDS = 600
DEADLINE_ENV = "KAMENG_FULFILMENT_DEADLINE"


def deadline_seconds():
    return int(os.environ.get(DEADLINE_ENV) or DEFAULT_DEADLINE_SECONDS)


# how long after its deadline a failed restock line's upstream order is still asked for its cards
DEFAULT_LATE_COLLECT_SECONDS = 7 * 24 * 3600
LATE_COLLECT_ENV = "KAMENG_LATE_RESTOCK_COLLECT_SECONDS"
LATE_FIRST_RETRY_SECONDS = 60
LATE_MAX_RETRY_SECONDS = 3600


def late_collect_seconds() -> int:
    """The late collection window; 0 collects nothing late. Anything but a whole number >= 0 is a
    configuration error."""
    value = os.environ.get(LATE_COLLECT_ENV) or str(DEFAULT_LATE_COLLECT_SECONDS)
    if not value.isdigit():
        raise ValueError(f"{LATE_COLLECT_ENV} must be a whole number of seconds >= 0, not {value!r}")
    return int(value)


BATCH = 20
LEASE = datetime.timedelta(seconds=30)
FIRST_RETRY_SECONDS = 1
MAX_RETRY_SECONDS = 30
FAILURE_LENGTH = 200


def client_order_id(order_id, line_no):
    """The idempotency id the supplier sees for one order line: the same line, the same id, always."""
    return f"{order_id}-{line_no}"


def record_upstream_lines(uow, order_id, lines, supplier_links, now, default_deadline_seconds):
    """In order.paid's unit of work: a pending fulfilment per line bought from a supplier (none twice).

    ``lines`` are ``(line number, purpose, line)``: a direct line's top-up
    (``TOP_UP``, with its ``recharge_account``) or the ``quantity`` of cards a
    linked card product lacks (``RESTOCK``).
    """
    deadlines = dict(
        uow.execute(
            sa.select(suppliers_table.c.id, suppliers_table.c.deadline_seconds).where(
                suppliers_table.c.id.in_({supplier_links[line["product_id"]][0] for _, _, line in lines})
            )
        ).all()
    )
    rows = []
    for line_no, purpose, line in lines:
        supplier_id, sku = supplier_links[line["product_id"]]
        rows.append(
            {
                "order_id": order_id,
                "line_no": line_no,
                "purpose": purpose,
                "product_id": line["product_id"],
                "supplier_id": supplier_id,
                "supplier_sku": sku,
                "quantity": line["quantity"],
                "recharge_account": line.get("recharge_account") if purpose == domain.TOP_UP else None,
                "client_order_id": client_order_id(order_id, line_no),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "deadline_at": now
                + datetime.timedelta(seconds=deadlines.get(supplier_id) or default_deadline_seconds),
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        uow.execute(uow.insert(fulfilments).on_conflict_do_nothing(), rows)


def advance_fulfilments(
    db, sealer, keyring, callback_base_url=None, connect=suppliers.upstream_for, now=None
):
    """Ask the suppliers about every due pending line, and every due line being collected late;
    returns ``{outcome: count}`` (a late collection's outcomes start with ``late_``).

    ``keyring`` seals the cards a restock line brings, like imported ones.
    """
    now = now or utcnow()
    outcomes: dict[str, int] = {}
    for row in _take_due(db, now):
        if row.status == PENDING:
            outcome = _advance(db, sealer, keyring, row, callback_base_url, connect, now)
        else:
            outcome = _collect_late(db, sealer, keyring, row, connect, now)
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
    """A supplier's callback: its line is asked about at once, pending or collected late (the
    callback's word is not taken alone)."""
    with db.unit_of_work() as uow:
        return (
            uow.execute(
                fulfilments.update()
                .where(
                    fulfilments.c.supplier_id == supplier_id,
                    fulfilments.c.supplier_order_id == supplier_order_id,
                    sa.or_(fulfilments.c.status == PENDING, fulfilments.c.collect_until.is_not(None)),
                )
                .values(next_attempt_at=utcnow())
            ).rowcount
            > 0
        )


def _take_due(db, now):
    """The due lines under a lease: pending ones first, then the ones being collected late."""
    with db.unit_of_work() as uow:
        due: list[sa.Row] = []
        for waiting in (fulfilments.c.status == PENDING, fulfilments.c.collect_until.is_not(None)):
            due += uow.execute(
                sa.select(fulfilments)
                .where(waiting, fulfilments.c.next_attempt_at <= now)
                .order_by(fulfilments.c.next_attempt_at)
                .limit(BATCH - len(due))
                .with_for_update(skip_locked=True)
            ).all()
        for row in due:
            uow.execute(
                fulfilments.update()
                .where(fulfilments.c.order_id == row.order_id, fulfilments.c.line_no == row.line_no)
                .values(next_attempt_at=now + LEASE)
            )
    return due


def _advance(db, sealer, keyring, row, callback_base_url, connect, now):
    call = "poll" if row.supplier_order_id else "place"
    restocking = row.purpose == domain.RESTOCK
    try:
        upstream = connect(sealer, suppliers.supplier_row(db, row.supplier_id))
        if row.supplier_order_id is None:
            callback_url = f"{callback_base_url}/{row.supplier_id}" if callback_base_url else None
            answer = upstream.place_order(
                row.supplier_sku, row.quantity, row.recharge_account, row.client_order_id, callback_url
            )
        else:
            answer = upstream.order(row.supplier_order_id)
        if restocking and answer.outcome == SUCCEEDED and answer.cards is None:
            # a channel order's cards come with reading it once it is delivered
            call = "poll"
            answer = upstream.order(answer.supplier_order_id)
    except SupplierRefused as refusal:
        UPSTREAM_CALLS.labels(call, "refused").inc()
        return _finish(db, keyring, row, FAILED, None, f"the supplier refused: {refusal}")
    except (SupplierUnreachable, Exception) as error:
        UPSTREAM_CALLS.labels(call, "unreachable").inc()
        if now >= as_utc(row.deadline_at):
            return _finish(
                db,
                keyring,
                row,
                FAILED,
                row.supplier_order_id,
                "no answer from the supplier by the deadline",
                late=_late_collection(row, row.supplier_order_id, now),
            )
        _retry(db, row, str(error)[:FAILURE_LENGTH], now)
        return "retry"
    UPSTREAM_CALLS.labels(call, "ok").inc()
    if answer.outcome == PENDING or (restocking and answer.outcome == SUCCEEDED and answer.cards is None):
        if now >= as_utc(row.deadline_at):
            return _finish(
                db,
                keyring,
                row,
                FAILED,
                answer.supplier_order_id,
                "not delivered by the deadline",
                late=_late_collection(row, answer.supplier_order_id, now),
            )
        _retry(db, row, None, now, supplier_order_id=answer.supplier_order_id)
        return "waiting"
    failure = None if answer.outcome == SUCCEEDED else "the supplier's order failed"
    return _finish(db, keyring, row, answer.outcome, answer.supplier_order_id, failure, answer.cards)


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


def _finish(db, keyring, row, status, supplier_order_id, failure, bought=None, late=None):
    """The line's outcome, and the order's once all its upstream lines have one: one unit of work.

    A restock line that succeeded brings its cards (``bought``) into stock in
    that unit of work, held for the order; too few new cards fail the line,
    and whatever did come stays in stock. ``late``: the columns that start a
    failed line's late collection (``_late_collection``), if it has one.
    """
    now = utcnow()
    with db.unit_of_work() as uow:
        # the order's lock serializes the outcomes of its lines: this one is still pending, or was settled
        order = uow.execute(sa.select(orders).where(orders.c.id == row.order_id).with_for_update()).one()
        if _status(uow, row) != PENDING:
            return "already_finished"
        if row.purpose == domain.RESTOCK and status == SUCCEEDED:
            added = _stock_bought_cards(uow, keyring, row, bought, now)
            if added < row.quantity:
                status = FAILED
                failure = f"the supplier delivered {added} new cards of {row.quantity}"
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
                **(late or {}),
            )
        ).rowcount
        if not changed:
            return "already_finished"
        _settle_order(uow, order, now)
    (RESTOCKS if row.purpose == domain.RESTOCK else FULFILMENTS).labels(status).inc()
    return status


def _status(uow, row):
    return uow.execute(
        sa.select(fulfilments.c.status).where(
            fulfilments.c.order_id == row.order_id, fulfilments.c.line_no == row.line_no
        )
    ).scalar_one()


def _stock_bought_cards(uow, keyring, row, bought, now):
    """Seal the cards a restock line bought into the product's stock, the first ``quantity`` new ones
    held for the order; returns how many were new (a number the product holds already is not)."""
    added = _seal_into_stock(uow, keyring, row.product_id, bought, now)
    if len(added) >= row.quantity:
        uow.execute(
            cards.update()
            .where(cards.c.id.in_(added[: row.quantity]))
            .values(status=domain.RESERVED, order_id=row.order_id, reserved_at=now)
        )
    RESTOCKED_CARDS.inc(len(added))
    restock.watch_stock(uow, [row.product_id])
    return len(added)


def _seal_into_stock(uow, keyring, product_id, bought, now):
    """Seal bought ``(number, secret)`` cards into the product's stock as available; returns the new
    ones' ids, sorted (a number the product holds already is skipped, so none is stocked twice)."""
    unique = dict(
        card for card in (domain.clean_card({"number": n, "secret": s}) for n, s in bought or ()) if card
    )
    numbers = list(unique)
    sealed = keyring.seal_many(product_id, [(number, unique[number]) for number in numbers])
    rows = [
        {
            "product_id": product_id,
            "number": number,
            "number_digest": keyring.number_digests(number)[-1],
            "key_id": seal.key_id,
            "nonce": seal.nonce,
            "ciphertext": seal.ciphertext,
            "status": domain.AVAILABLE,
            "imported_at": now,
        }
        for number, seal in zip(numbers, sealed, strict=True)
    ]
    return sorted(insert_ignoring_conflicts(uow, cards, rows, ["product_id", "number_digest"]))


def _late_collection(row, supplier_order_id, now):
    """The columns that start a restock line's late collection as it fails by its deadline: {} for a
    top-up (the supplier's to reverse), a line with no upstream order, or a window of 0."""
    window = late_collect_seconds()
    if row.purpose != domain.RESTOCK or (supplier_order_id or row.supplier_order_id) is None or not window:
        return {}
    collect_until = as_utc(row.deadline_at) + datetime.timedelta(seconds=window)
    return {
        "collect_until": collect_until,
        "next_attempt_at": _next_late_ask(row.deadline_at, collect_until, now),
    }


def _next_late_ask(deadline_at, collect_until, now):
    """The wait doubles with the time since the deadline, from a minute up to an hour, and the last
    ask is at the window's end."""
    since_deadline = (now - as_utc(deadline_at)).total_seconds()
    wait = min(LATE_MAX_RETRY_SECONDS, max(LATE_FIRST_RETRY_SECONDS, since_deadline))
    return min(as_utc(collect_until), now + datetime.timedelta(seconds=wait))


def _collect_late(db, sealer, keyring, row, connect, now):
    """Ask a restock line failed by its deadline about its upstream order: delivered, its cards go to
    stock; failed, or still nothing at the window's end, the collection ends."""
    cards_delivered = None
    try:
        upstream = connect(sealer, suppliers.supplier_row(db, row.supplier_id))
        answer = upstream.order(row.supplier_order_id)
    except Exception as error:
        # no refund hangs on it any more: a refusal is asked again too, until the window ends
        UPSTREAM_CALLS.labels(
            "poll", "refused" if isinstance(error, SupplierRefused) else "unreachable"
        ).inc()
        _log.info("late collection of %s-%s: %s", row.order_id, row.line_no, str(error)[:FAILURE_LENGTH])
    else:
        UPSTREAM_CALLS.labels("poll", "ok").inc()
        if answer.outcome == FAILED:
            return _end_late_collection(db, row, "failed", now)
        if answer.outcome == SUCCEEDED:
            cards_delivered = answer.cards
    if cards_delivered is not None:
        return _stock_late_cards(db, keyring, row, cards_delivered, now)
    if now >= as_utc(row.collect_until):
        return _end_late_collection(db, row, "expired", now)
    with db.unit_of_work() as uow:
        uow.execute(
            _being_collected(row).values(
                attempts=row.attempts + 1,
                next_attempt_at=_next_late_ask(row.deadline_at, row.collect_until, now),
            )
        )
    return "late_waiting"


def _being_collected(row):
    return fulfilments.update().where(
        fulfilments.c.order_id == row.order_id,
        fulfilments.c.line_no == row.line_no,
        fulfilments.c.collect_until.is_not(None),
    )


def _stock_late_cards(db, keyring, row, bought, now):
    """One unit of work: the collection ends and the cards go to stock, available; a second worker,
    a replay or a redelivered callback finds the collection ended and stocks nothing."""
    with db.unit_of_work() as uow:
        if not uow.execute(_being_collected(row).values(collect_until=None, updated_at=now)).rowcount:
            return "late_already_ended"
        added = _seal_into_stock(uow, keyring, row.product_id, bought, now)
        uow.execute(
            fulfilments.update()
            .where(fulfilments.c.order_id == row.order_id, fulfilments.c.line_no == row.line_no)
            .values(collected_cards=len(added), attempts=row.attempts + 1)
        )
        restock.watch_stock(uow, [row.product_id])
    CARDS_COLLECTED_LATE.inc(len(added))
    LATE_COLLECTIONS.labels("collected").inc()
    return "late_collected"


def _end_late_collection(db, row, outcome, now):
    with db.unit_of_work() as uow:
        ended = uow.execute(
            _being_collected(row).values(collect_until=None, attempts=row.attempts + 1, updated_at=now)
        ).rowcount
    if not ended:
        return "late_already_ended"
    LATE_COLLECTIONS.labels(outcome).inc()
    return f"late_{outcome}"


def _settle_order(uow, order, now):
    rows = uow.execute(
        sa.select(fulfilments.c.status, fulfilments.c.purpose).where(fulfilments.c.order_id == order.id)
    ).all()
    if order.stock_state != domain.STOCK_FULFILLING:
        return
    failed = {row.purpose for row in rows if row.status == FAILED}
    if failed:
        sale.release(uow, order.id)
        sale.set_stock_state(uow, order.id, domain.STOCK_SALE_FAILED)
        reason = TOP_UP_FAILED if domain.TOP_UP in failed else RESTOCK_FAILED
        uow.publish("stock.sale_failed", {"order_id": order.id, "reason": reason}, correlation_id=order.id)
    elif all(row.status == SUCCEEDED for row in rows):
        card_ids = sale.sell(uow, order.id, now)
        sale.publish_delivered(uow, order.id, card_ids, order.items or ())
        if order.refunded_at is not None:
            # its money went back while its suppliers topped it up: its cards go back at once
            refunds.give_back_cards(uow, order.id, now)


def order_fulfilments(db, order_id):
    """Per line of an order bought from a supplier: ``{line_no, product_id, purpose, quantity, status,
    supplier_order_id}`` (a restock line's quantity: the cards bought)."""
    with db.reading() as session:
        rows = session.execute(
            sa.select(fulfilments).where(fulfilments.c.order_id == order_id).order_by(fulfilments.c.line_no)
        ).all()
    return [
        {
            "line_no": row.line_no,
            "product_id": row.product_id,
            "purpose": row.purpose,
            "quantity": row.quantity,
            "status": row.status,
            "supplier_order_id": row.supplier_order_id,
        }
        for row in rows
    ]


def audit_fulfilments(session):
    """{order id: [{line_no, purpose, status, supplier_id, supplier_order_id, updated_at, collect_until}]}
    and the upstream ids used twice."""
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
                "purpose": row.purpose,
                "status": row.status,
                "supplier_id": row.supplier_id,
                "supplier_order_id": row.supplier_order_id,
                "updated_at": utc_isoformat(row.updated_at),
                # a failed restock line still collected late: its order stays refunded all the same
                "collect_until": utc_isoformat(row.collect_until),
            }
        )
        if row.supplier_order_id is not None:
            key = (row.supplier_id, row.supplier_order_id)
            if key in seen:
                reused.append({"supplier_id": row.supplier_id, "supplier_order_id": row.supplier_order_id})
            seen[key] = row.order_id
    return by_order, reused
