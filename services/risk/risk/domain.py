"""How an order is scored: a table of rules over the facts of the order. Pure Python, no I/O."""

from dataclasses import dataclass

APPROVE = "approve"
REVIEW = "review"
REJECT = "reject"
DECISIONS = (APPROVE, REVIEW, REJECT)  # least severe first

# what a rule that calls for a decision adds to the score; the score is capped
POINTS = {REVIEW: 50, REJECT: 100}
MAX_SCORE = 100


@dataclass(frozen=True)
class Thresholds:
    """Where the rules draw their lines; every one comes from config (and its environment variable)."""

    review_amount: int = 500_000  # fen
    reject_amount: int = 5_000_000  # fen
    velocity_review: int = 20  # orders of one customer in the window
    velocity_reject: int = 60
    velocity_window_seconds: int = 60

    def __post_init__(self):
        if any(value < 1 for value in vars(self).values()):
            raise ValueError(f"risk thresholds must be positive: {self}")
        if self.review_amount > self.reject_amount or self.velocity_review > self.velocity_reject:
            raise ValueError(f"a review threshold must not exceed its reject threshold: {self}")


@dataclass(frozen=True)
class OrderFacts:
    total: int  # fen
    # the customer's orders created within the velocity window up to this one, this one included
    recent_orders: int
    blacklisted: bool


@dataclass(frozen=True)
class Assessment:
    decision: str
    score: int
    reasons: tuple


def _over(value, reject_at, review_at):
    if value > reject_at:
        return REJECT
    if value > review_at:
        return REVIEW
    return None


def _blacklisted(facts, _thresholds):
    return REJECT if facts.blacklisted else None


def _amount(facts, thresholds):
    return _over(facts.total, thresholds.reject_amount, thresholds.review_amount)


def _velocity(facts, thresholds):
    return _over(facts.recent_orders, thresholds.velocity_reject, thresholds.velocity_review)


# (reason prefix, rule): a rule names the decision it calls for, or None when the order passes it
RULES = (
    ("blacklisted", _blacklisted),
    ("amount", _amount),
    ("velocity", _velocity),
)


def assess(facts, thresholds, rules=RULES):
    """The most severe decision any rule calls for, the summed score, and a reason per rule that fired."""
    hits = [(name, decision) for name, rule in rules if (decision := rule(facts, thresholds))]
    decision = max((decision for _, decision in hits), key=DECISIONS.index, default=APPROVE)
    score = min(MAX_SCORE, sum(POINTS[decision] for _, decision in hits))
    return Assessment(decision, score, tuple(f"{name}:{decision}" for name, decision in hits))
