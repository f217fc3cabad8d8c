"""probes.py: CPU per process group from /proc snapshots, and the broker's counters, on made-up readings."""

import os

import probes
import pytest
from probes import CpuSnapshot, ProcessStat


class Proc:
    """Stands in for pathlib.Path over /proc: each path reads as ``files`` says."""

    def __init__(self, files):
        self.files = files

    def __call__(self, path):
        self.path = path
        return self

    def read_text(self):
        return self.files[self.path]

    def read_bytes(self):
        if self.path not in self.files:
            raise FileNotFoundError(self.path)
        return self.files[self.path]


def test_read_stat_of_a_process_with_parentheses_in_its_name(monkeypatch):
    ticks = probes.CLOCK_TICKS
    # pid (comm) state ppid ... utime stime cutime cstime (fields 14 to 17)
    fields = ["S", "42", *["0"] * 9, str(3 * ticks), str(ticks), str(2 * ticks), "0", "20", "0"]
    monkeypatch.setattr(probes, "Path", Proc({"/proc/7/stat": f"7 (odd (name) x) {' '.join(fields)}\n"}))
    assert probes._read_stat(7) == ProcessStat(ppid=42, name="odd (name) x", cpu=4.0, reaped_children_cpu=2.0)


def test_read_stat_of_this_process():
    stat = probes._read_stat(os.getpid())
    assert stat.ppid == os.getppid()
    assert stat.cpu > 0


def test_a_backend_s_database_from_its_title(monkeypatch):
    monkeypatch.setattr(
        probes,
        "Path",
        Proc(
            {
                "/proc/1/cmdline": b"postgres: 15/main: postgres kameng_orders 127.0.0.1(5432) idle\0",
                "/proc/2/cmdline": b"postgres: 15/main: checkpointer \0",
                "/proc/3/cmdline": b"python\0bench/run.py\0",
            }
        ),
    )
    assert probes._postgres_database(1) == "kameng_orders"
    assert probes._postgres_database(2) is None  # a worker of the server's own
    assert probes._postgres_database(3) is None
    assert probes._postgres_database(4) is None  # gone


def stat(ppid, name, cpu, reaped=0.0):
    return ProcessStat(ppid, name, cpu, reaped)


def test_descendants_of_a_process():
    processes = {
        1: stat(0, "init", 0),
        10: stat(1, "gunicorn", 0),
        11: stat(10, "w", 0),
        12: stat(11, "x", 0),
    }
    processes[20] = stat(1, "other", 0)
    assert sorted(probes._descendants(processes, 10)) == [10, 11, 12]
    assert probes._descendants(processes, 99) == [99]


def test_used_counts_a_new_process_from_zero_and_leaves_out_one_gone():
    before = CpuSnapshot(0.0, {1: stat(0, "a", 5.0), 2: stat(0, "b", 1.0)}, {}, 0.0, 0.0)
    after = CpuSnapshot(10.0, {1: stat(0, "a", 7.5), 3: stat(0, "c", 0.5)}, {}, 0.0, 0.0)
    assert probes._used(before, after, [1, 2, 3]) == pytest.approx(3.0)


