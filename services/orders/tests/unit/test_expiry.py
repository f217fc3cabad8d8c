"""Expiry of unpaid and unanswered orders, and its race with a payment."""

import datetime

import eventlet
import pytest
import sqlalchemy as sa

from orders import usecases
from orders.db import orders


def later(saga, seconds):
    return saga.NOW + datetime.timedelta(seconds=seconds)


def test_an_unpaid_order_expires_at_its_deadline(saga):
    order = saga.approved()
    assert saga.expire(later(saga, saga.TTL - 1)) == 0
    assert saga.status(order["id"]) == "awaiting_payment"
    assert saga.expire(later(saga, saga.TTL)) == 1
    assert saga.statuses(order["id"]) == ["pending", "awaiting_payment", "expired"]
    assert saga.events("order.expired") == [{"order_id": order["id"], "reason": "not paid in time"}]
    assert saga.expire(later(saga, 2 * saga.TTL)) == 0
    assert len(saga.events("order.expired")) == 1


def test_an_order_left_without_answers_expires(saga):
    unanswered = saga.create()["id"]
    young = saga.create(now=later(saga, 60))["id"]
    assert saga.expire(later(saga, saga.TTL)) == 1
    assert saga.status(unanswered) == "expired"
    assert saga.status(young) == "pending"
    assert saga.order(unanswered)["history"][-1]["reason"] == "no stock or risk answer in time"


def test_an_order_on_hold_waits_for_its_reviewer_until_its_review_deadline(saga):
    order_id = saga.held()["id"]
    assert saga.expire(later(saga, saga.REVIEW_TTL - 1)) == 0
    assert saga.status(order_id) == "on_hold"
    assert saga.expire(later(saga, saga.REVIEW_TTL)) == 1
    assert saga.statuses(order_id) == ["pending", "on_hold", "cancelled"]
    assert saga.order(order_id)["history"][-1]["reason"] == "not reviewed in time"
    assert saga.events("order.cancelled") == [{"order_id": order_id, "reason": "not reviewed in time"}]
    [reviewed] = saga.events("order.reviewed")
    assert reviewed["decision"] == "timeout" and reviewed["decided_by"] is None
    assert saga.expire(later(saga, 2 * saga.REVIEW_TTL)) == 0


@pytest.mark.parametrize("status", ["paid", "delivered", "cancelled", "failed"])
def test_closed_and_paid_orders_never_expire(saga, status):
    if status == "cancelled":
        order = saga.create()
        saga.answer(order["id"], risk="reject")
    else:
        order = saga.approved()
        saga.pay(order)
    if status == "delivered":
        saga.cards_delivered(order["id"])
    if status == "failed":
        saga.sale_failed(order["id"])
    assert saga.expire(later(saga, 10 * saga.TTL)) == 0
    assert saga.status(order["id"]) == status


def test_expires_in_batches(any_saga):
    overdue = [any_saga.approved()["id"] for _ in range(5)]
    assert (
        usecases.expire_orders(
            any_saga.db, any_saga.DEADLINES, now=later(any_saga, any_saga.TTL), batch_size=2
        )
        == 5
    )
    assert {any_saga.status(order_id) for order_id in overdue} == {"expired"}
    assert sorted(event["order_id"] for event in any_saga.events("order.expired")) == sorted(overdue)


def test_expiry_racing_payments_loses_no_payment(any_saga):
    """Every order is paid exactly once, whether its payment came before or after its expiry."""
    saga = any_saga
    placed = [saga.approved() for _ in range(12)]
    due = later(saga, saga.TTL + 1)

    def expire_repeatedly():
        for _ in range(4):
            usecases.expire_orders(saga.db, saga.DEADLINES, now=due, batch_size=3)
            eventlet.sleep(0)

    workers = [eventlet.spawn(expire_repeatedly)]
    workers += [eventlet.spawn(saga.pay, order, now=due) for order in placed]
    for worker in workers:
        worker.wait()

    for order in placed:
        statuses = saga.statuses(order["id"])
        assert statuses[-1] == "paid"
        assert statuses in (
            ["pending", "awaiting_payment", "paid"],
            ["pending", "awaiting_payment", "expired", "paid"],
        )
        expired = "expired" in statuses
        assert saga.event_types(order["id"]) == (["order.expired"] * expired + ["order.paid"])
    assert saga.events("order.refund_requested") == []


def test_expiry_skips_an_order_a_payment_is_handling(postgres_saga):
    saga = postgres_saga
    busy = saga.approved()
    idle = saga.approved()
    with saga.db.engine.connect() as payment_in_flight:
        with payment_in_flight.begin():
            payment_in_flight.execute(
                sa.select(orders.c.id).where(orders.c.id == busy["id"]).with_for_update()
            )
            assert saga.expire(later(saga, saga.TTL)) == 1
        assert saga.status(busy["id"]) == "awaiting_payment"
        assert saga.status(idle["id"]) == "expired"


def test_a_payment_waits_for_an_expiry_in_progress_and_then_pays_late(postgres_saga):
    saga = postgres_saga
    order = saga.approved()
    with saga.db.engine.connect() as expiry:
        transaction = expiry.begin()
        expiry.execute(sa.select(orders.c.id).where(orders.c.id == order["id"]).with_for_update())
        payment = eventlet.spawn(saga.pay, order)
        eventlet.sleep(0.3)
        assert not payment.dead, "the payment should wait for the row lock"
        expiry.execute(orders.update().where(orders.c.id == order["id"]).values(status="expired"))
        transaction.commit()
    payment.wait()
    row = saga.row(order["id"])
    assert (row.status, row.payment_id) == ("paid", saga.events("order.paid")[0]["payment_id"])
    assert saga.order(order["id"])["history"][-1]["reason"] == "paid after the order expired"
