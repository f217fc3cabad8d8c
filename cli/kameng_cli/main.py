"""kameng run | seed | demo | paysim | supplier-sim | dlq | audit | audit-log | cards import | forecast backtest
| risk evaluate"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from kameng_cli import audit, cards, forecasting, paysim, shop
from kameng_cli.secrets import (
    SIM_SECRET_FILE,
    admin_credentials,
    demo_customer_credentials,
    local_secrets,
    supplier_sim_credentials,
)
from kameng_cli.suite import SERVICES, Suite, SuiteSettings, taken_ports
from kameng_cli.supplier_sim import DEFAULT_SIM_PORT, Knobs, SimState, SupplierSim
from kameng_common import dlq
from kameng_common.config import amqp_uri, data_dir, secure_data_dir
from kameng_common.errors import KamengError
from kameng_gateway.rpc import RpcClient


def gateway_url():
    port = os.environ.get("KAMENG_GATEWAY_PORT", "8000")
    return os.environ.get("KAMENG_GATEWAY_URL", f"http://127.0.0.1:{port}")


def _stop_running(signum, frame):
    raise KeyboardInterrupt


def run(args):
    # explicit, because a shell that starts us in the background ignores SIGINT for us,
    # and a supervisor stops us with SIGTERM
    signal.signal(signal.SIGINT, _stop_running)
    signal.signal(signal.SIGTERM, _stop_running)
    # the data folder, its databases, keys and logs: readable by this user alone
    os.umask(0o077)
    folder = data_dir()
    secure_data_dir(folder)
    settings = SuiteSettings(
        data_dir=folder,
        amqp_uri=amqp_uri(),
        gateway_port=int(os.environ.get("KAMENG_GATEWAY_PORT", "8000")),
        paysim_port=int(os.environ.get("KAMENG_PAYSIM_PORT", "8010")),
        supplier_sim_port=int(os.environ.get("KAMENG_SUPPLIER_SIM_PORT", str(DEFAULT_SIM_PORT))),
    )
    taken = taken_ports(settings)
    if taken:
        sys.exit(
            "kameng run: "
            + "; ".join(
                f"port {port} is already in use (set {setting} to a free port)" for setting, port in taken
            )
        )
    admin = admin_credentials(folder)
    suite = Suite(settings)
    print(
        "starting Kameng: 5 services, the gateway, the payment sandbox and the supplier simulator;"
        f" logs in {suite.log_dir}"
    )
    suite.start()
    try:
        suite.wait_ready()
        seeded_marker = folder / "demo-shop.seeded"
        customer = demo_customer_credentials(folder)
        if not args.no_seed and not seeded_marker.exists():
            products = shop.seed_demo_shop(settings.gateway_url, admin, customer)
            seeded_marker.write_text(json.dumps([product["id"] for product in products]))
            print(f"seeded the demo shop: {len(products)} products with cards, customer {customer[0]!r}")
        supplier_marker = folder / "demo-supplier.seeded"
        if not args.no_seed and not supplier_marker.exists():
            top_up = shop.seed_demo_supplier(
                settings.gateway_url, admin, settings.supplier_sim_url, *supplier_sim_credentials(folder)
            )
            supplier_marker.write_text(json.dumps([top_up["id"]]))
            print(
                f"seeded a supplier (the simulator at {settings.supplier_sim_url}) and its top-up {top_up['name']!r}"
            )
        print(
            f"""
Kameng is running at {settings.gateway_url}
  storefront: {settings.gateway_url}/   (sign in as the customer below)
  console:    {settings.gateway_url}/admin   (sign in as the admin below)
  API spec:   {settings.gateway_url}/openapi.json
  admin:      {admin[0]} / {admin[1]}
  customer:   {customer[0]} / {customer[1]}
  payments:   mockpay, balance, and alipay, wechat, unionpay against the sandbox {settings.paysim_url}
  supplier:   direct top-ups from the supplier simulator {settings.supplier_sim_url}
  try it:     make demo   (buys a card through the API; DEMO_ARGS="--method alipay" pays in the sandbox)
  data, keys and logs: {folder}
