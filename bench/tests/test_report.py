"""report.py: the figures of a run, and the results README rebuilt from the committed JSON."""

import json

import pytest
import report
from load import Purchase

# percentiles and latencies


@pytest.mark.parametrize(
    ("count", "fraction", "expected"),
    [
        (10, 0.50, 5),
        (4, 0.50, 2),
        (3, 0.50, 2),
        (20, 0.95, 19),
        (100, 0.95, 95),
        (100, 0.99, 99),
        (1000, 0.99, 990),
        (7, 0.99, 7),
        (1, 0.50, 1),
    ],
)
def test_percentile_is_nearest_rank(count, fraction, expected):
    values = list(range(count, 0, -1))  # any order
    assert report.percentile(values, fraction) == expected


def test_percentile_of_nothing_lowest():
    assert report.percentile([3.0, 1.0, 2.0], 0.0) == 1.0


def test_latency_summary_in_milliseconds():
    summary = report.latency_summary([index / 1000 for index in range(1, 101)])
    assert summary == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0, "count": 100}
    assert report.latency_summary([]) is None


# a run's purchases


def made(started, *, error=None, unfinished=False, polls=1, requests=3):
    purchase = Purchase(buyer=0, started=started, polls=polls, requests=requests, error=error)
    if not error and not unfinished:
        purchase.order_created = started + 0.01
        purchase.awaiting_payment = started + 0.02
        purchase.notified = started + 0.03
        purchase.delivered = started + 0.53
        purchase.finished = started + 0.54
    return purchase


def test_summarise_purchases():
    purchases = [
        made(5.0),  # begun before the window, finished before it: neither counted nor timed
        made(9.9),  # begun before, finished in the window: counted, not timed
        made(10.0, polls=2, requests=4),
        made(12.0),
        made(19.9),  # begun in the window, finished after it: timed, not counted
        made(11.0, error="POST /api/v1/orders → 503 busy"),
        made(13.0, error="POST /api/v1/orders → 503 busy"),
        made(14.0, error="timeout"),
        made(15.0, unfinished=True),
    ]
    summary = report.summarise_purchases(purchases, 10.0, 20.0)
    assert summary["purchases_completed_in_window"] == 3
    assert summary["purchases_per_second"] == 0.3
    assert summary["purchases_attempted"] == 9
    assert summary["errors"] == 3
    assert summary["error_kinds"] == {"POST /api/v1/orders → 503 busy": 2, "timeout": 1}
    assert list(summary["error_kinds"]) == ["POST /api/v1/orders → 503 busy", "timeout"]
    assert summary["latency_ms"]["notification_to_delivered"]["count"] == 3
    assert summary["latency_ms"]["notification_to_delivered"]["p50"] == pytest.approx(500.0)
    assert summary["latency_ms"]["whole_flow"]["max"] == pytest.approx(540.0)
    assert summary["order_polls_per_purchase"] == 1.3  # (2 + 1 + 1) / 3
    assert summary["http_requests_per_purchase"] == 3.33


def test_summarise_no_purchases_in_the_window():
    summary = report.summarise_purchases([made(1.0)], 10.0, 20.0)
    assert summary["purchases_per_second"] == 0.0
    assert summary["latency_ms"]["whole_flow"] is None
    assert summary["order_polls_per_purchase"] == 0.0


# CPU


def test_cpu_per_purchase_adds_up_replicas():
    seconds = {
        "orders": 2.0,
        "orders-2": 1.0,
        "gateway": 0.5,
        "postgresql:orders": 0.4,
        "load generator": 0.1,
    }
    per_process, by_service = report.cpu_per_purchase(seconds, 100, 10.0, {"orders": 0.012345})
    assert list(per_process) == ["orders", "orders-2", "gateway", "postgresql:orders", "load generator"]
    assert per_process["orders"] == {"seconds_per_purchase": 0.02, "cores": 0.2, "idle_cores": 0.012}
    assert per_process["gateway"]["idle_cores"] == 0.0
    assert by_service["orders"] == pytest.approx(0.03)
    assert by_service["postgresql:orders"] == pytest.approx(0.004)
    assert "orders-2" not in by_service


def test_cpu_per_purchase_with_no_purchase_divides_by_one():
    per_process, by_service = report.cpu_per_purchase({"orders": 2.0}, 0, 10.0, {})
    assert per_process["orders"]["seconds_per_purchase"] == 2.0
    assert by_service == {"orders": 2.0}


