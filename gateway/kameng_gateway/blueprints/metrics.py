"""The gateway's own Prometheus metrics (each service serves its own)."""

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

from kameng_gateway import metrics
from kameng_gateway.auth import metrics_access_required
from kameng_gateway.openapi import operation

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
@operation(
    "Prometheus metrics of the gateway", responses={200: {"text/plain": {"type": "string"}}}, auth="required"
)
@metrics_access_required
def prometheus_metrics() -> ResponseReturnValue:
    """A staff token of an admin or ops, or the bearer token KAMENG_METRICS_TOKEN."""
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)
