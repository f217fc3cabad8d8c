"""A reviewer's decision on an order risk held, and the list of orders waiting for one."""

import datetime

import eventlet
import pytest

from kameng_common.errors import Conflict, InvalidInput, NotFound
from orders import usecases


def later(saga, seconds):
    return saga.NOW + datetime.timedelta(seconds=seconds)


def test_an_approval_gives_the_order_a_fresh_payment_deadline(saga):
    order_id = saga.held()["id"]
    decided_at = later(saga, 1800)

    decision = saga.decide(order_id, "approve", "known buyer", now=decided_at)

    assert decision == {
        "order_id": order_id,
        "decision": "approve",
        "reason": "known buyer",
        "decided_by": "staff-1",
        "decided_at": decided_at.isoformat(),
        "status": "awaiting_payment",
    }
    order = saga.order(order_id)
    assert order["status"] == "awaiting_payment"
    assert order["expires_at"] == later(saga, 1800 + saga.TTL).isoformat()
    assert order["history"][-1]["reason"] == "review: approve by staff staff-1: known buyer"
    assert saga.event_types(order_id) == ["order.reviewed"]
    [reviewed] = saga.events("order.reviewed")
    assert reviewed == {
        "order_id": order_id,
        "customer_id": "customer-1",
        "decision": "approve",
        "reason": "known buyer",
        "decided_by": "staff-1",
        "decided_at": decided_at.isoformat(),
    }
    [audited] = saga.events("audit.recorded.orders")
    assert (audited["actor"], audited["action"], audited["target"]) == (
        "staff-1",
        "order.review_decided",
        f"order:{order_id}",
    )
    assert audited["detail"] == {"decision": "approve", "reason": "known buyer"}
    # and the buyer can pay it now
    assert saga.pay(saga.order(order_id)) and saga.status(order_id) == "paid"


def test_a_rejection_cancels_the_order_and_releases_its_cards(saga):
    order_id = saga.held()["id"]
    saga.decide(order_id, "reject", "stolen card pattern")
    assert saga.statuses(order_id) == ["pending", "on_hold", "cancelled"]
    assert saga.row(order_id).expires_at is None
    assert saga.event_types(order_id) == ["order.cancelled", "order.reviewed"]
    [cancelled] = saga.events("order.cancelled")
    assert cancelled["reason"] == "review: reject by staff staff-1: stolen card pattern"


@pytest.mark.parametrize(
    "first, second", [("approve", "reject"), ("reject", "approve"), ("approve", "approve")]
)
def test_an_order_is_decided_once(saga, first, second):
    order_id = saga.held()["id"]
    saga.decide(order_id, first)
    before = (saga.order(order_id), saga.events())
    with pytest.raises(Conflict) as refused:
        saga.decide(order_id, second, decided_by="staff-2")
    assert refused.value.code == "review_already_decided"
    assert f"{first} by staff staff-1" in refused.value.message
    assert (saga.order(order_id), saga.events()) == before


def test_an_order_cancelled_by_its_deadline_cannot_be_decided(saga):
    order_id = saga.held()["id"]
    saga.expire(later(saga, saga.REVIEW_TTL))
    with pytest.raises(Conflict) as refused:
        saga.decide(order_id, "approve")
    assert refused.value.code == "review_already_decided"
    assert "timeout" in refused.value.message


def test_only_an_order_on_hold_can_be_decided(saga):
    order = saga.approved()
    with pytest.raises(Conflict) as refused:
        saga.decide(order["id"], "approve")
    assert refused.value.code == "order_not_on_hold"
    with pytest.raises(NotFound):
        saga.decide("no-such-order", "approve")


@pytest.mark.parametrize(
    "decision, reason, decided_by, field",
    [
        ("maybe", "why", "staff-1", "decision"),
        ("review", "why", "staff-1", "decision"),
        ("approve", "", "staff-1", "reason"),
        ("approve", "x" * 301, "staff-1", "reason"),
        ("approve", None, "staff-1", "reason"),
        ("approve", "why", "", "decided_by"),
    ],
)
def test_a_bad_decision_is_refused(saga, decision, reason, decided_by, field):
    order_id = saga.held()["id"]
    with pytest.raises(InvalidInput) as refused:
        saga.decide(order_id, decision, reason=reason, decided_by=decided_by)
    assert field in refused.value.message
    assert saga.status(order_id) == "on_hold"


def test_the_review_list_shows_orders_on_hold_with_score_and_reasons_nearest_deadline_first(saga):
    first = saga.held()["id"]
    second = saga.held(now=later(saga, 60))["id"]
    third = saga.held(now=later(saga, 120))["id"]
    saga.approved()
    decided = saga.held(now=later(saga, 180))["id"]
    saga.decide(decided, "reject")

    page = usecases.list_reviews(saga.db, limit=2)
    assert [review["order_id"] for review in page["items"]] == [first, second]
    review = page["items"][0]
    assert review == {
        "order_id": first,
        "customer_id": "customer-1",
        "items": [{"product_id": 1, "name": "Steam card 100", "quantity": 2, "unit_price": 10000}],
        "total": 20000,
        "currency": "CNY",
        "score": 10,
        "reasons": ["new customer"],
        "created_at": saga.NOW.isoformat(),
        "held_at": saga.NOW.isoformat(),
        "decide_by": later(saga, saga.REVIEW_TTL).isoformat(),
    }
    rest = usecases.list_reviews(saga.db, limit=2, cursor=page["next_cursor"])
    assert [review["order_id"] for review in rest["items"]] == [third]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize("limit, cursor", [(0, None), (201, None), ("5", None), (5, "not-a-cursor")])
def test_a_bad_review_page_is_refused(saga, limit, cursor):
    with pytest.raises(InvalidInput):
        usecases.list_reviews(saga.db, limit=limit, cursor=cursor)


def _decide(db, order_id, decision, reviewer):
    try:
        return usecases.decide_review(db, order_id, decision, "race", reviewer, _decide.deadlines)
    except Conflict as refused:
        return refused.code


def test_concurrent_decisions_on_one_order_decide_it_once(any_saga):
    order_id = any_saga.held()["id"]
    _decide.deadlines = any_saga.DEADLINES
    attempts = [("approve", f"staff-{n}") if n % 2 else ("reject", f"staff-{n}") for n in range(8)]

    outcomes = list(
        eventlet.GreenPool(len(attempts)).imap(
            lambda attempt: _decide(any_saga.db, order_id, *attempt), attempts
        )
    )

    assert outcomes.count("review_already_decided") == len(attempts) - 1
    assert len(any_saga.events("order.reviewed")) == 1
    assert any_saga.status(order_id) in ("awaiting_payment", "cancelled")