def result(database="sqlite", configuration=None, replicas=None, purchases_per_second=36.7, **extra):
    """A run as run.py writes it, with round figures."""
    made = {
        "database": database,
        "replicas": replicas or {},
        "buyers": 16,
        "duration_seconds": 30.02,
        "waiting": "long-poll",
        "purchases_per_second": purchases_per_second,
        "purchases_completed_in_window": 1101,
        "purchases_attempted": 1300,
        "errors": 0,
        "error_kinds": {},
        "latency_ms": {
            "order_to_awaiting_payment": {"p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 4.0, "count": 9},
            "notification_to_delivered": {"p50": 210.0, "p95": 380.0, "p99": 457.0, "max": 600.0, "count": 9},
            "whole_flow": {"p50": 400.0, "p95": 600.0, "p99": 700.0, "max": 900.0, "count": 9},
        },
        "order_polls_per_purchase": 1.0,
        "http_requests_per_purchase": 3.0,
        "cpu": {
            "per_process": {"orders": {"seconds_per_purchase": 0.0123, "cores": 0.45, "idle_cores": 0.01}},
            "by_service_seconds_per_purchase": {
                "orders": 0.0123,
                "gateway": 0.0100,
                "rabbitmq": 0.0050,
                "postgresql:orders": 0.0040,
                "postgresql:other": 0.0007,
                "load generator": 0.0020,
                "everything else on the machine": 0.0003,
            },
            "machine": {"cores": 2, "busy_cores": 1.9, "stolen_cores": 0.01, "load_average_at_end": 3.5},
        },
        "broker": {
            "published_per_purchase": 24.4,
            "rpc_per_purchase": 19.4,
            "events_per_purchase": 5.0,
            "other_per_purchase": 0.0,
            "delivered_per_purchase": 26.4,
            "published_per_second": 895.5,
            "ceiling_messages_per_second": 7493.4,
            "fraction_of_ceiling": 0.12,
        },
        "postgresql_per_purchase": {},
        "audit": {"ok": True, "verdict": "ok: every invariant holds (0 oversold, 0 lost)"},
        **extra,
    }
    if configuration:
        made["configuration"] = configuration
    return made


def test_suite_cpu_leaves_out_the_generator_and_other_work():
    # orders, gateway, rabbitmq and PostgreSQL's own backends: 12.3 + 10 + 5 + 4
    assert report.suite_cpu_ms_per_purchase(result()) == 31.3


def test_busiest_service_counts_only_services():
    assert report.busiest_service(result(), ("gateway", "orders", "inventory")) == "orders"


def test_names_of_runs():
    assert report.configuration_of(result()) == "plain"
    assert report.run_name(result(configuration="plain")) == "sqlite"
    assert report.run_name(result("postgresql", "marketing")) == "postgresql+marketing"
    assert report.replicas_text(result()) == "1 each"
    assert report.replicas_text(result(replicas={"orders": 2, "risk": 3})) == "orders×2, risk×3"
    assert report.waiting_text(result()) == "long-poll"
    assert report.waiting_text({"poll_interval_ms": 15}) == "polled every 15 ms"


def test_marketing_against_plain_pairs_runs_of_one_database_without_replicas():
    plain = result("sqlite")
    marketing = result("sqlite", "marketing", purchases_per_second=26.6)
    alone = result("postgresql", "marketing")  # no plain run on PostgreSQL
    scaled = result("sqlite", "marketing", replicas={"orders": 2})
    assert report.marketing_against_plain([plain, marketing, alone, scaled]) == [(marketing, plain)]
    assert report.marketing_beside_plain([plain, marketing], "sqlite") == (
        "sqlite+marketing: 26.6 purchases/s beside 36.7 with plain orders (0.72×); "
        "suite CPU 31 ms/purchase beside 31"
    )
    assert report.marketing_beside_plain([plain, marketing], "postgresql") is None


def test_marketing_text():
    marketing = {
        "coupon_code": "BENCHX",
        "commission_rates_bp": [1000, 500, 250],
        "orders_delivered": 2,
        "commissions_expected": [180, 90, 44],
        "commissions_credited": [180, 90, 40],
        "ok": False,
    }
    assert report.marketing_text(marketing) == (
        "coupon BENCHX on every order; commissions credited 180/90/40 fen (agents closest first, "
        "1000/500/250 bp) on 2 orders delivered: expected 180/90/44"
    )
    assert report.marketing_text({**marketing, "ok": True}).endswith("delivered: ok")


def test_print_result(capsys):
    report.print_result(
        result(
            "postgresql",
            "marketing",
            marketing={
                "coupon_code": "BENCHX",
                "commission_rates_bp": [1000],
                "orders_delivered": 1,
                "commissions_expected": [90],
                "commissions_credited": [90],
                "ok": True,
            },
        )
    )
    printed = capsys.readouterr().out
    assert "== postgresql+marketing, replicas: 1 each — 16 buyers, 30 s timed ==" in printed
    assert "completed purchases/s   36.7" in printed
    assert "= 12% of the ceiling (7493/s)" in printed
    assert "marketing: coupon BENCHX" in printed


# the results folder


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    return tmp_path


def rows_of(readme, section):
    """The table rows (header and separator left out) under the heading ``section``."""
    text = readme.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in text.splitlines() if line.startswith("| ")][1:]


