"""What orders does. Each change is one unit of work: the state, the events it
publishes (outbox) and the event it consumed (inbox) commit together.

The functions take the Database and, for the RPCs they need, plain callables;
they know nothing of nameko. An RPC is always called outside a unit of work.

Every event handler is guarded twice: the inbox drops a redelivered event, and
the order's own state drops a replay under a new event id (an answer already
recorded, a payment already judged, a status already left behind).
"""

import datetime
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import partial, wraps
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError

from kameng_common import auditlog, paging
from kameng_common.db import Database, UnitOfWork, utc_isoformat, utcnow
from kameng_common.errors import Conflict, Forbidden, InvalidInput, KamengError, NotFound, Unavailable
from kameng_common.money import AGENT_LEVEL
from kameng_common.orphans import check_asked_within
from kameng_common.validation import load_or_invalid
from orders import coupons, domain, metrics, schemas, shops
from orders.callbacks import schedule_callback
from orders.coupons import HoldCoupon
from orders.db import (
    customer_levels,
    order_history,
    order_lines,
    order_payments,
    order_receipts,
    order_reviews,
    orders,
)
from orders.shops import FindShop
from orders.status_watch import StatusWatch

_log = logging.getLogger(__name__)

EXPIRY_BATCH = 100
HISTORY_REASON_LENGTH: int = order_history.c.reason.type.length  # type: ignore[attr-defined]  # a String's

# get_order's statements, built once: it is the hottest read (bench/results/README.md)
ORDER_WITH_LINES = (
    sa.select(
        orders,
        order_lines.c.product_id,
        order_lines.c.name,
        order_lines.c.quantity,
        order_lines.c.unit_price,
        order_lines.c.recharge_account,
    )
    .join(order_lines, order_lines.c.order_id == orders.c.id)  # an order is stored with its lines
    .where(orders.c.id == sa.bindparam("order_id"))
    .order_by(order_lines.c.line_no)
)
ORDER_HISTORY = (
    sa.select(order_history.c.status, order_history.c.at, order_history.c.reason)
    .where(order_history.c.order_id == sa.bindparam("order_id"))
    .order_by(order_history.c.id)
)

# a row of a query: SQLAlchemy types each column
Row = sa.Row[*tuple[Any, ...]]
# ask(reservation, assessment): inventory's reserve and risk's assess_order, asked at once, and their answers
Ask = Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]
# inventory's reserve(order_id, customer_id, items, level, markup_bp): a new order's stock, priced by inventory
Reserve = Callable[[str, str, list[dict[str, Any]], str, int], Any]


@dataclass(frozen=True)
class Placing:
    """What placing a new order asks of inventory and risk."""

    reserve: Reserve
    # inventory's give_back_reservation(order_id): the stock of an order refused before it was stored
    give_back: Callable[[str], Any]
    # risk's assess_order(assessment)
    assess: Callable[[dict[str, Any]], dict[str, Any]]
    # both at once, for an order stored pending (complete_order)
    ask: Ask


# payments' create_intent(order_id, customer_id, amount, currency, method)
CreateIntent = Callable[[str, str, int, str, str], dict[str, Any]]

# statements of every order's path, built once; their values are bound when they run
_LOCK = sa.select(orders).where(orders.c.id == sa.bindparam("b_order_id")).with_for_update()
_RECORD = order_history.insert()
_STATUSES = sa.select(orders.c.id, orders.c.status).where(
    orders.c.id.in_(sa.bindparam("b_order_ids", expanding=True))
)
_STATUS_AND_CUSTOMER = sa.select(orders.c.status, orders.c.customer_id).where(
    orders.c.id == sa.bindparam("order_id")
)
_BY_KEY = (
    orders.c.customer_id == sa.bindparam("b_customer_id"),
    orders.c.idempotency_key == sa.bindparam("b_idempotency_key"),
)
# one statement: a new order is the hot path, and it needs both
_ORDER_FOR_KEY_AND_LEVEL = sa.select(
    sa.select(orders.c.id).where(*_BY_KEY).scalar_subquery().label("id"),
    sa.select(orders.c.request_hash).where(*_BY_KEY).scalar_subquery().label("request_hash"),
    sa.select(customer_levels.c.level)
    .where(customer_levels.c.customer_id == sa.bindparam("b_customer_id"))
    .scalar_subquery()
    .label("level"),
)

# woken after each status change commits; get_order waits on it
status_changes = StatusWatch()


class ConcurrentChange(Exception):
    """The order's status changed under a lock that should have prevented it; the event is retried."""


# --- commands and queries ----------------------------------------------------


