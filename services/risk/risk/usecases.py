"""What the risk service does: score orders, follow what becomes of them and of their customers
(payments, expiry, refunds, sign-ins), keep the blacklist and the review records.

Each function is one unit of work; the event handlers record the event in the inbox in it.
"""

import datetime
import ipaddress
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kameng_common import auditlog, paging
from kameng_common.db import Database, UnitOfWork, as_utc, utc_isoformat, utcnow
from kameng_common.errors import InvalidInput, NotFound
from kameng_common.validation import load_or_invalid
from risk import audit_log, domain, metrics, schemas
from risk.db import (
    assessment_lines,
    assessments,
    blacklist_entries,
    customer_networks,
    customer_profiles,
    early_closures,
    refund_requests,
    reviews,
)

_log = logging.getLogger(__name__)

WAITING = "waiting"
# order.reviewed's decision → the review's final status
REVIEW_STATUSES = {"approve": "approved", "reject": "rejected", "timeout": "timed_out"}
CLOSED = "closed"
REASON_LENGTH: int = reviews.c.decision_reason.type.length  # type: ignore[attr-defined]  # a String's
# how an order stops being unpaid and open
PAID, CANCELLED, EXPIRED = "paid", "cancelled", "expired"


@dataclass(frozen=True)
class OrderToScore:
    """An order as risk scores it, however it heard of it (an event, or a call)."""

    order_id: str
    customer_id: str
    items: tuple[tuple[int, int], ...]  # (product_id, quantity) each
    total: int
    currency: str
    created_at: datetime.datetime  # aware
    client_ip: str | None = None
    device_id: str | None = None

    @classmethod
    def from_call(cls, order: Mapping[str, Any]) -> "OrderToScore":
        """The order orders asks to assess (validated by ``schemas.OrderToAssess``)."""
        return cls(
            order_id=order["order_id"],
            customer_id=order["customer_id"],
            items=tuple((line["product_id"], line["quantity"]) for line in order["items"]),
            total=order["total"],
            currency=order["currency"],
            created_at=order["created_at"].astimezone(datetime.UTC),
            client_ip=order["client_ip"],
            device_id=order["device_id"],
        )


# --- scoring ---------------------------------------------------------------------


def assess_order(db: Database, thresholds: domain.Thresholds, order: Mapping[str, Any]) -> dict[str, Any]:
    """Score a new order for orders, which places it: ``{order_id, decision, score, reasons}``.

    ``order`` is what ``schemas.OrderToAssess`` reads. Idempotent per order: asked
    again (a retry, orders re-driving an order it did not record), it answers the
    decision stored and counts nothing twice.
    """
    to_score = OrderToScore.from_call(load_or_invalid(schemas.OrderToAssess, order))
    with db.unit_of_work() as uow:
        assessment, _first_time = score_order(uow, thresholds, to_score)
    return {
        "order_id": to_score.order_id,
        "decision": assessment.decision,
        "score": assessment.score,
        "reasons": list(assessment.reasons),
    }


def score_order(
    uow: UnitOfWork, thresholds: domain.Thresholds, order: OrderToScore
) -> tuple[domain.Assessment, bool]:
    """Score ``order`` (an OrderToScore) in the unit of work ``uow``: ``(Assessment, True)``, or the decision
    already stored and False for an order scored before.

    The customer's row is locked first, so that one customer's orders are scored
    one at a time and every count sees every order scored before it.
    """
    profile = uow.execute(
        uow.insert(customer_profiles)
        .values(customer_id=order.customer_id)
        .on_conflict_do_update(index_elements=["customer_id"], set_={"customer_id": order.customer_id})
        .returning(
            customer_profiles.c.registered_at,
            customer_profiles.c.new_network_at,
            customer_profiles.c.password_changed_at,
        )
    ).one()
    facts = _facts(uow, thresholds, order)
    if facts.scored_already is not None:
        stored = facts.scored_already
        return domain.Assessment(stored.decision, stored.score, tuple(stored.reasons)), False
    product_units = dict(order.items)
    for product_id, units in _unpaid_units(uow, order):
        product_units[product_id] += units
    assessment = domain.assess(
        domain.OrderFacts(
            total=order.total,
            recent_orders=facts.recent_orders + 1,
            blacklisted=tuple(
                (kind, value)
                for kind, value, matched in (
                    ("account", order.customer_id, facts.account_blacklisted),
                    ("ip", order.client_ip, facts.ip_blacklisted),
                    ("device", order.device_id, facts.device_blacklisted),
                )
                if matched and value is not None
            ),
            unpaid_orders=facts.unpaid_orders + 1,
            most_unpaid_units=max(product_units.items(), key=lambda item: (item[1], -item[0])),
            account_age_seconds=_seconds_between(profile.registered_at, order.created_at),
            abandoned_payments=facts.abandoned_payments,
            refund_requests=facts.refund_requests,
            new_network_signin_seconds_ago=_seconds_between(profile.new_network_at, order.created_at),
            password_changed_after_new_network_seconds_ago=_takeover_seconds_ago(
                thresholds, profile, order.created_at
            ),
        ),
        thresholds,
    )
    _record(uow, order, assessment, facts)
    uow.after_commit(lambda: metrics.count_assessment(assessment))
    if assessment.decision != domain.APPROVE:
        _log.info(
            "order %s held for %s",
            order.order_id,
            assessment.decision,
            extra={"reasons": list(assessment.reasons)},
        )
    return assessment, True


