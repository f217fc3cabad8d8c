"""Benchmark the whole suite: purchases per second, latencies, CPU per purchase, broker use.

    python bench/run.py [--duration 30] [--buyers 64] [--databases sqlite,postgresql]
                        [--configurations plain,marketing]
                        [--replicas auto|none|orders=2] [--baseline COMMIT|none]

Two configurations are measured on each database: "plain" orders, and
"marketing" (reported as e.g. sqlite+marketing), in which every order carries a
public coupon and every buyer registered with the invite code of the lowest of
a line of three agents under a commission plan, so each delivery credits three
commissions. The run checks that the agents were credited exactly what the plan
promises on the orders delivered.

With a baseline (default: 3246524), each database is measured on that
commit first and then on the working tree, one after the other on the same
machine: the baseline is checked out in a git worktree under
.kameng/bench-baselines/ (kept, with its own venv from its own
scripts/bootstrap.sh, for the next run; ``git worktree remove`` drops it) and
measured by its own bench/run.py with the same settings. Each run then
records ``baseline: {commit, purchases_per_second, cpu_ms_per_purchase}`` and
``speedup`` (purchases/s over the baseline's), so a figure does not depend on
how fast the machine was that hour. The baseline (3246524 predates coupons and
agents) is measured in its plain configuration only: a marketing run's speedup
is over the baseline's plain figure (``baseline.configuration: "plain"``).

For each database kind it starts a fresh suite (own vhost, data folder,
PostgreSQL databases), seeds a catalogue with enough cards, registers the
buyers, and runs them for a warm-up and then the timed window. Then, unless
told otherwise, it runs again on PostgreSQL with two replicas of the service
that spent the most CPU per purchase (plain orders). The broker's ceiling is measured once,
before any suite runs. Results are printed and written to bench/results/.
"""

import argparse
import asyncio
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import ceiling
import floor
import load
import probes
import report
import stage

from kameng_cli.suite import SERVICES

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = "3246524"
CONFIGURATIONS = ("plain", "marketing")
# how long the agents' commissions may take to be credited after the last delivery
COMMISSION_WAIT_SECONDS = 30
BASELINES = REPO / ".kameng" / "bench-baselines"


def parse_replicas(text):
    """ "auto", "none" or "service=count,..." → "auto", None or {service: count}."""
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    replicas = {}
    for item in text.split(","):
        service, _, count = item.partition("=")
        if service not in SERVICES or not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"expected service=count with a service of {SERVICES}: {item!r}")
        replicas[service] = int(count)
    return replicas


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=30, help="seconds of the timed window")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before the window opens")
    parser.add_argument("--buyers", type=int, default=64, help="concurrent buyers, each its own customer")
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma separated: sqlite, postgresql"
    )
    parser.add_argument(
        "--replicas",
        type=parse_replicas,
        default="auto",
        help="the extra run: 'auto' (2 of the busiest service, on PostgreSQL), "
        "'none', or service=count,... (on the last of --databases)",
    )
    parser.add_argument(
        "--configurations",
        default=",".join(CONFIGURATIONS),
        help="comma separated, each measured on every database: plain, marketing (every order with a "
        "coupon, every buyer in a line of three agents earning commissions)",
    )
    parser.add_argument("--products", type=int, default=4)
    parser.add_argument(
        "--max-rate",
        type=float,
        default=250,
        help="purchases/s the card stock is sized for (the run fails if it runs dry)",
    )
    parser.add_argument("--ceiling-seconds", type=float, default=5)
    parser.add_argument(
        "--floor-calls",
        type=int,
        default=2000,
        help="calls per step of the framework's floor (bench/floor.py); 0 to skip it",
    )
    parser.add_argument(
        "--baseline",
        default=DEFAULT_BASELINE,
        help="a commit measured before the working tree in each configuration ('none' to skip)",
    )
    parser.add_argument("--no-save", action="store_true", help="print only; write nothing to bench/results")
    parser.add_argument(
        "--note",
        action="append",
        default=[],
        help="a remark kept with the results (e.g. what else the machine was doing)",
    )
    args = parser.parse_args(argv)
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = set(args.databases) - {"sqlite", "postgresql"}
    if unknown or not args.databases:
        parser.error(f"expected databases of sqlite, postgresql: {args.databases}")
    args.configurations = [name.strip() for name in args.configurations.split(",") if name.strip()]
    unknown = set(args.configurations) - set(CONFIGURATIONS)
    if unknown or not args.configurations:
        parser.error(f"expected configurations of {', '.join(CONFIGURATIONS)}: {args.configurations}")
    return args