def create_order(
    db: Database,
    placing: Placing,
    deadlines: domain.Deadlines,
    customer_id: str,
    items: list[dict[str, Any]],
    idempotency_key: str,
    coupon_code: str | None = None,
    now: datetime.datetime | None = None,
    client_ip: str | None = None,
    device_id: str | None = None,
    on_created: Callable[[UnitOfWork, str], None] | None = None,
    hold_coupon: HoldCoupon | None = None,
    payment_method: str | None = None,
    create_intent: CreateIntent | None = None,
    shop: str | None = None,
    find_shop: FindShop | None = None,
) -> dict[str, Any]:
    """Place an order: have inventory reserve ``items`` and price them at the buyer's level
    (``placing.reserve``, one request: its answer carries the quote), store the order ``pending`` with
    the reservation's outcome, then have it scored by risk (``placing.assess``) and record where both
    answers take it. Answers the order as it then is: ``awaiting_payment``, ``on_hold`` or
    ``cancelled`` (at once, without risk, when its stock was refused). A stored order left pending
    (risk did not answer) is placed again by ``complete_order`` with ``placing.ask``. An order refused
    before it is stored (its coupon) gives its reservation back at once (``placing.give_back``).

    The level is orders' own copy (``customer.level_changed``), never the caller's.
    An order through an agent's ``shop`` (its slug) is priced at the agent level
    plus the shop's markup, as customers' ``find_shop`` answers them (see ``shops``).
    A ``coupon_code`` is held for the order by customers' ``hold_coupon`` (see
    ``coupons.hold``) and its discount taken off the total. The order's id follows
    from the customer and the key (``domain.order_id_for``), so every attempt with
    the key reserves the stock and holds the coupon for the one order that gets
    stored, once; what an order never stored holds, inventory's and customers'
    sweeps give back once their grace period is over, and so an order is not
    stored once half of either has passed since it was asked (``Unavailable``).

    ``on_created(uow, order_id)``, if given, writes more in the order's unit of work.

    The same ``idempotency_key`` from the same customer returns the order it
    created first, also when two such requests race; one still pending (a
    service was down) is placed again. ``client_ip`` and ``device_id`` (where
    the buyer ordered from) go to risk with the order. With ``payment_method``, an
    order that awaits payment has its payment opened too, with payments'
    ``create_intent`` (idempotent per order and method): the answer's ``payment``.
    """
    request = load_or_invalid(
        schemas.create_order_input,
        {
            "customer_id": customer_id,
            "items": items,
            "idempotency_key": idempotency_key,
            "coupon_code": coupon_code,
            "client_ip": client_ip,
            "device_id": device_id,
            "payment_method": payment_method,
            "shop": shop,
        },
    )
    if request["coupon_code"] is not None and hold_coupon is None:
        raise InvalidInput("coupons cannot be used here", code="coupon_invalid")
    if request["shop"] is not None and find_shop is None:
        raise InvalidInput("orders cannot be placed through a shop here", code="shop_not_found")
    request_hash = domain.request_hash(request["items"], request["coupon_code"], request["shop"])
    now = now or utcnow()
    pay = partial(_with_payment, db, create_intent, request["payment_method"], now)
    ask = placing.ask
    existing, level = _order_for_key_and_level(db, customer_id, idempotency_key)
    if existing is not None:
        return pay(_replayed(db, ask, deadlines, existing, request_hash))

    found_shop = (
        None if request["shop"] is None or find_shop is None else shops.find(find_shop, request["shop"])
    )
    if found_shop is not None:
        level = AGENT_LEVEL
    markup_bp = 0 if found_shop is None else found_shop["markup_bp"]
    order_id = domain.order_id_for(customer_id, idempotency_key)
    reserve_asked_at = time.monotonic()
    reservation, priced = _reserved_and_priced(
        placing.reserve, order_id, customer_id, request["items"], level, markup_bp
    )
    if found_shop is not None:
        priced = shops.marked_up(priced, markup_bp)
    hold_asked_at = time.monotonic()
    try:
        coupon = _held_coupon(hold_coupon, order_id, customer_id, request["coupon_code"], priced)
    except Unavailable:
        raise  # customers may have held it: the retry with the key asks again
    except KamengError:
        # refused: no order will be stored under this attempt, its stock must not wait for the sweep
        if reservation["reserved"]:
            _give_back_reservation(placing, order_id)
        raise
    total = priced["total"] - coupon["discount"]
    stock_status = domain.STOCK_RESERVED if reservation["reserved"] else domain.STOCK_REJECTED
    order = {
        "id": order_id,
        "customer_id": customer_id,
        "level": level,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "status": domain.PENDING,
        "stock_status": stock_status,
        "total": total,
        "currency": priced["currency"],
        **coupon,
        **shops.recorded(found_shop, priced, total),
        "payment_id": None,
        "created_at": now,
        "updated_at": now,
        "expires_at": None,
        "client_ip": request["client_ip"],
        "device_id": request["device_id"],
    }
    lines = [_stored_line(line) for line in priced["items"]]
    try:
        with db.unit_of_work() as uow:
            uow.execute(orders.insert().values(**order))
            uow.execute(
                order_lines.insert(),
                [
                    {"order_id": order_id, "line_no": number, **line}
                    for number, line in enumerate(lines, start=1)
                ],
            )
            _record(uow, order_id, domain.PENDING, "created", now)
            if on_created is not None:
                on_created(uow, order_id)
            if not reservation["reserved"]:
                # refused for its stock: risk has nothing to score
                _record_stock_refusal(uow, _lock(uow, order_id), reservation["reason"], now)
            check_asked_within(reserve_asked_at, deadlines.reservation_seconds, "reservation")
            if coupon["coupon_code"] is not None:
                check_asked_within(hold_asked_at, deadlines.coupon_hold_seconds, "coupon")
    except sa.exc.IntegrityError:
        # a concurrent request with the same key committed first: its order is the answer
        existing = _order_for_key(db, customer_id, idempotency_key)
        if existing is None:
            raise
        return pay(_replayed(db, ask, deadlines, existing, request_hash))
    if reservation["reserved"]:
        verdict = placing.assess(_assessment(order, [_event_line(line) for line in lines]))
        with db.unit_of_work() as uow:
            _record_answers(uow, _lock(uow, order_id), reservation, verdict, deadlines, now)
    return pay(get_order(db, order_id))