@dataclass(frozen=True)
class _Counts:
    scored_already: sa.Row[Any] | None  # the stored row
    recent_orders: int
    unpaid_orders: int
    abandoned_payments: int
    refund_requests: int
    account_blacklisted: bool
    ip_blacklisted: bool
    device_blacklisted: bool
    # (closed_as, closed_at) of an order closed before it was scored
    early_closure: tuple[str, datetime.datetime] | None


def _count(table: sa.Table, *conditions: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).select_from(table).where(*conditions).scalar_subquery()


def _early(column: sa.Column[Any]) -> sa.ScalarSelect[Any]:
    return sa.select(column).where(early_closures.c.order_id == sa.bindparam("order_id")).scalar_subquery()


def _listed(kind: str, value: str) -> sa.Exists:
    # a value of None matches no entry: NULL equals nothing
    return sa.exists().where(
        blacklist_entries.c.kind == kind, blacklist_entries.c.value == sa.bindparam(value)
    )


_OF_CUSTOMER = assessments.c.customer_id == sa.bindparam("customer_id")
# built once (a statement built per call cost more CPU than running it): every count the rules
# need about the order's customer, its values bound when it runs
_FACTS = sa.select(
    _count(
        assessments,
        _OF_CUSTOMER,
        assessments.c.created_at > sa.bindparam("velocity_since"),
        assessments.c.created_at <= sa.bindparam("at"),
    ).label("recent_orders"),
    _count(assessments, _OF_CUSTOMER, assessments.c.closed_as.is_(None)).label("unpaid_orders"),
    _count(
        assessments,
        _OF_CUSTOMER,
        assessments.c.closed_as == EXPIRED,
        assessments.c.closed_at > sa.bindparam("card_testing_since"),
    ).label("abandoned_payments"),
    _count(
        refund_requests,
        refund_requests.c.customer_id == sa.bindparam("customer_id"),
        refund_requests.c.requested_at > sa.bindparam("refunds_since"),
    ).label("refund_requests"),
    _listed("account", "customer_id").label("account_blacklisted"),
    _listed("ip", "client_ip").label("ip_blacklisted"),
    _listed("device", "device_id").label("device_blacklisted"),
    sa.exists().where(assessments.c.order_id == sa.bindparam("order_id")).label("scored_already"),
    _early(early_closures.c.closed_as).label("early_closed_as"),
    _early(early_closures.c.closed_at).label("early_closed_at"),
)
_STORED_ASSESSMENT = sa.select(assessments.c.decision, assessments.c.score, assessments.c.reasons).where(
    assessments.c.order_id == sa.bindparam("order_id")
)


