"""Start, watch and stop the whole suite: five services and the gateway, each its own process.

``kameng run`` uses it in the foreground; the cross-service tests use it to
run real processes, kill them and bring them back.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from kameng_cli import paysim
from kameng_cli.secrets import admin_credentials, local_secrets
from kameng_common.testing import (
    create_postgres_database,
    create_vhost,
    delete_vhost,
    drop_postgres_database,
    free_port,
)

# the supplier simulator's process (no hyphen: a hyphen names a service's replica)
SUPPLIER_SIM = "supplier_sim"
SERVICES = ("customers", "inventory", "risk", "payments", "orders")
METRICS_PORTS = {"inventory": 9101, "orders": 9102, "payments": 9103, "customers": 9104, "risk": 9105}


def metrics_port_setting(service):
    return f"KAMENG_{service.upper()}_METRICS_PORT"


def metrics_ports_from_env():
    """Each service's metrics port: ``KAMENG_<SERVICE>_METRICS_PORT``, else its default."""
    return {
        service: int(os.environ.get(metrics_port_setting(service)) or default)
        for service, default in METRICS_PORTS.items()
    }


def taken_ports(settings):
    """``(setting, port)`` for each port the suite would listen on that something holds already."""
    wanted = [("KAMENG_GATEWAY_PORT", settings.gateway_port)]
    if settings.paysim_port:
        wanted.append(("KAMENG_PAYSIM_PORT", settings.paysim_port))
    if settings.supplier_sim_port:
        wanted.append(("KAMENG_SUPPLIER_SIM_PORT", settings.supplier_sim_port))
    wanted += [(metrics_port_setting(service), port) for service, port in settings.metrics_ports.items()]
    taken = []
    for setting, port in wanted:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                taken.append((setting, port))
    return taken


@dataclass
class SuiteSettings:
    data_dir: Path
    amqp_uri: str
    gateway_port: int = 8000
    # service name → SQLAlchemy URL; a service not named here gets SQLite in the data folder
    database_urls: dict = field(default_factory=dict)
    metrics_ports: dict = field(default_factory=metrics_ports_from_env)
    extra_env: dict = field(default_factory=dict)
    # service name → how many processes run it (default 1); they share its database and queues.
    # Replica 1 is named after the service, the others "<service>-<n>", each with its own metrics port.
    replicas: dict = field(default_factory=dict)
    # where `kameng paysim` listens, which then enables every payment channel against it; None: no sandbox
    paysim_port: int | None = None
    # where `kameng supplier-sim` listens, an upstream supplier of direct top-ups; None: none
    supplier_sim_port: int | None = None

    @property
    def gateway_url(self):
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def supplier_sim_url(self):
        return f"http://127.0.0.1:{self.supplier_sim_port}"

    @property
    def paysim_url(self):
        return f"http://127.0.0.1:{self.paysim_port}"


