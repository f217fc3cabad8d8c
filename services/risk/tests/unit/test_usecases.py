"""Scoring with what risk has heard (orders, payments, expiries, refunds, sign-ins), the blacklist and the
review records, on an in-memory database."""

import datetime
import json
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from kameng_common import contracts
from kameng_common.errors import InvalidInput, NotFound
from kameng_common.testing import deliver
from risk import metrics, schemas, usecases
from risk.db import assessments, audit_log, reviews
from risk.domain import Thresholds

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
# small numbers, so that a test needs only a handful of orders
TIGHT = Thresholds(
    review_amount=1_000,
    reject_amount=10_000,
    velocity_review=2,
    velocity_reject=4,
    velocity_window_seconds=60,
    max_unpaid_orders=3,
    max_unpaid_units_per_product=5,
    new_account_review_amount=50_000,
    card_testing_review=2,
    card_testing_reject=3,
    refund_review=2,
    refund_reject=3,
    signin_review_amount=500,
)


def seconds(n):
    return datetime.timedelta(seconds=n)


def event(event_type, payload, at=NOW):
    envelope = contracts.new_event(event_type, payload, payload.get("order_id") or payload["customer_id"])
    envelope["occurred_at"] = at.isoformat()
    return contracts.load_event(json.dumps(envelope))


def assessed(db):
    """Every decision recorded, in the order risk made them: [(order id, answer as assess_order gave it)]."""
    with db.reading() as session:
        rows = session.execute(sa.select(assessments).order_by(assessments.c.assessed_at)).all()
    return [
        (
            row.order_id,
            {"order_id": row.order_id, "decision": row.decision, "score": row.score, "reasons": row.reasons},
        )
        for row in rows
    ]


def decisions(db):
    return [answer["decision"] for _order, answer in assessed(db)]


def rules_fired(db, order_id):
    [answer] = [answer for order, answer in assessed(db) if order == order_id]
    return [reason.split(": ")[0] for reason in answer["reasons"]]


def waiting_reviews(db):
    with db.reading() as session:
        return (
            session.execute(
                sa.select(reviews.c.order_id)
                .where(reviews.c.status == "waiting")
                .order_by(reviews.c.created_at)
            )
            .scalars()
            .all()
        )


@pytest.fixture
def score(db, make_order):
    """Assess an order as orders asks when placing it; the answer's decision, score and reasons."""

    def score(order_id=None, customer_id="c1", total=100, at=NOW, thresholds=TIGHT, **order):
        order_id = order_id or str(uuid.uuid4())
        return Answer(
            **usecases.assess_order(db, thresholds, make_order(order_id, customer_id, total, at, **order))
        )

    return score


@dataclass(frozen=True)
class Answer:
    order_id: str
    decision: str
    score: int
    reasons: list


@pytest.fixture
def signed_in(db):
    def sign_in(
        customer_id="c1", network="198.51.100.0/24", at=NOW, registered_at=NOW - datetime.timedelta(days=30)
    ):
        deliver(
            db,
            "risk",
            usecases.on_customer_signed_in,
            event(
                "customer.signed_in",
                {
                    "customer_id": customer_id,
                    "network": network,
                    "signed_in_at": at.isoformat(),
                    "registered_at": registered_at.isoformat(),
                },
                at,
            ),
        )

    return sign_in


def closed(db, event_type, order_id, at=NOW, **payload):
    handlers = {
        "order.expired": usecases.on_order_expired,
        "order.cancelled": usecases.on_order_cancelled,
        "payment.succeeded": usecases.on_payment_succeeded,
    }
    if event_type == "payment.succeeded":
        payload = {
            "payment_id": str(uuid.uuid4()),
            "customer_id": "c1",
            "amount": 100,
            "currency": "CNY",
            "provider": "mockpay",
            "trade_no": str(uuid.uuid4()),
            **payload,
        }
    deliver(db, "risk", handlers[event_type], event(event_type, {"order_id": order_id, **payload}, at))


# --- the decision and its record ----------------------------------------------------------


def test_an_approved_order_answers_its_decision_and_publishes_nothing(db, score):
    assessment = score("o-1")

    assert assessment == Answer("o-1", "approve", 0, [])
    assert assessed(db) == [("o-1", {"order_id": "o-1", "decision": "approve", "score": 0, "reasons": []})]
    with db.reading() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(db.tables["outbox"])).scalar_one() == 0
    assert waiting_reviews(db) == []


