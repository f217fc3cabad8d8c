"""Per-client rate limits: by token subject, else by address.

In memory, so each gunicorn worker counts on its own: the limits are a brake
on brute force and floods, not an exact quota. ``KAMENG_RATE_LIMITS=off``
turns them off (benchmarks).
"""

from flask import request
from flask_limiter import Limiter

from kameng_gateway.auth import peek_identity


def install(app, settings, auth_blueprint, exempt_blueprints):
    limiter = Limiter(
        _client_key,
        app=app,
        default_limits=[settings.default_rate_limit],
        storage_uri="memory://",
        strategy="moving-window",
        headers_enabled=True,
        enabled=settings.rate_limits_enabled,
    )
    limiter.limit(settings.auth_rate_limit)(auth_blueprint)
    for blueprint in exempt_blueprints:
        limiter.exempt(blueprint)


def _client_key():
    identity = peek_identity()
    if identity is not None:
        return f"{identity.kind}:{identity.user_id}"
    return f"address:{request.remote_addr}"