Press Ctrl-C to stop.""",
            flush=True,
        )
        while True:
            suite.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping…")
    finally:
        suite.stop()
        print("stopped")


def demo(args):
    folder = data_dir()
    secret = local_secrets(folder)["KAMENG_MOCKPAY_SECRET"]
    order, cards = shop.buy_card(gateway_url(), demo_customer_credentials(folder), secret, method=args.method)
    print("\nthe order's journey:")
    for step in order["history"]:
        reason = f"  ({step['reason']})" if step.get("reason") else ""
        print(f"  {step['at']}  {step['status']}{reason}")
    print("\ndelivered card:")
    for card in cards:
        print(f"  number {card['number']}  secret {card['secret']}")
    print("\na direct top-up, bought from the supplier once paid:")
    top_up = shop.buy_top_up(gateway_url(), demo_customer_credentials(folder), secret, method=args.method)
    if top_up is None:
        print("  no direct product is on sale (kameng run seeds one on the supplier simulator)")


def payment_sandbox(args):
    folder = data_dir()
    if args.statement:
        day = args.date or time.strftime("%Y-%m-%d")
        text = paysim.Sandbox(folder).statement(args.statement, day)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text)
            print(f"wrote {args.statement}'s statement of {day} to {args.output}")
        else:
            sys.stdout.write(text)
        return
    signal.signal(signal.SIGTERM, _stop_running)
    try:
        paysim.serve(folder, port=args.port)
    except KeyboardInterrupt:
        pass


def finance_reconcile(args):
    try:
        with open(args.file, encoding="utf-8-sig") as handle:
            statement = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        sys.exit(f"kameng finance reconcile: cannot read {args.file}: {error}")
    rpc = RpcClient(amqp_uri(), timeout=audit.RPC_TIMEOUT_SECONDS)
    try:
        report = rpc.call("payments", "reconcile", args.provider, statement, "cli")
    except KamengError as error:
        sys.exit(f"kameng finance reconcile: {error}")
    finally:
        rpc.close()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(f"{args.provider} statement of {', '.join(report['days']) or 'no day'}:")
        print("  " + ", ".join(f"{kind} {count}" for kind, count in report["counts"].items()))
        for kind in ("missing_here", "missing_at_provider", "amount_mismatch"):
            for row in report[kind]:
                line = f"line {row['line']}: " if "line" in row else ""
                here = f" (here {row['amount_here']})" if "amount_here" in row else ""
                print(f"  {kind}  {line}{row['kind']} {row['reference']} {row['amount']}{here}")
        for broken in report["broken_lines"]:
            print(f"  broken line {broken['line']}: {broken['error']}")
    counts = report["counts"]
    if (
        counts["missing_here"]
        or counts["missing_at_provider"]
        or counts["amount_mismatch"]
        or counts["broken_lines"]
    ):
        sys.exit(1)


def seed(args):
    folder = data_dir()
    products = shop.seed_demo_shop(
        gateway_url(), admin_credentials(folder), demo_customer_credentials(folder), cards_scale=args.scale
    )
    print(f"seeded {len(products)} products")


def supplier_sim(args):
    key_id, secret = supplier_sim_credentials(data_dir())
    knobs = Knobs(
        response_delay=args.response_delay,
        error_rate=args.error_rate,
        fulfil_seconds=args.fulfil_seconds,
        failure_rate=args.failure_rate,
        lost_callbacks=args.lost_callbacks,
        duplicate_callbacks=args.duplicate_callbacks,
    )
    sim = SupplierSim(SimState({key_id: secret}, knobs=knobs), args.port, args.host)
    print(
        f"supplier-sim at {sim.base_url}: API key {key_id}, secret in {data_dir() / SIM_SECRET_FILE}",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _stop_running)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass


def dead_letters(args):
    services = [args.service] if args.service else SERVICES
    for service in services:
        if args.action == "list":
            for letter in dlq.list_dead_letters(amqp_uri(), service):
                print(json.dumps({"service": service, **letter}, default=str))
        elif args.action == "replay":
            print(f"{service}: replayed {dlq.replay(amqp_uri(), service, args.id)}")
        else:
            print(f"{service}: discarded {dlq.discard(amqp_uri(), service, args.id)}")


def audit_invariants(args):
    try:
        report = audit.audit(amqp_uri(), audit.Timeouts.from_env(grace=args.grace))
    except KamengError as error:  # a service did not answer: nothing could be checked
        sys.exit(f"kameng audit: {error}")
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.render())
    if not report.ok:
        sys.exit(1)


def audit_log_verify(args):
    """Recompute the audit log's hash chain; exits 1 when it is broken."""
    from kameng_gateway.rpc import RpcClient

    try:
        report = RpcClient(amqp_uri(), timeout=args.timeout).call("risk", "verify_audit_log")
    except KamengError as error:
        sys.exit(f"kameng audit-log verify: {error}")
    if args.json:
        print(json.dumps(report, indent=2))
    elif report["ok"]:
        print(
            f"audit log intact: {report['checked']} entries, head {report['head']['seq']} {report['head']['hash']}"
        )
    else:
        print(
            f"audit log BROKEN at entry {report['first_broken']} ({report['checked']} entries intact before it)"
        )
    if not report["ok"]:
        sys.exit(1)


