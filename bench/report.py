"""Figures of a run: computed from the buyers' purchases, printed, and written to bench/results/."""

import json
import math
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SERVICE_COLUMNS = ("gateway", "orders", "inventory", "payments", "customers", "risk")
OTHER_CPU = ("postgresql:other", "everything else on the machine")
LATENCIES = (
    ("order_to_awaiting_payment", "order created → awaiting payment"),
    ("notification_to_delivered", "notification → delivered"),
    ("whole_flow", "whole flow"),
)


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list: the smallest value with ``fraction`` of them at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(seconds):
    if not seconds:
        return None
    milliseconds = [value * 1000 for value in seconds]
    return {
        "p50": round(percentile(milliseconds, 0.50), 1),
        "p95": round(percentile(milliseconds, 0.95), 1),
        "p99": round(percentile(milliseconds, 0.99), 1),
        "max": round(max(milliseconds), 1),
        "count": len(milliseconds),
    }


def summarise_purchases(purchases, window_start, window_end):
    """Throughput over the timed window, latencies of the purchases begun in it, errors of all."""
    completed = [purchase for purchase in purchases if purchase.finished and not purchase.error]
    in_window = [purchase for purchase in completed if window_start <= purchase.finished <= window_end]
    begun_in_window = [purchase for purchase in completed if window_start <= purchase.started <= window_end]
    errors = {}
    for purchase in purchases:
        if purchase.error:
            errors[purchase.error] = errors.get(purchase.error, 0) + 1
    return {
        "purchases_per_second": round(len(in_window) / (window_end - window_start), 1),
        "purchases_completed_in_window": len(in_window),
        "purchases_attempted": len(purchases),
        "errors": sum(errors.values()),
        "error_kinds": dict(sorted(errors.items(), key=lambda item: -item[1])[:10]),
        "latency_ms": {
            "order_to_awaiting_payment": latency_summary(
                [p.awaiting_payment - p.order_created for p in begun_in_window]
            ),
            "notification_to_delivered": latency_summary([p.delivered - p.notified for p in begun_in_window]),
            "whole_flow": latency_summary([p.finished - p.started for p in begun_in_window]),
        },
        "order_polls_per_purchase": round(
            sum(p.polls for p in begun_in_window) / max(len(begun_in_window), 1), 1
        ),
        "http_requests_per_purchase": round(
            sum(p.requests for p in begun_in_window) / max(len(begun_in_window), 1), 2
        ),
    }


def _service_of(process):
    # "orders-2" is the second replica of orders
    return process.split("-")[0] if process.split("-")[-1].isdigit() else process


def cpu_per_purchase(cpu_seconds, purchases, window_seconds, idle_cores):
    """Per process: CPU s per purchase, cores used under load, and cores used idle (before the load)."""
    per_process = {
        name: {
            "seconds_per_purchase": round(seconds / max(purchases, 1), 5),
            "cores": round(seconds / window_seconds, 2),
            "idle_cores": round(idle_cores.get(name, 0.0), 3),
        }
        for name, seconds in sorted(cpu_seconds.items(), key=lambda item: -item[1])
    }
    by_service = {}
    for name, seconds in cpu_seconds.items():
        by_service[_service_of(name)] = by_service.get(_service_of(name), 0.0) + seconds
    return per_process, {name: seconds / max(purchases, 1) for name, seconds in by_service.items()}


def busiest_service(result, services):
    """The service (all its replicas) that spent the most CPU per purchase."""
    per_service = result["cpu"]["by_service_seconds_per_purchase"]
    return max(services, key=lambda service: per_service.get(service, 0.0))


def _ms(summary, key):
    return "—" if summary is None else f"{summary[key]:.0f}"


def _latency_cells(result):
    cells = []
    for key, _title in LATENCIES:
        summary = result["latency_ms"][key]
        cells.append(f"{_ms(summary, 'p50')} / {_ms(summary, 'p95')} / {_ms(summary, 'p99')}")
    return cells