def _facts(uow: UnitOfWork, thresholds: domain.Thresholds, order: OrderToScore) -> _Counts:
    """Every count the rules need about the order's customer, in one query (two for an order scored before)."""
    at = order.created_at
    row = uow.execute(
        _FACTS,
        {
            "customer_id": order.customer_id,
            "order_id": order.order_id,
            "client_ip": order.client_ip,
            "device_id": order.device_id,
            "at": at,
            "velocity_since": at - datetime.timedelta(seconds=thresholds.velocity_window_seconds),
            "card_testing_since": at - datetime.timedelta(seconds=thresholds.card_testing_window_seconds),
            "refunds_since": at - datetime.timedelta(seconds=thresholds.refund_window_seconds),
        },
    ).one()
    stored = None
    if row.scored_already:
        stored = uow.execute(_STORED_ASSESSMENT, {"order_id": order.order_id}).one()
    return _Counts(
        scored_already=stored,
        recent_orders=row.recent_orders,
        unpaid_orders=row.unpaid_orders,
        abandoned_payments=row.abandoned_payments,
        refund_requests=row.refund_requests,
        account_blacklisted=bool(row.account_blacklisted),
        ip_blacklisted=bool(row.ip_blacklisted),
        device_blacklisted=bool(row.device_blacklisted),
        early_closure=(row.early_closed_as, row.early_closed_at) if row.early_closed_as else None,
    )


_UNPAID_UNITS = (
    sa.select(assessment_lines.c.product_id, sa.func.sum(assessment_lines.c.quantity))
    .select_from(assessment_lines.join(assessments, assessments.c.order_id == assessment_lines.c.order_id))
    .where(
        _OF_CUSTOMER,
        assessments.c.closed_as.is_(None),
        assessment_lines.c.product_id.in_(sa.bindparam("product_ids", expanding=True)),
    )
    .group_by(assessment_lines.c.product_id)
)


def _unpaid_units(uow: UnitOfWork, order: OrderToScore) -> Sequence[sa.Row[int, int]]:
    """(product_id, units) of the order's products in the customer's other unpaid orders."""
    return uow.execute(
        _UNPAID_UNITS,
        {"customer_id": order.customer_id, "product_ids": [product_id for product_id, _ in order.items]},
    ).all()


_INSERT_ASSESSMENT = assessments.insert()
_INSERT_LINES = assessment_lines.insert()
_INSERT_REVIEW = reviews.insert()


def _record(uow: UnitOfWork, order: OrderToScore, assessment: domain.Assessment, facts: _Counts) -> None:
    reasons = list(assessment.reasons)
    closed_as, closed_at = facts.early_closure or (None, None)
    rejected = assessment.decision == domain.REJECT
    uow.execute(
        _INSERT_ASSESSMENT,
        {
            "order_id": order.order_id,
            "customer_id": order.customer_id,
            "total": order.total,
            "currency": order.currency,
            "created_at": order.created_at,
            "decision": assessment.decision,
            "score": assessment.score,
            "reasons": reasons,
            "assessed_at": utcnow(),
            "client_ip": order.client_ip,
            "device_id": order.device_id,
            # an order risk rejects is cancelled: it holds nothing from now on
            "closed_as": CANCELLED if rejected and closed_as is None else closed_as,
            "closed_at": order.created_at if rejected and closed_at is None else closed_at,
        },
    )
    uow.execute(
        _INSERT_LINES,
        [
            {"order_id": order.order_id, "product_id": product_id, "quantity": quantity}
            for product_id, quantity in order.items
        ],
    )
    if assessment.decision == domain.REVIEW:
        uow.execute(
            _INSERT_REVIEW,
            {
                "order_id": order.order_id,
                "customer_id": order.customer_id,
                "total": order.total,
                "currency": order.currency,
                "score": assessment.score,
                "reasons": reasons,
                "status": WAITING,
                "created_at": order.created_at,
            },
        )


def _takeover_seconds_ago(thresholds: domain.Thresholds, profile: Any, at: datetime.datetime) -> float | None:
    """Seconds from the customer's password change to ``at``, when the change came within the sign-in
    window after a sign-in from a new network; None otherwise."""
    if profile.password_changed_at is None:
        return None
    after_signin = _seconds_between(profile.new_network_at, as_utc(profile.password_changed_at))
    if after_signin is None or after_signin > thresholds.signin_window_seconds:
        return None
    return _seconds_between(profile.password_changed_at, at)


def _seconds_between(earlier: datetime.datetime | None, later: datetime.datetime) -> float | None:
    """Seconds from ``earlier`` to ``later``; None without ``earlier`` or when it is not earlier."""
    if earlier is None:
        return None
    seconds = (later - as_utc(earlier)).total_seconds()
    return seconds if seconds >= 0 else None


# --- what becomes of an order ------------------------------------------------------


