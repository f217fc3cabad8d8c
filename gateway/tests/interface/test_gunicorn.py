"""The gateway as it runs: gunicorn with two workers, over a real broker, to a nameko service."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from nameko.rpc import rpc

from kameng_common.errors import Unauthorized
from kameng_common.testing import free_port

METRICS_TOKEN = "interface-scrape-token"
# requests to a route under the default limit, per caller, counted across both workers
DEFAULT_RATE_LIMIT = 30
PASSWORD = "a long enough password"


class CustomersService:
    """Just enough of customers for sign-up and sign-in."""

    name = "customers"

    @rpc
    def register(self, username, password, invite_code=None):
        return {"id": "u-1", "username": username, "kind": "customer", "level": "regular"}

    @rpc
    def authenticate(self, username, password, client_ip=None):
        if password != PASSWORD:
            raise Unauthorized("Wrong username or password.")
        return {
            "id": "u-1",
            "username": username,
            "kind": "customer",
            "role": None,
            "level": "regular",
            "token_version": 0,
        }

    @rpc
    def health(self):
        return {"service": "customers", "database": "ok"}


@pytest.fixture
def gateway(container_factory, rabbit_config, tmp_path):
    container_factory(CustomersService, rabbit_config).start()
    port = free_port()
    env = {
        **os.environ,
        "KAMENG_AMQP_URI": rabbit_config["AMQP_URI"].replace("pyamqp://", "amqp://", 1),
        "KAMENG_DATA_DIR": str(tmp_path),
        "KAMENG_GATEWAY_PORT": str(port),
        "KAMENG_GATEWAY_WORKERS": "2",
        "KAMENG_GATEWAY_THREADS": "4",
        "KAMENG_METRICS_TOKEN": METRICS_TOKEN,
        "KAMENG_READY_TIMEOUT": "1",
        "KAMENG_RATE_LIMITS": "on",
        "KAMENG_RATE_LIMIT_DEFAULT": f"{DEFAULT_RATE_LIMIT}/minute",
        # this run's own sign-in counts and rate limits in the machine's Redis
        "KAMENG_REDIS_PREFIX": f"kameng-test-{uuid.uuid4().hex[:8]}:",
    }
    env.pop("KAMENG_JWT_SECRET", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp_path / "gateway.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:kameng_gateway.gunicorn_conf",
            "kameng_gateway.wsgi:app",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_live(url, process)
        yield url, tmp_path
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _wait_until_live(url, process):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            if requests.get(f"{url}/health/live", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or a worker still booting on a busy machine
            time.sleep(0.2)
    raise AssertionError("the gateway never came up")


def test_sign_up_and_sign_in_through_the_broker(gateway):
    url, data_dir = gateway

    registered = requests.post(
        f"{url}/api/v1/auth/register", json={"username": "alice", "password": PASSWORD}, timeout=10
    )
    token = requests.post(
        f"{url}/api/v1/auth/token", json={"username": "alice", "password": PASSWORD}, timeout=10
    )
    refused = requests.post(
        f"{url}/api/v1/auth/token", json={"username": "alice", "password": "wrong one"}, timeout=10
    )

    assert registered.status_code == 201
    assert registered.json() == {"id": "u-1", "username": "alice"}
    assert token.status_code == 200
    assert token.json()["token_type"] == "bearer"
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    # the master wrote the secret before the workers started; both sign with it
    assert (data_dir / "jwt.secret").stat().st_mode & 0o777 == 0o600


def test_failed_sign_ins_lock_the_account_across_workers(gateway):
    url, _ = gateway

    for _ in range(5):
        # a connection each, so that both workers take some
        requests.post(
            f"{url}/api/v1/auth/token",
            json={"username": "bob", "password": "wrong one"},
            headers={"Connection": "close"},
            timeout=10,
        )
    locked = requests.post(
        f"{url}/api/v1/auth/token", json={"username": "bob", "password": PASSWORD}, timeout=10
    )

    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "account_locked"
    assert int(locked.headers["Retry-After"]) > 0


def test_the_rate_limit_is_counted_across_workers(gateway):
    url, _ = gateway

    statuses = [
        requests.get(f"{url}/openapi.json", headers={"Connection": "close"}, timeout=10).status_code
        for _ in range(DEFAULT_RATE_LIMIT + 1)
    ]

    # per worker, twice the limit would have passed
    assert statuses == [200] * DEFAULT_RATE_LIMIT + [429]


@pytest.mark.parametrize(
    "path, headers, status, code",
    [
        ("/api/v1/products?cursor=" + "x" * 5000, {}, 414, "uri_too_long"),
        ("/api/v1/products", {"X-Long": "x" * 9000}, 431, "request_header_fields_too_large"),
    ],
)
def test_gunicorns_own_refusals_are_json_error_bodies(gateway, path, headers, status, code):
    url, _ = gateway

    response = requests.get(f"{url}{path}", headers=headers, timeout=10)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == code


def test_readiness_names_the_missing_services(gateway):
    url, _ = gateway

    response = requests.get(f"{url}/health/ready", timeout=10)

    assert response.status_code == 503
    services = response.json()["error"]["details"]["services"]
    assert services["customers"]["status"] == "ok"
    assert services["orders"] == {"status": "unavailable", "error": "The orders service is not running."}


def test_metrics_sum_every_worker(gateway):
    url, _ = gateway
    for _ in range(20):
        # a connection each, so that both workers take some
        requests.get(f"{url}/health/live", headers={"Connection": "close"}, timeout=5)

    counts = {_live_request_count(url) for _ in range(4)}

    # every scrape, whichever worker answers it, sees the same total
    assert len(counts) == 1
    assert counts.pop() >= 20


def _live_request_count(url):
    text = requests.get(
        f"{url}/metrics",
        timeout=5,
        headers={"Authorization": f"Bearer {METRICS_TOKEN}", "Connection": "close"},
    ).text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith('kameng_http_requests_total{method="GET",route="/health/live"')
    )
    return float(line.rsplit(" ", 1)[1])


def test_logs_are_json_lines_without_secrets(gateway):
    url, data_dir = gateway
    requests.post(f"{url}/api/v1/auth/token", json={"username": "alice", "password": PASSWORD}, timeout=10)
    requests.post(f"{url}/api/v1/auth/register", json={"username": "alice", "password": PASSWORD}, timeout=10)
    time.sleep(0.5)

    log = Path(data_dir / "gateway.log").read_text()

    lines = [line for line in log.splitlines() if line.strip()]
    assert lines and all(line.startswith("{") for line in lines), log
    assert PASSWORD not in log