def configuration_of(result):
    """The run's configuration, "plain" or "marketing"; runs from before there were any were plain."""
    return result.get("configuration", "plain")


def run_name(result):
    """The database, and the configuration unless plain: "sqlite", "sqlite+marketing"."""
    configuration = configuration_of(result)
    return result["database"] if configuration == "plain" else f"{result['database']}+{configuration}"


def marketing_against_plain(runs):
    """[(marketing run, plain run)] of the same database, both with one process per service."""
    plain = {run["database"]: run for run in runs if configuration_of(run) == "plain" and not run["replicas"]}
    return [
        (run, plain[run["database"]])
        for run in runs
        if configuration_of(run) == "marketing" and not run["replicas"] and run["database"] in plain
    ]


def marketing_beside_plain(runs, database):
    """One line comparing the marketing run on ``database`` with the plain one, if both ran."""
    for marketing, plain in marketing_against_plain(runs):
        if marketing["database"] == database:
            ratio = marketing["purchases_per_second"] / max(plain["purchases_per_second"], 0.01)
            return (
                f"{run_name(marketing)}: {marketing['purchases_per_second']:.1f} purchases/s beside "
                f"{plain['purchases_per_second']:.1f} with plain orders ({ratio:.2f}×); suite CPU "
                f"{suite_cpu_ms_per_purchase(marketing):.0f} ms/purchase beside "
                f"{suite_cpu_ms_per_purchase(plain):.0f}"
            )
    return None


def replicas_text(result):
    return ", ".join(f"{service}×{count}" for service, count in result["replicas"].items()) or "1 each"


def _cpu_ms(result, name):
    value = result["cpu"]["by_service_seconds_per_purchase"].get(name)
    return "—" if value is None else f"{value * 1000:.1f}"


def _postgres_ms(result):
    total = sum(
        value
        for name, value in result["cpu"]["by_service_seconds_per_purchase"].items()
        if name.startswith("postgresql:") and name != "postgresql:other"
    )
    return f"{total * 1000:.1f}" if result["database"] == "postgresql" else "—"


def _other_ms(result):
    """CPU of everything but the suite and the generator: other work on this machine."""
    per_service = result["cpu"]["by_service_seconds_per_purchase"]
    return f"{sum(per_service.get(name, 0.0) for name in OTHER_CPU) * 1000:.1f}"


def print_result(result):
    print(
        f"\n== {run_name(result)}, replicas: {replicas_text(result)} — {result['buyers']} buyers, "
        f"{result['duration_seconds']:.0f} s timed =="
    )
    print(
        f"completed purchases/s   {result['purchases_per_second']:.1f}   "
        f"({result['purchases_completed_in_window']} in the window; {result['purchases_attempted']} attempted)"
    )
    print(
        f"errors                  {result['errors']}"
        + (f"   {result['error_kinds']}" if result["errors"] else "")
    )
    print(
        f"latency (ms; buyers waited by {waiting_text(result)})".ljust(42)
        + "     p50      p95      p99      max"
    )
    for key, title in LATENCIES:
        summary = result["latency_ms"][key]
        if summary:
            print(
                f"  {title:<36} {summary['p50']:>8.0f} {summary['p95']:>8.0f} {summary['p99']:>8.0f} "
                f"{summary['max']:>8.0f}"
            )
    print(f"order reads per purchase {result['order_polls_per_purchase']}")
    print("CPU per purchase, and cores used over the window and idle before it:")
    for name, figures in result["cpu"]["per_process"].items():
        print(
            f"  {name:<32} {figures['seconds_per_purchase'] * 1000:>8.2f} ms  {figures['cores']:>5.2f} cores"
            f"  (idle {figures['idle_cores']:.2f})"
        )
    machine = result["cpu"]["machine"]
    print(
        f"  machine: {machine['busy_cores']:.2f} of {machine['cores']} cores busy, "
        f"{machine['stolen_cores']:.2f} stolen by the hypervisor, "
        f"load average {machine['load_average_at_end']:.1f}"
    )
    broker = result["broker"]
    print(
        f"broker: {broker['published_per_purchase']:.1f} messages published per purchase "
        f"({broker['rpc_per_purchase']:.1f} RPC requests+replies, {broker['events_per_purchase']:.1f} events), "
        f"{broker['delivered_per_purchase']:.1f} delivered; {broker['published_per_second']:.0f} published/s "
        f"= {broker['fraction_of_ceiling'] * 100:.0f}% of the ceiling "
        f"({broker['ceiling_messages_per_second']:.0f}/s)"
    )
    if result.get("floor"):
        print(f"framework floor: {floor_text(result)}")
    if result.get("postgresql_per_purchase"):
        print(
            "postgresql per purchase: "
            + "; ".join(
                f"{service} {counters['transactions']:.0f} transactions, {counters['rows_written']:.0f} rows written"
                for service, counters in sorted(result["postgresql_per_purchase"].items())
            )
        )
    print(f"audit: {result['audit']['verdict']}")
    if result.get("marketing"):
        print(f"marketing: {marketing_text(result['marketing'])}")


