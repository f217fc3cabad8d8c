import datetime
import json
import uuid

import pytest
import sqlalchemy as sa

from kameng_common import contracts
from kameng_common.testing import deliver
from risk import metrics, usecases
from risk.db import assessments, reviews
from risk.domain import Thresholds

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
# small numbers, so that a test needs only a handful of orders
TIGHT = Thresholds(
    review_amount=1_000,
    reject_amount=10_000,
    velocity_review=2,
    velocity_reject=4,
    velocity_window_seconds=60,
)


def seconds(n):
    return datetime.timedelta(seconds=n)


def published(db):
    outbox = db.tables["outbox"]
    with db.reading() as session:
        bodies = session.execute(sa.select(outbox.c.body).order_by(outbox.c.id)).scalars().all()
    return [(body["type"], body["correlation_id"], body["payload"]) for body in map(json.loads, bodies)]


def waiting_reviews(db):
    """The reviews still waiting for a decision, oldest first, as stored."""
    with db.reading() as session:
        rows = session.execute(
            sa.select(reviews).where(reviews.c.status == "waiting").order_by(reviews.c.created_at)
        ).all()
    return [
        {
            "order_id": row.order_id,
            "customer_id": row.customer_id,
            "total": row.total,
            "currency": row.currency,
            "score": row.score,
            "reasons": row.reasons,
            "created_at": row.created_at.replace(tzinfo=datetime.UTC).isoformat(),
        }
        for row in rows
    ]


def decisions(db):
    return [payload["decision"] for _type, _order, payload in published(db)]


@pytest.fixture
def score(db, make_order_created):
    def score(order_id=None, customer_id="c1", total=100, at=NOW, thresholds=TIGHT):
        order_id = order_id or str(uuid.uuid4())
        return deliver(
            db,
            "risk",
            usecases.on_order_created,
            make_order_created(order_id, customer_id, total, at),
            thresholds,
        )

    return score


def test_an_approved_order_publishes_its_decision(db, score):
    assessment = score("o-1")

    assert assessment.decision == "approve"
    assert published(db) == [
        ("risk.assessed", "o-1", {"order_id": "o-1", "decision": "approve", "score": 0, "reasons": []})
    ]
    assert waiting_reviews(db) == []


def test_a_large_order_waits_for_review(db, score):
    score("o-1", total=5_000)

    assert published(db)[0][2] == {
        "order_id": "o-1",
        "decision": "review",
        "score": 50,
        "reasons": ["amount:review"],
    }
    assert waiting_reviews(db) == [
        {
            "order_id": "o-1",
            "customer_id": "c1",
            "total": 5_000,
            "currency": "CNY",
            "score": 50,
            "reasons": ["amount:review"],
            "created_at": NOW.isoformat(),
        }
    ]


def test_a_rejected_order_is_not_queued_for_review(db, score):
    score("o-1", total=50_000)

    assert decisions(db) == ["reject"]
    assert waiting_reviews(db) == []


def test_velocity_counts_the_customers_orders_within_the_window(db, score):
    for second in range(5):
        score(f"o-{second}", at=NOW + seconds(second))
    score("other-customer", customer_id="c2", at=NOW + seconds(5))
    # 59 s after o-2: o-2, o-3, o-4 and this one are in the window, o-0 and o-1 have left it
    score("o-later", at=NOW + seconds(61))
    score("o-much-later", at=NOW + seconds(600))

    assert decisions(db) == [
        "approve",
        "approve",
        "review",
        "review",
        "reject",
        "approve",
        "review",
        "approve",
    ]


def test_an_order_that_arrives_late_is_scored_as_of_its_creation(db, score):
    for second in (30, 31, 32):
        score(f"o-{second}", at=NOW + seconds(second))
    # created before all three, delivered after them: none of them was in its window
    score("o-0", at=NOW)

    assert decisions(db) == ["approve", "approve", "review", "approve"]


def test_a_blacklisted_customer_is_rejected(db, score):
    assert usecases.add_to_blacklist(db, "c1", "chargebacks") == {"customer_id": "c1"}

    score("o-1", customer_id="c1")
    score("o-2", customer_id="c2")

    assert decisions(db) == ["reject", "approve"]
    assert published(db)[0][2]["reasons"] == ["blacklisted:reject"]


def test_blacklisting_twice_keeps_the_first_entry(db):
    usecases.add_to_blacklist(db, "c1", "chargebacks")
    assert usecases.add_to_blacklist(db, "c1", "again") == {"customer_id": "c1"}

    with db.reading() as session:
        rows = session.execute(sa.select(db.tables["blacklist"])).all()
    assert [(row.customer_id, row.reason) for row in rows] == [("c1", "chargebacks")]


