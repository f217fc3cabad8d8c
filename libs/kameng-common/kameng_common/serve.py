"""Start one service: migrate its database, expose metrics, run the nameko container."""

import eventlet

eventlet.monkey_patch()  # before anything opens a socket

import argparse  # noqa: E402
import errno  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from nameko.cli.run import run  # noqa: E402
from prometheus_client import start_http_server  # noqa: E402

from kameng_common import dlq  # noqa: E402
from kameng_common.config import load_config  # noqa: E402
from kameng_common.logs import configure_logging  # noqa: E402
from kameng_common.metrics import callback_gauge  # noqa: E402
from kameng_common.migrations import upgrade  # noqa: E402

_log = logging.getLogger(__name__)


def main(service_path: str, default_config: str | Path) -> None:
    """``service_path`` is "package.module:ServiceClass"; ``default_config`` the config.yaml beside it."""
    parser = argparse.ArgumentParser(description=f"Run the {service_path} service")
    parser.add_argument("--config", default=os.environ.get("KAMENG_CONFIG") or str(default_config))
    args = parser.parse_args()
    # the SQLite files and anything else this process writes are for its own user alone
    os.umask(0o077)
    config = load_config(Path(args.config))

    module_name, class_name = service_path.split(":")
    service_cls = getattr(importlib.import_module(module_name), class_name)
    service = service_cls.name
    configure_logging(service, config.get("LOG_LEVEL", "INFO"))
    # a setting the service cannot work with stops it here, in one line, not at its first use
    try:
        getattr(service_cls, "check_settings", lambda: None)()
    except ValueError as error:
        sys.exit(f"{service}: {error}")

    if config["DATABASE_URL"].startswith("postgresql"):
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()  # psycopg2 would otherwise block every greenthread while it waits
    upgrade(module_name.split(".")[0], config["DATABASE_URL"])

    callback_gauge(
        "kameng_dead_letters",
        "Messages in the service's dead-letter queue",
        ["service"],
        lambda: {(service,): dlq.depth(config["AMQP_URI"], service)},
    )
    host, port = config.get("METRICS_HOST") or "127.0.0.1", int(config["METRICS_PORT"])
    serve_metrics(service, host, port)
    _log.info("starting %s, metrics on %s:%s", service, host, port)
    run([service_cls], config)


def serve_metrics(service: str, host: str, port: int) -> None:
    """The Prometheus endpoint; a port already taken ends the process with one line naming the setting."""
    try:
        start_http_server(port, addr=host)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        setting = f"KAMENG_{service.upper()}_METRICS_PORT"
        sys.exit(f"{service}: metrics port {host}:{port} is already in use; set {setting} to a free port")