def floor_text(result):
    """The run's messages at the framework's floor beside what the suite spent, and what 3× would allow."""
    floor = result["floor"]
    text = (
        f"{floor['rpc_calls']:.1f} RPCs and {floor['events']:.1f} events ({floor['event_deliveries']:.1f} "
        "deliveries) a purchase cost "
        f"at least {floor['cpu_ms_per_purchase']:.1f} ms of CPU; the suite spent "
        f"{floor['suite_cpu_ms_per_purchase']:.1f} ms"
    )
    if result.get("baseline"):
        text += f"; a speedup of 3× allows {three_times_budget(result):.1f} ms"
    return text


FLOOR_FIGURES = ("rpc", "rpc_unit_of_work", "event_hop", "event_delivery")


def floor_figures(document, result):
    """The floor a run was set against: its own (on its database), or, in results of 2026-11-28
    before the floor was measured per database, the document's one on SQLite."""
    return result["floor"].get("framework") or document["framework_floor"]


def _floor_cells(document, result):
    framework, floor = floor_figures(document, result), result["floor"]
    return [
        f"{framework['rpc']:.2f} ({framework['rpc_unit_of_work']:.2f})",
        f"{framework['event_hop']:.2f} ({framework['event_delivery']:.2f})",
        f"{floor['rpc_calls']:.1f} + {floor['events']:.1f} ({floor['event_deliveries']:.1f})",
        f"{floor['cpu_ms_per_purchase']:.1f}",
        f"{floor['suite_cpu_ms_per_purchase']:.1f}",
        f"{three_times_budget(result):.1f}" if result.get("baseline") else "—",
    ]


def three_times_budget(result):
    """The suite CPU per purchase at which a saturated machine completes 3× the baseline's purchases."""
    return result["baseline"]["cpu_ms_per_purchase"] / 3


def marketing_text(marketing):
    """What the agents were credited against what the plan promises on the orders delivered."""
    credited = "/".join(str(amount) for amount in marketing["commissions_credited"])
    verdict = "ok" if marketing["ok"] else f"expected {'/'.join(map(str, marketing['commissions_expected']))}"
    return (
        f"coupon {marketing['coupon_code']} on every order; commissions credited {credited} fen "
        f"(agents closest first, {'/'.join(map(str, marketing['commission_rates_bp']))} bp) on "
        f"{marketing['orders_delivered']} orders delivered: {verdict}"
    )


def results_path(date, commit):
    return RESULTS / f"{date}-{commit}.json"


def write_results(document):
    RESULTS.mkdir(exist_ok=True)
    path = results_path(document["date"], document["commit"])
    path.write_text(json.dumps(document, indent=2) + "\n")
    write_readme()
    return path


