"""run.py's verdicts and comparisons: what decides the figures and the ok/not ok of a committed run."""

import argparse
from types import SimpleNamespace

import pytest
import run
import stage

from kameng_cli import audit


def purchase(order_id, *numbers, amount=900):
    return SimpleNamespace(order_id=order_id, cards=[{"number": number} for number in numbers], amount=amount)


# --replicas


def test_replicas_auto_and_none():
    assert run.parse_replicas("auto") == "auto"
    assert run.parse_replicas("none") is None


def test_replicas_by_service():
    assert run.parse_replicas("orders=2,inventory=3") == {"orders": 2, "inventory": 3}


@pytest.mark.parametrize("text", ["orders", "orders=", "orders=0", "orders=-1", "orders=two", "nope=2", ""])
def test_replicas_refuses_bad_input(text):
    with pytest.raises(argparse.ArgumentTypeError):
        run.parse_replicas(text)


# the command line


def test_arguments_by_default():
    args = run.parse_args([])
    assert args.databases == ["sqlite", "postgresql"]
    assert args.configurations == ["plain", "marketing"]
    assert args.replicas == "auto"
    assert args.baseline == run.DEFAULT_BASELINE


def test_arguments_trim_lists():
    args = run.parse_args(
        ["--databases", " postgresql , ", "--configurations", "marketing", "--replicas", "orders=2"]
    )
    assert args.databases == ["postgresql"]
    assert args.configurations == ["marketing"]
    assert args.replicas == {"orders": 2}


