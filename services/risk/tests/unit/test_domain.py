import pytest

from risk import domain
from risk.domain import OrderFacts, Thresholds

DEFAULTS = Thresholds()


def assess(total=10_000, recent_orders=1, blacklisted=False, thresholds=DEFAULTS):
    return domain.assess(OrderFacts(total, recent_orders, blacklisted), thresholds)


def test_the_defaults_are_the_documented_ones():
    assert (
        Thresholds(
            review_amount=500_000,
            reject_amount=5_000_000,
            velocity_review=20,
            velocity_reject=60,
            velocity_window_seconds=60,
        )
        == DEFAULTS
    )


def test_an_ordinary_order_is_approved_with_no_reasons():
    assert assess() == domain.Assessment("approve", 0, ())


@pytest.mark.parametrize(
    "total, decision",
    [
        (500_000, "approve"),
        (500_001, "review"),
        (5_000_000, "review"),
        (5_000_001, "reject"),
    ],
)
def test_amount_thresholds(total, decision):
    assert assess(total=total).decision == decision


@pytest.mark.parametrize(
    "recent_orders, decision",
    [
        (20, "approve"),
        (21, "review"),
        (60, "review"),
        (61, "reject"),
    ],
)
def test_velocity_thresholds(recent_orders, decision):
    assert assess(recent_orders=recent_orders).decision == decision


def test_a_blacklisted_customer_is_rejected():
    assert assess(blacklisted=True) == domain.Assessment("reject", 100, ("blacklisted:reject",))


def test_the_most_severe_rule_decides_and_every_rule_that_fired_is_a_reason():
    assessment = assess(total=600_000, recent_orders=61)

    assert assessment.decision == "reject"
    assert assessment.reasons == ("amount:review", "velocity:reject")
    assert assessment.score == domain.MAX_SCORE


def test_the_score_adds_up_to_a_cap():
    assert assess(total=600_000).score == 50
    assert assess(total=600_000, recent_orders=21).score == 100
    assert assess(total=6_000_000, recent_orders=61, blacklisted=True).score == 100


def test_thresholds_come_from_arguments():
    lenient = Thresholds(velocity_review=10_000, velocity_reject=20_000)

    assert assess(recent_orders=5_000, thresholds=lenient).decision == "approve"


@pytest.mark.parametrize(
    "settings",
    [
        {"review_amount": 0},
        {"velocity_window_seconds": -1},
        {"review_amount": 10, "reject_amount": 5},
        {"velocity_review": 70, "velocity_reject": 60},
    ],
)
def test_nonsense_thresholds_are_refused(settings):
    with pytest.raises(ValueError):
        Thresholds(**settings)
