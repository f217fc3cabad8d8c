"""inventory's and risk's answers, in every order, duplicated and replayed."""

import datetime
import itertools

import pytest
import sqlalchemy as sa

from kameng_common.errors import NotFound
from kameng_common.testing import deliver
from orders import usecases

STOCK_ANSWERS = ["reserved", "rejected"]
RISK_ANSWERS = ["approve", "review", "reject"]

# (stock, risk) → final status, and how many order.cancelled each ordering publishes
EXPECTED = {
    ("reserved", "approve"): ("awaiting_payment", {"stock first": 0, "risk first": 0}),
    ("reserved", "review"): ("on_hold", {"stock first": 0, "risk first": 0}),
    # risk's no cancels at once; the reservation that follows is released again
    ("reserved", "reject"): ("cancelled", {"stock first": 1, "risk first": 2}),
    ("rejected", "approve"): ("cancelled", {"stock first": 1, "risk first": 1}),
    ("rejected", "review"): ("cancelled", {"stock first": 1, "risk first": 1}),
    ("rejected", "reject"): ("cancelled", {"stock first": 1, "risk first": 1}),
}


def answers(saga, order_id, stock, risk):
    details = (
        {"items": [{"product_id": 1, "quantity": 2}]} if stock == "reserved" else {"reason": "out_of_stock"}
    )
    stock_event = saga.event(f"stock.{stock}", order_id=order_id, **details)
    risk_event = saga.event("risk.assessed", order_id=order_id, decision=risk, score=50, reasons=[])
    handle_stock = usecases.on_stock_reserved if stock == "reserved" else usecases.on_stock_rejected
    return (
        (
            lambda event=stock_event: deliver(
                saga.db, "orders", handle_stock, event, saga.DEADLINES, now=saga.NOW
            )
        ),
        (
            lambda event=risk_event: deliver(
                saga.db, "orders", usecases.on_risk_assessed, event, saga.DEADLINES, now=saga.NOW
            )
        ),
    )


@pytest.mark.parametrize("stock, risk", itertools.product(STOCK_ANSWERS, RISK_ANSWERS))
@pytest.mark.parametrize("ordering", ["stock first", "risk first"])
def test_every_ordering_of_the_answers(saga, stock, risk, ordering):
    order_id = saga.create()["id"]
    stock_answer, risk_answer = answers(saga, order_id, stock, risk)
    steps = [stock_answer, risk_answer] if ordering == "stock first" else [risk_answer, stock_answer]
    for step in steps:
        step()
    status, cancellations = EXPECTED[(stock, risk)]
    assert saga.status(order_id) == status
    cancelled = saga.events("order.cancelled")
    assert len(cancelled) == cancellations[ordering]
    assert all(payload == {"order_id": order_id, "reason": payload["reason"]} for payload in cancelled)
    row = saga.row(order_id)
    assert (row.stock_status, row.risk_decision) == (stock, risk)
    if status == "awaiting_payment":
        assert row.expires_at == saga.NOW + datetime.timedelta(seconds=saga.TTL)
    elif status == "on_hold":
        assert row.expires_at == saga.NOW + datetime.timedelta(seconds=saga.REVIEW_TTL)
    else:
        assert row.expires_at is None

    # the same events delivered again, and every step replayed: nothing changes twice
    before = (saga.order(order_id), saga.events())
    for step in steps + steps[::-1]:
        step()
    assert (saga.order(order_id), saga.events()) == before


@pytest.mark.parametrize("stock, risk", itertools.product(STOCK_ANSWERS, RISK_ANSWERS))
def test_replays_under_new_event_ids_change_nothing(saga, stock, risk):
    order_id = saga.create()["id"]
    for step in answers(saga, order_id, stock, risk):
        step()
    before = (saga.order(order_id), saga.events())
    for step in answers(saga, order_id, stock, risk):  # fresh event ids: the inbox lets them through
        step()
    assert (saga.order(order_id), saga.events()) == before


def test_risk_decides_once_a_reviewer_decides_a_review(saga):
    order_id = saga.held()["id"]
    saga.risk(order_id, "approve")  # another answer from risk moves nothing: the review is a reviewer's
    saga.risk(order_id, "reject")
    assert saga.statuses(order_id) == ["pending", "on_hold"]
    assert saga.row(order_id).risk_decision == "review"


def test_a_late_approval_does_not_reopen_a_rejected_order(saga):
    order_id = saga.create()["id"]
    saga.stock_reserved(order_id)
    saga.risk(order_id, "reject")
    saga.risk(order_id, "approve")
    assert saga.status(order_id) == "cancelled"
    assert saga.row(order_id).risk_decision == "reject"


def test_a_reservation_after_expiry_is_released(saga):
    order_id = saga.create()["id"]
    saga.risk(order_id, "approve")
    saga.expire(saga.NOW + datetime.timedelta(seconds=saga.TTL))
    saga.stock_reserved(order_id)
    assert saga.status(order_id) == "expired"
    assert saga.event_types(order_id) == ["order.created", "order.expired", "order.cancelled"]
    saga.stock_reserved(order_id)  # replayed: released once is enough
    assert saga.event_types(order_id) == ["order.created", "order.expired", "order.cancelled"]


def test_a_rejection_after_expiry_publishes_nothing(saga):
    order_id = saga.create()["id"]
    saga.expire(saga.NOW + datetime.timedelta(seconds=saga.TTL))
    saga.stock_rejected(order_id)
    saga.risk(order_id, "reject")
    assert saga.status(order_id) == "expired"
    assert saga.event_types(order_id) == ["order.created", "order.expired"]


def test_answers_after_payment_move_nothing(saga):
    order = saga.approved()
    saga.pay(order)
    saga.stock_rejected(order["id"])
    saga.risk(order["id"], "reject")
    assert saga.status(order["id"]) == "paid"
    assert saga.event_types(order["id"]) == ["order.created", "order.paid"]


def test_an_answer_about_an_unknown_order_is_left_for_a_retry(saga):
    with pytest.raises(NotFound):
        saga.stock_reserved("00000000-0000-4000-8000-000000000000")
    inbox = saga.db.tables["inbox"]
    with saga.db.reading() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(inbox)).scalar_one() == 0
