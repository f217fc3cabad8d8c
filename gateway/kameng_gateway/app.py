"""The Flask app factory."""

import redis
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from kameng_gateway import hardening, observability, ratelimits, remote, revocations, signins, waits
from kameng_gateway.blueprints import (
    accounts,
    admin,
    aftersales,
    agents,
    auditlog,
    auth,
    categories,
    channel,
    coupons,
    customers,
    finance,
    health,
    metrics,
    orders,
    payments,
    products,
    refunds,
    restock,
    risk,
    shops,
    suppliers,
    wallet,
    web,
)
from kameng_gateway.errors import register_error_handlers
from kameng_gateway.nonces import NONCES_EXTENSION, NonceStore
from kameng_gateway.openapi import blueprint as openapi_blueprint
from kameng_gateway.rpc import RpcClient
from kameng_gateway.settings import Settings


def create_app(
    settings: Settings | None = None,
    rpc: remote.Rpc | None = None,
    nonces: NonceStore | None = None,
    redis_client: redis.Redis | None = None,
) -> Flask:
    """The gateway. ``settings`` default to the environment's; ``rpc`` is anything
    with ``call(service, method, *args, timeout=None, correlation_id=None, **kwargs)``
    and ``ping()``, by default a pika RpcClient on ``settings.amqp_uri``; ``nonces``
    a NonceStore, by default on ``redis_client``; ``redis_client`` the Redis that
    every worker shares (sign-in failures, revoked tokens), by default on ``settings.redis_url``."""
    settings = settings or Settings.from_env()
    redis_client = redis_client or redis.Redis.from_url(
        settings.redis_url, socket_timeout=2, socket_connect_timeout=2
    )
    app = Flask(__name__, static_folder=None)
    app.config["KAMENG_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions[remote.RPC_EXTENSION] = rpc or RpcClient(settings.amqp_uri, settings.rpc_timeout)
    # readiness pings it: locks, revocations and rate limits live there
    app.extensions[health.REDIS_EXTENSION] = redis_client
    app.extensions[NONCES_EXTENSION] = nonces or NonceStore(redis_client, settings.redis_prefix)
    app.extensions[revocations.REVOCATIONS_EXTENSION] = revocations.TokenRevocations(
        redis_client, settings.token_ttl_seconds, settings.redis_prefix
    )
    app.extensions[signins.SIGN_INS_EXTENSION] = signins.SignInGuard(
        redis_client,
        signins.Limits(
            account_failures=settings.sign_in_max_failures,
            address_failures=settings.sign_in_address_max_failures,
            lock_seconds=settings.sign_in_lock_seconds,
        ),
        settings.redis_prefix,
    )
    if settings.trusted_proxies:
        # Flask's documented way to wrap the WSGI app
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )

    hardening.install(app)
    register_error_handlers(app)
    # before the rate limiter, so that a refused request is still logged and counted
    observability.install(app)
    ratelimits.install(
        app, settings, auth_blueprint=auth.blueprint, exempt_blueprints=(health.blueprint, metrics.blueprint)
    )
    health.install(app)
    waits.install(app, settings)
    web.install(app)
    for blueprint in (
        auth.blueprint,
        accounts.blueprint,
        admin.blueprint,
        auditlog.blueprint,
        customers.blueprint,
        agents.blueprint,
        coupons.blueprint,
        products.blueprint,
        shops.blueprint,
        categories.blueprint,
        orders.blueprint,
        payments.blueprint,
        wallet.blueprint,
        refunds.blueprint,
        aftersales.blueprint,
        finance.blueprint,
        risk.blueprint,
        channel.blueprint,
        channel.keys_blueprint,
        suppliers.blueprint,
        suppliers.callbacks_blueprint,
        restock.blueprint,
        health.blueprint,
        metrics.blueprint,
        openapi_blueprint,
        web.blueprint,
    ):
        app.register_blueprint(blueprint)
    return app