@pytest.mark.parametrize(
    "argv",
    [
        ["--databases", "sqlite,mysql"],
        ["--databases", ","],
        ["--configurations", "plain,fancy"],
        ["--configurations", ","],
        ["--replicas", "orders=0"],
    ],
)
def test_arguments_refuse_unknown_names(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        run.parse_args(argv)
    assert exited.value.code == 2
    assert "error" in capsys.readouterr().err


# the buyers' own audit


def test_buyers_verdict_all_well():
    purchases = [purchase("o1", "A"), purchase("o2", "B"), purchase("o3")]  # o3 failed before its cards
    verdict = run.buyers_verdict(purchases, {}, stock_left=7, cards_imported=10)
    assert verdict["ok"] is True
    assert (verdict["oversold"], verdict["lost"]) == (0, 0)
    assert verdict["cards_delivered"] == 2
    # ten imported, two delivered, seven in stock: one held by an order that failed before paying
    assert verdict["cards_unaccounted"] == 1
    assert verdict["verdict"] == "0 oversold, 0 lost (buyers' view)"


def test_a_card_held_by_two_orders_is_oversold():
    purchases = [purchase("o1", "A"), purchase("o2", "A"), purchase("o3", "A"), purchase("o4", "B")]
    verdict = run.buyers_verdict(purchases, {}, stock_left=0, cards_imported=4)
    assert verdict["oversold"] == 2  # three orders on one card: two too many
    assert verdict["ok"] is False
    assert verdict["verdict"].startswith("2 oversold, 0 lost")


def test_an_order_with_two_cards_for_one_is_oversold():
    verdict = run.buyers_verdict([purchase("o1", "A", "B")], {}, stock_left=0, cards_imported=2)
    assert verdict["oversold"] == 1
    assert verdict["cards_delivered"] == 2


def test_a_paid_order_neither_delivered_nor_refunded_is_lost():
    settled = {"o1": "delivered", "o2": "refunded", "o3": "paid", "o4": "failed"}
    verdict = run.buyers_verdict([], settled, stock_left=5, cards_imported=5)
    assert verdict["lost"] == 2
    assert verdict["ok"] is False
    assert verdict["cards_unaccounted"] == 0


# the agents' commissions


def test_commissions_round_down_per_order_per_agent():
    # 999 fen at 10 % is 99.9: 99 credited on each order, not 199 on the two together
    assert run.expected_commissions([999, 999], [1000]) == [198]
    assert run.expected_commissions([900, 1999], [1000, 500, 250]) == [90 + 199, 45 + 99, 22 + 49]
    assert run.expected_commissions([], [1000, 500]) == [0, 0]


def test_commissions_verdict():
    marketing = stage.Marketing("BENCHX", (1000, 500, 250), [("a", "t1"), ("b", "t2"), ("c", "t3")])
    verdict = run.commissions_verdict(marketing, [900, 900], [180, 90, 44])
    assert verdict == {
        "coupon_code": "BENCHX",
        "commission_rates_bp": [1000, 500, 250],
        "orders_delivered": 2,
        "commissions_expected": [180, 90, 44],
        "commissions_credited": [180, 90, 44],
        "ok": True,
    }
    assert run.commissions_verdict(marketing, [900, 900], [180, 90, 45])["ok"] is False


def test_await_commissions_asks_until_the_agents_hold_their_share(monkeypatch):
    marketing = stage.Marketing("BENCHX", (1000,), [("a", "token-a")])
    answers = iter([[0], [45], [90]])
    asked = []

    async def credited(gateway_url, tokens):
        asked.append(tokens)
        return next(answers)

    monkeypatch.setattr(run.load, "commissions_credited", credited)
    monkeypatch.setattr(run.time, "sleep", lambda _seconds: None)
    verdict = run.await_commissions("http://gateway", marketing, [900], timeout=60)
    assert verdict["ok"] is True
    assert asked == [["token-a"]] * 3


def test_await_commissions_gives_up_with_the_last_figures(monkeypatch):
    marketing = stage.Marketing("BENCHX", (1000,), [("a", "token-a")])

    async def credited(gateway_url, tokens):
        return [1]

    monkeypatch.setattr(run.load, "commissions_credited", credited)
    verdict = run.await_commissions("http://gateway", marketing, [900], timeout=-1)
    assert verdict["ok"] is False
    assert verdict["commissions_credited"] == [1]
    assert verdict["commissions_expected"] == [90]


# kameng audit's verdict


def test_audit_verdict_counts_violations_by_kind(monkeypatch):
    violations = [
        audit.Violation("oversold", "card 1", "two orders"),
        audit.Violation("lost", "order 2", "paid, never delivered"),
        audit.Violation("oversold", "card 3", "two orders"),
    ]
    report = SimpleNamespace(ok=False, counts={"orders": {}}, violations=violations)
    monkeypatch.setattr(audit, "audit", lambda amqp_uri: report)
    verdict = run.audit_verdict("amqp://")
    assert verdict["ok"] is False
    assert verdict["verdict"] == "3 violations: oversold 2, lost 1"
    assert verdict["violations"][0] == "oversold card 1: two orders"


def test_audit_verdict_when_the_audit_fails(monkeypatch):
    def failing(amqp_uri):
        raise TimeoutError("no answer")

    monkeypatch.setattr(audit, "audit", failing)
    verdict = run.audit_verdict("amqp://")
    assert verdict["ok"] is False
    assert verdict["verdict"] == "audit failed: TimeoutError('no answer')"


# against the baseline


def measured(purchases_per_second, cpu=None):
    return {
        "purchases_per_second": purchases_per_second,
        "cpu": {"by_service_seconds_per_purchase": cpu or {"orders": 0.030, "load generator": 0.002}},
        "broker": {"published_per_purchase": 24.7},
        "errors": 1,
        "audit": {"ok": True},
    }


def test_compared_with_the_baseline():
    result = run.compared_with({**measured(36.7), "database": "sqlite"}, measured(28.4), "3246524")
    assert result["speedup"] == 1.29
    assert result["database"] == "sqlite"
    assert result["baseline"] == {
        "commit": "3246524",
        "configuration": "plain",
        "purchases_per_second": 28.4,
        "cpu_ms_per_purchase": 30.0,  # the load generator is not the suite
        "broker_messages_per_purchase": 24.7,
        "errors": 1,
        "audit_ok": True,
    }


def test_compared_with_a_baseline_that_completed_nothing():
    # no division by zero: the ratio is over a floor of 0.01 purchases/s
    assert run.compared_with(measured(2.0), measured(0.0), "3246524")["speedup"] == 200.0


def test_with_floor_sets_the_run_s_messages_against_the_framework_s_floor():
    run_result = {
        **measured(36.7),
        "broker": {"rpc_per_purchase": 14.0, "events_per_purchase": 5.0, "delivered_per_purchase": 22.0},
    }
    framework_floor = {"rpc": 1.5, "rpc_unit_of_work": 2.0, "event_hop": 3.0, "event_delivery": 1.0}
    # what else the measurement says (per process, how many calls) stays with the document
    assert run.with_floor(run_result, {**framework_floor, "calls": 2000})["floor"] == {
        "rpc_calls": 7.0,
        "events": 5.0,
        "event_deliveries": 8.0,
        "cpu_ms_per_purchase": 28.5,
        "suite_cpu_ms_per_purchase": 30.0,
        "framework": framework_floor,
    }