def test_write_results_and_the_readme(results):
    baseline = {
        "commit": "3246524",
        "configuration": "plain",
        "purchases_per_second": 28.4,
        "cpu_ms_per_purchase": 52.0,
        "broker_messages_per_purchase": 30.0,
        "errors": 0,
        "audit_ok": True,
    }
    postgresql = result("postgresql", purchases_per_second=18.6, baseline=baseline, speedup=0.65)
    postgresql["postgresql_per_purchase"] = {"orders": {"transactions": 12.0, "rows_written": 30.0}}
    document = {
        "date": "2026-11-27",
        "commit": "abc1234",
        "notes": ["a quiet machine"],
        "runs": [
            result("sqlite", baseline=baseline, speedup=1.29),
            result("sqlite", "marketing", purchases_per_second=26.6, marketing={"ok": True}),
            postgresql,
        ],
    }
    path = report.write_results(document)
    assert path == results / "2026-11-27-abc1234.json"
    assert json.loads(path.read_text()) == document

    readme = (results / "README.md").read_text()
    assert readme.startswith(report.README_INTRO)
    throughput = rows_of(readme, "Throughput, latency (ms: p50 / p95 / p99), audit")
    assert throughput[0] == (
        "| 2026-11-27 | abc1234 | sqlite | 1 each | 16 | 36.7 | 0 | 1 / 2 / 3 | 210 / 380 / 457 | "
        "400 / 600 / 700 | long-poll | 1.0 | ok: every invariant holds (0 oversold, 0 lost) |"
    )
    assert throughput[1].startswith("| 2026-11-27 | abc1234 | sqlite+marketing | 1 each | 16 | 26.6 |")

    against = rows_of(readme, "Against the baseline, measured in the same run")
    assert against == [
        "| 2026-11-27 | abc1234 | sqlite | 1 each | 16 | 36.7 (28.4 at 3246524) | 1.29× | 31 (52) | 24.4 | 3.0 | 457 |",
        "| 2026-11-27 | abc1234 | postgresql | 1 each | 16 | 18.6 (28.4 at 3246524) | 0.65× | 31 (52) | 24.4 | 3.0 | 457 |",
    ]
    assert rows_of(readme, "Marketing beside plain orders, measured in the same run") == [
        "| 2026-11-27 | abc1234 | sqlite | 16 | 26.6 (36.7) | 0.72× | 31 (31) | 24.4 (24.4) | ok |"
    ]
    cpu = rows_of(readme, "CPU milliseconds per purchase")
    # gateway, orders, then the services that spent nothing here; rabbitmq; PostgreSQL's own backends
    # only on PostgreSQL; the generator; other work (postgresql:other with the rest of the machine)
    assert cpu[0] == (
        "| 2026-11-27 | abc1234 | sqlite | 1 each | 10.0 | 12.3 | — | — | — | — | 5.0 | — | 2.0 | 1.0 | 1.90 of 2 |"
    )
    assert cpu[2].split(" | ")[11] == "4.0"
    assert rows_of(readme, "Broker")[0].endswith("| 24.4 (19.4 + 5.0) | 26.4 | 896 | 7493 | 12% |")
    assert rows_of(readme, "PostgreSQL transactions per purchase (rows written)") == [
        "| 2026-11-27 | abc1234 | postgresql | 1 each | 12 (30) | — | — | — | — |"
    ]
    assert "- 2026-11-27 abc1234: a quiet machine" in readme
    assert "## Risk rules" not in readme


def test_the_readme_without_baseline_marketing_or_postgresql(results):
    (results / "2026-11-22-1fe875b.json").write_text(
        json.dumps({"date": "2026-11-22", "commit": "1fe875b", "runs": [result()]})
    )
    report.write_readme()
    readme = (results / "README.md").read_text()
    assert len(rows_of(readme, "Throughput, latency (ms: p50 / p95 / p99), audit")) == 1
    for section in ("Against the baseline", "Marketing beside plain", "PostgreSQL transactions", "Notes"):
        assert f"## {section}" not in readme


