"""An order's life: its statuses, the moves allowed between them, and the saga's decisions.

Pure Python, no I/O. The use cases ask this module where an order goes; they
never decide it themselves.

The purchase saga, as orders sees it:

- a new order is stored ``pending``, then orders asks inventory to reserve it
  and risk to score it, both at once, and records both answers in one unit of
  work: both yes → ``awaiting_payment``; stock reserved and risk "review" →
  ``on_hold``; any no → ``cancelled``. An order whose answers did not come (a
  service down, orders stopped between asking and recording) stays ``pending``
  and is asked again (both answers are idempotent per order) until it is
  recorded, or ``expired`` past its payment deadline.
- ``on_hold`` waits for a reviewer (staff) to decide: approve →
  ``awaiting_payment`` with a fresh payment deadline, reject → ``cancelled``.
  Past its review deadline an undecided order is ``cancelled`` too. Each order
  is decided once: its decision is recorded and a second one refused.
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
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

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
# an order on hold that no reviewer decided before its deadline
REVIEW_TIMEOUT = "timeout"

# a review's outcome → where it takes the order on hold
REVIEW_OUTCOMES = {APPROVE: AWAITING_PAYMENT, REJECT: CANCELLED, REVIEW_TIMEOUT: CANCELLED}
# what a reviewer may decide (the timeout is the expiry sweep's)
REVIEWER_DECISIONS = (APPROVE, REJECT)


@dataclass(frozen=True)
class Deadlines:
    """Seconds an order may wait: for its payment (a new order also for its answers), and on hold for a reviewer;
    and how long customers keeps a coupon held, and inventory stock reserved, for an order it does not see
    stored (their sweeps' grace)."""

    payment_seconds: int
    review_seconds: int
    coupon_hold_seconds: float = 600
    reservation_seconds: float = 600


# why orders asks payments to give a payment back (order.refund_requested's reason)
AMOUNT_MISMATCH = "amount_mismatch"
DUPLICATE_PAYMENT = "duplicate_payment"
# one payment, two provider transactions: the same sum received twice
PAID_TWICE = "paid_twice"
ORDER_NOT_PAYABLE = "order_not_payable"
# a payment that came after its order expired, when the expiry gave the order's coupon use back
COUPON_GIVEN_BACK = "coupon_given_back"
SALE_FAILED = "sale_failed"

# the level of a buyer whose level never changed since they registered (customers' first level)
FIRST_LEVEL = "regular"

MAX_LINES = 50
MAX_QUANTITY = 1000


# names an order after its buyer and Idempotency-Key (uuid5): every attempt with the key is one order
ORDER_ID_NAMESPACE = uuid.UUID("6f1d3a52-8c0e-4b7a-9d2e-5a4c3b2e1f00")


def order_id_for(customer_id: str, idempotency_key: str) -> str:
    """The id of the order a customer's key makes: a retry after a lost answer asks the other services
    (a coupon's hold) for the same order, never for a second one that nobody stores."""
    return str(uuid.uuid5(ORDER_ID_NAMESPACE, f"{customer_id}\n{idempotency_key}"))


def request_hash(items: object, coupon_code: str | None, shop: str | None = None) -> str:
    """What an Idempotency-Key stands for: the SHA-256 of the order asked for, in a canonical form
    (an order through no shop hashes as it did before shops)."""
    asked: dict[str, object] = {"items": items, "coupon_code": coupon_code}
    if shop is not None:
        asked["shop"] = shop
    canonical = json.dumps(asked, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IllegalTransition(Exception):
    pass


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: str, target: str) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(f"an order cannot go from {current} to {target}")


def saga_step(stock_status: str, risk_decision: str) -> str:
    """Where inventory's and risk's answers take a pending order."""
    if stock_status == STOCK_REJECTED or risk_decision == REJECT:
        return CANCELLED
    return ON_HOLD if risk_decision == REVIEW else AWAITING_PAYMENT


def answers_reason(stock_status: str, stock_refusal: str | None, risk_decision: str) -> str:
    """The history's reason for the move the answers make: what refused the order, or both yeses (the
    buyer reads it: risk's reasons stay out)."""
    if stock_status == STOCK_REJECTED:
        return stock_refused_reason(stock_refusal)
    if risk_decision == REJECT:
        return f"risk {risk_decision}"
    return f"stock reserved, risk {risk_decision}"


def stock_refused_reason(stock_refusal: str | None) -> str:
    return f"stock rejected: {stock_refusal}"


def payment_deadline(now: datetime.datetime, ttl_seconds: float) -> datetime.datetime:
    return now + datetime.timedelta(seconds=ttl_seconds)


def deadline_on_entering(
    target: str, now: datetime.datetime, deadlines: Deadlines
) -> datetime.datetime | None:
    """The ``expires_at`` an order gets on entering ``target``: when it must be paid, or decided by a reviewer."""
    if target == AWAITING_PAYMENT:
        return payment_deadline(now, deadlines.payment_seconds)
    if target == ON_HOLD:
        return now + datetime.timedelta(seconds=deadlines.review_seconds)
    return None


# a pending order this old is no longer being placed by its own request (which takes milliseconds, or
# fails): the sweeper places it again. Should both ask at once, the answers are idempotent per order.
RETRY_PENDING_AFTER = datetime.timedelta(seconds=5)


def pending_cutoff(now: datetime.datetime, ttl_seconds: float) -> datetime.datetime:
    """Orders created before this and still waiting for stock or risk are given up."""
    return now - datetime.timedelta(seconds=ttl_seconds)


class SagaState(Protocol):
    """What the saga knows of an order (a row of ``orders``)."""

    @property
    def status(self) -> str: ...
    @property
    def stock_status(self) -> str: ...
    @property
    def risk_decision(self) -> str | None: ...


class PaymentTarget(SagaState, Protocol):
    """An order a payment is for (a row of ``orders``)."""

    @property
    def total(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def payment_id(self) -> str | None: ...
    @property
    def discount(self) -> int: ...


class Payable(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def expires_at(self) -> datetime.datetime: ...


def was_approved(order: SagaState) -> bool:
    return order.stock_status == STOCK_RESERVED and order.risk_decision == APPROVE


def refund_reason(order: PaymentTarget, amount: int, currency: str) -> str | None:
    """Why a payment of ``amount`` ``currency`` must go back instead of paying ``order``; None if it pays it."""
    if amount != order.total or currency != order.currency:
        return AMOUNT_MISMATCH
    if order.payment_id is not None:
        return DUPLICATE_PAYMENT
    if order.status == AWAITING_PAYMENT:
        return None
    if order.status == EXPIRED and was_approved(order):
        # its coupon's use went back with the expiry, maybe to another buyer: the price no longer holds
        return COUPON_GIVEN_BACK if order.discount else None
    return ORDER_NOT_PAYABLE


def payable_now(order: Payable, now: datetime.datetime) -> bool:
    """Whether the buyer may start a payment: approved, and not yet past its deadline."""
    return order.status == AWAITING_PAYMENT and now < order.expires_at


def order_total(lines: Iterable[Mapping[str, int]]) -> int:
    return sum(line["quantity"] * line["unit_price"] for line in lines)
