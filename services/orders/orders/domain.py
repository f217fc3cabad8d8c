"""An order's life: its statuses, the moves allowed between them, and the saga's decisions.

Pure Python, no I/O. The use cases ask this module where an order goes; they
never decide it themselves.

The purchase saga, as orders sees it:

- a new order is ``pending`` until inventory (``stock.reserved`` /
  ``stock.rejected``) and risk (``risk.assessed``) have answered, in either
  order: both yes → ``awaiting_payment``; stock reserved and risk "review" →
  ``on_hold`` until a human approves or rejects; any no → ``cancelled``.
- ``awaiting_payment`` ends ``paid`` or, past its deadline, ``expired``. A
  payment that arrives after expiry still pays the order (inventory then
  re-reserves, or answers ``stock.sale_failed``).
- ``paid`` ends ``delivered`` when inventory hands over the cards, or
  ``failed`` when inventory cannot sell them: orders then asks payments for a
  refund, and the order is ``refunded`` once payments confirms it. ``failed``
  is that waiting state, so an order stuck between sale and refund is visible.
- A payment that cannot pay its order (wrong amount, order already paid, order
  never approved for payment) is refunded and leaves the order as it is.

Nothing moves an ``awaiting_payment`` order to ``cancelled``: the buyer has no
cancel command, and risk's and inventory's answers are final by then. So a
cancelled order never had a payment intent, and a payment for it is refunded
rather than resurrecting an order that risk or inventory turned down.
"""

import datetime

PENDING = "pending"
AWAITING_PAYMENT = "awaiting_payment"
ON_HOLD = "on_hold"
PAID = "paid"
DELIVERED = "delivered"
CANCELLED = "cancelled"
EXPIRED = "expired"
REFUNDED = "refunded"
FAILED = "failed"

STATUSES = (PENDING, AWAITING_PAYMENT, ON_HOLD, PAID, DELIVERED, CANCELLED, EXPIRED, REFUNDED, FAILED)

# the one table of allowed moves; every status change goes through check_transition
TRANSITIONS = {
    PENDING: frozenset({AWAITING_PAYMENT, ON_HOLD, CANCELLED, EXPIRED}),
    ON_HOLD: frozenset({AWAITING_PAYMENT, CANCELLED}),
    AWAITING_PAYMENT: frozenset({PAID, EXPIRED}),
    EXPIRED: frozenset({PAID}),  # a late payment
    PAID: frozenset({DELIVERED, FAILED}),
    FAILED: frozenset({REFUNDED}),  # the sale failed; refunded once payments confirms
    DELIVERED: frozenset(),
    CANCELLED: frozenset(),
    REFUNDED: frozenset(),
}

STOCK_PENDING = "pending"
STOCK_RESERVED = "reserved"
STOCK_REJECTED = "rejected"

APPROVE = "approve"
REVIEW = "review"
REJECT = "reject"

# why orders asks payments to give a payment back (order.refund_requested's reason)
AMOUNT_MISMATCH = "amount_mismatch"
DUPLICATE_PAYMENT = "duplicate_payment"
# one payment, two provider transactions: the same sum received twice
PAID_TWICE = "paid_twice"
ORDER_NOT_PAYABLE = "order_not_payable"
SALE_FAILED = "sale_failed"

MAX_LINES = 50
MAX_QUANTITY = 1000


class IllegalTransition(Exception):
    pass


def can_transition(current, target):
    return target in TRANSITIONS[current]


def check_transition(current, target):
    if not can_transition(current, target):
        raise IllegalTransition(f"an order cannot go from {current} to {target}")


def stock_answer_applies(stock_status):
    """Inventory answers once per order; a replay, even with a new event id, changes nothing."""
    return stock_status == STOCK_PENDING


def risk_answer_applies(current_decision, new_decision):
    """Risk decides once, except that a human turns a "review" into approve or reject."""
    if current_decision is None:
        return True
    return current_decision == REVIEW and new_decision != REVIEW


def saga_step(status, stock_status, risk_decision):
    """Where the stock and risk answers so far take an order waiting for them; None to stay."""
    if status not in (PENDING, ON_HOLD):
        return None
    if stock_status == STOCK_REJECTED or risk_decision == REJECT:
        return CANCELLED
    if stock_status != STOCK_RESERVED:
        return None
    if risk_decision == APPROVE:
        return AWAITING_PAYMENT
    if risk_decision == REVIEW and status == PENDING:
        return ON_HOLD
    return None


def reservation_came_too_late(status):
    """A reservation for an order already closed unpaid holds cards nobody will buy: release it."""
    return status in (CANCELLED, EXPIRED)


def payment_deadline(now, ttl_seconds):
    return now + datetime.timedelta(seconds=ttl_seconds)


def pending_cutoff(now, ttl_seconds):
    """Orders created before this and still waiting for stock or risk are given up."""
    return now - datetime.timedelta(seconds=ttl_seconds)


def was_approved(order):
    return order.stock_status == STOCK_RESERVED and order.risk_decision == APPROVE


def refund_reason(order, amount, currency):
    """Why a payment of ``amount`` ``currency`` must go back instead of paying ``order``; None if it pays it.

    ``order`` has ``status``, ``total``, ``currency``, ``payment_id``,
    ``stock_status`` and ``risk_decision``.
    """
    if amount != order.total or currency != order.currency:
        return AMOUNT_MISMATCH
    if order.payment_id is not None:
        return DUPLICATE_PAYMENT
    if order.status == AWAITING_PAYMENT:
        return None
    if order.status == EXPIRED and was_approved(order):
        return None
    return ORDER_NOT_PAYABLE


def payable_now(order, now):
    """Whether the buyer may start a payment: approved, and not yet past its deadline."""
    return order.status == AWAITING_PAYMENT and now < order.expires_at


def order_total(lines):
    return sum(line["quantity"] * line["unit_price"] for line in lines)
