"""Coupons: made by ops, issued to customers, held by an order, spent when it is paid.

A coupon's ``used`` counts its uses held or spent. A hold locks the coupon's row
(SQLite's unit of work holds the database's write lock anyway), counts the
buyer's uses under that lock and raises ``used`` only while it is below
``total_limit``: concurrent orders never take a coupon past either limit.
A use is one per order, so a hold asked again for the same order answers the
same use (a use given back is held again, under the limits); a cancelled or
expired order gives its use back, and so does a hold whose order orders never
stored (``release_orphaned_holds``).
"""

import datetime
import logging
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter

from customers import domain, segments
from customers.db import accounts, coupon_grants, coupon_uses, coupons
from kameng_common.db import Database, UnitOfWork, utc_isoformat, utcnow
from kameng_common.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from kameng_common.orphans import SWEEP_PAGE, UNKNOWN, OrderStatuses, statuses_of

_log = logging.getLogger(__name__)

AMOUNT_OFF, PERCENT_OFF = "amount_off", "percent_off"
KINDS = (AMOUNT_OFF, PERCENT_OFF)
HELD, SPENT, RELEASED = "held", "spent", "released"
# the uses that count toward a coupon's limits
COUNTED = (HELD, SPENT)
# orders' statuses of an order closed before it was paid: its use goes back
CLOSED_UNPAID = ("cancelled", "expired")
CODE_PATTERN = re.compile(r"^[A-Z0-9_-]{3,32}\Z")
MAX_ISSUE = 10_000

HOLDS = Counter("kameng_coupon_holds_total", "Coupon holds asked for by orders, by outcome", ["outcome"])
USES_CLOSED = Counter("kameng_coupon_uses_closed_total", "Coupon uses spent or given back", ["status"])
for _status in (SPENT, RELEASED):
    USES_CLOSED.labels(_status)
HOLDS_SWEPT = Counter(
    "kameng_coupon_holds_swept_total",
    "Held uses given back by the sweep, by what orders said of their order (unknown, cancelled, expired)",
    ["order_status"],
)
for _order_status in (UNKNOWN, *CLOSED_UNPAID):
    HOLDS_SWEPT.labels(_order_status)


# --- the rules: pure ---------------------------------------------------------------


def normalise_code(code: str) -> str:
    """Codes are matched without case or surrounding spaces: "spring10 " is SPRING10."""
    return code.strip().upper()


def check_coupon(coupon: Mapping[str, Any]) -> None:
    """InvalidInput ``invalid_coupon`` for a coupon whose terms contradict each other."""
    problems = []
    if not CODE_PATTERN.match(coupon["code"]):
        problems.append("code must be 3 to 32 letters, digits, '_' or '-'")
    if coupon["kind"] == PERCENT_OFF and not 1 <= coupon["value"] <= 100:
        problems.append("a percent_off value is a whole percent from 1 to 100")
    if coupon["kind"] == AMOUNT_OFF and coupon["value"] < 1:
        problems.append("an amount_off value is at least 1 fen")
    if coupon["starts_at"] >= coupon["ends_at"]:
        problems.append("starts_at must come before ends_at")
    if coupon["total_limit"] is not None and coupon["total_limit"] < coupon["per_customer_limit"]:
        problems.append("per_customer_limit cannot exceed total_limit")
    if coupon["segment"] is not None and not domain.is_segment(coupon["segment"]):
        problems.append(
            "segment is a tag (lower-case letters, digits, '_' or '-', beginning with a letter) "
            "or region:<REGION> (1 to 16 letters, digits, '_' or '-')"
        )
    if problems:
        raise InvalidInput("; ".join(problems), code="invalid_coupon")


def eligible_subtotal(coupon: Mapping[str, Any], lines: Iterable[Mapping[str, Any]]) -> int:
    """What the order's lines in the coupon's scope cost; every line when the coupon has no scope."""
    product_ids, category_ids = set(coupon["product_ids"]), set(coupon["category_ids"])
    scoped = bool(product_ids or category_ids)
    return sum(
        line["unit_price"] * line["quantity"]
        for line in lines
        if not scoped or line["product_id"] in product_ids or line.get("category_id") in category_ids
    )


def discount(coupon: Mapping[str, Any], eligible: int) -> int:
    """The discount on ``eligible`` (fen): never more than it, percentages rounded down."""
    if coupon["kind"] == AMOUNT_OFF:
        return int(min(coupon["value"], eligible))
    return eligible * int(coupon["value"]) // 100