def on_payment_succeeded(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """A paid order is no longer unpaid."""
    _close_order(uow, event["payload"]["order_id"], PAID, as_utc(event["occurred_at"]))


def on_order_expired(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """An order left unpaid until its deadline: an abandoned payment, as the card-testing rule counts them."""
    _close_order(uow, event["payload"]["order_id"], EXPIRED, as_utc(event["occurred_at"]))


def on_order_cancelled(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """A cancelled order holds nothing; its review, if one was still waiting, waits for nobody."""
    payload = event["payload"]
    _close_order(uow, payload["order_id"], CANCELLED, as_utc(event["occurred_at"]))
    uow.execute(
        reviews.update()
        .where(reviews.c.order_id == payload["order_id"], reviews.c.status == WAITING)
        .values(
            status=CLOSED,
            decision_reason=(payload["reason"] or "cancelled")[:REASON_LENGTH],
            decided_at=event["occurred_at"],
        )
    )


def _close_order(uow: UnitOfWork, order_id: str, closed_as: str, at: datetime.datetime) -> None:
    closed = uow.execute(
        assessments.update()
        .where(assessments.c.order_id == order_id, assessments.c.closed_as.is_(None))
        .values(closed_as=closed_as, closed_at=at)
    )
    if closed.rowcount:
        return
    if (
        uow.execute(sa.select(assessments.c.order_id).where(assessments.c.order_id == order_id)).first()
        is None
    ):
        # this event overtook the assessment (a pending order expired before risk was asked): the order
        # is scored closed when it is asked
        uow.execute(
            uow.insert(early_closures)
            .values(order_id=order_id, closed_as=closed_as, closed_at=at)
            .on_conflict_do_nothing()
        )


def on_order_reviewed(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """Keep the review record in step with the decision orders recorded: who decided, why and when."""
    review = event["payload"]
    uow.execute(
        reviews.update()
        .where(reviews.c.order_id == review["order_id"])
        .values(
            status=REVIEW_STATUSES[review["decision"]],
            decided_by=review["decided_by"],
            decision_reason=review["reason"][:REASON_LENGTH],
            decided_at=review["decided_at"],
        )
    )


def count_waiting_reviews(db: Database) -> int:
    with db.reading() as session:
        return session.execute(
            sa.select(sa.func.count()).select_from(reviews).where(reviews.c.status == WAITING)
        ).scalar_one()


# --- what becomes of a customer ------------------------------------------------------


def on_refund_requested(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """A refund asked for one of the customer's orders (a buyer's ticket, or orders' own ask), for the
    refund-abuse rule."""
    refund = event["payload"]
    uow.execute(
        refund_requests.insert().values(
            customer_id=refund["customer_id"],
            order_id=refund["order_id"],
            requested_at=as_utc(event["occurred_at"]),
        )
    )


def on_customer_signed_in(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """Remember the customer's networks, and when it last signed in from one it had never used."""
    signed_in = event["payload"]
    customer_id, network, at = (
        signed_in["customer_id"],
        signed_in["network"],
        as_utc(signed_in["signed_in_at"]),
    )
    registered_at = as_utc(signed_in["registered_at"])
    uow.execute(
        uow.insert(customer_profiles)
        .values(customer_id=customer_id, registered_at=registered_at)
        .on_conflict_do_update(index_elements=["customer_id"], set_={"registered_at": registered_at})
    )
    first_time_here = uow.execute(
        uow.insert(customer_networks)
        .values(customer_id=customer_id, network=network, first_seen_at=at)
        .on_conflict_do_nothing()
    ).rowcount
    if not first_time_here:
        return
    known = uow.execute(
        sa.select(sa.func.count())
        .select_from(customer_networks)
        .where(customer_networks.c.customer_id == customer_id)
    ).scalar_one()
    if known > 1:  # a customer's first network is where it lives, not an anomaly
        uow.execute(
            customer_profiles.update()
            .where(customer_profiles.c.customer_id == customer_id)
            .values(new_network_at=at, new_network=network)
        )
        _log.info("customer %s signed in from a new network", customer_id)


def on_customer_password_changed(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """Remember the customer's last password change: right after a sign-in from a new network, its
    next orders are held (the sign-in anomaly rule)."""
    changed = event["payload"]
    customer_id, at = changed["customer_id"], as_utc(changed["changed_at"])
    uow.execute(
        uow.insert(customer_profiles)
        .values(customer_id=customer_id, password_changed_at=at)
        .on_conflict_do_update(
            index_elements=["customer_id"],
            set_={"password_changed_at": at},
            where=sa.or_(
                customer_profiles.c.password_changed_at.is_(None),
                customer_profiles.c.password_changed_at < at,
            ),
        )
    )


# --- the blacklist ---------------------------------------------------------------------


def add_blacklist_entry(
    db: Database, kind: str, value: str, reason: str, created_by: str | None = None
) -> dict[str, Any]:
    """Blacklist an account, a client address or a device: ``{entry, created}``; the same kind and value
    twice keeps the first entry (created False)."""
    value = normalized_blacklist_value(kind, value)
    entry: Mapping[Any, Any] = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "value": value,
        "reason": reason,
        "created_by": created_by,
        "created_at": utcnow(),
    }
    with db.unit_of_work() as uow:
        created = uow.execute(
            uow.insert(blacklist_entries)
            .values(**entry)
            .on_conflict_do_nothing(index_elements=["kind", "value"])
        ).rowcount
        if created:
            _audit(
                uow,
                created_by,
                "blacklist.added",
                entry["id"],
                {"kind": kind, "value": value, "reason": reason},
            )
        else:
            entry = (
                uow.execute(
                    sa.select(blacklist_entries).where(
                        blacklist_entries.c.kind == kind, blacklist_entries.c.value == value
                    )
                )
                .mappings()
                .one()
            )
    if created:
        _log.info("blacklisted a %s", kind, extra={"blacklist_entry": entry["id"], "created_by": created_by})
    return {"entry": _entry_out(entry), "created": bool(created)}


def normalized_blacklist_value(kind: str, value: str) -> str:
    """The value as scoring compares it: an address in its canonical form; InvalidInput for a bad one."""
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise InvalidInput(f"value: {value!r} is not an IP address") from None
    return value


def list_blacklist(
    db: Database, kind: str | None = None, limit: int = 50, cursor: str | None = None
) -> dict[str, Any]:
    """Entries newest first, ``limit`` at a time: ``{items, next_cursor}``."""
    query = (
        sa.select(blacklist_entries)
        .order_by(blacklist_entries.c.created_at.desc(), blacklist_entries.c.id.desc())
        .limit(limit + 1)
    )
    if kind is not None:
        query = query.where(blacklist_entries.c.kind == kind)
    if cursor is not None:
        query = query.where(
            paging.after(blacklist_entries.c.created_at, blacklist_entries.c.id, cursor, newest_first=True)
        )
    with db.reading() as session:
        rows = session.execute(query).mappings().all()
    page = rows[:limit]
    return {
        "items": [_entry_out(row) for row in page],
        "next_cursor": paging.encode_cursor(as_utc(page[-1]["created_at"]), page[-1]["id"])
        if len(rows) > limit
        else None,
    }


def remove_blacklist_entry(db: Database, entry_id: str, removed_by: str | None = None) -> dict[str, str]:
    """Take an entry off the blacklist; NotFound for an unknown (or already removed) one."""
    with db.unit_of_work() as uow:
        entry = uow.execute(
            blacklist_entries.delete()
            .where(blacklist_entries.c.id == entry_id)
            .returning(blacklist_entries.c.kind, blacklist_entries.c.value)
        ).first()
        if entry is None:
            raise NotFound("no such blacklist entry")
        _audit(uow, removed_by, "blacklist.removed", entry_id, {"kind": entry.kind, "value": entry.value})
    _log.info("blacklist entry removed", extra={"blacklist_entry": entry_id})
    return {"id": entry_id}


def _audit(uow: UnitOfWork, actor: str | None, action: str, entry_id: str, detail: dict[str, Any]) -> None:
    """The blacklist change in the audit log's hash chain, in the change's own unit of work."""
    audit_log.append_in(
        uow,
        str(uuid.uuid4()),
        utc_isoformat(utcnow()),
        actor or auditlog.SYSTEM_ACTOR,
        action,
        f"blacklist:{entry_id}",
        detail,
    )


def _entry_out(entry: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": entry["id"],
        "kind": entry["kind"],
        "value": entry["value"],
        "reason": entry["reason"],
        "created_by": entry["created_by"],
        "created_at": as_utc(entry["created_at"]).isoformat(),
    }


def audit_snapshot(db: Database) -> dict[str, Any]:
    """What ``kameng audit`` needs of risk: its outbox backlog."""
    return {"service": "risk", "outbox": db.outbox_status()}
