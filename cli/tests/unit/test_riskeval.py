"""How `kameng risk evaluate` counts: detection per attack run, false positives per normal order."""

from kameng_cli import riskeval
from kameng_cli.riskeval import Outcome


def test_an_attack_run_is_caught_by_a_held_or_refused_order_and_normal_orders_count_one_by_one():
    # lapsed: orders that expired before the generator paid them, reported beside the rates
    outcomes = [
        Outcome("normal", 0, orders=3),
        Outcome("normal", 1, orders=96, held=1, lapsed=2),
        *[Outcome("card_testing", number, orders=4, held=1) for number in range(19)],
        Outcome("card_testing", 19, orders=9),
        *[Outcome(attack, 0, orders=2, refused=1) for attack in riskeval.ATTACKS[1:]],
        Outcome("refund_abuse", 1, errors=["GET /api/v1/orders/x → 503"]),
    ]

    summary = riskeval.summarise(outcomes)

    assert list(summary) == list(riskeval.SCENARIOS)
    assert summary["normal"] == {
        "runs": 2,
        "errors": 0,
        "orders": 99,
        "held": 1,
        "refused": 0,
        "lapsed": 2,
        "false_positive_rate": 0.0101,
        "meets_target": False,
    }
    card_testing = summary["card_testing"]
    assert (card_testing["caught"], card_testing["detection_rate"], card_testing["meets_target"]) == (
        19,
        0.95,
        True,
    )
    # a run that failed is not counted as missed, but it is reported
    refunds = summary["refund_abuse"]
    assert (refunds["runs"], refunds["errors"], refunds["caught"], refunds["detection_rate"]) == (
        2,
        1,
        1,
        1.0,
    )
    table = riskeval.render(
        {"database": "sqlite", "seed": 1, "seconds": 1.0, "scenarios": summary, "errors": []}
    )
    assert "card_testing" in table and "95.0 %" in table and "MISSED" in table