def refusal(
    coupon: Mapping[str, Any], currency: str, eligible: int, now: datetime.datetime
) -> InvalidInput | None:
    """Why the coupon cannot discount an order of ``eligible`` fen in its scope now, if it cannot."""
    if now < _aware(coupon["starts_at"]):
        return InvalidInput("this coupon cannot be used yet", code="coupon_not_started")
    if now >= _aware(coupon["ends_at"]):
        return InvalidInput("this coupon has expired", code="coupon_expired")
    if currency != coupon["currency"]:
        return InvalidInput(f"this coupon is for orders in {coupon['currency']}", code="coupon_out_of_scope")
    if eligible == 0:
        return InvalidInput("no item of this order is in the coupon's scope", code="coupon_out_of_scope")
    if eligible < coupon["min_total"]:
        return InvalidInput(
            f"this coupon needs {coupon['min_total']} fen of items in its scope; the order has {eligible}",
            code="coupon_below_min_total",
        )
    return None


def _aware(moment: datetime.datetime) -> datetime.datetime:
    # SQLite hands datetimes back without their zone; every one stored is UTC
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


# --- ops: coupons and their issue ---------------------------------------------------------


def create_coupon(db: Database, coupon_in: Mapping[str, Any], created_by: str | None) -> dict[str, Any]:
    """A new coupon; its code is unique whatever its case (409 ``coupon_code_taken``)."""
    coupon = {
        "product_ids": [],
        "category_ids": [],
        "total_limit": None,
        "per_customer_limit": 1,
        "min_total": 0,
        "currency": domain.LEVEL_CURRENCY,
        "public": True,
        "segment": None,
        **coupon_in,
        "code": normalise_code(coupon_in["code"]),
        "id": str(uuid.uuid4()),
        "used": 0,
        "created_by": created_by,
        "created_at": utcnow(),
    }
    coupon["product_ids"] = sorted(set(coupon["product_ids"]))
    coupon["category_ids"] = sorted(set(coupon["category_ids"]))
    if coupon["segment"] is not None:
        coupon["segment"] = domain.normalise_segment(coupon["segment"])
    check_coupon(coupon)
    try:
        with db.unit_of_work() as uow:
            uow.execute(coupons.insert().values(**coupon))
    except sa.exc.IntegrityError:
        raise Conflict(f"there is a coupon {coupon['code']} already", code="coupon_code_taken") from None
    _log.info("coupon created", extra={"coupon_id": coupon["id"], "code": coupon["code"]})
    return coupon_answer(coupon)


