"""The framework's floor on this machine: the CPU of one RPC and of one event hop, with no business in them.

    python bench/floor.py [--calls 2000] [--callers 16] [--database sqlite|postgresql]

Two processes of bench/floor_service.py (nameko on eventlet, Kameng's RPC
entrypoint, unit of work, outbox relay and inbox), each on a database of its
own (SQLite, or PostgreSQL), on a vhost of their own, called by the gateway's
RPC client from ``--callers`` threads, as the gateway calls the suite. Each
step makes ``--calls`` calls and counts the CPU of every process involved
(the caller, both services and their PostgreSQL backends, RabbitMQ) over them:

- ``rpc``: a round trip that does nothing;
- ``rpc_unit_of_work``: a round trip that commits one row;
- ``event_hop``: a round trip that commits a row and an event, which the other
  service handles (inbox mark and a row); the figure is what the event adds
  over ``rpc_unit_of_work`` (outbox write, publish with confirm, mark
  published, delivery, handling, ack).

bench/run.py measures it on each database of the run and sets each run's
messages against it (``floor`` in each run): the least CPU a purchase's RPCs
and events cost, whatever the purchase does in them.
"""

import argparse
import concurrent.futures
import contextlib
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import probes

from kameng_common.testing import create_postgres_database, create_vhost, delete_vhost, drop_postgres_database
from kameng_gateway.rpc import RpcClient

SERVICE = Path(__file__).resolve().parent / "floor_service.py"
ROLES = ("publisher", "subscriber")
STARTUP_SECONDS = 60


def _call_many(client, method, calls, callers):
    with concurrent.futures.ThreadPoolExecutor(callers) as pool:
        # list(): an exception in any call is raised here
        list(pool.map(lambda _number: client.call("customers", method), range(calls)))


def _wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the floor's services: {what} after {timeout:.0f} s")
        time.sleep(0.05)


def _answers(client, service, method):
    try:
        client.call(service, method, timeout=1)
    except Exception:  # not up yet: the broker returns the request, or it times out
        return False
    return True


def _cpu_ms_per_call(client, processes, database_names, method, calls, callers, settled=lambda: True):
    before = probes.cpu_snapshot()
    _call_many(client, method, calls, callers)
    _wait_until(settled, 60, "events not handled")
    after = probes.cpu_snapshot()
    pids = {role: process.pid for role, process in processes.items()}
    used, _machine = probes.cpu_used(before, after, pids, database_names)
    used["caller"] = used.pop("load generator")
    # the server's own work and other databases' backends are not the floor's
    for other in ("everything else on the machine", "postgresql:other"):
        used.pop(other, None)
    return {name: seconds / calls * 1000 for name, seconds in used.items()}


@contextlib.contextmanager
def _databases(database, folder):
    """{role: database URL} for the publisher and the subscriber, and {PostgreSQL database: role}."""
    if database == "sqlite":
        yield {role: f"sqlite:///{folder}/{role}.db" for role in ROLES}, {}
        return
    created = {role: create_postgres_database("kameng_bench_floor") for role in ROLES}
    try:
        yield (
            {role: url for role, (_name, url) in created.items()},
            {name: role for role, (name, _url) in created.items()},
        )
    finally:
        for name, _url in created.values():
            drop_postgres_database(name)


def measure(calls=2000, callers=16, database="sqlite"):
    """{rpc, rpc_unit_of_work, event_hop, event_delivery}: CPU milliseconds, all processes together.

    On PostgreSQL the services' backends count with them (``postgresql:<role>``).
    """
    vhost, amqp_uri = create_vhost("kameng-bench-floor")
    client = RpcClient(amqp_uri, timeout=30)
    try:
        # left in reverse: the services stop (closing their connections) before their databases are dropped
        with (
            tempfile.TemporaryDirectory(prefix="kameng-floor-") as folder,
            _databases(database, folder) as (urls, database_names),
            _services(amqp_uri, urls) as processes,
        ):
            for service, method in (("customers", "echo"), ("risk", "handled")):
                _wait_until(lambda: _answers(client, service, method), STARTUP_SECONDS, f"{service} not up")
            # warm up every path (connections, pools, compiled statements) before counting
            for method in ("echo", "write", "publish"):
                _call_many(client, method, callers * 4, callers)
            measured = partial(_cpu_ms_per_call, client, processes, database_names)
            rpc = measured("echo", calls, callers)
            unit_of_work = measured("write", calls, callers)
            target = client.call("risk", "handled") + calls
            with_event = measured("publish", calls, callers, lambda: client.call("risk", "handled") >= target)
    finally:
        client.close()
        delete_vhost(vhost)
    event_hop = {name: with_event[name] - unit_of_work.get(name, 0.0) for name in with_event}
    return {
        "rpc": _total(rpc),
        "rpc_unit_of_work": _total(unit_of_work),
        "event_hop": _total(event_hop),
        # a delivery's own share: the subscriber (and its database) handling the event and acking it
        "event_delivery": round(event_hop["subscriber"] + event_hop.get("postgresql:subscriber", 0.0), 2),
        "by_process": {
            "rpc": _rounded(rpc),
            "rpc_unit_of_work": _rounded(unit_of_work),
            "event_hop": _rounded(event_hop),
        },
        "calls": calls,
        "callers": callers,
        "database": database,
    }


@contextlib.contextmanager
def _services(amqp_uri, urls):
    """{role: process} of bench/floor_service.py, one per role on its database; stopped on the way out."""
    processes = {}
    try:
        for role in ROLES:
            processes[role] = subprocess.Popen(
                [sys.executable, str(SERVICE), role, amqp_uri, urls[role]],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        yield processes
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _total(by_process):
    return round(sum(by_process.values()), 2)


def _rounded(by_process):
    return {name: round(ms, 2) for name, ms in by_process.items()}


def purchase_floor(floor, broker):
    """What a purchase's messages (a run's ``broker`` figures) cost at least, in CPU ms.

    Each RPC (the broker counts its request and its reply) at a bare round
    trip's cost, each event published at a whole hop's, and each further
    delivery of it (one publish may feed several subscribers) at what the
    hop cost its subscriber alone.
    """
    rpc_calls = broker["rpc_per_purchase"] / 2
    events = broker["events_per_purchase"]
    event_deliveries = broker["delivered_per_purchase"] - broker["rpc_per_purchase"]
    further_deliveries = max(event_deliveries - events, 0.0)
    least = (
        rpc_calls * floor["rpc"] + events * floor["event_hop"] + further_deliveries * floor["event_delivery"]
    )
    return {
        "rpc_calls": round(rpc_calls, 1),
        "events": round(events, 1),
        "event_deliveries": round(event_deliveries, 1),
        "cpu_ms_per_purchase": round(least, 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    floor = measure(args.calls, args.callers, args.database)
    print(
        f"CPU per call, all processes: RPC {floor['rpc']} ms, RPC with a unit of work "
        f"{floor['rpc_unit_of_work']} ms, an event hop {floor['event_hop']} ms more"
    )
    for step, by_process in floor["by_process"].items():
        print(f"  {step}: " + ", ".join(f"{name} {ms} ms" for name, ms in by_process.items()))


if __name__ == "__main__":
    main()