def test_a_large_order_waits_for_review_with_its_reasons(db, score, signed_in):
    signed_in()
    score("o-1", total=5_000)

    assert assessed(db)[0][1] == {
        "order_id": "o-1",
        "decision": "review",
        "score": 50,
        "reasons": ["amount:review: total 5000 fen is over 1000"],
    }
    assert waiting_reviews(db) == ["o-1"]
    assert usecases.count_waiting_reviews(db) == 1


def test_a_rejected_order_is_not_queued_for_review(db, score):
    score("o-1", total=50_000)

    assert decisions(db) == ["reject"]
    assert waiting_reviews(db) == []


def test_an_order_assessed_again_answers_the_same_and_changes_nothing(db, make_order):
    order = make_order("o-1", total=5_000)

    first = usecases.assess_order(db, TIGHT, order)
    assert first["decision"] == "review"
    assert usecases.assess_order(db, TIGHT, order) == first  # orders asks again

    assert decisions(db) == ["review"]
    assert waiting_reviews(db) == ["o-1"]


def test_a_second_assessment_of_one_order_neither_counts_nor_decides_again(db, score):
    score("o-1")
    # the same order asked again, with a total that would now be reviewed
    assert score("o-1", total=5_000).decision == "approve"

    assert decisions(db) == ["approve"]
    with db.reading() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(assessments)).scalar_one() == 1
    # it did not count toward velocity either: the second real order is still the second
    assert score("o-2", at=NOW + seconds(1)).decision == "approve"


def test_scoring_an_order_again_answers_the_decision_stored(db, make_order):
    order = usecases.OrderToScore.from_call(schemas.OrderToAssess().load(make_order("o-1", total=5_000)))
    with db.unit_of_work() as uow:
        first, fresh = usecases.score_order(uow, TIGHT, order)
    with db.unit_of_work() as uow:
        again, fresh_again = usecases.score_order(uow, TIGHT, order)
    assert (fresh, fresh_again) == (True, False)
    assert (again.decision, again.score, again.reasons) == (first.decision, first.score, first.reasons)


def test_decisions_and_rules_are_counted_once_each(db, score):
    def counts():
        return (
            {
                decision: metrics.DECISIONS.labels(decision)._value.get()
                for decision in ("approve", "review", "reject")
            },
            metrics.RULE_HITS.labels("amount", "review")._value.get(),
        )

    (before, amount_before) = counts()
    score("o-1")
    score("o-1")
    score("o-2", customer_id="c2", total=5_000)
    score("o-3", customer_id="c3", total=50_000)
    (after, amount_after) = counts()

    assert {decision: after[decision] - before[decision] for decision in before} == {
        "approve": 1,
        "review": 1,
        "reject": 1,
    }
    assert amount_after - amount_before == 1


def test_an_event_from_another_time_zone_is_stored_in_utc(db, score):
    beijing = datetime.timezone(datetime.timedelta(hours=8))
    score("o-1", total=5_000, at=NOW.astimezone(beijing))

    with db.reading() as session:
        created_at = session.execute(sa.select(reviews.c.created_at)).scalar_one()
    assert created_at.replace(tzinfo=datetime.UTC) == NOW


# --- velocity ------------------------------------------------------------------------------


def test_velocity_counts_the_customers_orders_within_the_window(db, score):
    for second in range(5):
        score(f"o-{second}", at=NOW + seconds(second))
        closed(db, "payment.succeeded", f"o-{second}")
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
    assert rules_fired(db, "o-4") == ["velocity:reject"]


def test_an_order_that_arrives_late_is_scored_as_of_its_creation(db, score):
    for second in (30, 31, 32):
        score(f"o-{second}", at=NOW + seconds(second))
        closed(db, "payment.succeeded", f"o-{second}")
    # created before all three, delivered after them: none of them was in its window
    score("o-0", at=NOW)

    assert decisions(db) == ["approve", "approve", "review", "approve"]


# --- unpaid orders and units -----------------------------------------------------------------