def get_coupon(
    db: Database, coupon_id: str, tag: str | None = None, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """The coupon with how many customers it was issued to and how many of them paid with it (a
    segment's coupon: with how many customers are in the segment now); given a ``tag``, the same
    counts among the customers who hold it now (a targeted offer's report)."""
    now = now or utcnow()
    with db.reading() as session:
        coupon = session.execute(sa.select(coupons).where(coupons.c.id == coupon_id)).first()
        if coupon is None:
            raise NotFound(f"there is no coupon {coupon_id}", code="coupon_not_found")
        issued = sa.select(coupon_grants.c.customer_id).where(coupon_grants.c.coupon_id == coupon_id)
        spent = sa.select(coupon_uses.c.customer_id).where(
            coupon_uses.c.coupon_id == coupon_id, coupon_uses.c.status == SPENT
        )
        report: dict[str, Any] = {"issued": _count(session, issued), "customers_paid": _count(session, spent)}
        if coupon.segment is not None:
            report["segment_customers"] = _count(session, segments.with_segment(coupon.segment, now))
        if tag is not None:
            tagged = segments.with_tag(tag, now).subquery()
            report["tag"] = tag
            report["tagged_issued"] = _count(
                session, issued.where(coupon_grants.c.customer_id.in_(sa.select(tagged.c.id)))
            )
            report["tagged_paid"] = _count(
                session, spent.where(coupon_uses.c.customer_id.in_(sa.select(tagged.c.id)))
            )
    return {**coupon_answer(coupon._asdict()), **report}


def _count(session: sa.Connection, customers: sa.Select[Any]) -> int:
    """How many distinct customers ``customers`` (a one-column select) names."""
    return int(session.execute(sa.select(sa.func.count(sa.distinct(customers.subquery().c[0])))).scalar_one())


def list_coupons(db: Database, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """Every coupon by code, ``limit`` at a time."""
    query = sa.select(coupons).order_by(coupons.c.code).limit(limit + 1)
    if cursor is not None:
        query = query.where(coupons.c.code > cursor)
    with db.reading() as session:
        rows = session.execute(query).all()
    page = rows[:limit]
    return {
        "items": [coupon_answer(row._asdict()) for row in page],
        "next_cursor": page[-1].code if len(rows) > limit else None,
    }


def issue_coupon(
    db: Database,
    coupon_id: str,
    customer_ids: Sequence[str] | None = None,
    tag: str | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """Issue a coupon to chosen customers, or to every customer who holds ``tag`` now: each may then
    use it (and sees it in their coupons). Issuing again to a customer who has it changes nothing;
    an id that is no customer's is refused."""
    now = now or utcnow()
    with db.unit_of_work() as uow:
        _coupon_row(uow, coupon_id)
        if tag is not None:
            customers = segments.with_tag(tag, now).subquery()
            asked = uow.execute(sa.select(sa.func.count()).select_from(customers)).scalar_one()
            issued = uow.execute(
                uow.insert(coupon_grants)
                .from_select(
                    ["coupon_id", "customer_id", "issued_at"],
                    sa.select(
                        sa.literal(coupon_id), customers.c.id, sa.literal(now, sa.DateTime(timezone=True))
                    ).where(sa.true()),  # SQLite reads ON CONFLICT after a SELECT only behind a WHERE
                )
                .on_conflict_do_nothing()
            ).rowcount
        else:
            wanted = sorted(set(customer_ids or ()))
            _check_customers(uow, wanted)
            asked, issued = len(wanted), _grant(uow, coupon_id, wanted, now)
    _log.info("coupon issued", extra={"coupon_id": coupon_id, "tag": tag, "issued": issued})
    return {"coupon_id": coupon_id, "tag": tag, "customers": asked, "newly_issued": issued}


def _check_customers(uow: UnitOfWork, customer_ids: Sequence[str]) -> None:
    known = set(
        uow.execute(
            sa.select(accounts.c.id).where(
                accounts.c.id.in_(customer_ids), accounts.c.kind == domain.CUSTOMER
            )
        ).scalars()
    )
    unknown = [customer_id for customer_id in customer_ids if customer_id not in known]
    if unknown:
        raise InvalidInput(
            f"no customer has the id {', '.join(unknown[:5])}" + (" ..." if len(unknown) > 5 else ""),
            code="customer_unknown",
        )


def _grant(uow: UnitOfWork, coupon_id: str, customer_ids: Sequence[str], now: datetime.datetime) -> int:
    issued = 0
    for customer_id in customer_ids:
        issued += uow.execute(
            uow.insert(coupon_grants)
            .values(coupon_id=coupon_id, customer_id=customer_id, issued_at=now)
            .on_conflict_do_nothing()
        ).rowcount
    return issued


def _coupon_row(session: sa.Connection | UnitOfWork, coupon_id: str) -> sa.Row[Any]:
    coupon = session.execute(sa.select(coupons).where(coupons.c.id == coupon_id)).first()
    if coupon is None:
        raise NotFound(f"there is no coupon {coupon_id}", code="coupon_not_found")
    return coupon


def coupon_answer(coupon: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": coupon["id"],
        "code": coupon["code"],
        "kind": coupon["kind"],
        "value": coupon["value"],
        "min_total": coupon["min_total"],
        "currency": coupon["currency"],
        "starts_at": utc_isoformat(_aware(coupon["starts_at"])),
        "ends_at": utc_isoformat(_aware(coupon["ends_at"])),
        "total_limit": coupon["total_limit"],
        "per_customer_limit": coupon["per_customer_limit"],
        "product_ids": list(coupon["product_ids"]),
        "category_ids": list(coupon["category_ids"]),
        "public": coupon["public"],
        "segment": coupon["segment"],
        "used": coupon["used"],
        "created_at": utc_isoformat(_aware(coupon["created_at"])),
    }


# --- buyers -------------------------------------------------------------------------


def my_coupons(db: Database, customer_id: str, now: datetime.datetime | None = None) -> dict[str, Any]:
    """The coupons issued to the customer that they can still use now: in their window, with uses
    left for them and in all, and for everyone or for a segment they are in."""
    now = now or utcnow()
    mine = (
        sa.select(coupon_uses.c.coupon_id, sa.func.count().label("uses"))
        .where(coupon_uses.c.customer_id == customer_id, coupon_uses.c.status.in_(COUNTED))
        .group_by(coupon_uses.c.coupon_id)
        .subquery()
    )
    query = (
        sa.select(coupons, sa.func.coalesce(mine.c.uses, 0).label("my_uses"))
        .select_from(
            coupon_grants.join(coupons, coupons.c.id == coupon_grants.c.coupon_id).outerjoin(
                mine, mine.c.coupon_id == coupons.c.id
            )
        )
        .where(
            coupon_grants.c.customer_id == customer_id,
            coupons.c.starts_at <= now,
            coupons.c.ends_at > now,
            sa.or_(coupons.c.total_limit.is_(None), coupons.c.used < coupons.c.total_limit),
            sa.func.coalesce(mine.c.uses, 0) < coupons.c.per_customer_limit,
        )
        .order_by(coupons.c.ends_at, coupons.c.code)
    )
    with db.reading() as session:
        in_segments = segments.segments_of_customer(session, customer_id, now)
        query = query.where(sa.or_(coupons.c.segment.is_(None), coupons.c.segment.in_(sorted(in_segments))))
        rows = session.execute(query).all()
    return {
        "items": [
            {
                **_buyer_view(row._asdict()),
                "uses_left": row.per_customer_limit - row.my_uses,
            }
            for row in rows
        ]
    }


def _buyer_view(coupon: Mapping[str, Any]) -> dict[str, Any]:
    answer = coupon_answer(coupon)
    for staff_only in ("id", "used", "total_limit", "public", "segment", "created_at"):
        del answer[staff_only]
    return answer


# --- the purchase: hold, spend, give back ----------------------------------------------


def hold_coupon(
    db: Database,
    order_id: str,
    customer_id: str,
    code: str,
    lines: Sequence[Mapping[str, Any]],
    currency: str,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """Hold one use of the coupon ``code`` for an order of ``lines`` (product_id, category_id,
    quantity, unit_price); answers the discount.

    Idempotent per order: asked again, it answers the use held first and renews
    its hold (the sweep gives back only a hold older than its grace period);
    a use given back meanwhile (the sweep, or a release) is held again under
    the limits, as a new one; another coupon for the same order is a Conflict.
    Refusals are 4xx with their code:
    ``coupon_unknown``, ``coupon_not_issued``, ``coupon_out_of_segment``, ``coupon_not_started``,
    ``coupon_expired``, ``coupon_out_of_scope``, ``coupon_below_min_total``,
    ``coupon_limit_reached``, ``coupon_customer_limit_reached``.
    """
    now = now or utcnow()
    code = normalise_code(code)
    try:
        with db.unit_of_work() as uow:
            held = _hold(uow, order_id, customer_id, code, lines, currency, now)
    except (InvalidInput, Conflict, Forbidden) as refused:
        HOLDS.labels(refused.code).inc()
        raise
    HOLDS.labels("held").inc()
    return held


def _hold(
    uow: UnitOfWork,
    order_id: str,
    customer_id: str,
    code: str,
    lines: Sequence[Mapping[str, Any]],
    currency: str,
    now: datetime.datetime,
) -> dict[str, Any]:
    # the coupon's row is locked first: every hold of one coupon waits here for the one before
    coupon = uow.execute(sa.select(coupons).where(coupons.c.code == code).with_for_update()).first()
    if coupon is None:
        raise InvalidInput("there is no such coupon", code="coupon_unknown")
    existing = uow.execute(sa.select(coupon_uses).where(coupon_uses.c.order_id == order_id)).first()
    if existing is not None:
        if existing.coupon_id != coupon.id or existing.customer_id != customer_id:
            raise Conflict("this order holds another coupon", code="coupon_order_conflict")
        if existing.status == HELD:
            # the buyer's retry: the order is about to be stored, the sweep must not give it back
            uow.execute(coupon_uses.update().where(coupon_uses.c.order_id == order_id).values(held_at=now))
        if existing.status != RELEASED:
            return _use_answer(existing._asdict(), coupon.code)
        # given back (its order closed, or never stored): no longer counted, so held as a new use
    if not coupon.public and not _granted(uow, coupon.id, customer_id):
        raise Forbidden("this coupon was not issued to you", code="coupon_not_issued")
    if coupon.segment is not None and coupon.segment not in segments.segments_of_customer(
        uow, customer_id, now
    ):
        # measured now: a customer who gained the tag since may use it, one who lost it may not
        raise Forbidden(
            "this coupon is for a group of customers you are not in", code="coupon_out_of_segment"
        )
    eligible = eligible_subtotal(coupon._asdict(), lines)
    refused = refusal(coupon._asdict(), currency, eligible, now)
    if refused is not None:
        raise refused
    mine = uow.execute(
        sa.select(sa.func.count()).where(
            coupon_uses.c.coupon_id == coupon.id,
            coupon_uses.c.customer_id == customer_id,
            coupon_uses.c.status.in_(COUNTED),
        )
    ).scalar_one()
    if mine >= coupon.per_customer_limit:
        raise Conflict(
            "you have used this coupon as often as it allows", code="coupon_customer_limit_reached"
        )
    taken = uow.execute(
        coupons.update()
        .where(
            coupons.c.id == coupon.id,
            sa.or_(coupons.c.total_limit.is_(None), coupons.c.used < coupons.c.total_limit),
        )
        .values(used=coupons.c.used + 1)
    ).rowcount
    if not taken:
        raise Conflict("this coupon has been used up", code="coupon_limit_reached")
    use = {
        "order_id": order_id,
        "coupon_id": coupon.id,
        "customer_id": customer_id,
        "discount": discount(coupon._asdict(), eligible),
        "currency": currency,
        "status": HELD,
        "held_at": now,
        "updated_at": now,
    }
    if existing is None:
        uow.execute(coupon_uses.insert().values(**use))
    else:
        uow.execute(coupon_uses.update().where(coupon_uses.c.order_id == order_id).values(**use))
    return _use_answer(use, coupon.code)


def _granted(uow: UnitOfWork, coupon_id: str, customer_id: str) -> bool:
    return (
        uow.execute(
            sa.select(coupon_grants.c.coupon_id).where(
                coupon_grants.c.coupon_id == coupon_id, coupon_grants.c.customer_id == customer_id
            )
        ).first()
        is not None
    )


def _use_answer(use: Mapping[str, Any], code: str) -> dict[str, Any]:
    return {
        "order_id": use["order_id"],
        "coupon_id": use["coupon_id"],
        "code": code,
        "discount": use["discount"],
        "currency": use["currency"],
        "status": use["status"],
    }


def release_coupon(db: Database, order_id: str) -> dict[str, Any]:
    """Give back the use an order holds (its order never came to be, or was closed); idempotent."""
    with db.unit_of_work() as uow:
        status = _close_use(uow, order_id, RELEASED)
    return {"order_id": order_id, "status": status}


def on_order_paid(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """The order's use is spent: it counts for good."""
    _close_use(uow, event["payload"]["order_id"], SPENT)


def on_order_closed(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """A cancelled or expired order gives its use back (a spent one stays spent)."""
    _close_use(uow, event["payload"]["order_id"], RELEASED)


def _close_use(uow: UnitOfWork, order_id: str, target: str) -> str | None:
    """Move the order's held use to ``target``; answers the use's status after (None: no use)."""
    use = uow.execute(
        sa.select(coupon_uses.c.coupon_id, coupon_uses.c.status).where(coupon_uses.c.order_id == order_id)
    ).first()
    if use is None:
        return None
    if use.status == HELD and _move_held(uow, use.coupon_id, order_id, target):
        return target
    # already spent or given back (maybe meanwhile): a replay changes nothing
    return str(
        uow.execute(sa.select(coupon_uses.c.status).where(coupon_uses.c.order_id == order_id)).scalar_one()
    )


def _move_held(
    uow: UnitOfWork,
    coupon_id: str,
    order_id: str,
    target: str,
    held_before: datetime.datetime | None = None,
) -> bool:
    """Move the order's use to ``target`` if it is still held (and held before ``held_before``, when
    given), giving its count back when released; whether it moved."""
    if target == RELEASED:
        # the coupon's row first, as a hold locks it: the two never wait on each other, and a hold
        # renewed or made again for the order commits wholly before this release or after it
        uow.execute(sa.select(coupons.c.id).where(coupons.c.id == coupon_id).with_for_update())
    still_held = [coupon_uses.c.order_id == order_id, coupon_uses.c.status == HELD]
    if held_before is not None:
        still_held.append(coupon_uses.c.held_at < held_before)
    moved = uow.execute(
        coupon_uses.update().where(*still_held).values(status=target, updated_at=utcnow())
    ).rowcount
    if not moved:
        return False
    if target == RELEASED:
        uow.execute(coupons.update().where(coupons.c.id == coupon_id).values(used=coupons.c.used - 1))
    uow.after_commit(lambda: USES_CLOSED.labels(target).inc())
    return True


def release_orphaned_holds(
    db: Database, order_statuses: OrderStatuses, grace_seconds: float, now: datetime.datetime | None = None
) -> int:
    """Give back every use held longer than ``grace_seconds`` whose order orders does not know (it was
    never stored: orders stopped between the hold and the store, and the buyer never retried) or
    closed unpaid (cancelled or expired, its event not handled yet); answers how many went back.

    ``order_statuses(order_ids)`` is orders' answer. Nothing goes back for the uses orders does not
    answer about. Each use goes back in its own unit of work, only if it is still held and not
    renewed since (a retry of its order holds it again with the time of the retry).
    """
    now = now or utcnow()
    held_before = now - datetime.timedelta(seconds=grace_seconds)
    released, after = 0, ""
    while True:
        with db.reading() as session:
            page = session.execute(
                sa.select(coupon_uses.c.order_id, coupon_uses.c.coupon_id)
                .where(
                    coupon_uses.c.status == HELD,
                    coupon_uses.c.held_at < held_before,
                    coupon_uses.c.order_id > after,
                )
                .order_by(coupon_uses.c.order_id)
                .limit(SWEEP_PAGE)
            ).all()
        if not page:
            return released
        try:
            statuses = statuses_of(order_statuses, [use.order_id for use in page])
        except Unavailable as exc:
            _log.warning("orders did not answer; no coupon hold given back", extra={"error": str(exc)})
            return released
        for use in page:
            order_status = statuses.get(use.order_id, UNKNOWN)
            if order_status != UNKNOWN and order_status not in CLOSED_UNPAID:
                continue
            with db.unit_of_work() as uow:
                moved = _move_held(uow, use.coupon_id, use.order_id, RELEASED, held_before)
                if moved:
                    uow.after_commit(HOLDS_SWEPT.labels(order_status).inc)
            if moved:
                released += 1
                _log.info(
                    "coupon hold given back",
                    extra={
                        "order_id": use.order_id,
                        "coupon_id": use.coupon_id,
                        "order_status": order_status,
                    },
                )
        after = page[-1].order_id


# --- metrics and the audit ---------------------------------------------------------------


def uses_by_status(db: Database) -> dict[tuple[str], int]:
    """{(status,): uses} for the coupon-uses gauge."""
    with db.reading() as session:
        counts: dict[str, int] = {
            status: count
            for status, count in session.execute(
                sa.select(coupon_uses.c.status, sa.func.count()).group_by(coupon_uses.c.status)
            )
        }
    return {(status,): int(counts.get(status, 0)) for status in (HELD, SPENT, RELEASED)}


def audit_facts(session: sa.Connection) -> dict[str, Any]:
    """What ``kameng audit`` checks of coupons, read in one snapshot.

    ``coupons``: {id: {code, total_limit, per_customer_limit, used, counted, customers_over_limit}}
    (``counted``: the uses held or spent; customers whose uses passed the limit);
    ``uses``: {order_id: {coupon_id, customer_id, discount, currency, status, held_at}}.
    """
    uses = session.execute(sa.select(coupon_uses)).all()
    per_customer: dict[tuple[str, str], int] = {}
    for use in uses:
        if use.status in COUNTED:
            key = (use.coupon_id, use.customer_id)
            per_customer[key] = per_customer.get(key, 0) + 1
    facts: dict[str, Any] = {}
    for coupon in session.execute(sa.select(coupons)):
        facts[coupon.id] = {
            "code": coupon.code,
            "total_limit": coupon.total_limit,
            "per_customer_limit": coupon.per_customer_limit,
            "used": coupon.used,
            "counted": sum(count for (coupon_id, _), count in per_customer.items() if coupon_id == coupon.id),
            "customers_over_limit": sorted(
                customer_id
                for (coupon_id, customer_id), count in per_customer.items()
                if coupon_id == coupon.id and count > coupon.per_customer_limit
            ),
        }
    return {
        "coupons": facts,
        "uses": {
            use.order_id: {
                "coupon_id": use.coupon_id,
                "customer_id": use.customer_id,
                "discount": use.discount,
                "currency": use.currency,
                "status": use.status,
                "held_at": utc_isoformat(_aware(use.held_at)),
            }
            for use in uses
        },
    }
