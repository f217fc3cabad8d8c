"""What the run costs: CPU seconds per process from /proc, messages from RabbitMQ's management API."""

import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests
import sqlalchemy as sa

from kameng_common.testing import POSTGRES_ADMIN_URL, RABBIT_API

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessStat:
    ppid: int
    name: str
    cpu: float  # user + system seconds of the process itself (all its threads)
    reaped_children_cpu: float  # of its children that exited and were waited for


def _read_stat(pid):
    text = Path(f"/proc/{pid}/stat").read_text()
    # the name is in parentheses and may itself hold spaces or parentheses
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return ProcessStat(int(fields[1]), name, (utime + stime) / CLOCK_TICKS, (cutime + cstime) / CLOCK_TICKS)


def _postgres_database(pid):
    """A backend's database, from the title PostgreSQL gives it ("postgres: 15/main: user db host state")."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ").split()
    except OSError:
        return None
    return title[3] if len(title) > 3 and title[0] == "postgres:" else None


@dataclass
class CpuSnapshot:
    at: float
    processes: dict  # pid → ProcessStat
    databases: dict  # postgres backend pid → its database
    machine_busy: float  # seconds all cores spent running anything since boot
    machine_stolen: float  # seconds the hypervisor gave our virtual cores to someone else


def cpu_snapshot():
    processes, databases = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            processes[pid] = _read_stat(pid)
        except (OSError, ValueError):
            continue  # it exited while we looked
        if processes[pid].name == "postgres":
            databases[pid] = _postgres_database(pid)
    with open("/proc/stat") as handle:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            int(value) for value in handle.readline().split()[1:9]
        )
    return CpuSnapshot(
        time.monotonic(),
        processes,
        databases,
        (user + nice + system + irq + softirq) / CLOCK_TICKS,
        steal / CLOCK_TICKS,
    )


def _descendants(processes, root):
    children = {}
    for pid, stat in processes.items():
        children.setdefault(stat.ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def _used(before, after, pids):
    """CPU seconds the processes ``pids`` used between the snapshots (new ones count from zero)."""
    total = 0.0
    for pid in pids:
        if pid in after.processes:
            previous = before.processes.get(pid)
            total += after.processes[pid].cpu - (previous.cpu if previous else 0.0)
    return total


def cpu_used(before, after, suite_pids, database_names):
    """CPU seconds per process group between two snapshots.

    ``suite_pids``: process name → pid (a gunicorn master's workers count with it).
    ``database_names``: PostgreSQL database → service, to split the backends' CPU by service.
    """
    used = {
        name: _used(before, after, _descendants(after.processes, pid)) for name, pid in suite_pids.items()
    }
    used["rabbitmq"] = sum(
        _used(before, after, _descendants(after.processes, pid))
        for pid, stat in after.processes.items()
        if stat.name == "beam.smp"
    )
    postgres = [pid for pid, stat in after.processes.items() if stat.name == "postgres"]
    if postgres:
        by_service = {}
        for pid in postgres:
            service = database_names.get(after.databases.get(pid))
            if service:
                by_service[service] = by_service.get(service, 0.0) + _used(before, after, [pid])
        for service, seconds in sorted(by_service.items()):
            used[f"postgresql:{service}"] = seconds
        # everything else of the server: its own workers, backends of other databases (other work
        # on this machine), and backends that exited during the window (counted by the postmaster,
        # which reaps them)
        postmasters = [pid for pid in postgres if after.processes[pid].ppid not in postgres]
        reaped = sum(
            after.processes[pid].reaped_children_cpu
            - before.processes.get(pid, after.processes[pid]).reaped_children_cpu
            for pid in postmasters
        )
        used["postgresql:other"] = _used(before, after, postgres) - sum(by_service.values()) + reaped
    used["load generator"] = _used(before, after, [os.getpid()])
    machine_busy = after.machine_busy - before.machine_busy
    used["everything else on the machine"] = max(machine_busy - sum(used.values()), 0.0)
    seconds = after.at - before.at
    machine = {
        "busy_cores": round(machine_busy / seconds, 2),
        "stolen_cores": round((after.machine_stolen - before.machine_stolen) / seconds, 2),
    }
    return used, machine


def _vhost_path(vhost):
    return quote(vhost, safe="")


def broker_counters(vhost):
    """Messages published into and delivered out of ``vhost`` so far, split by exchange kind."""
    path = _vhost_path(vhost)
    stats = requests.get(f"{RABBIT_API}/vhosts/{path}", timeout=10).json().get("message_stats", {})
    counters = {
        "published": stats.get("publish", 0),
        "delivered": stats.get("deliver_get", 0),
        "acked": stats.get("ack", 0),
        "rpc": 0,
        "events": 0,
        "other": 0,
    }
    for exchange in requests.get(f"{RABBIT_API}/exchanges/{path}", timeout=10).json():
        published = exchange.get("message_stats", {}).get("publish_in", 0)
        if exchange["name"] == "nameko-rpc":
            counters["rpc"] += published  # requests and their replies
        elif exchange["name"].endswith(".events"):
            counters["events"] += published
        else:
            counters["other"] += published  # retries and dead letters (default exchange, kameng.dead-letter)
    return counters


def settled_broker_counters(vhost, quiet_seconds=6.0, timeout=30.0):
    """The counters once they have stopped moving: the management API updates them every few seconds."""
    deadline = time.monotonic() + timeout
    counters = broker_counters(vhost)
    while time.monotonic() < deadline:
        time.sleep(quiet_seconds)
        latest = broker_counters(vhost)
        if latest == counters:
            return latest
        counters = latest
    return counters


def postgres_counters(database_names):
    """Per service: transactions committed and rolled back, and rows read and written, so far."""
    if not database_names:
        return {}
    admin = sa.create_engine(POSTGRES_ADMIN_URL, poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        rows = (
            connection.execute(
                sa.text(
                    "SELECT datname, xact_commit, xact_rollback, tup_returned, tup_fetched, "
                    "tup_inserted + tup_updated + tup_deleted AS written "
                    "FROM pg_stat_database WHERE datname = ANY(:names)"
                ),
                {"names": list(database_names)},
            )
            .mappings()
            .all()
        )
    admin.dispose()
    return {
        database_names[row["datname"]]: {
            "transactions": row["xact_commit"] + row["xact_rollback"],
            "rows_scanned": row["tup_returned"],
            "rows_fetched": row["tup_fetched"],
            "rows_written": row["written"],
        }
        for row in rows
    }
