"""gunicorn's settings: ``gunicorn -c python:kameng_gateway.gunicorn_conf kameng_gateway.wsgi:app``.

Threads, not processes, carry the concurrency: a request mostly waits on the
broker, and each thread keeps its own broker connection (see rpc.py).
"""

import os
import shutil
import tempfile
from typing import Any

from kameng_common.config import data_dir

# Each worker is a process: prometheus_client keeps the samples in files in
# this folder and a scrape of any worker sums them all. prometheus_client
# reads it when first imported, so it is set before anything imports that;
# and fresh, so that no earlier run's counts leak in.
os.umask(0o077)  # what the gateway writes into the data folder is its user's alone
_OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gateway-metrics-", dir=data_dir())

from prometheus_client import multiprocess  # noqa: E402

from kameng_gateway import server_errors  # noqa: E402
from kameng_gateway.settings import jwt_secret  # noqa: E402

server_errors.install()

bind = f"0.0.0.0:{os.environ.get('KAMENG_GATEWAY_PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("KAMENG_GATEWAY_WORKERS", "2"))
# a long-poll of an order (GET /api/v1/orders/{id}?changed_from=) holds a thread, idle, for
# as long as it waits: 64 leave room for many of those beside the requests being worked on
threads = int(os.environ.get("KAMENG_GATEWAY_THREADS", "64"))
# gunicorn's 2 s default closes idle connections just as busy clients reuse them
keepalive = int(os.environ.get("KAMENG_GATEWAY_KEEPALIVE", "30"))
# nothing uses gunicornc, and the image's home folder is not writable
control_socket_disable = True

# The app logs one JSON line per request itself; gunicorn's own lines become JSON too.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "asctime": "time"},
            "static_fields": {"service": "gateway"},
        }
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        # gunicorn's access lines would repeat the app's, without the correlation id
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}


def on_starting(server: Any) -> None:
    # generated here, once, rather than by workers racing to write the file
    jwt_secret()


def child_exit(server: Any, worker: Any) -> None:
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
