"""Payment, delivery, failed sale and refund: every payment ends delivered or refunded."""

import datetime

import pytest

from kameng_common.testing import deliver
from orders import usecases


def after_expiry(saga):
    return saga.NOW + datetime.timedelta(seconds=saga.TTL + 1)


def test_a_payment_before_expiry_pays_the_order(saga):
    order = saga.approved()
    payment_id = saga.pay(order)
    assert saga.status(order["id"]) == "paid"
    assert saga.events("order.paid") == [
        {
            "order_id": order["id"],
            "customer_id": "customer-1",
            "items": [{"product_id": 1, "quantity": 2, "unit_price": 10000}],
            "payment_id": payment_id,
            "amount": 20000,
            "currency": "CNY",
        }
    ]
    assert saga.row(order["id"]).payment_id == payment_id


def test_a_payment_after_expiry_still_pays_the_order(saga):
    order = saga.approved()
    assert saga.expire(after_expiry(saga)) == 1
    payment_id = saga.pay(order, now=after_expiry(saga))
    assert saga.statuses(order["id"]) == ["pending", "awaiting_payment", "expired", "paid"]
    assert saga.order(order["id"])["history"][-1]["reason"] == "paid after the order expired"
    # inventory released on order.expired and re-reserves on order.paid
    assert saga.event_types(order["id"]) == ["order.expired", "order.paid"]
    assert saga.events("order.paid")[0]["payment_id"] == payment_id


def test_a_payment_past_the_deadline_but_before_the_timer_pays_on_time(saga):
    order = saga.approved()
    saga.pay(order, now=after_expiry(saga))
    assert saga.expire(after_expiry(saga)) == 0
    assert saga.statuses(order["id"]) == ["pending", "awaiting_payment", "paid"]


@pytest.mark.parametrize("payment", [{"amount": 19999}, {"amount": 20001}, {"currency": "USD"}])
def test_a_payment_of_the_wrong_amount_is_refunded(saga, payment):
    order = saga.approved()
    payment_id = saga.pay(order, **payment)
    assert saga.status(order["id"]) == "awaiting_payment"
    assert saga.row(order["id"]).payment_id is None
    paid = {"amount": 20000, "currency": "CNY", **payment}
    assert saga.events("order.refund_requested") == [
        {
            "order_id": order["id"],
            "customer_id": "customer-1",
            "payment_id": payment_id,
            **paid,
            "reason": "amount_mismatch",
        }
    ]
    assert saga.events("order.paid") == []


def test_the_right_payment_after_a_wrong_one_pays(saga):
    order = saga.approved()
    saga.pay(order, amount=1)
    right = saga.pay(order)
    assert saga.status(order["id"]) == "paid"
    assert saga.row(order["id"]).payment_id == right


@pytest.mark.parametrize("delivered", [False, True])
def test_a_second_payment_is_refunded_as_a_duplicate(saga, delivered):
    order = saga.approved()
    first = saga.pay(order)
    if delivered:
        saga.cards_delivered(order["id"])
    second = saga.pay(order)
    assert saga.row(order["id"]).payment_id == first
    assert saga.status(order["id"]) == ("delivered" if delivered else "paid")
    refunds = saga.events("order.refund_requested")
    assert [(refund["payment_id"], refund["reason"]) for refund in refunds] == [(second, "duplicate_payment")]
    assert len(saga.events("order.paid")) == 1


def test_the_same_payment_replayed_under_a_new_event_id_changes_nothing(saga):
    order = saga.approved()
    received = saga.payment_event(order)
    deliver(saga.db, "orders", usecases.on_payment_succeeded, received, now=saga.NOW)
    replay = saga.event("payment.succeeded", **received["payload"])
    assert replay["id"] != received["id"]
    deliver(saga.db, "orders", usecases.on_payment_succeeded, replay, now=saga.NOW)
    deliver(saga.db, "orders", usecases.on_payment_succeeded, received, now=saga.NOW)
    assert saga.event_types(order["id"]) == ["order.paid"]
    assert saga.statuses(order["id"]) == ["pending", "awaiting_payment", "paid"]