def test_unpaid_orders_are_capped_and_paid_cancelled_or_expired_ones_free_a_place(db, score):
    late = seconds(3_600)  # outside the velocity window
    for n in range(3):
        score(f"o-{n}", at=NOW + n * late)
    assert score("o-3", at=NOW + 3 * late).decision == "reject"
    assert rules_fired(db, "o-3") == ["unpaid_orders:reject"]
    # the rejected one holds nothing; one paid, one cancelled, one expired free three places
    closed(db, "payment.succeeded", "o-0")
    closed(db, "order.cancelled", "o-1", reason="stock rejected: out_of_stock")
    closed(db, "order.expired", "o-2", reason="not paid in time")
    for n in range(4, 7):
        assert score(f"o-{n}", at=NOW + n * late).decision == "approve"


def test_unpaid_units_of_one_product_are_capped(db, score):
    assert score("o-1", quantity=3, at=NOW).decision == "approve"
    assert score("o-2", quantity=3, at=NOW + seconds(3_600)).decision == "reject"
    assert rules_fired(db, "o-2") == ["unpaid_units:reject"]
    assert "6 unpaid units of product 1" in assessed(db)[-1][1]["reasons"][0]
    # another product is another count
    assert score("o-3", quantity=3, product_id=2, at=NOW + seconds(7_200)).decision == "approve"
    assert score("o-4", quantity=6, product_id=3, at=NOW + seconds(10_800)).decision == "reject"


def test_an_order_closed_before_it_was_scored_is_not_counted_as_unpaid(db, score):
    # order.cancelled overtook order.created: the stock was refused at once
    closed(db, "order.cancelled", "o-0", reason="stock rejected: out_of_stock")
    closed(db, "order.cancelled", "o-0", reason="the same, again")
    score("o-0", at=NOW)
    for n in range(1, 4):
        assert score(f"o-{n}", at=NOW + n * seconds(3_600)).decision == "approve"


# --- card testing, refunds -------------------------------------------------------------------


def test_abandoned_payments_in_the_window_look_like_card_testing(db, score):
    late = seconds(120)
    score("o-1", at=NOW)
    closed(db, "order.expired", "o-1", at=NOW + late)
    assert score("o-2", at=NOW + 2 * late).decision == "approve"
    closed(db, "order.expired", "o-2", at=NOW + 3 * late)
    assert score("o-3", at=NOW + 4 * late).decision == "review"
    assert rules_fired(db, "o-3") == ["card_testing:review"]
    closed(db, "order.expired", "o-3", at=NOW + 5 * late)
    assert score("o-4", at=NOW + 6 * late).decision == "reject"
    # an hour on, they have left the window
    assert score("o-5", at=NOW + 6 * late + seconds(3_601)).decision == "approve"


def test_refunds_asked_in_the_window_look_like_refund_abuse(db, score):
    def refund(order_id, at):
        deliver(
            db,
            "risk",
            usecases.on_refund_requested,
            event(
                "order.refund_requested",
                {
                    "order_id": order_id,
                    "customer_id": "c1",
                    "payment_id": str(uuid.uuid4()),
                    "amount": 100,
                    "currency": "CNY",
                    "reason": "duplicate_payment",
                },
                at,
            ),
        )

    refund("o-a", NOW)
    assert score("o-1", at=NOW + seconds(1)).decision == "approve"
    refund("o-b", NOW + seconds(2))
    assert score("o-2", at=NOW + seconds(3_600)).decision == "review"
    assert rules_fired(db, "o-2") == ["refund_abuse:review"]
    assert score("o-3", customer_id="c2", at=NOW + seconds(3_600)).decision == "approve"


def test_a_buyers_refund_requests_count_for_refund_abuse(db, score):
    def ask(order_id, at):
        deliver(
            db,
            "risk",
            usecases.on_refund_requested,
            event(
                "refund_request.opened",
                {
                    "request_id": str(uuid.uuid4()),
                    "order_id": order_id,
                    "customer_id": "c1",
                    "reason": "used",
                },
                at,
            ),
        )

    for n in range(3):
        ask(f"o-{n}", NOW + seconds(n))
    assert score("o-next", at=NOW + seconds(60)).decision == "reject"
    assert rules_fired(db, "o-next") == ["refund_abuse:reject"]


# --- new accounts and sign-ins ---------------------------------------------------------------


def test_a_new_account_buying_high_value_is_reviewed(db, score, signed_in):
    signed_in("young", registered_at=NOW - seconds(600))
    signed_in("old", registered_at=NOW - datetime.timedelta(days=30))
    # within the amount rule's lines, over the new-account one
    thresholds = Thresholds(new_account_review_amount=50_000)

    assert score("o-young", customer_id="young", total=60_000, thresholds=thresholds).decision == "review"
    assert rules_fired(db, "o-young") == ["new_account:review"]
    assert score("o-old", customer_id="old", total=60_000, thresholds=thresholds).decision == "approve"
    assert score("o-unknown", customer_id="nobody", total=60_000, thresholds=thresholds).decision == "review"


