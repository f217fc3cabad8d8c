"""The rules table, rule by rule, on facts alone."""

import dataclasses

import pytest

from risk import domain
from risk.domain import OrderFacts, Thresholds

DEFAULTS = Thresholds()


def assess(thresholds=DEFAULTS, total=10_000, **facts):
    # an account of a week, unless a test says otherwise
    facts.setdefault("account_age_seconds", 7 * 86_400)
    return domain.assess(OrderFacts(total=total, **facts), thresholds)


def test_the_defaults_are_the_documented_ones():
    assert dataclasses.asdict(DEFAULTS) == {
        "review_amount": 500_000,
        "reject_amount": 5_000_000,
        "velocity_review": 20,
        "velocity_reject": 60,
        "velocity_window_seconds": 600,
        "max_unpaid_orders": 5,
        "max_unpaid_units_per_product": 10,
        "new_account_seconds": 86_400,
        "new_account_review_amount": 100_000,
        "card_testing_review": 2,
        "card_testing_reject": 5,
        "card_testing_window_seconds": 3_600,
        "refund_review": 2,
        "refund_reject": 5,
        "refund_window_seconds": 86_400,
        "signin_window_seconds": 3_600,
        "signin_review_amount": 20_000,
    }


def test_an_ordinary_order_is_approved_with_no_reasons():
    assert assess() == domain.Assessment("approve", 0, (), ())


# each rule: (facts, expected decision or None, the reason's start)
CASES = {
    "amount": [
        ({"total": 500_000}, None),
        ({"total": 500_001}, "review"),
        ({"total": 5_000_000}, "review"),
        ({"total": 5_000_001}, "reject"),
    ],
    "velocity": [
        ({"recent_orders": 20}, None),
        ({"recent_orders": 21}, "review"),
        ({"recent_orders": 60}, "review"),
        ({"recent_orders": 61}, "reject"),
    ],
    "blacklisted": [
        ({"blacklisted": ()}, None),
        ({"blacklisted": (("ip", "203.0.113.9"),)}, "reject"),
        ({"blacklisted": (("account", "c1"), ("device", "d1"))}, "reject"),
    ],
    "unpaid_orders": [
        ({"unpaid_orders": 5}, None),
        ({"unpaid_orders": 6}, "reject"),
    ],
    "unpaid_units": [
        ({"most_unpaid_units": (7, 10)}, None),
        ({"most_unpaid_units": (7, 11)}, "reject"),
    ],
    "new_account": [
        ({"account_age_seconds": 3_600, "total": 100_000}, None),
        ({"account_age_seconds": 3_600, "total": 100_001}, "review"),
        ({"account_age_seconds": None, "total": 100_001}, "review"),
        ({"account_age_seconds": 86_400, "total": 100_001}, None),
    ],
    "card_testing": [
        ({"abandoned_payments": 1}, None),
        ({"abandoned_payments": 2}, "review"),
        ({"abandoned_payments": 4}, "review"),
        ({"abandoned_payments": 5}, "reject"),
    ],
    "refund_abuse": [
        ({"refund_requests": 1}, None),
        ({"refund_requests": 2}, "review"),
        ({"refund_requests": 5}, "reject"),
    ],
    "signin_anomaly": [
        ({"new_network_signin_seconds_ago": 60, "total": 20_000}, None),
        ({"new_network_signin_seconds_ago": 60, "total": 20_001}, "review"),
        ({"new_network_signin_seconds_ago": 3_600, "total": 20_001}, "review"),
        ({"new_network_signin_seconds_ago": 3_601, "total": 20_001}, None),
        ({"new_network_signin_seconds_ago": None, "total": 20_001}, None),
    ],
}


@pytest.mark.parametrize(
    "rule, facts, decision",
    [(rule, facts, decision) for rule, cases in CASES.items() for facts, decision in cases],
    ids=[f"{rule}-{n}" for rule, cases in CASES.items() for n in range(len(cases))],
)
def test_each_rule_draws_its_line_and_explains_itself(rule, facts, decision):
    assessment = assess(**facts)
    fired = dict(assessment.hits)
    assert fired.get(rule) == decision
    if decision:
        [reason] = [reason for reason in assessment.reasons if reason.startswith(f"{rule}:")]
        assert reason.startswith(f"{rule}:{decision}: ") and len(reason) > len(f"{rule}:{decision}: ")


def test_every_rule_is_in_the_table_and_tested():
    assert set(domain.RULE_NAMES) == set(CASES)


def test_the_explanations_say_what_was_found():
    assert assess(total=600_000).reasons == ("amount:review: total 600000 fen is over 500000",)
    assert assess(blacklisted=(("ip", "203.0.113.9"),)).reasons == (
        "blacklisted:reject: blacklisted ip 203.0.113.9",
    )
    assert assess(most_unpaid_units=(7, 12)).reasons == (
        "unpaid_units:reject: 12 unpaid units of product 7, more than 10",
    )


def test_the_most_severe_rule_decides_and_every_rule_that_fired_is_a_reason():
    assessment = assess(total=600_000, recent_orders=61)

    assert assessment.decision == "reject"
    assert assessment.hits == (("amount", "review"), ("velocity", "reject"))
    assert [reason.split(": ")[0] for reason in assessment.reasons] == ["amount:review", "velocity:reject"]
    assert assessment.score == domain.MAX_SCORE


def test_the_score_adds_up_to_a_cap():
    assert assess(total=600_000).score == 50
    assert assess(total=600_000, recent_orders=21).score == 100
    assert assess(total=6_000_000, recent_orders=61, blacklisted=(("account", "c1"),)).score == 100


def test_thresholds_come_from_arguments():
    lenient = Thresholds(velocity_review=10_000, velocity_reject=20_000)

    assert assess(lenient, recent_orders=5_000).decision == "approve"


@pytest.mark.parametrize(
    "settings",
    [
        {"review_amount": 0},
        {"velocity_window_seconds": -1},
        {"max_unpaid_orders": 0},
        {"review_amount": 10, "reject_amount": 5},
        {"velocity_review": 70, "velocity_reject": 60},
        {"card_testing_review": 6, "card_testing_reject": 5},
        {"refund_review": 6, "refund_reject": 5},
    ],
)
def test_nonsense_thresholds_are_refused(settings):
    with pytest.raises(ValueError):
        Thresholds(**settings)