def test_the_same_payment_received_twice_is_refunded_once(saga):
    """payments publishes payment.succeeded again for a second provider transaction of one payment."""
    order = saga.approved()
    received = saga.payment_event(order)
    deliver(saga.db, "orders", usecases.on_payment_succeeded, received, now=saga.NOW)
    again = saga.event("payment.succeeded", **{**received["payload"], "trade_no": "another-transaction"})
    deliver(saga.db, "orders", usecases.on_payment_succeeded, again, now=saga.NOW)
    deliver(
        saga.db,
        "orders",
        usecases.on_payment_succeeded,
        saga.event("payment.succeeded", **again["payload"]),
        now=saga.NOW,
    )

    assert saga.event_types(order["id"]) == ["order.paid", "order.refund_requested"]
    [refund] = saga.events("order.refund_requested")
    assert refund["reason"] == "paid_twice"
    assert refund["payment_id"] == received["payload"]["payment_id"]
    assert saga.statuses(order["id"]) == ["pending", "awaiting_payment", "paid"]


def test_a_refused_payment_replayed_is_refunded_once(saga):
    order = saga.approved()
    received = saga.payment_event(order, amount=5)
    deliver(saga.db, "orders", usecases.on_payment_succeeded, received, now=saga.NOW)
    replay = saga.event("payment.succeeded", **received["payload"])
    deliver(saga.db, "orders", usecases.on_payment_succeeded, replay, now=saga.NOW)
    assert len(saga.events("order.refund_requested")) == 1


@pytest.mark.parametrize("prepare", ["pending", "on_hold", "cancelled", "expired unanswered"])
def test_a_payment_for_an_order_never_offered_for_payment_is_refunded(saga, prepare):
    order = saga.create()
    if prepare == "on_hold":
        saga.answer(order["id"], risk="review")
    elif prepare == "cancelled":
        saga.answer(order["id"], risk="reject")
    elif prepare == "expired unanswered":
        saga.expire(after_expiry(saga))
    status = saga.status(order["id"])
    saga.pay(order)
    assert saga.status(order["id"]) == status
    assert [refund["reason"] for refund in saga.events("order.refund_requested")] == ["order_not_payable"]


def test_delivered_cards_deliver_the_order(saga):
    order = saga.approved()
    saga.pay(order)
    saga.cards_delivered(order["id"])
    saga.cards_delivered(order["id"])  # replayed under a new id
    assert saga.statuses(order["id"]) == ["pending", "awaiting_payment", "paid", "delivered"]
    assert saga.events("order.delivered") == [
        {"order_id": order["id"], "customer_id": "customer-1", "total": 20000, "currency": "CNY"}
    ]


def test_a_failed_sale_asks_for_a_refund_and_the_refund_closes_the_order(saga):
    order = saga.approved()
    saga.expire(after_expiry(saga))
    payment_id = saga.pay(order, now=after_expiry(saga))
    saga.sale_failed(order["id"])
    assert saga.status(order["id"]) == "failed"
    assert saga.events("order.refund_requested") == [
        {
            "order_id": order["id"],
            "customer_id": "customer-1",
            "payment_id": payment_id,
            "amount": 20000,
            "currency": "CNY",
            "reason": "sale_failed",
        }
    ]
    saga.sale_failed(order["id"])  # replayed: one refund request
    assert len(saga.events("order.refund_requested")) == 1

    saga.refunded(order, payment_id)
    saga.refunded(order, payment_id)
    assert saga.statuses(order["id"]) == [
        "pending",
        "awaiting_payment",
        "expired",
        "paid",
        "failed",
        "refunded",
    ]
    assert saga.order(order["id"])["history"][4]["reason"] == "sale failed: sold_out"


def test_refunding_a_duplicate_payment_leaves_the_order_as_it_is(saga):
    order = saga.approved()
    saga.pay(order)
    saga.cards_delivered(order["id"])
    duplicate = saga.pay(order)
    saga.refunded(order, duplicate)
    assert saga.status(order["id"]) == "delivered"


def test_a_refund_of_a_payment_orders_never_saw_changes_nothing(saga):
    order = saga.approved()
    saga.refunded(order, "someone-elses-payment")
    assert saga.status(order["id"]) == "awaiting_payment"


def test_delivery_or_failure_before_payment_moves_nothing(saga):
    order = saga.approved()
    saga.cards_delivered(order["id"])
    saga.sale_failed(order["id"])
    assert saga.status(order["id"]) == "awaiting_payment"
    assert saga.event_types(order["id"]) == []


def test_the_same_event_twice_is_handled_once(saga):
    order = saga.approved()
    saga.pay(order)
    delivered = saga.event("cards.delivered", order_id=order["id"], card_ids=[1, 2])
    deliver(saga.db, "orders", usecases.on_cards_delivered, delivered, now=saga.NOW)
    deliver(saga.db, "orders", usecases.on_cards_delivered, delivered, now=saga.NOW)
    assert len(saga.events("order.delivered")) == 1