def test_a_sign_in_from_a_new_network_before_a_high_value_order_is_reviewed(db, score, signed_in):
    thresholds = Thresholds(signin_review_amount=500)
    signed_in(network="198.51.100.0/24", at=NOW - datetime.timedelta(days=3))
    signed_in(network="198.51.100.0/24", at=NOW - seconds(30))
    # from home: nothing unusual
    assert score("o-home", total=900, at=NOW, thresholds=thresholds).decision == "approve"

    signed_in(network="203.0.113.0/24", at=NOW + seconds(10))
    assert score("o-small", total=400, at=NOW + seconds(20), thresholds=thresholds).decision == "approve"
    assert score("o-big", total=900, at=NOW + seconds(30), thresholds=thresholds).decision == "review"
    assert rules_fired(db, "o-big") == ["signin_anomaly:review"]
    assert (
        score("o-later", total=900, at=NOW + seconds(10 + 3_601), thresholds=thresholds).decision == "approve"
    )


def password_changed(db, customer_id="c1", at=NOW):
    deliver(
        db,
        "risk",
        usecases.on_customer_password_changed,
        event("customer.password_changed", {"customer_id": customer_id, "changed_at": at.isoformat()}, at),
    )


def test_a_password_change_right_after_a_sign_in_from_a_new_network_holds_any_order(db, score, signed_in):
    signed_in(network="198.51.100.0/24", at=NOW - datetime.timedelta(days=3))
    # the owner changes the password from home: nothing unusual
    password_changed(db, at=NOW - datetime.timedelta(days=2))
    assert score("o-home", total=100, at=NOW).decision == "approve"

    signed_in(network="203.0.113.0/24", at=NOW + seconds(10))
    password_changed(db, at=NOW + seconds(40))
    held = score("o-small", total=100, at=NOW + seconds(60))
    assert held.decision == "review"
    assert rules_fired(db, "o-small") == ["signin_anomaly:review"]
    assert "password changed right after a sign-in from a new network" in held.reasons[0]
    # the window passes
    assert score("o-later", total=100, at=NOW + seconds(40 + 3_601)).decision == "approve"


def test_a_password_change_long_after_a_new_network_is_no_anomaly(db, score, signed_in):
    signed_in(network="198.51.100.0/24", at=NOW - datetime.timedelta(days=3))
    signed_in(network="203.0.113.0/24", at=NOW - datetime.timedelta(days=2))
    password_changed(db, at=NOW - seconds(60))
    assert score("o-1", total=100, at=NOW).decision == "approve"


def test_password_changes_out_of_order_keep_the_latest(db, score, signed_in):
    signed_in(network="198.51.100.0/24", at=NOW - datetime.timedelta(days=3))
    signed_in(network="203.0.113.0/24", at=NOW - seconds(30))
    password_changed(db, at=NOW - seconds(20))
    # an older change delivered late changes nothing
    password_changed(db, at=NOW - datetime.timedelta(days=5))
    assert score("o-1", total=100, at=NOW).decision == "review"


def test_a_first_sign_in_is_no_anomaly(db, score, signed_in):
    signed_in("fresh", network="203.0.113.0/24", at=NOW)
    assert score("o-1", customer_id="fresh", total=900, at=NOW + seconds(5)).decision == "approve"


# --- the blacklist ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, value, order",
    [
        ("account", "c1", {}),
        ("ip", "203.0.113.9", {"client_ip": "203.0.113.9"}),
        ("ip", "2001:db8::1", {"client_ip": "2001:db8::1"}),
        ("device", "phone-42", {"device_id": "phone-42"}),
    ],
)
def test_an_order_from_a_blacklisted_account_address_or_device_is_rejected(db, score, kind, value, order):
    usecases.add_blacklist_entry(db, kind, value, "chargebacks", created_by="staff-1")

    score("o-1", **order)
    score("o-2", customer_id="c2", client_ip="198.51.100.7", device_id="tablet-1")

    assert decisions(db) == ["reject", "approve"]
    assert rules_fired(db, "o-1") == ["blacklisted:reject"]
    assert value in assessed(db)[0][1]["reasons"][0]