README_INTRO = """# Benchmark results

Written by `make bench` (`python bench/run.py`); one JSON file per run
(`<UTC date>-<commit>.json`), and this table, rebuilt from all of them.

How it measures: a fresh suite per configuration (own vhost, data folder,
PostgreSQL databases), closed-loop buyers on distinct accounts doing the whole
purchase through the gateway's HTTP API: order → wait until awaiting payment →
mockpay intent → signed notification → wait until delivered → read the cards.
Purchases/s counts purchases completed inside the timed window (after a
warm-up). Buyers wait with the long-poll (`GET /orders/{id}?changed_from=…&wait=…`)
and latencies are taken when its answer arrives; earlier runs ("waiting":
polled every 15 ms) took them at the first poll that saw the state, so they
include the polling interval. "Order reads" are the buyer's GETs of its order.
Buyers are closed-loop: once the suite is saturated, more buyers only
lengthen the queues (latency ≈ buyers ÷ purchases per second), so latencies
compare only at equal buyers.
CPU is user+system time from /proc over the same window, divided by the
purchases completed in it; PostgreSQL is the backends of the run's own
databases; RabbitMQ (beam.smp) and PostgreSQL are shared with anything else
running on the machine, whose CPU shows as "other". Broker messages per
purchase are the vhost's publishes (management API) over the whole load
divided by the purchases attempted; the ceiling is raw pika on the same machine
in the same run (asynchronous publisher confirms, manual acks, persistent
messages, the best of one and two publisher/consumer pairs), and the fraction
is the suite's published messages per second over it. PostgreSQL's counters
(pg_stat_database) count each service's transactions over the whole load.

Configurations: "plain" orders, and "+marketing" (e.g. `sqlite+marketing`),
in which every order carries a public `amount_off` coupon (1 yuan off, limits
no run reaches) and every buyer registered with the invite code of the lowest
of a line of three agents under a 10 % / 5 % / 2.5 % commission plan, so each
delivery credits three commissions; the run checks that the agents hold
exactly the plan's share of the orders delivered. The baseline is measured in
its plain configuration only (3246524 predates coupons and agents): a
marketing run's speedup is over the baseline's plain figure.

## Measured while changing the code

Profiles taken during a change, kept here rather than in the code's comments:

- 6b681b9, orders: get_order, the hottest read of a purchase, spent about a
  fifth of its time building its two SELECT statements; they are built once,
  at import (`ORDER_WITH_LINES`, `ORDER_HISTORY` in `orders/usecases.py`).
"""


FLOOR_INTRO = """The CPU (all processes: caller, services and their PostgreSQL backends,
RabbitMQ) of an RPC and of an event hop with nothing in them but Kameng's
messaging, on the run's database (bench/floor.py; the first two runs of
2026-11-28 used the SQLite floor for both databases), set against each run's
messages per purchase: each RPC at a bare round trip, each event at a whole
hop, each further delivery of it at its subscriber's share. That is the least
those messages cost, whatever the purchase does in them. With the machine
saturated, purchases/s goes as 1 / CPU per purchase: a speedup of 3× needs
the suite's CPU per purchase at a third of the baseline's (last column).
"""

# what the suite itself spent, without the load generator and whatever else the machine ran
NOT_THE_SUITE = ("load generator", "everything else on the machine", "postgresql:other")


def suite_cpu_ms_per_purchase(result):
    by_service = result["cpu"]["by_service_seconds_per_purchase"]
    return round(1000 * sum(seconds for name, seconds in by_service.items() if name not in NOT_THE_SUITE), 1)


def waiting_text(result):
    """How the run's buyers waited for their order: long-poll, or polls before there was one."""
    return result.get("waiting") or f"polled every {result['poll_interval_ms']:.0f} ms"


def _table(header, rows):
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]


