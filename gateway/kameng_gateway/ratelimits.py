"""Rate limits, counted in Redis so that the limit is the limit whatever the number of workers.

Each request counts against its caller: the token's subject, else the client
address. Sign-up and sign-in count against the client address alone, so that
holding several tokens earns no fresh allowance. Should Redis be unreachable
each worker counts on its own meanwhile rather than refusing every request.
``KAMENG_RATE_LIMITS=off`` turns them off (benchmarks).
"""

from collections.abc import Iterable

from flask import Blueprint, Flask, request
from flask_limiter import Limiter

from kameng_gateway.auth import peek_identity
from kameng_gateway.settings import Settings


def install(
    app: Flask, settings: Settings, auth_blueprint: Blueprint, exempt_blueprints: Iterable[Blueprint]
) -> None:
    limiter = Limiter(
        _client_key,
        app=app,
        default_limits=[settings.default_rate_limit],
        storage_uri=settings.rate_limit_storage_uri or settings.redis_url,
        storage_options={"socket_timeout": 2, "socket_connect_timeout": 2},
        key_prefix=f"{settings.redis_prefix}rate-limit",
        strategy="moving-window",
        headers_enabled=True,
        enabled=settings.rate_limits_enabled,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    limiter.limit(settings.auth_rate_limit, key_func=_address_key)(auth_blueprint)
    for blueprint in exempt_blueprints:
        limiter.exempt(blueprint)


def _client_key() -> str:
    identity = peek_identity()
    if identity is not None:
        return f"{identity.kind}:{identity.user_id}"
    return _address_key()


def _address_key() -> str:
    return f"address:{request.remote_addr}"
