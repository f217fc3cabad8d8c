"""Profile the suite's processes under the benchmark's load with py-spy.

    python bench/hotspots.py [--database postgresql] [--buyers 64] [--seconds 15] [--replicas orders=2]
                            [--out /tmp/kameng-profile]

Starts a fresh suite, loads it like bench/run.py does, and after a warm-up
samples every process (gateway workers included) for ``--seconds`` with
``py-spy record --gil``: only stacks holding the GIL, i.e. Python at work,
not threads waiting on the broker or the database. Writes each process's
collapsed stacks (``<name>.txt``, for flamegraph tools) and ``summary.txt``:
per process its CPU per purchase, and its samples by entrypoint (service
method, outbox relay, RPC replies, gateway route), by activity (SQL, AMQP,
marshmallow, ...) and by function, self and inclusive, each as a share of
that CPU.

py-spy is not one of the suite's dependencies: ``pip install py-spy``; it
needs the right to ptrace the processes (root, or CAP_SYS_PTRACE).
"""

import argparse
import asyncio
import collections
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import load
import probes
import stage
from run import parse_replicas

SAMPLES_PER_SECOND = 100


# what a sample is doing: the deepest frame from one of these libraries names it
ACTIVITIES = (
    ("SQL (SQLAlchemy and its driver)", ("sqlalchemy/", "psycopg", "sqlite3", "psycogreen")),
    (
        "AMQP (kombu, amqp, pika, nameko messaging)",
        ("kombu/", "amqp/", "pika/", "nameko/amqp", "nameko/messaging", "nameko/rpc.py"),
    ),
    ("marshmallow", ("marshmallow/",)),
    ("JSON", ("json/",)),
    ("logging", ("logging/", "pythonjsonlogger")),
    ("metrics", ("prometheus_client",)),
    ("eventlet hub (green switching, waits)", ("eventlet/",)),
    ("crypto (JWT, HMAC, AES)", ("cryptography", "hmac", "hashlib", "jwt/")),
    ("gunicorn, flask, werkzeug", ("gunicorn/", "flask/", "werkzeug/")),
)


def _entrypoint(frames):
    """Where a sample is: a service's entrypoint, the relay, nameko's plumbing, or a gateway route."""
    for frame in frames:
        found = re.match(r"(\w+Service)\.(\w+) ", frame)
        if found:
            return found.group(2)
    for key, place in (
        ("OutboxRelay", "outbox relay"),
        ("Responder.send_response", "RPC replies"),
        ("kameng_gateway/blueprints/", None),
        ("Flask.", "gateway outside the routes"),
        ("gunicorn/", "gunicorn"),
        ("drain_events", "AMQP consumer loop"),
    ):
        for frame in frames:
            if key in frame:
                if place is None:  # "view (kameng_gateway/blueprints/orders.py)" → "route orders.view"
                    found = re.match(r"(\w+) \(kameng_gateway/blueprints/(\w+)\.py", frame)
                    return f"route {found.group(2)}.{found.group(1)}" if found else "gateway routes"
                return place
    return "other"


def _activity(frames):
    for frame in reversed(frames):
        for name, markers in ACTIVITIES:
            if any(marker in frame for marker in markers):
                return name
    return "Python (the app, the standard library)"


def collapsed_profile(path):
    """Sample counts of a py-spy raw file: total, and by self frame, inclusive frame, entrypoint, activity."""
    counters = {key: collections.Counter() for key in ("self", "inclusive", "entrypoint", "activity")}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        count = int(count)
        # "function (file:line)" → "function (file)": lines of one function count together
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        total += count
        counters["self"][frames[-1]] += count
        for frame in set(frames):
            counters["inclusive"][frame] += count
        counters["entrypoint"][_entrypoint(frames)] += count
        counters["activity"][_activity(frames)] += count
    return total, counters


def summarise(out, cpu_ms_per_purchase, top):
    lines = []
    for path in sorted(out.glob("*.txt")):
        if path.name == "summary.txt":
            continue
        name = path.stem
        total, counters = collapsed_profile(path)
        if not total:
            continue
        cpu = cpu_ms_per_purchase.get(name, 0.0)
        lines.append(f"\n=== {name}: {cpu:.1f} ms CPU per purchase, {total} samples holding the GIL ===")
        for title, key, shown in (
            ("by entrypoint", "entrypoint", top),
            ("by activity", "activity", top),
            ("self", "self", top),
            ("inclusive", "inclusive", 2 * top),
        ):
            lines.append(f"--- {title} (% of samples, ≈ ms per purchase)")
            for frame, count in counters[key].most_common(shown):
                lines.append(f"{100 * count / total:5.1f}%  {cpu * count / total:6.2f} ms  {frame}")
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--buyers", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--replicas", type=parse_replicas, default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/kameng-profile"))
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    args.out.mkdir(parents=True, exist_ok=True)

    replicas = args.replicas if isinstance(args.replicas, dict) else None
    with stage.fresh_suite(args.database, replicas) as running:
        shop = stage.open_shop(running, 4, int(250 * (args.warmup + args.seconds + 10)), args.buyers)
        buyers = load.Buyers(
            running.gateway_url, [token for _name, token in shop.accounts], shop.products, shop.mockpay_secret
        )
        outcome = {}
        buying = threading.Thread(
            target=lambda: outcome.update(purchases=asyncio.run(buyers.run(args.warmup + args.seconds + 2)))
        )
        buying.start()
        time.sleep(args.warmup)
        pids = running.pids()
        before = probes.cpu_snapshot()
        started = time.monotonic()
        spies = [
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--gil",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--rate",
                    str(SAMPLES_PER_SECOND),
                    "--duration",
                    str(int(args.seconds)),
                    "--output",
                    str(args.out / f"{name}.txt"),
                    "--pid",
                    str(pid),
                    *(["--subprocesses"] if name == "gateway" else []),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in pids.items()
        ]
        for spy in spies:
            spy.wait()
        after = probes.cpu_snapshot()
        finished = time.monotonic()
        buying.join()
    completed = [
        purchase
        for purchase in outcome["purchases"]
        if purchase.finished and not purchase.error and started <= purchase.finished <= finished
    ]
    cpu_seconds, _machine = probes.cpu_used(before, after, pids, running.service_of_database())
    per_purchase = {name: 1000 * seconds / max(len(completed), 1) for name, seconds in cpu_seconds.items()}
    print(f"{len(completed) / (finished - started):.1f} purchases/s while sampling (py-spy costs CPU too)")
    print(summarise(args.out, per_purchase, args.top))
    print(f"\ncollapsed stacks and summary.txt in {args.out}")


if __name__ == "__main__":
    main()
