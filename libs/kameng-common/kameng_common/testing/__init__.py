"""What Kameng's tests and benchmarks share, kept out of what the services run.

Servers for a test to use alone: a fresh PostgreSQL database, a RabbitMQ
vhost, a free port; and ``deliver``, which hands an event to a use case as the
service's reliable event handler would. The pytest fixtures live in
``kameng_common.testing.plugin``, registered as a pytest plugin by the
package's entry point. No service imports this package at run time.
"""

import os
import random
import socket
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests
import sqlalchemy as sa

from kameng_common.db import Database, consumer_name

POSTGRES_ADMIN_URL = os.environ.get(
    "KAMENG_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
RABBIT_API = os.environ.get("KAMENG_TEST_RABBIT_API", "http://guest:guest@127.0.0.1:15672/api")
RABBIT_AMQP = os.environ.get("KAMENG_TEST_RABBIT_AMQP", "amqp://guest:guest@127.0.0.1:5672")

# below Linux's ephemeral range (32768-60999): the kernel hands those to outgoing
# connections too, so a port chosen there can be taken before its server binds it
_PORT_RANGE = (20000, 32000)


def create_postgres_database(prefix: str = "kameng_test") -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return name, str(
        sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    )


def drop_postgres_database(name: str) -> None:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def create_vhost(prefix: str = "kameng-test") -> tuple[str, str]:
    vhost = f"{prefix}-{uuid.uuid4().hex[:12]}"
    path = quote(vhost, safe="")
    requests.put(f"{RABBIT_API}/vhosts/{path}", timeout=10).raise_for_status()
    requests.put(
        f"{RABBIT_API}/permissions/{path}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        timeout=10,
    ).raise_for_status()
    return vhost, f"{RABBIT_AMQP}/{path}"


def delete_vhost(vhost: str) -> None:
    requests.delete(f"{RABBIT_API}/vhosts/{quote(vhost, safe='')}", timeout=10)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    while True:
        port = random.randrange(*_PORT_RANGE)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def deliver(
    db: Database, service: str, use_case: Callable, event: dict[str, Any], *args: Any, **kwargs: Any
) -> Any:
    """``use_case(uow, event, *args, **kwargs)`` as ``service``'s reliable event handler runs it.

    In one unit of work that records the event in the inbox under
    ``<service>.<use case>`` (a use case has its handler's name); a repeated
    event is skipped (None), as on the bus.
    """
    return db.handle_once(
        consumer_name(service, use_case.__name__),
        event["id"],
        lambda uow: use_case(uow, event, *args, **kwargs),
    )
