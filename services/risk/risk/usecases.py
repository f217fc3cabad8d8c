"""What the risk service does: score orders as they are created, keep the review queue and the blacklist."""

import datetime
import logging

import sqlalchemy as sa

from kameng_common.db import utcnow
from risk import domain, metrics
from risk.db import assessments, blacklist, reviews

_log = logging.getLogger(__name__)

WAITING = "waiting"


def on_order_created(uow, event, thresholds):
    """Score a new order and publish risk.assessed; returns the Assessment, or None for an order already scored."""
    order = event["payload"]
    order_id, customer_id = order["order_id"], order["customer_id"]
    created_at = event["occurred_at"].astimezone(datetime.UTC)
    window_start = created_at - datetime.timedelta(seconds=thresholds.velocity_window_seconds)
    # what the score needs, in one query
    assessed_already, earlier_orders, blacklisted = uow.execute(
        sa.select(
            sa.exists().where(assessments.c.order_id == order_id),
            sa.select(sa.func.count())
            .select_from(assessments)
            .where(
                assessments.c.customer_id == customer_id,
                assessments.c.created_at > window_start,
                assessments.c.created_at <= created_at,
            )
            .scalar_subquery(),
            sa.exists().where(blacklist.c.customer_id == customer_id),
        )
    ).one()
    if assessed_already:
        # the same order under another event id: its decision was published already
        return None
    assessment = domain.assess(
        domain.OrderFacts(
            total=order["total"], recent_orders=earlier_orders + 1, blacklisted=bool(blacklisted)
        ),
        thresholds,
    )
    reasons = list(assessment.reasons)
    uow.execute(
        assessments.insert().values(
            order_id=order_id,
            customer_id=customer_id,
            total=order["total"],
            currency=order["currency"],
            created_at=created_at,
            decision=assessment.decision,
            score=assessment.score,
            reasons=reasons,
            assessed_at=utcnow(),
        )
    )
    if assessment.decision == domain.REVIEW:
        uow.execute(
            reviews.insert().values(
                order_id=order_id,
                customer_id=customer_id,
                total=order["total"],
                currency=order["currency"],
                score=assessment.score,
                reasons=reasons,
                status=WAITING,
                created_at=created_at,
            )
        )
    uow.publish(
        "risk.assessed",
        {
            "order_id": order_id,
            "decision": assessment.decision,
            "score": assessment.score,
            "reasons": reasons,
        },
        correlation_id=order_id,
    )
    uow.after_commit(lambda: metrics.count_decision(assessment.decision))
    if assessment.decision != domain.APPROVE:
        _log.info("order held for %s", assessment.decision, extra={"reasons": reasons})
    return assessment


# order.reviewed's decision → the review's final status
REVIEW_STATUSES = {"approve": "approved", "reject": "rejected", "timeout": "timed_out"}
CLOSED = "closed"
REASON_LENGTH = reviews.c.decision_reason.type.length


def on_order_reviewed(uow, event):
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


def on_order_cancelled(uow, event):
    """An order cancelled before anyone reviewed it (its stock was refused, say) waits for nobody."""
    payload = event["payload"]
    uow.execute(
        reviews.update()
        .where(reviews.c.order_id == payload["order_id"], reviews.c.status == WAITING)
        .values(
            status=CLOSED,
            decision_reason=(payload["reason"] or "cancelled")[:REASON_LENGTH],
            decided_at=event["occurred_at"],
        )
    )


def count_waiting_reviews(db):
    with db.reading() as session:
        return session.execute(
            sa.select(sa.func.count()).select_from(reviews).where(reviews.c.status == WAITING)
        ).scalar_one()


def add_to_blacklist(db, customer_id, reason):
    """Reject every later order of this customer; blacklisting one twice keeps the first entry."""
    try:
        with db.unit_of_work() as uow:
            if (
                uow.execute(
                    sa.select(blacklist.c.customer_id).where(blacklist.c.customer_id == customer_id)
                ).first()
                is None
            ):
                uow.execute(
                    blacklist.insert().values(customer_id=customer_id, reason=reason, created_at=utcnow())
                )
                _log.info("customer blacklisted", extra={"customer_id": customer_id})
    except sa.exc.IntegrityError:
        pass  # a concurrent call blacklisted the customer first: the outcome asked for holds
    return {"customer_id": customer_id}


def audit_snapshot(db):
    """What ``kameng audit`` needs of risk: its outbox backlog."""
    return {"service": "risk", "outbox": db.outbox_status()}
