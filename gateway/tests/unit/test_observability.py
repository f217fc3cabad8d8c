"""JSON access logs with the correlation id and no secrets; Prometheus metrics."""

import io
import json
import logging
import re

import pytest

from kameng_common.logs import configure_logging

ORDER_ID = "0dde0000-0000-4000-8000-000000000001"
PASSWORD = "hunter2-is-my-password"


@pytest.fixture
def log_lines():
    """The JSON lines the gateway logs, as wsgi.py configures them."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("gateway", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def test_each_request_logs_one_json_line_with_its_correlation_id(client, callers, log_lines):
    response = client.get(f"/api/v1/orders/{ORDER_ID}", headers=callers.customer())

    [line] = [line for line in log_lines() if line["message"] == "request"]
    assert line["correlation_id"] == ORDER_ID == response.headers["X-Request-Id"]
    assert line["route"] == "/api/v1/orders/<uuid:order_id>"
    assert line["status"] == 200
    assert line["service"] == "gateway"


def test_without_an_order_the_request_id_correlates(client, log_lines):
    response = client.get("/api/v1/products?limit=x")

    [line] = [line for line in log_lines() if line["message"] == "request"]
    assert line["correlation_id"] == response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", line["correlation_id"])


def test_a_sane_caller_request_id_is_kept_and_an_odd_one_replaced(client):
    kept = client.get("/health/live", headers={"X-Request-Id": "lb-7f3a.91"})
    replaced = client.get("/health/live", headers={"X-Request-Id": 'evil" injected=1'})

    assert kept.headers["X-Request-Id"] == "lb-7f3a.91"
    assert replaced.headers["X-Request-Id"] != 'evil" injected=1'


def test_logs_never_hold_passwords_tokens_or_bodies(client, rpc, callers, log_lines):
    rpc.answer("customers", "authenticate", {"id": "u1", "kind": "customer", "token_version": 0})
    rpc.answer("customers", "register", RuntimeError("the gateway tripped"))

    token = client.post("/api/v1/auth/token", json={"username": "alice", "password": PASSWORD}).json[
        "access_token"
    ]
    client.post("/api/v1/auth/register", json={"username": "alice", "password": PASSWORD})
    client.get("/api/v1/orders?cursor=x", headers=callers.bearer(token))

    logged = "\n".join(json.dumps(line) for line in log_lines())
    assert "the gateway tripped" in logged  # the failure itself is logged, with its traceback
    assert PASSWORD not in logged
    assert token not in logged
    assert "alice" not in logged


def test_metrics_count_requests_by_route_template(client, callers):
    client.get(f"/api/v1/orders/{ORDER_ID}", headers=callers.customer())

    text = client.get("/metrics", headers=callers.staff("ops")).get_data(as_text=True)

    assert re.search(
        r'kameng_http_requests_total\{method="GET",'
        r'route="/api/v1/orders/<uuid:order_id>",status="200"\} [1-9]',
        text,
    )
    assert (
        'kameng_http_request_duration_seconds_bucket{le="0.005",method="GET",'
        'route="/api/v1/orders/<uuid:order_id>"' in text
    )
    assert ORDER_ID not in text


def test_metrics_count_rpc_calls_by_service_method_and_outcome(client, callers, rpc):
    from kameng_common.errors import NotFound

    client.get(f"/api/v1/orders/{ORDER_ID}", headers=callers.customer())
    rpc.answer("orders", "get_order", NotFound("No such order."))
    client.get(f"/api/v1/orders/{ORDER_ID}", headers=callers.customer())

    text = client.get("/metrics", headers=callers.staff("admin")).get_data(as_text=True)

    for outcome in ("ok", "rejected"):
        assert re.search(
            r'kameng_gateway_rpc_calls_total\{method="get_order",'
            rf'outcome="{outcome}",service="orders"\}} [1-9]',
            text,
        )
    assert "kameng_gateway_rpc_call_duration_seconds_bucket" in text


def test_unmatched_paths_share_one_metric_label(client, callers):
    # under /api/: any other path may be one of the web app's pages
    client.get("/api/v1/no/such/path/12345")

    text = client.get("/metrics", headers=callers.staff("admin")).get_data(as_text=True)

    assert 'route="unmatched"' in text
    # a duration may hold the digits; the path never appears
    assert "/api/v1/no/such/path" not in text