class Suite:
    def __init__(self, settings):
        self.settings = settings
        self.processes = {}
        self.log_dir = Path(settings.data_dir) / "logs"
        self._replica_metrics_ports = {}

    def process_names(self):
        names = []
        for service in SERVICES:
            names.append(service)
            replicas = range(2, self.settings.replicas.get(service, 1) + 1)
            names.extend(f"{service}-{replica}" for replica in replicas)
        sandbox = ["paysim"] if self.settings.paysim_port else []
        if self.settings.supplier_sim_port:
            sandbox.append(SUPPLIER_SIM)
        return [*sandbox, *names, "gateway"]

    def environment(self, name=None):
        settings = self.settings
        env = dict(os.environ)
        env["KAMENG_DATA_DIR"] = str(settings.data_dir)
        env.update(local_secrets(settings.data_dir))
        # customers creates this first admin as it starts, if there is no admin yet
        env["KAMENG_ADMIN_USERNAME"], env["KAMENG_ADMIN_PASSWORD"] = admin_credentials(settings.data_dir)
        env["KAMENG_AMQP_URI"] = settings.amqp_uri
        env["KAMENG_GATEWAY_PORT"] = str(settings.gateway_port)
        env.setdefault("KAMENG_GATEWAY_URL", settings.gateway_url)
        # suppliers push top-up outcomes to the gateway, which hands them to inventory
        env.setdefault(
            "KAMENG_SUPPLIER_CALLBACK_URL", f"{env['KAMENG_GATEWAY_URL']}/api/v1/supplier-callbacks"
        )
        for service in SERVICES:
            env[metrics_port_setting(service)] = str(settings.metrics_ports[service])
            url = settings.database_urls.get(service)
            if url:
                env[f"KAMENG_{service.upper()}_DATABASE_URL"] = url
        if settings.paysim_port:
            env.update(paysim.env(settings.data_dir, settings.paysim_url, keep=os.environ))
        env.update(settings.extra_env)
        service, _, replica = (name or "").partition("-")
        if replica:
            # a second process of a service must not bind the first one's metrics port
            port = self._replica_metrics_ports.setdefault(name, free_port())
            env[metrics_port_setting(service)] = str(port)
        return env

    def _command(self, name):
        if name == SUPPLIER_SIM:
            return [
                sys.executable,
                "-m",
                "kameng_cli.main",
                "supplier-sim",
                "--port",
                str(self.settings.supplier_sim_port),
            ]
        if name == "paysim":
            return [
                sys.executable,
                "-m",
                "kameng_cli.main",
                "paysim",
                "--port",
                str(self.settings.paysim_port),
            ]
        if name == "gateway":
            return [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:kameng_gateway.gunicorn_conf",
                "kameng_gateway.wsgi:app",
            ]
        return [sys.executable, "-m", name.partition("-")[0]]

    def start_process(self, name):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            self._command(name),
            env=self.environment(name),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # Ctrl-C in the terminal reaches the runner, which stops them in order
        log.close()

    def start(self):
        names = self.process_names()
        replicas = [name for name in names if "-" in name]
        for name in names:
            if name not in replicas:
                self.start_process(name)
        for name in replicas:
            # on SQLite two processes migrating one database at once collide: a replica starts
            # once the first process has migrated, which it has when its metrics port answers
            service = name.partition("-")[0]
            self._wait_for_port(self.settings.metrics_ports[service], service)
            self.start_process(name)

    def _wait_for_port(self, port, name, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"{name} did not open port {port} within {timeout} s; logs are in {self.log_dir}")

    def wait_ready(self, timeout=90):
        """Wait until the gateway says the broker and every service answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if requests.get(f"{self.settings.gateway_url}/health/ready", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the suite was not ready within {timeout} s; logs are in {self.log_dir}")

    def check_alive(self):
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}; see {self.log_dir / (name + '.log')}"
                )

    def kill(self, name):
        """SIGKILL a process and all it started (gunicorn's workers too), as a crashed host would."""
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, signal.SIGKILL)  # start_new_session: its group is its own pid
        except ProcessLookupError:
            pass  # already gone
        process.wait()

    def stop(self, timeout=20):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


@dataclass
class ThrowawaySuite:
    suite: Suite
    vhost: str
    amqp_uri: str
    databases: dict  # service → (PostgreSQL database name, URL); empty on SQLite


@contextmanager
def throwaway_suite(
    database: str,
    name: str,
    extra_env: dict | None = None,
    replicas: dict | None = None,
    ready_timeout: float = 90,
    say: Callable[[str], None] = print,
    paysim: bool = False,
    data_dir: Path | None = None,
) -> Iterator[ThrowawaySuite]:
    """A running suite on ``database`` ("sqlite" or "postgresql") with its own vhost, data folder and
    PostgreSQL databases, all named after ``name`` (and the payment sandbox with ``paysim``); everything
    it made is removed after. A ``data_dir`` given is the caller's to keep or remove.

    If the body fails, the data folder (with the processes' logs) is kept and named.
    """
    own_data_dir = data_dir is None
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix=f"{name}-"))
    vhost, amqp_uri = create_vhost(name)
    databases: dict[str, tuple[str, str]] = {}
    succeeded = False
    try:
        if database == "postgresql":
            prefix = name.replace("-", "_")
            databases = {service: create_postgres_database(f"{prefix}_{service}") for service in SERVICES}
        suite = Suite(
            SuiteSettings(
                data_dir=data_dir,
                amqp_uri=amqp_uri,
                gateway_port=free_port(),
                database_urls={service: url for service, (_name, url) in databases.items()},
                metrics_ports={service: free_port() for service in SERVICES},
                extra_env=extra_env or {},
                replicas=replicas or {},
                paysim_port=free_port() if paysim else None,
            )
        )
        say(
            f"\nstarting the suite on {database} ({', '.join(suite.process_names())}); "
            f"logs in {suite.log_dir}"
        )
        suite.start()
        try:
            suite.wait_ready(timeout=ready_timeout)
            yield ThrowawaySuite(suite, vhost, amqp_uri, databases)
        finally:
            suite.stop()
        succeeded = True
    finally:
        delete_vhost(vhost)
        for database_name, _url in databases.values():
            drop_postgres_database(database_name)
        if not succeeded:
            say(f"the run failed; its data folder and logs are kept in {data_dir}")
        elif own_data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