def buyers_verdict(purchases, settled_statuses, stock_left, cards_imported):
    """Oversold and lost, counted from what the buyers saw: the verdict when kameng_cli.audit is absent."""
    holders = {}
    for purchase in purchases:
        for card in purchase.cards:
            holders.setdefault(card["number"], set()).add(purchase.order_id)
    delivered = [purchase for purchase in purchases if purchase.cards]
    oversold = sum(len(orders) - 1 for orders in holders.values()) + sum(
        1 for purchase in delivered if len(purchase.cards) != 1
    )
    lost = sum(1 for status in settled_statuses.values() if status not in ("delivered", "refunded"))
    cards_delivered = sum(len(purchase.cards) for purchase in delivered)
    return {
        "oversold": oversold,
        "lost": lost,
        "cards_imported": cards_imported,
        "cards_delivered": cards_delivered,
        "stock_left": stock_left,
        # cards neither in stock nor delivered: reservations of orders that failed before paying
        "cards_unaccounted": cards_imported - cards_delivered - stock_left,
        "ok": oversold == 0 and lost == 0,
        "verdict": f"{oversold} oversold, {lost} lost (buyers' view)",
    }


def expected_commissions(amounts, rates_bp):
    """What each agent up the buyers' line (the closest first) earns on orders of ``amounts``: each
    rounded down, as customers credits them."""
    return [sum(amount * rate // 10_000 for amount in amounts) for rate in rates_bp]


def commissions_verdict(marketing, delivered_amounts, credited):
    """Whether the agents were credited exactly the plan's share of the orders delivered."""
    expected = expected_commissions(delivered_amounts, marketing.rates_bp)
    return {
        "coupon_code": marketing.coupon_code,
        "commission_rates_bp": list(marketing.rates_bp),
        "orders_delivered": len(delivered_amounts),
        "commissions_expected": expected,
        "commissions_credited": credited,
        "ok": credited == expected,
    }


def await_commissions(gateway_url, marketing, delivered_amounts, timeout=COMMISSION_WAIT_SECONDS):
    """The commissions verdict, once the agents hold what they should (or the time is up)."""
    tokens = [token for _name, token in marketing.agents]
    deadline = time.monotonic() + timeout
    while True:
        verdict = commissions_verdict(
            marketing, delivered_amounts, asyncio.run(load.commissions_credited(gateway_url, tokens))
        )
        if verdict["ok"] or time.monotonic() > deadline:
            return verdict
        time.sleep(0.5)


def audit_verdict(amqp_uri):
    from kameng_cli.audit import audit

    try:
        result = audit(amqp_uri)
    except Exception as exc:  # the verdict is reported, whatever it is
        return {"source": "kameng_cli.audit", "ok": False, "verdict": f"audit failed: {exc!r}"}
    kinds = Counter(violation.kind for violation in result.violations)
    return {
        "source": "kameng_cli.audit",
        "ok": result.ok,
        "counts": result.counts,
        "violations": [
            f"{violation.kind} {violation.subject}: {violation.detail}"
            for violation in result.violations[:50]
        ],
        "verdict": (
            "ok: every invariant holds (0 oversold, 0 lost)"
            if result.ok
            else f"{len(result.violations)} violations: "
            + ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())
        ),
    }


async def timed_load(buyers, warmup, duration):
    """Run the buyers; snapshot CPU at the window's edges while they are buying."""
    running = asyncio.create_task(buyers.run(warmup + duration))
    await asyncio.sleep(warmup)
    window_start, cpu_before = time.monotonic(), probes.cpu_snapshot()
    await asyncio.sleep(duration)
    window_end, cpu_after = time.monotonic(), probes.cpu_snapshot()
    purchases = await running
    return purchases, window_start, window_end, cpu_before, cpu_after


def run_configuration(database, replicas, args, broker_ceiling, configuration="plain", say=print):
    with stage.fresh_suite(database, replicas, say) as running:
        return _measure(running, args, broker_ceiling, configuration, say)


def _measure(running, args, broker_ceiling, configuration, say):
    gateway_url = running.gateway_url
    cards = int(args.max_rate * (args.warmup + args.duration)) + 2 * args.buyers
    shop = stage.open_shop(
        running, args.products, cards, args.buyers, marketing=configuration == "marketing", say=say
    )
    # the counters settle while the suite idles: its CPU meanwhile is each process's floor
    idle_before = probes.cpu_snapshot()
    broker_before = probes.settled_broker_counters(running.vhost)
    idle_cpu, _machine = probes.cpu_used(
        idle_before, probes.cpu_snapshot(), running.pids(), running.service_of_database()
    )
    idle_seconds = time.monotonic() - idle_before.at
    postgres_before = probes.postgres_counters(running.service_of_database())
    buyers = load.Buyers(
        gateway_url,
        [token for _name, token in shop.accounts],
        shop.products,
        shop.mockpay_secret,
        pay_on_order=asyncio.run(load.places_and_pays_at_once(gateway_url)),
        coupon_code=shop.marketing.coupon_code if shop.marketing else None,
    )
    say(
        f"buying ({configuration}): {args.buyers} buyers, {args.warmup:.0f} s warm-up, {args.duration:.0f} s timed"
    )
    purchases, window_start, window_end, cpu_before, cpu_after = asyncio.run(
        timed_load(buyers, args.warmup, args.duration)
    )
    running.suite.check_alive()

    # paid orders a buyer gave up on get more time: only those still not delivered then are lost
    unfinished = {
        purchase.order_id: shop.accounts[purchase.buyer][1]
        for purchase in purchases
        if purchase.paid and not purchase.cards
    }
    settled = asyncio.run(load.settle_unfinished(gateway_url, unfinished)) if unfinished else {}
    commissions = None
    if shop.marketing:
        delivered_amounts = [
            purchase.amount
            for purchase in purchases
            if purchase.cards or settled.get(purchase.order_id) == "delivered"
        ]
        commissions = await_commissions(gateway_url, shop.marketing, delivered_amounts)
    broker_after = probes.settled_broker_counters(running.vhost)
    postgres_after = probes.postgres_counters(running.service_of_database())
    left = asyncio.run(load.stock_left(gateway_url, {product["id"] for product in shop.products}))
    buyers_view = buyers_verdict(purchases, settled, left, shop.cards_imported)
    if importlib.util.find_spec("kameng_cli.audit") is not None:
        verdict = audit_verdict(running.amqp_uri)
    else:
        verdict = {**buyers_view, "source": "the buyers' own view (kameng_cli.audit is not available)"}

    summary = report.summarise_purchases(purchases, window_start, window_end)
    window = window_end - window_start
    cpu_seconds, machine = probes.cpu_used(
        cpu_before, cpu_after, running.pids(), running.service_of_database()
    )
    per_process, by_service = report.cpu_per_purchase(
        cpu_seconds,
        summary["purchases_completed_in_window"],
        window,
        {name: seconds / idle_seconds for name, seconds in idle_cpu.items()},
    )
    attempted = max(len(purchases), 1)

    def per_purchase(counter):
        return round((broker_after[counter] - broker_before[counter]) / attempted, 2)

    published_per_purchase = per_purchase("published")
    published_per_second = published_per_purchase * summary["purchases_per_second"]
    return {
        "database": running.database,
        "configuration": configuration,
        **({"marketing": commissions} if commissions else {}),
        "replicas": {
            service: count for service, count in running.suite.settings.replicas.items() if count > 1
        },
        "buyers": args.buyers,
        "duration_seconds": round(window, 2),
        "warmup_seconds": args.warmup,
        "waiting": "long-poll",
        "gateway": {
            "workers": int(os.environ.get("KAMENG_GATEWAY_WORKERS", "2")),
            "threads": int(os.environ.get("KAMENG_GATEWAY_THREADS", "64")),
        },
        **summary,
        "cpu": {
            "per_process": per_process,
            "by_service_seconds_per_purchase": {name: round(value, 5) for name, value in by_service.items()},
            "machine": {"cores": os.cpu_count(), **machine, "load_average_at_end": os.getloadavg()[0]},
        },
        "broker": {
            "published_per_purchase": published_per_purchase,
            "rpc_per_purchase": per_purchase("rpc"),
            "events_per_purchase": per_purchase("events"),
            "other_per_purchase": per_purchase("other"),
            "delivered_per_purchase": per_purchase("delivered"),
            "published_per_second": round(published_per_second, 1),
            "ceiling_messages_per_second": broker_ceiling["messages_per_second"],
            "fraction_of_ceiling": round(published_per_second / broker_ceiling["messages_per_second"], 3),
        },
        # PostgreSQL's own counters over the whole load, per purchase attempted (none on SQLite)
        "postgresql_per_purchase": {
            service: {
                counter: round((value - postgres_before[service][counter]) / attempted, 1)
                for counter, value in counters.items()
            }
            for service, counters in postgres_after.items()
        },
        "audit": verdict,
        "buyers_view": buyers_view,
    }


def baseline_checkout(commit, say=print):
    """``(checkout, short commit)``: ``commit`` in a git worktree with its own venv, made once and kept."""
    full = subprocess.run(
        ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    checkout = BASELINES / full[:12]
    if not (checkout / ".venv" / ".installed").exists():
        if checkout.exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=REPO, check=True)
        BASELINES.mkdir(parents=True, exist_ok=True)
        say(f"checking out the baseline {full[:7]} in {checkout} and setting it up…")
        subprocess.run(["git", "worktree", "add", "--detach", str(checkout), full], cwd=REPO, check=True)
        subprocess.run(["scripts/bootstrap.sh"], cwd=checkout, check=True)
    return checkout, full[:7]


def measure_baseline(checkout, database, args, say=print):
    """The plain configuration on ``database`` measured on the baseline by its own bench/run.py: its result."""
    results = checkout / "bench" / "results"
    before = {path: path.stat().st_mtime for path in results.glob("*.json")}
    command = [
        str(checkout / ".venv" / "bin" / "python"),
        "bench/run.py",
        f"--databases={database}",
        "--replicas=none",
        f"--buyers={args.buyers}",
        f"--duration={args.duration}",
        f"--warmup={args.warmup}",
        f"--products={args.products}",
        f"--max-rate={args.max_rate}",
        "--ceiling-seconds=1",
    ]
    # a baseline that knows these options would otherwise measure its own baseline, and marketing too
    knows = (checkout / "bench" / "run.py").read_text()
    command += [
        option for option in ("--baseline=none", "--configurations=plain") if option.split("=")[0] in knows
    ]
    say(f"\nthe baseline on {database}: {' '.join(command[1:])}")
    subprocess.run(command, cwd=checkout, check=False)
    written = [path for path in results.glob("*.json") if before.get(path) != path.stat().st_mtime]
    if not written:
        raise RuntimeError(f"the baseline's run on {database} wrote no results")
    [result] = [
        run for run in json.loads(written[0].read_text())["runs"] if report.configuration_of(run) == "plain"
    ]
    return result


def compared_with(result, baseline, commit):
    """``result`` with the baseline's figures beside it and the ratio of throughputs."""
    return {
        **result,
        "baseline": {
            "commit": commit,
            # the baseline runs plain orders only (it may predate coupons and agents)
            "configuration": "plain",
            "purchases_per_second": baseline["purchases_per_second"],
            "cpu_ms_per_purchase": report.suite_cpu_ms_per_purchase(baseline),
            "broker_messages_per_purchase": baseline["broker"]["published_per_purchase"],
            "errors": baseline["errors"],
            "audit_ok": baseline["audit"]["ok"],
        },
        "speedup": round(result["purchases_per_second"] / max(baseline["purchases_per_second"], 0.01), 2),
    }


def with_floor(result, framework_floor):
    """``result`` with what its messages cost at the framework's floor (on its database), beside what it spent."""
    return {
        **result,
        "floor": {
            **floor.purchase_floor(framework_floor, result["broker"]),
            "suite_cpu_ms_per_purchase": report.suite_cpu_ms_per_purchase(result),
            "framework": {name: framework_floor[name] for name in report.FLOOR_FIGURES},
        },
    }


def git_commit():
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def main(argv=None):
    args = parse_args(argv)
    print(f"measuring the broker's ceiling ({args.ceiling_seconds:.0f} s, raw pika)…")
    broker_ceiling = ceiling.broker_ceiling(args.ceiling_seconds)
    print(
        f"broker ceiling: {broker_ceiling['messages_per_second']:.0f} messages/s "
        f"({broker_ceiling['pairs']} publisher/consumer pair(s))"
    )
    framework_floors = {}
    for database in args.databases if args.floor_calls else ():
        print(f"measuring the framework's floor on {database} ({args.floor_calls} calls a step)…")
        framework_floors[database] = floor.measure(args.floor_calls, database=database)
        print(
            f"framework floor on {database}: an RPC {framework_floors[database]['rpc_unit_of_work']} ms of CPU "
            f"with a unit of work, an event hop {framework_floors[database]['event_hop']} ms more"
        )
    document = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "uncommitted_changes": bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=REPO,
                capture_output=True,
                text=True,
            ).stdout.strip()
        ),
        "machine": {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()},
        "broker_ceiling": broker_ceiling,
        "framework_floor": framework_floors,
        "notes": args.note,
        "runs": [],
    }
    failed = False
    baseline = None if args.baseline == "none" else baseline_checkout(args.baseline)
    for database in args.databases:
        try:
            measured = measure_baseline(baseline[0], database, args) if baseline else None
        except Exception:
            traceback.print_exc()
            failed = True
            continue
        for configuration in args.configurations:
            try:
                result = run_configuration(database, {}, args, broker_ceiling, configuration)
            except Exception:
                traceback.print_exc()
                failed = True
                continue
            if database in framework_floors:
                result = with_floor(result, framework_floors[database])
            if measured:
                result = compared_with(result, measured, baseline[1])
                print(
                    f"\n{report.run_name(result)} against the baseline {baseline[1]} (plain): "
                    f"{result['purchases_per_second']:.1f} purchases/s over "
                    f"{measured['purchases_per_second']:.1f}, speedup {result['speedup']:.2f}×"
                )
            report.print_result(result)
            document["runs"].append(result)
        for marketing, plain in report.marketing_against_plain(document["runs"]):
            if marketing["database"] == database:
                marketing["against_plain"] = {
                    "purchases_per_second": plain["purchases_per_second"],
                    "ratio": round(
                        marketing["purchases_per_second"] / max(plain["purchases_per_second"], 0.01), 2
                    ),
                    "cpu_ms_per_purchase": report.suite_cpu_ms_per_purchase(plain),
                }
                print(f"\n{report.marketing_beside_plain(document['runs'], database)}")
    # the extra run with replicas measures one configuration: plain, unless only marketing was asked for
    scaled = args.configurations[0] if "plain" not in args.configurations else "plain"
    candidates = [run for run in document["runs"] if report.configuration_of(run) == scaled]
    if args.replicas and candidates:
        if args.replicas == "auto":
            baseline = next((run for run in candidates if run["database"] == "postgresql"), candidates[0])
            busiest = report.busiest_service(baseline, SERVICES)
            replicas, database = {busiest: 2}, baseline["database"]
            print(f"\nthe busiest service on {database} was {busiest}: running it again with two replicas")
        else:
            replicas, database = args.replicas, args.databases[-1]
        try:
            result = run_configuration(database, replicas, args, broker_ceiling, scaled)
            report.print_result(result)
            document["runs"].append(result)
            single = next(
                (run for run in candidates if run["database"] == database and not run["replicas"]), None
            )
            if single:
                print(
                    f"\nscaling out {report.replicas_text(result)}: {result['purchases_per_second']:.1f} "
                    f"purchases/s against {single['purchases_per_second']:.1f} with one process each"
                )
        except Exception:
            traceback.print_exc()
            failed = True
    if document["runs"] and not args.no_save:
        print(f"\nwrote {report.write_results(document)}")
    bad = [
        run
        for run in document["runs"]
        if run["errors"]
        or not run["audit"]["ok"]
        or not run["buyers_view"]["ok"]
        or not run.get("marketing", {"ok": True})["ok"]
    ]
    return 1 if failed or bad else 0


if __name__ == "__main__":
    sys.exit(main())