def import_cards(args):
    staff = shop.Gateway(gateway_url()).log_in(*admin_credentials(data_dir()))
    report = cards.run_import(staff, args.file, args.product, args.format)
    print(
        f"imported {report['imported']:,}, duplicates {report['duplicates']:,}, "
        f"rejected {report['rejected']:,}"
    )
    for kind in ("duplicate", "rejected"):
        lines = report[f"{kind}_lines"]
        if lines:
            shown = ", ".join(map(str, lines[:50])) + (
                f" and {len(lines) - 50:,} more" if len(lines) > 50 else ""
            )
            print(f"{kind} lines: {shown}")


def forecast_backtest(args):
    """Score the demand forecast against seasonal-naive; exits 1 where it does not beat it."""
    from inventory.forecast import synthetic_year

    try:
        history = forecasting.read_history(args.file) if args.file else synthetic_year()
    except (OSError, forecasting.HistoryError) as error:
        sys.exit(f"kameng forecast backtest: {error}")
    backtests, total = forecasting.run_backtests(history)
    forecasting.render(backtests, total, args.file or "a synthetic year")
    if total is None or total[0].mase >= total[1].mase:
        sys.exit(1)


def risk_evaluate(args):
    """Measure risk's rules against the labelled attack set on a fresh suite; exits 1 when a target is missed."""
    from kameng_cli import riskeval

    report = riskeval.evaluate(
        database=args.database,
        seed=args.seed,
        runs=args.runs,
        normal_runs=args.normal,
        workers=args.workers,
        say=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(json.dumps(report, indent=2) if args.json else riskeval.render(report))
    if args.output:
        print(f"written to {riskeval.save(report, Path(args.output))}", file=sys.stderr)
    if not report["ok"]:
        sys.exit(1)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="kameng", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the whole suite locally in the foreground")
    run_parser.add_argument("--no-seed", action="store_true", help="don't seed the demo shop")
    run_parser.set_defaults(handler=run)
    demo_parser = commands.add_parser(
        "demo", help="buy a card and a direct top-up through the running gateway"
    )
    demo_parser.add_argument(
        "--method",
        choices=["mockpay", "alipay", "wechat", "unionpay"],
        default="mockpay",
        help="how to pay: mockpay, or a provider's sandbox page in paysim",
    )
    demo_parser.set_defaults(handler=demo)
    finance_parser = commands.add_parser("finance", help="finance: reconcile a provider's statement")
    finance_commands = finance_parser.add_subparsers(dest="finance_command", required=True)
    reconcile_parser = finance_commands.add_parser(
        "reconcile",
        help="match a provider's daily statement (CSV) against the ledger; exits 1 on any mismatch",
    )
    reconcile_parser.add_argument("file")
    reconcile_parser.add_argument("--provider", required=True, choices=["alipay", "wechat"])
    reconcile_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    reconcile_parser.set_defaults(handler=finance_reconcile)
    paysim_parser = commands.add_parser(
        "paysim", help="run the local Alipay, WeChat Pay and UnionPay sandbox, or write its daily statement"
    )
    paysim_parser.add_argument("--port", type=int, default=int(os.environ.get("KAMENG_PAYSIM_PORT", "8010")))
    paysim_parser.add_argument(
        "--statement",
        choices=["alipay", "wechat"],
        help="write that provider's bill (CSV) instead of serving",
    )
    paysim_parser.add_argument("--date", help="the statement's day, YYYY-MM-DD (default today)")
    paysim_parser.add_argument("--output", help="the statement file (default standard output)")
    paysim_parser.set_defaults(handler=payment_sandbox)
    seed_parser = commands.add_parser("seed", help="seed (another) demo catalogue into the running suite")
    seed_parser.add_argument("--scale", type=int, default=1, help="multiply the cards imported")
    seed_parser.set_defaults(handler=seed)
    sim_parser = commands.add_parser(
        "supplier-sim",
        help="run an upstream supplier that speaks the channel API (for development and tests)",
    )
    sim_parser.add_argument("--host", default="127.0.0.1")
    sim_parser.add_argument("--port", type=int, default=DEFAULT_SIM_PORT)
    sim_parser.add_argument("--response-delay", type=float, default=0.0, help="seconds before each answer")
    sim_parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 503")
    sim_parser.add_argument("--fulfil-seconds", type=float, default=0.5, help="from order to outcome")
    sim_parser.add_argument("--failure-rate", type=float, default=0.0, help="share of top-ups that fail")
    sim_parser.add_argument("--lost-callbacks", type=float, default=0.0, help="share of callbacks never sent")
    sim_parser.add_argument(
        "--duplicate-callbacks", type=float, default=0.0, help="share of callbacks sent twice"
    )
    sim_parser.set_defaults(handler=supplier_sim)
    dlq_parser = commands.add_parser("dlq", help="list, replay or discard dead-lettered events")
    dlq_parser.add_argument("action", choices=["list", "replay", "discard"])
    dlq_parser.add_argument("--service", choices=SERVICES)
    dlq_parser.add_argument("--id", help="only the event with this message id (required to discard)")
    dlq_parser.set_defaults(handler=dead_letters)
    audit_parser = commands.add_parser(
        "audit", help="check the invariants across every service; exits 1 on any violation"
    )
    audit_parser.add_argument(
        "--grace",
        type=float,
        default=audit.DEFAULT_GRACE_SECONDS,
        help="seconds a message may take between services before it counts as lost",
    )
    audit_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    audit_parser.set_defaults(handler=audit_invariants)
    audit_log_parser = commands.add_parser("audit-log", help="the tamper-evident audit log")
    audit_log_parser.add_argument("action", choices=["verify"], help="verify: recompute the hash chain")
    audit_log_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    audit_log_parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for risk")
    audit_log_parser.set_defaults(handler=audit_log_verify)
    cards_parser = commands.add_parser("cards", help="manage card stock").add_subparsers(
        dest="action", required=True
    )
    import_parser = cards_parser.add_parser(
        "import",
        help="import a card file of any size into a product, in batches, with a progress bar; "
        "run it again after an interruption to go on where it stopped",
    )
    import_parser.add_argument(
        "file", help="one card a line: 'number secret' (text) or 'number,secret' (CSV)"
    )
    import_parser.add_argument("--product", type=int, required=True, help="the product id")
    import_parser.add_argument(
        "--format",
        choices=["auto", "text", "csv"],
        default="auto",
        help="auto: CSV for a .csv file, else text",
    )
    import_parser.set_defaults(handler=import_cards)
    forecast_parser = commands.add_parser("forecast", help="the restock demand forecast").add_subparsers(
        dest="forecast_command", required=True
    )
    backtest_parser = forecast_parser.add_parser(
        "backtest",
        help="the forecast's error (MASE, sMAPE) per product and overall against seasonal-naive, rolling "
        "over a sales history; exits 1 unless it beats seasonal-naive",
    )
    backtest_parser.add_argument(
        "file", nargs="?", help="a CSV of date,product,units (default: a synthetic year of sales)"
    )
    backtest_parser.set_defaults(handler=forecast_backtest)
    risk_parser = commands.add_parser("risk", help="risk's rules").add_subparsers(
        dest="risk_command", required=True
    )
    evaluate_parser = risk_parser.add_parser(
        "evaluate",
        help="start a fresh suite, play normal traffic and each attack (card testing, stock hoarding, "
        "velocity bursts, refund abuse, account takeover) against it, and print per scenario the "
        "detection rate and the false-positive rate on normal orders; exits 1 when a target is missed",
    )
    evaluate_parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    evaluate_parser.add_argument("--seed", type=int, default=1, help="the same seed plays the same traffic")
    evaluate_parser.add_argument("--runs", type=int, default=30, help="runs of each attack")
    evaluate_parser.add_argument("--normal", type=int, default=200, help="normal customers")
    evaluate_parser.add_argument("--workers", type=int, default=6, help="runs played at once")
    evaluate_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate_parser.add_argument(
        "--output", help="a folder to write the report into as <database>.json (bench/results/risk)"
    )
    evaluate_parser.set_defaults(handler=risk_evaluate)
    args = parser.parse_args(argv)
    if getattr(args, "action", None) == "discard" and not args.id:
        parser.error("dlq discard needs --id: dead letters are removed one at a time, on purpose")
    try:
        args.handler(args)
    except shop.ApiError as error:
        sys.exit(f"kameng {args.command}: {error}")


if __name__ == "__main__":
    main()