def test_blacklisting_twice_keeps_the_first_entry(db):
    first = usecases.add_blacklist_entry(
        db, "ip", "2001:0db8:0000::0001", "chargebacks", created_by="staff-1"
    )
    again = usecases.add_blacklist_entry(db, "ip", "2001:db8::1", "again", created_by="staff-2")

    assert first["created"] and not again["created"]
    assert again["entry"] == first["entry"]
    assert first["entry"]["value"] == "2001:db8::1"
    assert first["entry"]["reason"] == "chargebacks" and first["entry"]["created_by"] == "staff-1"


def test_blacklist_changes_are_written_to_the_audit_log(db):
    added = usecases.add_blacklist_entry(db, "device", "phone-42", "stolen cards", created_by="staff-1")
    usecases.add_blacklist_entry(db, "device", "phone-42", "again", created_by="staff-2")  # no change
    usecases.remove_blacklist_entry(db, added["entry"]["id"], removed_by="staff-3")

    with db.reading() as session:
        entries = session.execute(
            sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.target).order_by(audit_log.c.seq)
        ).all()
    target = f"blacklist:{added['entry']['id']}"
    assert [tuple(entry) for entry in entries] == [
        ("staff-1", "blacklist.added", target),
        ("staff-3", "blacklist.removed", target),
    ]


def test_an_address_that_is_not_one_is_refused(db):
    with pytest.raises(InvalidInput):
        usecases.add_blacklist_entry(db, "ip", "203.0.113.300", "typo")


def test_the_blacklist_lists_newest_first_a_page_at_a_time_and_entries_come_off(db, score):
    entries = [usecases.add_blacklist_entry(db, "device", f"d-{n}", "fraud")["entry"] for n in range(3)]
    usecases.add_blacklist_entry(db, "account", "c9", "fraud")

    page = usecases.list_blacklist(db, kind="device", limit=2)
    rest = usecases.list_blacklist(db, kind="device", limit=2, cursor=page["next_cursor"])
    listed = [entry["value"] for entry in page["items"] + rest["items"]]
    assert sorted(listed) == ["d-0", "d-1", "d-2"] and len(set(listed)) == 3
    assert rest["next_cursor"] is None
    assert len(usecases.list_blacklist(db)["items"]) == 4

    assert usecases.remove_blacklist_entry(db, entries[0]["id"]) == {"id": entries[0]["id"]}
    with pytest.raises(NotFound):
        usecases.remove_blacklist_entry(db, entries[0]["id"])
    score("o-1", device_id="d-0")
    assert decisions(db) == ["approve"]
    with pytest.raises(InvalidInput):
        usecases.list_blacklist(db, cursor="not-a-cursor")


# --- the review record ------------------------------------------------------------------------


def order_reviewed(order_id, decision, decided_by="staff-1", reason="checked"):
    return event(
        "order.reviewed",
        {
            "order_id": order_id,
            "customer_id": "c1",
            "decision": decision,
            "reason": reason,
            "decided_by": decided_by,
            "decided_at": NOW.isoformat(),
        },
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
    reviewed = order_reviewed("o-1", decision, decided_by, reason="known buyer")

    deliver(db, "risk", usecases.on_order_reviewed, reviewed)
    deliver(db, "risk", usecases.on_order_reviewed, reviewed)  # redelivered

    row = review_row(db, "o-1")
    assert (row.status, row.decided_by, row.decision_reason) == (status, decided_by, "known buyer")
    assert usecases.count_waiting_reviews(db) == 0


def test_a_review_of_an_order_cancelled_otherwise_waits_for_nobody(db, score):
    score("o-1", total=5_000)
    score("o-2", total=5_000, at=NOW + seconds(1))
    closed(db, "order.cancelled", "o-1", reason="stock rejected: out_of_stock")

    assert (review_row(db, "o-1").status, review_row(db, "o-1").decision_reason) == (
        "closed",
        "stock rejected: out_of_stock",
    )
    assert waiting_reviews(db) == ["o-2"]
    # a reviewer's rejection cancels the order too; the decision it records stays
    deliver(db, "risk", usecases.on_order_reviewed, order_reviewed("o-2", "reject"))
    closed(db, "order.cancelled", "o-2", reason="review: reject by staff staff-1: checked")
    assert review_row(db, "o-2").status == "rejected"