def write_readme():
    documents = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]
    runs = [(document, result) for document in documents for result in document["runs"]]

    def key(document, result):
        return [document["date"], document["commit"], run_name(result), replicas_text(result)]

    key_header = ["date", "commit", "database", "replicas"]

    lines = [README_INTRO, "## Throughput, latency (ms: p50 / p95 / p99), audit\n"]
    lines += _table(
        [
            *key_header,
            "buyers",
            "purchases/s",
            "errors",
            "order → awaiting payment",
            "notification → delivered",
            "whole flow",
            "waiting",
            "order reads/purchase",
            "audit",
        ],
        [
            [
                *key(document, result),
                str(result["buyers"]),
                f"{result['purchases_per_second']:.1f}",
                str(result["errors"]),
                *_latency_cells(result),
                waiting_text(result),
                f"{result['order_polls_per_purchase']}",
                result["audit"]["verdict"],
            ]
            for document, result in runs
        ],
    )
    compared = [(document, result) for document, result in runs if result.get("baseline")]
    if compared:
        lines += ["## Against the baseline, measured in the same run\n"]
        lines += _table(
            [
                *key_header,
                "buyers",
                "purchases/s (baseline)",
                "speedup",
                "suite CPU ms/purchase (baseline)",
                "broker messages/purchase",
                "HTTP requests/purchase",
                "notification → delivered p99 ms",
            ],
            [
                [
                    *key(document, result),
                    str(result["buyers"]),
                    f"{result['purchases_per_second']:.1f} ({result['baseline']['purchases_per_second']:.1f}"
                    f" at {result['baseline']['commit']}"
                    f"{', plain' if configuration_of(result) != 'plain' else ''})",
                    f"{result['speedup']:.2f}×",
                    f"{suite_cpu_ms_per_purchase(result):.0f} ({result['baseline']['cpu_ms_per_purchase']:.0f})",
                    f"{result['broker']['published_per_purchase']:.1f}",
                    f"{result.get('http_requests_per_purchase', '—')}",
                    f"{result['latency_ms']['notification_to_delivered']['p99']:.0f}",
                ]
                for document, result in compared
            ],
        )
    beside = [
        (document, marketing, plain)
        for document in documents
        for marketing, plain in marketing_against_plain(document["runs"])
    ]
    if beside:
        lines += ["## Marketing beside plain orders, measured in the same run\n"]
        lines += _table(
            [
                "date",
                "commit",
                "database",
                "buyers",
                "purchases/s marketing (plain)",
                "marketing / plain",
                "suite CPU ms/purchase (plain)",
                "broker messages/purchase (plain)",
                "commissions",
            ],
            [
                [
                    document["date"],
                    document["commit"],
                    marketing["database"],
                    str(marketing["buyers"]),
                    f"{marketing['purchases_per_second']:.1f} ({plain['purchases_per_second']:.1f})",
                    f"{marketing['purchases_per_second'] / max(plain['purchases_per_second'], 0.01):.2f}×",
                    f"{suite_cpu_ms_per_purchase(marketing):.0f} ({suite_cpu_ms_per_purchase(plain):.0f})",
                    f"{marketing['broker']['published_per_purchase']:.1f} "
                    f"({plain['broker']['published_per_purchase']:.1f})",
                    "ok" if marketing["marketing"]["ok"] else "mismatch",
                ]
                for document, marketing, plain in beside
            ],
        )
    floored = [(document, result) for document, result in runs if result.get("floor")]
    if floored:
        lines += ["## The framework's floor, measured in the same run\n", FLOOR_INTRO]
        lines += _table(
            [
                *key_header,
                "RPC ms (with a unit of work)",
                "event hop ms (a further delivery)",
                "RPCs + events (deliveries) / purchase",
                "floor ms/purchase",
                "suite CPU ms/purchase",
                "suite CPU ms/purchase at 3×",
            ],
            [[*key(document, result), *_floor_cells(document, result)] for document, result in floored],
        )
    lines += ["## CPU milliseconds per purchase\n"]
    lines += _table(
        [
            *key_header,
            *SERVICE_COLUMNS,
            "rabbitmq",
            "postgresql",
            "load generator",
            "other work on the machine",
            "machine busy (cores)",
        ],
        [
            [
                *key(document, result),
                *(_cpu_ms(result, name) for name in SERVICE_COLUMNS),
                _cpu_ms(result, "rabbitmq"),
                _postgres_ms(result),
                _cpu_ms(result, "load generator"),
                _other_ms(result),
                f"{result['cpu']['machine']['busy_cores']:.2f} of {result['cpu']['machine']['cores']}",
            ]
            for document, result in runs
        ],
    )
    lines += ["## Broker\n"]
    lines += _table(
        [
            *key_header,
            "messages published / purchase (RPC + events)",
            "delivered / purchase",
            "published/s",
            "ceiling (msgs/s)",
            "fraction of ceiling",
        ],
        [
            [
                *key(document, result),
                f"{result['broker']['published_per_purchase']:.1f} ({result['broker']['rpc_per_purchase']:.1f} + "
                f"{result['broker']['events_per_purchase']:.1f})",
                f"{result['broker']['delivered_per_purchase']:.1f}",
                f"{result['broker']['published_per_second']:.0f}",
                f"{result['broker']['ceiling_messages_per_second']:.0f}",
                f"{result['broker']['fraction_of_ceiling'] * 100:.0f}%",
            ]
            for document, result in runs
        ],
    )
    database_runs = [(document, result) for document, result in runs if result.get("postgresql_per_purchase")]
    if database_runs:
        lines += ["## PostgreSQL transactions per purchase (rows written)\n"]
        lines += _table(
            [*key_header, *SERVICE_COLUMNS[1:]],
            [
                [
                    *key(document, result),
                    *(
                        f"{counters[name]['transactions']:.0f} ({counters[name]['rows_written']:.0f})"
                        if name in counters
                        else "—"
                        for name in SERVICE_COLUMNS[1:]
                    ),
                ]
                for document, result in database_runs
                for counters in [result["postgresql_per_purchase"]]
            ],
        )
    notes = [
        f"- {document['date']} {document['commit']}: {note}"
        for document in documents
        for note in document.get("notes", [])
    ]
    if notes:
        lines += ["## Notes\n", *notes, ""]
    lines += risk_section()
    (RESULTS / "README.md").write_text("\n".join(lines))