def test_the_readme_marks_a_marketing_run_against_a_plain_baseline(results):
    baseline = {"commit": "3246524", "purchases_per_second": 28.4, "cpu_ms_per_purchase": 52.0}
    marketing = result("sqlite", "marketing", purchases_per_second=26.6, baseline=baseline, speedup=0.94)
    (results / "2026-11-27-abc1234.json").write_text(
        json.dumps({"date": "2026-11-27", "commit": "abc1234", "runs": [marketing]})
    )
    report.write_readme()
    against = rows_of((results / "README.md").read_text(), "Against the baseline, measured in the same run")
    assert "| 26.6 (28.4 at 3246524, plain) | 0.94× |" in against[0]


def test_the_risk_table(results):
    (results / "risk").mkdir()
    (results / "risk" / "sqlite.json").write_text(
        json.dumps(
            {
                "at": "2026-11-27T10:00:00+00:00",
                "commit": "abc1234",
                "database": "sqlite",
                "seed": 7,
                "scenarios": {
                    "card_testing": {
                        "runs": 20,
                        "caught": 19,
                        "detection_rate": 0.95,
                        "orders": 100,
                        "held": 30,
                        "refused": 50,
                        "errors": 0,
                        "meets_target": True,
                    },
                    "normal": {
                        "runs": 50,
                        "false_positive_rate": 0.0125,
                        "orders": 400,
                        "held": 5,
                        "refused": 0,
                        "errors": 1,
                        "meets_target": False,
                    },
                },
            }
        )
    )
    lines = report.risk_section()
    assert lines[0] == report.RISK_INTRO
    assert lines[3:5] == [
        "| 2026-11-27 | abc1234 | sqlite | 7 | card_testing | 20 | 19 | 95.0 % | 100 | 30 / 50 | — | 0 | met |",
        "| 2026-11-27 | abc1234 | sqlite | 7 | normal | 50 | — | — | 400 | 5 / 0 | 1.25 % | 1 | missed |",
    ]


def test_the_floor_beside_what_the_suite_spent(capsys, results):
    baseline = {"commit": "3246524", "purchases_per_second": 20.0, "cpu_ms_per_purchase": 75.0}
    floor = {
        "rpc_calls": 7.0,
        "events": 5.0,
        "event_deliveries": 8.0,
        "cpu_ms_per_purchase": 28.5,
        "suite_cpu_ms_per_purchase": 60.0,
    }
    measured = result(baseline=baseline, speedup=1.5, floor=floor)
    assert report.floor_text(measured) == (
        "7.0 RPCs and 5.0 events (8.0 deliveries) a purchase cost at least 28.5 ms of CPU; the suite spent 60.0 ms; "
        "a speedup of 3× allows 25.0 ms"
    )
    report.print_result(measured)
    assert "framework floor: 7.0 RPCs" in capsys.readouterr().out

    # the first runs of 2026-11-28 kept one floor, on SQLite, in the document; later ones keep each
    # run's own, on its database
    on_sqlite = {"rpc": 1.5, "rpc_unit_of_work": 2.0, "event_hop": 3.0, "event_delivery": 1.0}
    on_postgresql = {"rpc": 1.6, "rpc_unit_of_work": 2.6, "event_hop": 4.0, "event_delivery": 1.5}
    (results / "2026-11-28-abc1234.json").write_text(
        json.dumps(
            {
                "date": "2026-11-28",
                "commit": "abc1234",
                "framework_floor": on_sqlite,
                "runs": [measured, result("postgresql", floor=floor)],
            }
        )
    )
    (results / "2026-11-28-def5678.json").write_text(
        json.dumps(
            {
                "date": "2026-11-28",
                "commit": "def5678",
                "framework_floor": {"postgresql": {**on_postgresql, "calls": 2000}},
                "runs": [result("postgresql", floor={**floor, "framework": on_postgresql})],
            }
        )
    )
    report.write_readme()
    assert rows_of(
        (results / "README.md").read_text(), "The framework's floor, measured in the same run"
    ) == [
        "| 2026-11-28 | abc1234 | sqlite | 1 each | 1.50 (2.00) | 3.00 (1.00) | 7.0 + 5.0 (8.0) | 28.5 | 60.0 | 25.0 |",
        "| 2026-11-28 | abc1234 | postgresql | 1 each | 1.50 (2.00) | 3.00 (1.00) | 7.0 + 5.0 (8.0) | 28.5 | 60.0 | — |",
        "| 2026-11-28 | def5678 | postgresql | 1 each | 1.60 (2.60) | 4.00 (1.50) | 7.0 + 5.0 (8.0) | 28.5 | 60.0 | — |",
    ]
