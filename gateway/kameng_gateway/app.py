"""The Flask app factory."""

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from kameng_gateway import hardening, observability, ratelimits, remote, waits
from kameng_gateway.blueprints import (
    admin,
    agents,
    auditlog,
    auth,
    categories,
    channel,
    customers,
    finance,
    health,
    metrics,
    orders,
    payments,
    products,
    refunds,
    risk,
    suppliers,
    wallet,
    web,
)
from kameng_gateway.errors import register_error_handlers
from kameng_gateway.nonces import NONCES_EXTENSION, NonceStore
from kameng_gateway.openapi import blueprint as openapi_blueprint
from kameng_gateway.rpc import RpcClient
from kameng_gateway.settings import Settings


def create_app(settings=None, rpc=None, nonces=None):
    """The gateway. ``settings`` default to the environment's; ``rpc`` is anything
    with ``call(service, method, *args, timeout=None, correlation_id=None, **kwargs)``
    and ``ping()``, by default a pika RpcClient on ``settings.amqp_uri``; ``nonces``
    a NonceStore, by default on ``settings.redis_url``."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)
    app.config["KAMENG_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions[remote.RPC_EXTENSION] = rpc or RpcClient(settings.amqp_uri, settings.rpc_timeout)
    app.extensions[NONCES_EXTENSION] = nonces or NonceStore.from_url(
        settings.redis_url, settings.redis_prefix
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
        admin.blueprint,
        auditlog.blueprint,
        customers.blueprint,
        agents.blueprint,
        products.blueprint,
        categories.blueprint,
        orders.blueprint,
        payments.blueprint,
        wallet.blueprint,
        refunds.blueprint,
        finance.blueprint,
        risk.blueprint,
        channel.blueprint,
        channel.keys_blueprint,
        suppliers.blueprint,
        suppliers.callbacks_blueprint,
        health.blueprint,
        metrics.blueprint,
        openapi_blueprint,
        web.blueprint,
    ):
        app.register_blueprint(blueprint)
    return app
