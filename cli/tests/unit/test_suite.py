"""The suite launcher's replicas: their names, commands and metrics ports (no process is started)."""

import sys

from kameng_cli.suite import SERVICES, Suite, SuiteSettings


def suite(tmp_path, **settings):
    return Suite(SuiteSettings(data_dir=tmp_path, amqp_uri="amqp://guest:guest@127.0.0.1:5672/", **settings))


def test_one_process_per_service_by_default(tmp_path):
    assert suite(tmp_path).process_names() == [*SERVICES, "gateway"]


def test_replicas_are_named_after_their_service(tmp_path):
    names = suite(tmp_path, replicas={"orders": 3}).process_names()

    assert [name for name in names if name.startswith("orders")] == ["orders", "orders-2", "orders-3"]
    assert names[-1] == "gateway"


def test_a_replica_runs_its_service(tmp_path):
    assert suite(tmp_path)._command("orders-2") == [sys.executable, "-m", "orders"]


def test_each_replica_has_a_metrics_port_of_its_own(tmp_path):
    running = suite(tmp_path, replicas={"orders": 3})

    ports = {
        name: running.environment(name)["KAMENG_ORDERS_METRICS_PORT"]
        for name in ("orders", "orders-2", "orders-3")
    }

    assert ports["orders"] == "9102"
    assert len(set(ports.values())) == 3
    # a replica started again gets its port back
    assert running.environment("orders-2")["KAMENG_ORDERS_METRICS_PORT"] == ports["orders-2"]
