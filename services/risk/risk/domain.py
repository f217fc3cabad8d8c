"""How an order is scored: a table of rules over the facts of the order. Pure Python, no I/O.

Each rule looks at the facts risk gathered for one order (its own, its
customer's recent history, the blacklist) and either passes the order or calls
for a decision with an explanation; the order gets the most severe decision
any rule calls for, and every explanation as a reason. A new rule is a
function and one row of ``RULES``, with its settings in ``Thresholds``.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

APPROVE = "approve"
REVIEW = "review"
REJECT = "reject"
DECISIONS = (APPROVE, REVIEW, REJECT)  # least severe first

# what a rule that calls for a decision adds to the score; the score is capped
POINTS = {REVIEW: 50, REJECT: 100}
MAX_SCORE = 100

BLACKLIST_KINDS = ("account", "ip", "device")


@dataclass(frozen=True)
class Thresholds:
    """Where the rules draw their lines; every one comes from config (and its environment variable).

    Amounts are in fen, windows in seconds; a count "over" its threshold calls for the decision.
    """

    review_amount: int = 500_000
    reject_amount: int = 5_000_000
    # the customer's orders in the window, this one included
    velocity_review: int = 20
    velocity_reject: int = 60
    velocity_window_seconds: int = 600
    # orders not yet paid, cancelled or expired, this one included; over it the order is rejected
    max_unpaid_orders: int = 5
    # units of one product in those orders; over it the order is rejected
    max_unpaid_units_per_product: int = 10
    # an account younger than this buying for more than the amount is reviewed
    new_account_seconds: int = 86_400
    new_account_review_amount: int = 100_000
    # orders of the customer left unpaid until they expired (abandoned payments) in the window:
    # this many or more calls for the decision
    card_testing_review: int = 2
    card_testing_reject: int = 5
    card_testing_window_seconds: int = 3_600
    # refunds asked for the customer's orders in the window: this many or more calls for the decision
    refund_review: int = 2
    refund_reject: int = 5
    refund_window_seconds: int = 86_400
    # a sign-in from a network the customer never used before, this long before an order over the amount
    signin_window_seconds: int = 3_600
    signin_review_amount: int = 20_000

    def __post_init__(self) -> None:
        if any(getattr(self, each.name) < 1 for each in fields(self)):
            raise ValueError(f"risk thresholds must be positive: {self}")
        for review, reject in (
            ("review_amount", "reject_amount"),
            ("velocity_review", "velocity_reject"),
            ("card_testing_review", "card_testing_reject"),
            ("refund_review", "refund_reject"),
        ):
            if getattr(self, review) > getattr(self, reject):
                raise ValueError(f"{review} must not exceed {reject}: {self}")


@dataclass(frozen=True)
class OrderFacts:
    """What risk knows when it scores an order; counts include the order itself where it says so."""

    total: int  # fen
    # the customer's orders created within the velocity window up to this one, this one included
    recent_orders: int = 1
    # the blacklist entries that match the order: (kind, value) each
    blacklisted: tuple[tuple[str, str], ...] = ()
    # the customer's orders not yet paid or closed, this one included
    unpaid_orders: int = 1
    # the most units of one product in those orders, this one's included: (product_id, units)
    most_unpaid_units: tuple[int, int] = (0, 0)
    # seconds since the account was registered; None when risk has not heard of the account yet
    account_age_seconds: float | None = None
    abandoned_payments: int = 0
    refund_requests: int = 0
    # seconds since the customer signed in from a network it had never used; None if it never did
    new_network_signin_seconds_ago: float | None = None
    # seconds since the customer's password was changed within the sign-in window after a sign-in
    # from a network it had never used; None if it was not
    password_changed_after_new_network_seconds_ago: float | None = None


# what a rule answers when it fires: (decision, explanation)
Verdict = tuple[str, str]
Rule = Callable[[OrderFacts, Thresholds], Verdict | None]


@dataclass(frozen=True)
class Assessment:
    decision: str
    score: int
    reasons: tuple[str, ...]
    # the names of the rules that fired, each with its decision: ((rule, decision), ...)
    hits: tuple[tuple[str, str], ...] = ()


def _over(value: float, reject_at: float, review_at: float) -> str | None:
    if value > reject_at:
        return REJECT
    if value > review_at:
        return REVIEW
    return None


def _blacklisted(facts: OrderFacts, _thresholds: Thresholds) -> Verdict | None:
    if facts.blacklisted:
        matched = ", ".join(f"{kind} {value}" for kind, value in facts.blacklisted)
        return REJECT, f"blacklisted {matched}"
    return None


def _amount(facts: OrderFacts, thresholds: Thresholds) -> Verdict | None:
    decision = _over(facts.total, thresholds.reject_amount, thresholds.review_amount)
    if decision is None:
        return None
    line = thresholds.reject_amount if decision == REJECT else thresholds.review_amount
    return decision, f"total {facts.total} fen is over {line}"


def _velocity(facts: OrderFacts, thresholds: Thresholds) -> Verdict | None:
    decision = _over(facts.recent_orders, thresholds.velocity_reject, thresholds.velocity_review)
    if decision is None:
        return None
    line = thresholds.velocity_reject if decision == REJECT else thresholds.velocity_review
    return decision, (
        f"{facts.recent_orders} orders in {thresholds.velocity_window_seconds} s, more than {line}"
    )


def _unpaid_orders(facts: OrderFacts, thresholds: Thresholds) -> Verdict | None:
    if facts.unpaid_orders > thresholds.max_unpaid_orders:
        return (
            REJECT,
            f"{facts.unpaid_orders} unpaid orders at once, more than {thresholds.max_unpaid_orders}",
        )
    return None


def _unpaid_units(facts: OrderFacts, thresholds: Thresholds) -> Verdict | None:
    product_id, units = facts.most_unpaid_units
    if units > thresholds.max_unpaid_units_per_product:
        return REJECT, (
            f"{units} unpaid units of product {product_id}, more than "
            f"{thresholds.max_unpaid_units_per_product}"
        )
    return None


def _new_account(facts: OrderFacts, thresholds: Thresholds) -> Verdict | None:
    # an account risk has not heard of yet is as new as they come
    age = facts.account_age_seconds
    if (
        age is None or age < thresholds.new_account_seconds
    ) and facts.total > thresholds.new_account_review_amount:
        how_old = "not seen yet" if age is None else f"{int(age)} s old"
        return (
            REVIEW,
            f"account {how_old} buys {facts.total} fen, over {thresholds.new_account_review_amount}",
        )
    return None


def _card_testing(facts: OrderFacts, thresholds: Thresholds) -> Verdict | None:
    decision = _over(
        facts.abandoned_payments, thresholds.card_testing_reject - 1, thresholds.card_testing_review - 1
    )
    if decision is None:
        return None
    return decision, (
        f"{facts.abandoned_payments} orders left unpaid in {thresholds.card_testing_window_seconds} s"
    )


def _refund_abuse(facts: OrderFacts, thresholds: Thresholds) -> Verdict | None:
    decision = _over(facts.refund_requests, thresholds.refund_reject - 1, thresholds.refund_review - 1)
    if decision is None:
        return None
    return decision, f"{facts.refund_requests} refunds asked in {thresholds.refund_window_seconds} s"


def _signin_anomaly(facts: OrderFacts, thresholds: Thresholds) -> Verdict | None:
    changed = facts.password_changed_after_new_network_seconds_ago
    if changed is not None and changed <= thresholds.signin_window_seconds:
        # whoever signed in from elsewhere and changed the password may have locked the owner out: any amount
        return REVIEW, (
            f"password changed right after a sign-in from a new network, {int(changed)} s before this order"
        )
    ago = facts.new_network_signin_seconds_ago
    if (
        ago is not None
        and ago <= thresholds.signin_window_seconds
        and facts.total > thresholds.signin_review_amount
    ):
        return REVIEW, (
            f"signed in from a new network {int(ago)} s before buying {facts.total} fen, "
            f"over {thresholds.signin_review_amount}"
        )
    return None


# (rule name, rule): a rule answers (decision, explanation) when it fires, None when the order passes it
RULES: tuple[tuple[str, Rule], ...] = (
    ("blacklisted", _blacklisted),
    ("amount", _amount),
    ("velocity", _velocity),
    ("unpaid_orders", _unpaid_orders),
    ("unpaid_units", _unpaid_units),
    ("new_account", _new_account),
    ("card_testing", _card_testing),
    ("refund_abuse", _refund_abuse),
    ("signin_anomaly", _signin_anomaly),
)
RULE_NAMES = tuple(name for name, _rule in RULES)


def assess(
    facts: OrderFacts, thresholds: Thresholds, rules: Sequence[tuple[str, Rule]] = RULES
) -> Assessment:
    """The most severe decision any rule calls for, the summed score, and a reason per rule that fired.

    A reason reads ``rule:decision: explanation``.
    """
    hits = [(name, *verdict) for name, rule in rules if (verdict := rule(facts, thresholds))]
    decision = max((decision for _, decision, _ in hits), key=DECISIONS.index, default=APPROVE)
    score = min(MAX_SCORE, sum(POINTS[decision] for _, decision, _ in hits))
    return Assessment(
        decision,
        score,
        tuple(f"{name}:{decision}: {explanation}" for name, decision, explanation in hits),
        tuple((name, decision) for name, decision, _ in hits),
    )