RISK_INTRO = """## Risk rules against the labelled attack set

Written by `kameng risk evaluate --output bench/results/risk` (one JSON file per
database, the latest run's): a fresh suite with risk's default settings, normal
customers and runs of each attack played through the gateway's API
(`cli/kameng_cli/riskeval.py` says what each scenario does). An attack run is
caught when risk holds or refuses one of its orders; the false-positive rate is
the share of normal orders risk held or refused. Targets: each attack caught in
at least 95 % of its runs, at most 1 % of normal orders held.
"""


def risk_section():
    """The table of every ``results/risk/*.json`` report: one row per scenario."""
    documents = [json.loads(path.read_text()) for path in sorted((RESULTS / "risk").glob("*.json"))]
    if not documents:
        return []
    rows = []
    for document in documents:
        for scenario, row in document["scenarios"].items():
            rate = row.get("detection_rate", row.get("false_positive_rate"))
            rows.append(
                [
                    document["at"][:10],
                    document.get("commit") or "—",
                    document["database"],
                    str(document["seed"]),
                    scenario,
                    str(row["runs"]),
                    str(row.get("caught", "—")),
                    "—" if "detection_rate" not in row else f"{rate * 100:.1f} %",
                    str(row["orders"]),
                    f"{row['held']} / {row['refused']}",
                    "—" if "false_positive_rate" not in row else f"{rate * 100:.2f} %",
                    str(row["errors"]),
                    "met" if row["meets_target"] else "missed",
                ]
            )
    return [
        RISK_INTRO,
        *_table(
            [
                "date",
                "commit",
                "database",
                "seed",
                "scenario",
                "runs",
                "caught",
                "detection",
                "orders",
                "held / refused",
                "false positives",
                "errors",
                "target",
            ],
            rows,
        ),
    ]