def _with_payment(
    db: Database,
    create_intent: CreateIntent | None,
    method: str | None,
    now: datetime.datetime,
    order: dict[str, Any],
) -> dict[str, Any]:
    """The order placed, with the payment opened for it when asked (None unless it awaits payment)."""
    if method is None:
        return order
    assert create_intent is not None, "an order placed with a payment method needs create_intent"
    payable = order["status"] == domain.AWAITING_PAYMENT
    payment = (
        request_payment(db, create_intent, order["id"], order["customer_id"], method, now=now)
        if payable
        else None
    )
    return {**order, "payment": payment}


def complete_order(
    db: Database, ask: Ask, deadlines: domain.Deadlines, order_id: str, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """Have a pending order reserved and scored, and record where the answers take it; the order as it then is.

    ``ask(reservation, assessment)`` asks inventory's ``reserve`` and risk's
    ``assess_order`` (at once) and answers both; both are idempotent per order,
    so asking again for an order asked before (a crash, a timeout, a retry,
    the sweeper) holds and counts nothing twice. ``Unavailable`` when either
    cannot answer: the order stays pending for the sweeper (``complete_pending_orders``)
    or a retry with its key, and is expired, its reservation released, if
    nothing completes it within ``deadlines.payment_seconds``.
    """
    with db.reading() as session:
        order_and_lines = session.execute(ORDER_WITH_LINES, {"order_id": order_id}).mappings().all()
    order = order_and_lines[0]
    if order["status"] == domain.PENDING:
        lines = [_event_line(line) for line in order_and_lines]
        # the lines as stored, priced: inventory keeps (or, for an older order, learns) them for the sale
        reservation, verdict = ask(
            {"order_id": order_id, "customer_id": order["customer_id"], "items": lines},
            _assessment(order, lines),
        )
        with db.unit_of_work() as uow:
            _record_answers(uow, _lock(uow, order_id), reservation, verdict, deadlines, now or utcnow())
    return get_order(db, order_id)


def _held_coupon(
    hold_coupon: HoldCoupon | None,
    order_id: str,
    customer_id: str,
    coupon_code: str | None,
    priced: dict[str, Any],
) -> dict[str, Any]:
    """The coupon held for a new order (``coupons.hold``), or none asked for (create_order refuses a
    code where no ``hold_coupon`` is given)."""
    if coupon_code is None or hold_coupon is None:
        return coupons.NO_COUPON
    return coupons.hold(hold_coupon, order_id, customer_id, coupon_code, priced)


def _assessment(order: Mapping[Any, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """What risk's ``assess_order`` scores of an order (a row of ``orders`` or the one being stored)."""
    return {
        "order_id": order["id"],
        "customer_id": order["customer_id"],
        "items": lines,
        "total": order["total"],
        "currency": order["currency"],
        "created_at": utc_isoformat(order["created_at"]),
        "client_ip": order["client_ip"],
        "device_id": order["device_id"],
    }


def _give_back_reservation(placing: Placing, order_id: str) -> None:
    """Have inventory give back the stock of an order refused before it was stored; should inventory not
    answer, its sweep gives it back later (the buyer is answered the refusal all the same)."""
    try:
        placing.give_back(order_id)
    except Unavailable as exc:
        _log.warning("the reservation of an order refused was not given back yet: %s", exc)


def _reserved_and_priced(
    reserve: Reserve,
    order_id: str,
    customer_id: str,
    items: list[dict[str, Any]],
    level: str,
    markup_bp: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inventory's reservation of a new order's ``items``, its quote at ``level``), asked at once: the
    quote checked to be for exactly those items and to add up. inventory's refusals of the items (an
    unknown product, one off sale) reach the buyer as they are, nothing reserved."""
    try:
        answer = schemas.priced_reservation_in.load(reserve(order_id, customer_id, items, level, markup_bp))
    except ValidationError as exc:
        raise Unavailable("inventory answered a malformed reservation") from exc
    if answer["order_id"] != order_id:
        raise Unavailable("inventory answered the reservation of another order")
    priced = answer.pop("quote")
    ordered = sorted((item["product_id"], item["quantity"]) for item in items)
    quoted = sorted((line["product_id"], line["quantity"]) for line in priced["items"])
    if quoted != ordered:
        raise Unavailable("inventory quoted other items than were ordered")
    if domain.order_total(priced["items"]) != priced["total"]:
        raise Unavailable("inventory's quote does not add up")
    accounts = {item["product_id"]: item.get("recharge_account") for item in items}
    for line in priced["items"]:
        line["recharge_account"] = accounts[line["product_id"]]
    return answer, priced


def _stored_line(line: Mapping[Any, Any]) -> dict[str, Any]:
    # the category is the quote's, for the coupon's scope alone: the catalogue keeps it
    return {column: value for column, value in line.items() if column != "category_id"}


def get_order(
    db: Database,
    order_id: str,
    changed_from: str | list[str] | None = None,
    wait: float = 0,
    for_customer: str | None = None,
) -> dict[str, Any]:
    """The order; given ``changed_from`` (a status, or several), once its status is none of them, or
    ``wait`` seconds on.

    With ``for_customer``, only that customer's order is waited on: another's is answered at once,
    for the caller to refuse, so that nobody learns by waiting about an order that is not theirs.
    A status change committed in this process wakes the wait at once, one
    committed by another replica the next ``recheck_waiting_orders``.
    No database connection is held while waiting.
    """
    request = load_or_invalid(
        schemas.get_order_input,
        {"order_id": order_id, "changed_from": changed_from, "wait": wait, "for_customer": for_customer},
    )
    waited_through = request["changed_from"]
    if waited_through and request["wait"] > 0:
        status_changes.wait_for_change(
            order_id, partial(_status, db, order_id, request["for_customer"]), waited_through, request["wait"]
        )
    with db.reading() as session:
        order_and_lines = session.execute(ORDER_WITH_LINES, {"order_id": order_id}).mappings().all()
        if not order_and_lines:
            raise NotFound("order not found")
        history = session.execute(ORDER_HISTORY, {"order_id": order_id}).mappings().all()
    return schemas.order_out.dump({**order_and_lines[0], "items": order_and_lines, "history": history})


def order_statuses(db: Database, order_ids: list[str]) -> dict[str, Any]:
    """``{orders: {order_id: status}}`` for those of ``order_ids`` orders knows (an id it does not know is
    left out): customers asks it of the orders it holds a coupon use for, to give back the use of one
    never stored or closed unpaid."""
    request = load_or_invalid(schemas.order_statuses_input, {"order_ids": order_ids})
    with db.reading() as session:
        rows = session.execute(
            sa.select(orders.c.id, orders.c.status).where(orders.c.id.in_(request["order_ids"]))
        ).all()
    return {"orders": {row.id: row.status for row in rows}}


def list_orders(
    db: Database, customer_id: str | None = None, limit: int = 50, cursor: str | None = None
) -> dict[str, Any]:
    """Orders newest first, ``limit`` at a time; pass ``next_cursor`` back for the next page."""
    request = load_or_invalid(
        schemas.ListOrdersInput, {"customer_id": customer_id, "limit": limit, "cursor": cursor}
    )
    query = (
        sa.select(orders).order_by(orders.c.created_at.desc(), orders.c.id.desc()).limit(request["limit"] + 1)
    )
    if request["customer_id"] is not None:
        query = query.where(orders.c.customer_id == request["customer_id"])
    if request["cursor"] is not None:
        query = query.where(
            paging.after(orders.c.created_at, orders.c.id, request["cursor"], newest_first=True)
        )
    with db.reading() as session:
        rows = session.execute(query).all()
        page = rows[: request["limit"]]
        lines = _lines_by_order(session, [row.id for row in page])
    next_cursor = paging.encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > len(page) else None
    return {
        "items": [schemas.order_summary_out.dump({**row._mapping, "items": lines[row.id]}) for row in page],
        "next_cursor": next_cursor,
    }


def request_payment(
    db: Database,
    create_intent: CreateIntent,
    order_id: str,
    customer_id: str,
    method: str,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """Open a payment with payments' ``create_intent`` for the buyer's approved, unexpired order."""
    load_or_invalid(
        schemas.request_payment_input, {"order_id": order_id, "customer_id": customer_id, "method": method}
    )
    with db.reading() as session:
        order = session.execute(sa.select(orders).where(orders.c.id == order_id)).first()
    if order is None:
        raise NotFound("order not found")
    if order.customer_id != customer_id:
        raise Forbidden("this order belongs to another customer")
    if not domain.payable_now(order, now or utcnow()):
        if order.status == domain.AWAITING_PAYMENT:
            raise Conflict("the time to pay this order has run out", code="order_expired")
        raise Conflict(f"the order is {order.status}, not awaiting payment", code="order_not_payable")
    return create_intent(order_id, customer_id, order.total, order.currency, method)


def count_by_status(db: Database) -> dict[tuple[str], int]:
    """{(status,): number of orders} for every status, for the orders-by-status gauge."""
    with db.reading() as session:
        counts: dict[str, int] = dict(
            session.execute(sa.select(orders.c.status, sa.func.count()).group_by(orders.c.status)).all()
        )
    return {(status,): counts.get(status, 0) for status in domain.STATUSES}


def order_counts(db: Database) -> dict[str, dict[str, int]]:
    """``{by_status: {status: number of orders}}`` over every order, every status named, for staff."""
    return {"by_status": {status: count for (status,), count in count_by_status(db).items()}}


def audit_snapshot(db: Database) -> dict[str, Any]:
    """Every order in brief, for ``kameng audit``: {service, orders: {order id: ...}, outbox}.

    An order's ``items`` are its quantities per product; ``payment_id`` is the
    payment that paid it, if any; ``shop`` the agent's shop it was placed through
    ({slug, agent_id, markup}), if any.
    """
    with db.reading_snapshot() as session:
        rows = session.execute(
            sa.select(
                orders.c.id,
                orders.c.status,
                orders.c.total,
                orders.c.currency,
                orders.c.coupon_code,
                orders.c.discount,
                orders.c.payment_id,
                orders.c.shop,
                orders.c.shop_agent_id,
                orders.c.shop_markup,
                orders.c.created_at,
                orders.c.updated_at,
                orders.c.expires_at,
            )
        ).all()
        quantities = session.execute(
            sa.select(
                order_lines.c.order_id, order_lines.c.product_id, sa.func.sum(order_lines.c.quantity)
            ).group_by(order_lines.c.order_id, order_lines.c.product_id)
        ).all()
    items: dict[str, dict[str, int]] = {}
    for order_id, product_id, quantity in quantities:
        items.setdefault(order_id, {})[str(product_id)] = int(quantity)
    return {
        "service": "orders",
        "orders": {
            row.id: {
                "status": row.status,
                "total": row.total,
                "currency": row.currency,
                "coupon_code": row.coupon_code,
                "discount": row.discount,
                "payment_id": row.payment_id,
                "shop": None
                if row.shop is None
                else {"slug": row.shop, "agent_id": row.shop_agent_id, "markup": row.shop_markup},
                "items": items.get(row.id, {}),
                "created_at": utc_isoformat(row.created_at),
                "updated_at": utc_isoformat(row.updated_at),
                "expires_at": utc_isoformat(row.expires_at),
            }
            for row in rows
        },
        "outbox": db.outbox_status(),
    }


def _about_an_order(handle: Callable[..., None]) -> Callable[..., None]:
    """Make ``handle(uow, order, payload, now, *args)`` the handler ``(uow, event, *args, now=None)``.

    The handler runs in the unit of work that marks the event in the inbox;
    the order the event is about is locked until commit, and ``handle`` acts on it.
    """

    @wraps(handle)
    def handler(
        uow: UnitOfWork, event: dict[str, Any], *args: Any, now: datetime.datetime | None = None
    ) -> None:
        payload = event["payload"]
        handle(uow, _lock(uow, payload["order_id"]), payload, now or utcnow(), *args)

    return handler


# --- buyers' levels ---------------------------------------------------------------


def on_customer_level_changed(
    uow: UnitOfWork, event: dict[str, Any], now: datetime.datetime | None = None
) -> None:
    """Keep the buyer's new level, unless a later change (a higher version) is already kept."""
    payload = event["payload"]
    now = now or utcnow()
    insert = uow.insert(customer_levels).values(
        customer_id=payload["customer_id"], level=payload["level"], version=payload["version"], updated_at=now
    )
    uow.execute(
        insert.on_conflict_do_update(
            index_elements=[customer_levels.c.customer_id],
            set_={"level": insert.excluded.level, "version": insert.excluded.version, "updated_at": now},
            where=customer_levels.c.version < insert.excluded.version,
        )
    )


# --- the saga: inventory's and risk's answers to a new order -----------------------


def _record_answers(
    uow: UnitOfWork,
    order: Row,
    reservation: Mapping[str, Any],
    verdict: Mapping[str, Any],
    deadlines: domain.Deadlines,
    now: datetime.datetime,
) -> None:
    """Record inventory's reservation and risk's verdict on the (locked) order and move it where they take it.

    An order no longer pending was recorded already (another completion got
    there first) or given up (expired): its expiry released whatever inventory
    held, so nothing changes.
    """
    if order.status != domain.PENDING:
        return
    stock_status = domain.STOCK_RESERVED if reservation["reserved"] else domain.STOCK_REJECTED
    decision = verdict["decision"]
    # the reasons are for reviewers: the buyer reads the history, and must not learn the rules from it
    _set(
        uow,
        order.id,
        now,
        stock_status=stock_status,
        risk_decision=decision,
        risk_score=verdict["score"],
        risk_reasons=verdict["reasons"],
    )
    target = domain.saga_step(stock_status, decision)
    reason = domain.answers_reason(stock_status, reservation["reason"], decision)
    _move(uow, order, target, reason, now, expires_at=domain.deadline_on_entering(target, now, deadlines))
    if target == domain.CANCELLED:
        # inventory releases what it held, risk no longer counts the order as unpaid
        uow.publish("order.cancelled", {"order_id": order.id, "reason": reason}, correlation_id=order.id)


def _record_stock_refusal(uow: UnitOfWork, order: Row, refusal: str | None, now: datetime.datetime) -> None:
    """Cancel the (locked) new order inventory refused to reserve, as ``_record_answers`` would whatever
    risk said: ``order.cancelled`` lets risk no longer count it as unpaid, and gives its coupon back."""
    reason = domain.stock_refused_reason(refusal)
    _move(uow, order, domain.CANCELLED, reason, now)
    uow.publish("order.cancelled", {"order_id": order.id, "reason": reason}, correlation_id=order.id)


def complete_pending_orders(
    db: Database,
    ask: Ask,
    deadlines: domain.Deadlines,
    now: datetime.datetime | None = None,
    batch_size: int = EXPIRY_BATCH,
) -> int:
    """Place again the orders left pending (a service was down, or orders stopped mid-way), oldest first.

    Only orders older than ``domain.RETRY_PENDING_AFTER``: a younger one is
    still being placed by its own request. Stops at the first that cannot be
    completed (that service is still down); returns how many were completed.
    """
    now = now or utcnow()
    with db.reading() as session:
        waiting = (
            session.execute(
                sa.select(orders.c.id)
                .where(
                    orders.c.status == domain.PENDING,
                    orders.c.created_at <= now - domain.RETRY_PENDING_AFTER,
                )
                .order_by(orders.c.created_at)
                .limit(batch_size)
            )
            .scalars()
            .all()
        )
    completed = 0
    for order_id in waiting:
        try:
            complete_order(db, ask, deadlines, order_id)
        except Unavailable as exc:
            _log.warning("pending order %s could not be placed yet: %s", order_id, exc)
            break
        completed += 1
    return completed


# --- the review of an order on hold ---------------------------------------------


def decide_review(
    db: Database,
    order_id: str,
    decision: str,
    reason: str,
    decided_by: str,
    deadlines: domain.Deadlines,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """A reviewer's decision on an order on hold: approve → awaiting_payment with a fresh deadline, reject →
    cancelled (inventory releases its cards). An order is decided once: a second decision is a Conflict."""
    request = load_or_invalid(
        schemas.ReviewDecisionInput,
        {"order_id": order_id, "decision": decision, "reason": reason, "decided_by": decided_by},
    )
    now = now or utcnow()
    with db.unit_of_work() as uow:
        order = uow.execute(_LOCK, {"b_order_id": order_id}).first()
        if order is None:
            raise NotFound("order not found")
        decided = uow.execute(sa.select(order_reviews).where(order_reviews.c.order_id == order_id)).first()
        if decided is not None:
            raise Conflict(
                f"this order's review was decided already ({_review_outcome(decided)})",
                code="review_already_decided",
            )
        if order.status != domain.ON_HOLD:
            raise Conflict(f"the order is {order.status}, not on hold for review", code="order_not_on_hold")
        _close_review(
            uow, order, request["decision"], request["reason"], request["decided_by"], deadlines, now
        )
        auditlog.record(
            uow,
            "orders",
            request["decided_by"],
            "order.review_decided",
            f"order:{order_id}",
            {"decision": request["decision"], "reason": request["reason"]},
        )
    return {
        "order_id": order_id,
        "decision": request["decision"],
        "reason": request["reason"],
        "decided_by": request["decided_by"],
        "decided_at": utc_isoformat(now),
        "status": domain.REVIEW_OUTCOMES[request["decision"]],
    }


def list_reviews(db: Database, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """Orders on hold with risk's score and reasons, the nearest review deadline first; ``{items, next_cursor}``."""
    request = load_or_invalid(schemas.ListReviewsInput, {"limit": limit, "cursor": cursor})
    query = (
        sa.select(orders)
        .where(orders.c.status == domain.ON_HOLD)
        .order_by(orders.c.expires_at, orders.c.id)
        .limit(request["limit"] + 1)
    )
    if request["cursor"] is not None:
        query = query.where(
            paging.after(orders.c.expires_at, orders.c.id, request["cursor"], newest_first=False)
        )
    with db.reading() as session:
        rows = session.execute(query).all()
        page = rows[: request["limit"]]
        lines = _lines_by_order(session, [row.id for row in page])
    return {
        "items": [schemas.review_out.dump({**row._mapping, "items": lines[row.id]}) for row in page],
        "next_cursor": paging.encode_cursor(page[-1].expires_at, page[-1].id)
        if len(rows) > len(page)
        else None,
    }


def _close_review(
    uow: UnitOfWork,
    order: Row,
    outcome: str,
    reason: str,
    decided_by: str | None,
    deadlines: domain.Deadlines,
    now: datetime.datetime,
) -> None:
    """Record the review's ``outcome`` and move the order on hold where it takes it."""
    uow.execute(
        order_reviews.insert().values(
            order_id=order.id, decision=outcome, reason=reason, decided_by=decided_by, decided_at=now
        )
    )
    target = domain.REVIEW_OUTCOMES[outcome]
    history_reason = f"review: {outcome} by staff {decided_by}: {reason}" if decided_by else reason
    _move(
        uow,
        order,
        target,
        history_reason,
        now,
        expires_at=domain.deadline_on_entering(target, now, deadlines),
    )
    if target == domain.CANCELLED:
        uow.publish(
            "order.cancelled", {"order_id": order.id, "reason": history_reason}, correlation_id=order.id
        )
    uow.after_commit(lambda: metrics.count_review_closed(outcome))
    uow.publish(
        "order.reviewed",
        {
            "order_id": order.id,
            "customer_id": order.customer_id,
            "decision": outcome,
            "reason": reason,
            "decided_by": decided_by,
            "decided_at": utc_isoformat(now),
        },
        correlation_id=order.id,
    )


def _review_outcome(review: Row) -> str:
    who = f"by staff {review.decided_by}" if review.decided_by else "by its deadline passing"
    return f"{review.decision} {who} at {utc_isoformat(review.decided_at)}"


# --- the saga: payment, delivery, refund ---------------------------------------


@_about_an_order
def on_payment_succeeded(
    uow: UnitOfWork, order: Row, payment: dict[str, Any], now: datetime.datetime
) -> None:
    order_id = order.id
    receipt = {"payment_id": payment["payment_id"], "trade_no": payment["trade_no"]}
    if uow.execute(sa.select(order_receipts.c.payment_id).filter_by(**receipt)).first():
        return  # this very sum again, under a new event id
    uow.execute(order_receipts.insert().values(**receipt, order_id=order_id, received_at=now))
    judged = uow.execute(
        sa.select(order_payments.c.payment_id).where(order_payments.c.payment_id == payment["payment_id"])
    ).first()
    if judged:
        # the same payment paid a second time (another provider transaction): give it back
        _log.warning(
            "payment %s of order %s was received twice; asking for a refund", payment["payment_id"], order_id
        )
        _request_refund(uow, order_id, payment, domain.PAID_TWICE)
        return
    refund_reason = domain.refund_reason(order, payment["amount"], payment["currency"])
    uow.execute(
        order_payments.insert().values(
            payment_id=payment["payment_id"],
            order_id=order_id,
            amount=payment["amount"],
            currency=payment["currency"],
            accepted=refund_reason is None,
            refund_reason=refund_reason,
            received_at=now,
        )
    )
    if refund_reason is not None:
        _log.warning(
            "payment %s cannot pay order %s (%s, order %s); asking for a refund",
            payment["payment_id"],
            order_id,
            refund_reason,
            order.status,
        )
        _request_refund(uow, order_id, payment, refund_reason)
        return
    late = order.status == domain.EXPIRED
    _move(
        uow,
        order,
        domain.PAID,
        "paid after the order expired" if late else "paid",
        now,
        payment_id=payment["payment_id"],
    )
    lines = (
        uow.execute(
            sa.select(
                order_lines.c.product_id,
                order_lines.c.quantity,
                order_lines.c.unit_price,
                order_lines.c.recharge_account,
            )
            .where(order_lines.c.order_id == order_id)
            .order_by(order_lines.c.line_no)
        )
        .mappings()
        .all()
    )
    uow.publish(
        "order.paid",
        {
            "order_id": order_id,
            "customer_id": order.customer_id,
            "items": [_event_line(line) for line in lines],
            "payment_id": payment["payment_id"],
            "amount": payment["amount"],
            "currency": payment["currency"],
        },
        correlation_id=order_id,
    )


def _request_refund(uow: UnitOfWork, order_id: str, payment: Mapping[str, Any], reason: str) -> None:
    uow.publish(
        "order.refund_requested",
        {
            "order_id": order_id,
            "customer_id": payment["customer_id"],
            "payment_id": payment["payment_id"],
            "amount": payment["amount"],
            "currency": payment["currency"],
            "reason": reason,
        },
        correlation_id=order_id,
    )


@_about_an_order
def on_cards_delivered(uow: UnitOfWork, order: Row, payload: dict[str, Any], now: datetime.datetime) -> None:
    if not domain.can_transition(order.status, domain.DELIVERED):
        return
    _move(uow, order, domain.DELIVERED, f"{len(payload['card_ids'])} cards delivered", now)
    delivered = {
        "order_id": order.id,
        "customer_id": order.customer_id,
        "total": order.total,
        "currency": order.currency,
    }
    if order.shop is not None:
        # customers credits the shop's agent the markup, once per order
        delivered["shop"] = {"slug": order.shop, "agent_id": order.shop_agent_id, "markup": order.shop_markup}
    uow.publish("order.delivered", delivered, correlation_id=order.id)


@_about_an_order
def on_sale_failed(uow: UnitOfWork, order: Row, payload: dict[str, Any], now: datetime.datetime) -> None:
    if not domain.can_transition(order.status, domain.FAILED):
        return
    _move(uow, order, domain.FAILED, f"sale failed: {payload['reason']}", now)
    paid_with = uow.execute(
        sa.select(order_payments).where(order_payments.c.payment_id == order.payment_id)
    ).one()
    uow.execute(
        order_payments.update()
        .where(order_payments.c.payment_id == order.payment_id)
        .values(refund_reason=domain.SALE_FAILED)
    )
    _request_refund(
        uow,
        order.id,
        {
            "customer_id": order.customer_id,
            "payment_id": order.payment_id,
            "amount": paid_with.amount,
            "currency": paid_with.currency,
        },
        domain.SALE_FAILED,
    )


@_about_an_order
def on_payment_refunded(uow: UnitOfWork, order: Row, payload: dict[str, Any], now: datetime.datetime) -> None:
    refunded = uow.execute(
        order_payments.update()
        .where(
            order_payments.c.payment_id == payload["payment_id"],
            order_payments.c.order_id == order.id,
            order_payments.c.refunded_at.is_(None),
        )
        .values(refunded_at=now)
    )
    if refunded.rowcount == 0:
        return  # already recorded, or a payment orders never judged: nothing of ours moves
    if order.payment_id == payload["payment_id"] and domain.can_transition(order.status, domain.REFUNDED):
        _move(uow, order, domain.REFUNDED, "payment refunded", now)


# --- expiry --------------------------------------------------------------------


def expire_orders(
    db: Database,
    deadlines: domain.Deadlines,
    now: datetime.datetime | None = None,
    batch_size: int = EXPIRY_BATCH,
) -> int:
    """Expire unpaid orders past their deadline, and new orders that never got both answers; cancel orders
    on hold that no reviewer decided by their deadline.

    Rows are locked (and rows another transaction holds are skipped) so that
    a payment handled at the same time on PostgreSQL either pays the order
    before it expires, or waits and then pays it late; never both, never lost.
    Returns how many orders expired or were cancelled.
    """
    now = now or utcnow()
    overdue = sa.or_(
        sa.and_(orders.c.status.in_((domain.AWAITING_PAYMENT, domain.ON_HOLD)), orders.c.expires_at <= now),
        sa.and_(
            orders.c.status == domain.PENDING,
            orders.c.created_at <= domain.pending_cutoff(now, deadlines.payment_seconds),
        ),
    )
    expired = 0
    while True:
        with db.unit_of_work() as uow:
            batch = uow.execute(
                sa.select(orders)
                .where(overdue)
                .order_by(orders.c.created_at)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for order in batch:
                if order.status == domain.ON_HOLD:
                    _close_review(
                        uow, order, domain.REVIEW_TIMEOUT, "not reviewed in time", None, deadlines, now
                    )
                    continue
                reason = (
                    "not paid in time"
                    if order.status == domain.AWAITING_PAYMENT
                    else "no stock or risk answer in time"
                )
                _move(uow, order, domain.EXPIRED, reason, now)
                uow.publish(
                    "order.expired", {"order_id": order.id, "reason": reason}, correlation_id=order.id
                )
        expired += len(batch)
        if len(batch) < batch_size:
            return expired


# --- helpers -------------------------------------------------------------------


def _lock(uow: UnitOfWork, order_id: str) -> Row:
    """The order, locked until the unit of work ends (SQLite's writer lock already serializes)."""
    order = uow.execute(_LOCK, {"b_order_id": order_id}).first()
    if order is None:
        # an answer about an order orders never stored: retried, then dead-lettered for an operator
        raise NotFound(f"order {order_id} not found")
    return order


def _move(
    uow: UnitOfWork, order: Row, target: str, reason: str, now: datetime.datetime, **values: Any
) -> None:
    """Move ``order`` (as locked) to ``target`` if the table allows it, and record why."""
    domain.check_transition(order.status, target)
    moved = uow.execute(
        orders.update()
        .where(orders.c.id == order.id, orders.c.status == order.status)
        .values(status=target, updated_at=now, **values)
    )
    if moved.rowcount != 1:
        raise ConcurrentChange(f"order {order.id} left {order.status} while locked")
    _record(uow, order.id, target, reason, now)
    schedule_callback(uow, order.id, target, now)
    uow.after_commit(partial(status_changes.notify, order.id))


def _set(uow: UnitOfWork, order_id: str, now: datetime.datetime, **values: Any) -> None:
    uow.execute(orders.update().where(orders.c.id == order_id).values(updated_at=now, **values))


def _record(uow: UnitOfWork, order_id: str, status: str, reason: str, now: datetime.datetime) -> None:
    uow.execute(
        _RECORD, {"order_id": order_id, "status": status, "reason": reason[:HISTORY_REASON_LENGTH], "at": now}
    )


def recheck_waiting_orders(db: Database) -> None:
    """Wake the long-polls whose order another replica has moved; this one's moves wake them at once."""
    status_changes.recheck(partial(_statuses, db))


def _statuses(db: Database, order_ids: Collection[str]) -> dict[str, str]:
    with db.reading() as session:
        return dict(session.execute(_STATUSES, {"b_order_ids": list(order_ids)}).all())


def _status(db: Database, order_id: str, for_customer: str | None = None) -> str | None:
    """The order's status alone: None for an unknown order, and for one not ``for_customer``'s when
    given, which no status waited through is, so nobody waits on another's order."""
    with db.reading() as session:
        row = session.execute(_STATUS_AND_CUSTOMER, {"order_id": order_id}).first()
    if row is None or (for_customer is not None and row.customer_id != for_customer):
        return None
    return row.status


def _order_for_key(db: Database, customer_id: str, idempotency_key: str) -> Row | None:
    with db.reading() as session:
        return session.execute(
            sa.select(orders.c.id, orders.c.request_hash).where(
                orders.c.customer_id == customer_id, orders.c.idempotency_key == idempotency_key
            )
        ).first()


def _order_for_key_and_level(db: Database, customer_id: str, idempotency_key: str) -> tuple[Row | None, str]:
    """(the order ``idempotency_key`` made already or None, the level the customer's orders are priced at)."""
    with db.reading() as session:
        row = session.execute(
            _ORDER_FOR_KEY_AND_LEVEL, {"b_customer_id": customer_id, "b_idempotency_key": idempotency_key}
        ).one()
    existing = row if row.id is not None else None
    return existing, domain.FIRST_LEVEL if row.level is None else row.level


def _replayed(
    db: Database, ask: Ask, deadlines: domain.Deadlines, existing: Row, request_hash: str
) -> dict[str, Any]:
    """The order a retried key made first (placed again if still pending), unless the key now comes with
    another request."""
    # orders made before request hashes were kept have none: they answer as before
    if existing.request_hash is not None and existing.request_hash != request_hash:
        raise InvalidInput(
            "this Idempotency-Key was used for another request; use a fresh key for a new order",
            code="idempotency_key_reused",
        )
    return complete_order(db, ask, deadlines, existing.id)


def _event_line(line: Mapping[Any, Any]) -> dict[str, Any]:
    event_line = {
        "product_id": line["product_id"],
        "quantity": line["quantity"],
        "unit_price": line["unit_price"],
    }
    if line.get("recharge_account"):
        event_line["recharge_account"] = line["recharge_account"]
    return event_line


def _lines_by_order(session: sa.Connection, order_ids: list[str]) -> dict[str, list[sa.RowMapping]]:
    lines: dict[str, list[sa.RowMapping]] = {order_id: [] for order_id in order_ids}
    rows = (
        session.execute(
            sa.select(order_lines)
            .where(order_lines.c.order_id.in_(order_ids))
            .order_by(order_lines.c.order_id, order_lines.c.line_no)
        )
        .mappings()
        .all()
    )
    for row in rows:
        lines[row["order_id"]].append(row)
    return lines
