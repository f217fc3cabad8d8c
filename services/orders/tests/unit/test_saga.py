"""inventory's and risk's answers to a new order, recorded once, however often the order is placed again."""

import datetime
import itertools

import pytest

from kameng_common.errors import Unavailable
from orders import domain, usecases

STOCK_ANSWERS = ["reserved", "rejected"]
RISK_ANSWERS = ["approve", "review", "reject"]

# (stock, risk) → where the order goes
EXPECTED = {
    ("reserved", "approve"): "awaiting_payment",
    ("reserved", "review"): "on_hold",
    ("reserved", "reject"): "cancelled",
    ("rejected", "approve"): "cancelled",
    ("rejected", "review"): "cancelled",
    ("rejected", "reject"): "cancelled",
}


@pytest.mark.parametrize("stock, risk", itertools.product(STOCK_ANSWERS, RISK_ANSWERS))
def test_every_pair_of_answers(saga, stock, risk):
    order_id = saga.create()["id"]
    answered = saga.answer(order_id, stock, risk)
    status = EXPECTED[(stock, risk)]
    assert answered == saga.order(order_id)
    assert saga.statuses(order_id) == ["pending", status]
    cancelled = saga.events("order.cancelled")
    # a cancelled order tells inventory to release what it may hold, and risk that it is no longer unpaid
    assert len(cancelled) == (status == "cancelled")
    row = saga.row(order_id)
    assert (row.stock_status, row.risk_decision, row.risk_score, row.risk_reasons) == (
        stock,
        risk,
        10,
        ["new customer"],
    )
    if status == "awaiting_payment":
        assert row.expires_at == saga.NOW + datetime.timedelta(seconds=saga.TTL)
    elif status == "on_hold":
        assert row.expires_at == saga.NOW + datetime.timedelta(seconds=saga.REVIEW_TTL)
    else:
        assert row.expires_at is None

    # placed again (a retry, the sweeper), whatever the services now say: nothing changes
    before = (saga.order(order_id), saga.events())
    for other_stock, other_risk in itertools.product(STOCK_ANSWERS, RISK_ANSWERS):
        saga.answer(order_id, other_stock, other_risk)
    assert (saga.order(order_id), saga.events()) == before


@pytest.mark.parametrize(
    "stock, risk, reason",
    [
        ("reserved", "approve", "stock reserved, risk approve"),
        ("reserved", "review", "stock reserved, risk review"),
        ("reserved", "reject", "risk reject"),
        ("rejected", "approve", "stock rejected: out_of_stock"),
        ("rejected", "reject", "stock rejected: out_of_stock"),
    ],
)
def test_the_history_tells_why_without_risks_reasons(saga, stock, risk, reason):
    order_id = saga.create()["id"]
    saga.answer(order_id, stock, risk)
    assert saga.order(order_id)["history"][-1]["reason"] == reason
    assert saga.events("order.cancelled") == (
        [{"order_id": order_id, "reason": reason}] if "reject" in reason else []
    )


def test_an_order_inventory_did_not_answer_about_is_not_stored_and_is_placed_by_a_retry(saga):
    saga.down = True
    with pytest.raises(Unavailable):
        saga.place(key="k")
    [(order_id, *_)] = saga.reserved
    assert usecases.order_statuses(saga.db, [order_id]) == {"orders": {}}
    saga.down = False
    order = saga.place(key="k")  # the buyer asks again with the same key: the same order, reserved again
    assert (order["id"], order["status"]) == (order_id, "awaiting_payment")
    assert [reserved[0] for reserved in saga.reserved] == [order["id"]] * 2


def test_an_order_risk_did_not_answer_about_stays_pending_and_is_placed_by_a_retry(saga):
    saga.risk_down = True
    with pytest.raises(Unavailable):
        saga.place(key="k")
    [(order_id, *_)] = saga.reserved
    assert saga.status(order_id) == "pending"
    saga.risk_down = False
    order = saga.place(key="k")  # the buyer asks again with the same key
    assert (order["id"], order["status"]) == (order_id, "awaiting_payment")
    assert [reservation["order_id"] for reservation, _ in saga.asked] == [order["id"]]


def test_the_sweeper_places_orders_left_pending_and_leaves_young_ones_to_their_request(any_saga):
    saga = any_saga
    old = saga.create()["id"]
    young = saga.create(now=saga.NOW + domain.RETRY_PENDING_AFTER)["id"]
    done = saga.approved()["id"]
    asked = len(saga.asked)

    assert (
        usecases.complete_pending_orders(
            saga.db, saga.ask, saga.DEADLINES, now=saga.NOW + domain.RETRY_PENDING_AFTER
        )
        == 1
    )
    assert saga.status(old) == "awaiting_payment"
    assert saga.status(young) == "pending"
    assert saga.status(done) == "awaiting_payment"
    assert [reservation["order_id"] for reservation, _ in saga.asked[asked:]] == [old]


def test_the_sweeper_stops_while_a_service_is_down(saga):
    first, second = saga.create()["id"], saga.create()["id"]
    saga.down = True
    later = saga.NOW + domain.RETRY_PENDING_AFTER
    asked = len(saga.asked)
    assert usecases.complete_pending_orders(saga.db, saga.ask, saga.DEADLINES, now=later) == 0
    assert len(saga.asked) == asked + 1  # one try, not one per order
    assert saga.status(first) == saga.status(second) == "pending"


def test_answers_for_an_order_expired_meanwhile_change_nothing(saga):
    """Its expiry (order.expired) released whatever inventory held, before or after the answer."""
    order_id = saga.create()["id"]
    saga.expire(saga.NOW + datetime.timedelta(seconds=saga.TTL))
    saga.answer(order_id, "reserved", "approve")
    assert saga.status(order_id) == "expired"
    assert saga.event_types(order_id) == ["order.expired"]


def test_answers_after_payment_move_nothing(saga):
    order = saga.approved()
    saga.pay(order)
    saga.answer(order["id"], "rejected", "reject")
    assert saga.status(order["id"]) == "paid"
    assert saga.event_types(order["id"]) == ["order.paid"]