def test_cpu_used_by_group():
    me = os.getpid()
    before = CpuSnapshot(
        at=100.0,
        processes={
            10: stat(1, "python", 10.0),  # orders
            20: stat(1, "gunicorn", 1.0),  # the gateway's master
            21: stat(20, "gunicorn", 4.0),  # and a worker
            30: stat(1, "beam.smp", 50.0),
            40: stat(1, "postgres", 2.0, reaped=3.0),  # the postmaster
            41: stat(40, "postgres", 1.0),  # orders' backend
            42: stat(40, "postgres", 9.0),  # another database's backend
            me: stat(1, "python", 20.0),
        },
        databases={40: None, 41: "kameng_orders", 42: "elsewhere"},
        machine_busy=1000.0,
        machine_stolen=1.0,
    )
    after = CpuSnapshot(
        at=110.0,
        processes={
            10: stat(1, "python", 14.0),
            20: stat(1, "gunicorn", 1.0),
            21: stat(20, "gunicorn", 6.0),
            22: stat(20, "gunicorn", 1.0),  # a worker started in the window
            30: stat(1, "beam.smp", 53.0),
            40: stat(1, "postgres", 2.5, reaped=4.0),  # a backend exited and was reaped: 1 s
            41: stat(40, "postgres", 2.5),
            42: stat(40, "postgres", 9.5),
            me: stat(1, "python", 20.2),
        },
        databases={40: None, 41: "kameng_orders", 42: "elsewhere"},
        machine_busy=1016.0,
        machine_stolen=1.5,
    )
    used, machine = probes.cpu_used(before, after, {"orders": 10, "gateway": 20}, {"kameng_orders": "orders"})
    assert used == pytest.approx(
        {
            "orders": 4.0,
            "gateway": 3.0,
            "rabbitmq": 3.0,
            "postgresql:orders": 1.5,
            # the postmaster 0.5, the other database's backend 0.5, the backend reaped 1.0
            "postgresql:other": 2.0,
            "load generator": 0.2,
            "everything else on the machine": 16.0 - 13.7,
        }
    )
    assert machine == {"busy_cores": 1.6, "stolen_cores": 0.05}


def test_cpu_used_without_postgresql_and_more_counted_than_the_machine_says():
    before = CpuSnapshot(0.0, {10: stat(1, "python", 0.0)}, {}, 0.0, 0.0)
    after = CpuSnapshot(1.0, {10: stat(1, "python", 2.0)}, {}, 1.0, 0.0)
    used, _machine = probes.cpu_used(before, after, {"orders": 10}, {})
    assert not any(name.startswith("postgresql") for name in used)
    assert used["everything else on the machine"] == 0.0  # never below nothing


class Answer:
    def __init__(self, body):
        self.body = body

    def json(self):
        return self.body


def test_broker_counters_by_exchange_kind(monkeypatch):
    asked = []
    answers = {
        f"{probes.RABBIT_API}/vhosts/kameng%2Fbench": {"message_stats": {"publish": 100, "deliver_get": 110}},
        f"{probes.RABBIT_API}/exchanges/kameng%2Fbench": [
            {"name": "nameko-rpc", "message_stats": {"publish_in": 70}},
            {"name": "orders.events", "message_stats": {"publish_in": 20}},
            {"name": "inventory.events", "message_stats": {"publish_in": 6}},
            {"name": "", "message_stats": {"publish_in": 3}},
            {"name": "kameng.dead-letter", "message_stats": {"publish_in": 1}},
            {"name": "amq.topic"},  # never used: no message_stats at all
        ],
    }

    def get(url, timeout):
        asked.append(url)
        return Answer(answers[url])

    monkeypatch.setattr(probes.requests, "get", get)
    assert probes.broker_counters("kameng/bench") == {
        "published": 100,
        "delivered": 110,
        "acked": 0,
        "rpc": 70,
        "events": 26,
        "other": 4,
    }
    assert len(asked) == 2


def test_broker_counters_of_a_quiet_vhost(monkeypatch):
    monkeypatch.setattr(probes.requests, "get", lambda url, timeout: Answer({} if "/vhosts/" in url else []))
    assert probes.broker_counters("v") == dict.fromkeys(
        ("published", "delivered", "acked", "rpc", "events", "other"), 0
    )


def test_settled_broker_counters_wait_until_they_stop_moving(monkeypatch):
    readings = iter(
        [{"published": 1}, {"published": 5}, {"published": 9}, {"published": 9}, {"published": 10}]
    )
    monkeypatch.setattr(probes, "broker_counters", lambda vhost: next(readings))
    monkeypatch.setattr(probes.time, "sleep", lambda _seconds: None)
    assert probes.settled_broker_counters("v") == {"published": 9}


def test_settled_broker_counters_give_up_with_the_latest(monkeypatch):
    readings = iter([{"published": 1}, {"published": 2}])
    monkeypatch.setattr(probes, "broker_counters", lambda vhost: next(readings))
    monkeypatch.setattr(probes.time, "sleep", lambda _seconds: None)
    assert probes.settled_broker_counters("v", timeout=0) == {"published": 1}


def test_postgres_counters_on_sqlite_ask_nothing():
    assert probes.postgres_counters({}) == {}
