"""Liveness, and readiness: the broker, Redis and every service answer."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from flask import Blueprint, Flask, current_app, g
from flask.typing import ResponseReturnValue

from kameng_common.errors import KamengError, Unavailable
from kameng_gateway import remote
from kameng_gateway.errors import error_response
from kameng_gateway.openapi import operation
from kameng_gateway.remote import Rpc
from kameng_gateway.schemas import ErrorSchema, LiveSchema, ReadySchema

blueprint = Blueprint("health", __name__, url_prefix="/health")

SERVICES = ("inventory", "orders", "payments", "customers", "risk")
_PROBES_EXTENSION = "kameng_health_probes"
# the Redis every worker shares (sign-in failures and locks, revoked tokens, rate limits)
REDIS_EXTENSION = "kameng_redis"

_LIVE_SCHEMA = LiveSchema()
_READY_SCHEMA = ReadySchema()


def install(app: Flask) -> None:
    # asks the services side by side, so a hung one costs one timeout, not five;
    # the pool's threads keep their broker connections from one probe to the next
    app.extensions[_PROBES_EXTENSION] = ThreadPoolExecutor(
        max_workers=len(SERVICES), thread_name_prefix="health-probe"
    )


@blueprint.get("/live")
@operation("Liveness", responses={200: LiveSchema})
def live() -> ResponseReturnValue:
    """The process answers HTTP."""
    return _LIVE_SCHEMA.dump({"status": "live"})


@blueprint.get("/ready")
@operation("Readiness", responses={200: ReadySchema, 503: ErrorSchema})
def ready() -> ResponseReturnValue:
    """The broker and Redis (which keeps sign-in locks, revoked tokens and rate limits)
    are reachable and every service's health() answers within KAMENG_READY_TIMEOUT
    seconds. A 503 carries the same report in error.details."""
    client = remote.client()
    try:
        client.ping()
        broker = "ok"
    except Unavailable as error:
        broker = error.message

    redis_state = _ping_redis(current_app.extensions[REDIS_EXTENSION])

    timeout = current_app.config["KAMENG_SETTINGS"].ready_timeout
    probes = current_app.extensions[_PROBES_EXTENSION]
    pending = {
        service: probes.submit(_probe, client, service, timeout, g.correlation_id) for service in SERVICES
    }
    services = {service: future.result() for service, future in pending.items()}

    down = [service for service, report in services.items() if report["status"] != "ok"]
    if broker != "ok" or redis_state != "ok" or down:
        report = {"broker": broker, "redis": redis_state, "services": services}
        parts = ["broker"] if broker != "ok" else []
        parts += ["redis"] if redis_state != "ok" else []
        message = "Not ready: " + ", ".join(parts + down) + "."
        return error_response(503, Unavailable.code, message, details=report)
    return _READY_SCHEMA.dump(
        {"status": "ready", "broker": broker, "redis": redis_state, "services": services}
    )


def _ping_redis(client: redis.Redis) -> str:
    """ "ok", or why Redis did not answer."""
    try:
        client.ping()
    except redis.RedisError as error:
        return f"Redis does not answer: {error}"
    return "ok"


def _probe(client: Rpc, service: str, timeout: float, correlation_id: str) -> dict[str, Any]:
    try:
        health = remote.timed_call(client, service, "health", timeout=timeout, correlation_id=correlation_id)
    except KamengError as error:
        return {"status": "unavailable", "error": error.message}
    return {"status": "ok", **health}
