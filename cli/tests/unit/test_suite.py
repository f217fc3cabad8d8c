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


def test_kameng_run_takes_each_services_metrics_port_from_the_environment(monkeypatch):
    from kameng_cli.suite import METRICS_PORTS, metrics_ports_from_env

    monkeypatch.setenv("KAMENG_ORDERS_METRICS_PORT", "19102")
    ports = metrics_ports_from_env()

    assert ports["orders"] == 19102
    assert ports["risk"] == METRICS_PORTS["risk"]


def test_ports_already_taken_are_named_with_their_setting(tmp_path):
    import socket

    from kameng_cli.suite import SuiteSettings, taken_ports
    from kameng_common.testing import free_port

    free = {service: free_port() for service in ("inventory", "orders", "payments", "customers", "risk")}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free["payments"]))
        holder.listen()
        settings = SuiteSettings(
            data_dir=tmp_path, amqp_uri="amqp://", gateway_port=free_port(), metrics_ports=free
        )
        assert taken_ports(settings) == [("KAMENG_PAYMENTS_METRICS_PORT", free["payments"])]


def test_the_local_run_keeps_the_public_url_and_a_providers_settings_the_caller_gave(tmp_path, monkeypatch):
    monkeypatch.setenv("KAMENG_GATEWAY_URL", "https://shop.example")
    monkeypatch.setenv("KAMENG_ALIPAY_APP_ID", "2021000000000001")
    monkeypatch.setenv("KAMENG_ALIPAY_PRIVATE_KEY_FILE", "/etc/kameng/alipay.pem")

    env = suite(tmp_path, paysim_port=18010).environment()

    assert env["KAMENG_GATEWAY_URL"] == "https://shop.example"
    assert env["KAMENG_SUPPLIER_CALLBACK_URL"] == "https://shop.example/api/v1/supplier-callbacks"
    assert env["KAMENG_ALIPAY_APP_ID"] == "2021000000000001"
    assert env["KAMENG_ALIPAY_PRIVATE_KEY_FILE"] == "/etc/kameng/alipay.pem"
    assert "KAMENG_ALIPAY_GATEWAY_URL" not in env  # Alipay's own, not the sandbox's
    # the providers left unset still point at the sandbox
    assert env["KAMENG_WECHAT_API_URL"] == "http://127.0.0.1:18010/wechat"
