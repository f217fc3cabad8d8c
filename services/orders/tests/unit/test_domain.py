"""The order's rules, without a database."""

import datetime
from types import SimpleNamespace

import pytest

from orders import domain
from orders.domain import (
    APPROVE,
    AWAITING_PAYMENT,
    CANCELLED,
    DELIVERED,
    EXPIRED,
    FAILED,
    ON_HOLD,
    PAID,
    PENDING,
    REFUNDED,
    REJECT,
    REVIEW,
    STOCK_PENDING,
    STOCK_REJECTED,
    STOCK_RESERVED,
)

ALLOWED = {
    (PENDING, AWAITING_PAYMENT),
    (PENDING, ON_HOLD),
    (PENDING, CANCELLED),
    (PENDING, EXPIRED),
    (ON_HOLD, AWAITING_PAYMENT),
    (ON_HOLD, CANCELLED),
    (AWAITING_PAYMENT, PAID),
    (AWAITING_PAYMENT, EXPIRED),
    (EXPIRED, PAID),
    (PAID, DELIVERED),
    (PAID, FAILED),
    (FAILED, REFUNDED),
}


def test_the_table_names_every_status_and_only_statuses():
    assert set(domain.TRANSITIONS) == set(domain.STATUSES)
    for targets in domain.TRANSITIONS.values():
        assert targets <= set(domain.STATUSES)


@pytest.mark.parametrize("current", domain.STATUSES)
@pytest.mark.parametrize("target", domain.STATUSES)
def test_exactly_the_listed_moves_are_allowed(current, target):
    allowed = (current, target) in ALLOWED
    assert domain.can_transition(current, target) is allowed
    if allowed:
        domain.check_transition(current, target)
    else:
        with pytest.raises(domain.IllegalTransition):
            domain.check_transition(current, target)


@pytest.mark.parametrize("final", [DELIVERED, CANCELLED, REFUNDED])
def test_final_statuses_go_nowhere(final):
    assert domain.TRANSITIONS[final] == frozenset()


def test_nothing_returns_to_pending_or_awaiting_payment_once_paid():
    reachable_from_paid = set()
    frontier = {PAID}
    while frontier:
        status = frontier.pop()
        for target in domain.TRANSITIONS[status]:
            if target not in reachable_from_paid:
                reachable_from_paid.add(target)
                frontier.add(target)
    assert reachable_from_paid == {DELIVERED, FAILED, REFUNDED}


@pytest.mark.parametrize(
    "stock, risk, expected",
    [
        (STOCK_RESERVED, APPROVE, AWAITING_PAYMENT),
        (STOCK_RESERVED, REVIEW, ON_HOLD),
        (STOCK_RESERVED, REJECT, CANCELLED),
        (STOCK_REJECTED, APPROVE, CANCELLED),
        (STOCK_REJECTED, REVIEW, CANCELLED),
        (STOCK_REJECTED, REJECT, CANCELLED),
    ],
)
def test_saga_step(stock, risk, expected):
    assert domain.saga_step(stock, risk) == expected


@pytest.mark.parametrize(
    "target, expected",
    [(AWAITING_PAYMENT, datetime.timedelta(seconds=900)), (ON_HOLD, datetime.timedelta(seconds=3600))],
)
def test_the_deadline_an_order_gets_for_payment_or_for_its_review(target, expected):
    now = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    deadlines = domain.Deadlines(payment_seconds=900, review_seconds=3600)
    assert domain.deadline_on_entering(target, now, deadlines) == now + expected
    assert domain.deadline_on_entering(CANCELLED, now, deadlines) is None


def order(**fields):
    defaults = dict(
        status=AWAITING_PAYMENT,
        total=20000,
        currency="CNY",
        payment_id=None,
        stock_status=STOCK_RESERVED,
        risk_decision=APPROVE,
        discount=0,
    )
    return SimpleNamespace(**{**defaults, **fields})


@pytest.mark.parametrize(
    "the_order, amount, currency, reason",
    [
        (order(), 20000, "CNY", None),
        (order(status=EXPIRED), 20000, "CNY", None),
        # its coupon's use went back when it expired
        (order(status=EXPIRED, discount=500), 20000, "CNY", domain.COUPON_GIVEN_BACK),
        (order(discount=500), 20000, "CNY", None),
        (order(), 19999, "CNY", domain.AMOUNT_MISMATCH),
        (order(), 20000, "USD", domain.AMOUNT_MISMATCH),
        (order(status=PAID, payment_id="p-1"), 20000, "CNY", domain.DUPLICATE_PAYMENT),
        (order(status=DELIVERED, payment_id="p-1"), 20000, "CNY", domain.DUPLICATE_PAYMENT),
        (order(status=FAILED, payment_id="p-1"), 20000, "CNY", domain.DUPLICATE_PAYMENT),
        (
            order(status=PENDING, stock_status=STOCK_PENDING, risk_decision=None),
            20000,
            "CNY",
            domain.ORDER_NOT_PAYABLE,
        ),
        (order(status=ON_HOLD, risk_decision=REVIEW), 20000, "CNY", domain.ORDER_NOT_PAYABLE),
        (order(status=CANCELLED, risk_decision=REJECT), 20000, "CNY", domain.ORDER_NOT_PAYABLE),
        # expired while still waiting for its answers: it was never offered for payment
        (
            order(status=EXPIRED, stock_status=STOCK_PENDING, risk_decision=None),
            20000,
            "CNY",
            domain.ORDER_NOT_PAYABLE,
        ),
    ],
)
def test_refund_reason(the_order, amount, currency, reason):
    assert domain.refund_reason(the_order, amount, currency) == reason


def test_payable_until_the_deadline():
    now = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    deadline = domain.payment_deadline(now, 900)
    assert deadline == now + datetime.timedelta(minutes=15)
    waiting = SimpleNamespace(status=AWAITING_PAYMENT, expires_at=deadline)
    assert domain.payable_now(waiting, now)
    assert not domain.payable_now(waiting, deadline)
    assert not domain.payable_now(SimpleNamespace(status=ON_HOLD, expires_at=None), now)


def test_order_total():
    assert (
        domain.order_total([{"quantity": 2, "unit_price": 10000}, {"quantity": 3, "unit_price": 4500}])
        == 33500
    )