def test_a_redelivered_event_changes_nothing(db, make_order_created):
    event = make_order_created("o-1", total=5_000)

    assert deliver(db, "risk", usecases.on_order_created, event, TIGHT).decision == "review"
    assert deliver(db, "risk", usecases.on_order_created, event, TIGHT) is None

    assert decisions(db) == ["review"]
    assert len(waiting_reviews(db)) == 1


def test_a_second_order_created_for_one_order_neither_counts_nor_decides_again(db, score):
    score("o-1")
    # the same order under a new event id, with a total that would now be reviewed
    assert score("o-1", total=5_000) is None

    assert decisions(db) == ["approve"]
    with db.reading() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(assessments)).scalar_one() == 1
    # it did not count toward velocity either: the second real order is still the second
    assert score("o-2", at=NOW + seconds(1)).decision == "approve"


def test_decisions_are_counted_once_each(db, score):
    before = {
        decision: metrics.DECISIONS.labels(decision)._value.get()
        for decision in ("approve", "review", "reject")
    }

    score("o-1")
    score("o-1")
    score("o-2", total=5_000)
    score("o-3", total=50_000)

    assert {
        decision: metrics.DECISIONS.labels(decision)._value.get() - count
        for decision, count in before.items()
    } == {"approve": 1, "review": 1, "reject": 1}


def test_waiting_reviews_are_counted(db, score):
    for second in (3, 1, 2):
        score(f"o-{second}", customer_id=f"c{second}", total=5_000, at=NOW + seconds(second))

    assert usecases.count_waiting_reviews(db) == 3


def test_an_event_from_another_time_zone_is_stored_in_utc(db, score):
    beijing = datetime.timezone(datetime.timedelta(hours=8))
    score("o-1", total=5_000, at=NOW.astimezone(beijing))

    assert waiting_reviews(db)[0]["created_at"] == NOW.isoformat()


def order_reviewed(order_id, decision, decided_by="staff-1", reason="checked"):
    return contracts.load_event(
        json.dumps(
            contracts.new_event(
                "order.reviewed",
                {
                    "order_id": order_id,
                    "customer_id": "c1",
                    "decision": decision,
                    "reason": reason,
                    "decided_by": decided_by,
                    "decided_at": NOW.isoformat(),
                },
                order_id,
            )
        )
    )


def order_cancelled(order_id, reason):
    return contracts.load_event(
        json.dumps(contracts.new_event("order.cancelled", {"order_id": order_id, "reason": reason}, order_id))
    )


def review_row(db, order_id):
    with db.reading() as session:
        return session.execute(sa.select(reviews).where(reviews.c.order_id == order_id)).one()


@pytest.mark.parametrize(
    "decision, decided_by, status",
    [("approve", "staff-1", "approved"), ("reject", "staff-2", "rejected"), ("timeout", None, "timed_out")],
)
def test_the_review_record_follows_the_decision_orders_recorded(db, score, decision, decided_by, status):
    score("o-1", total=5_000)
    event = order_reviewed("o-1", decision, decided_by, reason="known buyer")

    deliver(db, "risk", usecases.on_order_reviewed, event)
    deliver(db, "risk", usecases.on_order_reviewed, event)  # redelivered

    row = review_row(db, "o-1")
    assert (row.status, row.decided_by, row.decision_reason) == (status, decided_by, "known buyer")
    assert usecases.count_waiting_reviews(db) == 0


def test_a_review_of_an_order_cancelled_otherwise_waits_for_nobody(db, score):
    score("o-1", total=5_000)
    score("o-2", total=5_000)
    deliver(db, "risk", usecases.on_order_cancelled, order_cancelled("o-1", "stock rejected: out_of_stock"))
    deliver(
        db, "risk", usecases.on_order_cancelled, order_cancelled("o-3", "risk reject")
    )  # never reviewed: nothing to do

    assert (review_row(db, "o-1").status, review_row(db, "o-1").decision_reason) == (
        "closed",
        "stock rejected: out_of_stock",
    )
    assert [review["order_id"] for review in waiting_reviews(db)] == ["o-2"]
    # a reviewer's rejection cancels the order too; the decision it records stays
    deliver(db, "risk", usecases.on_order_reviewed, order_reviewed("o-2", "reject"))
    deliver(
        db,
        "risk",
        usecases.on_order_cancelled,
        order_cancelled("o-2", "review: reject by staff staff-1: checked"),
    )
    assert review_row(db, "o-2").status == "rejected"
