"""The gateway's Prometheus metrics: HTTP requests and the RPC calls they make.

Under gunicorn each worker is a process: ``gunicorn_conf`` sets
``PROMETHEUS_MULTIPROC_DIR`` before the app is imported, the metrics below
then live in files there, and a scrape of any worker sums them all.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "kameng_http_requests_total", "HTTP requests answered by the gateway", ["route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "kameng_http_request_duration_seconds",
    "Time the gateway took to answer",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
# Not kameng_rpc_*: those count the calls a service handles, these the calls the gateway makes.
RPC_CALLS = Counter(
    "kameng_gateway_rpc_calls_total",
    "RPC calls made by the gateway, by outcome",
    ["service", "method", "outcome"],
)
RPC_CALL_DURATION = Histogram(
    "kameng_gateway_rpc_call_duration_seconds",
    "Time the gateway waited for an RPC answer",
    ["service", "method", "outcome"],
    buckets=LATENCY_BUCKETS,
)
# trust: audit entries lost, sign-in failures and locks (by outcome), tokens refused as revoked
AUDIT_FAILURES = Counter(
    "kameng_gateway_audit_failures_total", "Audit entries the gateway could not write", ["action"]
)
SIGN_INS = Counter("kameng_sign_ins_total", "Sign-in attempts by outcome", ["outcome"])
SIGN_IN_LOCKS = Counter(
    "kameng_sign_in_locks_total", "Accounts and client addresses locked after failed sign-ins", ["scope"]
)
TOKENS_REFUSED = Counter(
    "kameng_tokens_refused_total", "Bearer tokens refused after they were issued", ["reason"]
)

# where a registering client's region came from: a trusted proxy's header, or why not
REGISTRATION_REGIONS = Counter(
    "kameng_gateway_registration_regions_total",
    "Registrations by what became of the client's region header (known, absent, untrusted, invalid)",
    ["outcome"],
)
for _outcome in ("known", "absent", "untrusted", "invalid"):
    REGISTRATION_REGIONS.labels(_outcome)


def observe_request(route: str, method: str, status: int | str, seconds: float) -> None:
    HTTP_REQUESTS.labels(route, method, status).inc()
    HTTP_DURATION.labels(route, method, status).observe(seconds)


def observe_rpc_call(service: str, method: str, outcome: str, seconds: float) -> None:
    RPC_CALLS.labels(service, method, outcome).inc()
    RPC_CALL_DURATION.labels(service, method, outcome).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The Prometheus text and its content type, summed over every worker process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
