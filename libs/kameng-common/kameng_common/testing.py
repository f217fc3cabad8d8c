"""pytest fixtures every service's tests share (registered by the root conftest.py).

``database_url`` runs a test once on SQLite and once on a fresh PostgreSQL
database. For a RabbitMQ vhost of its own, a test uses nameko's
``rabbit_config`` or ``amqp_uri`` fixtures; whole-suite tests use
``create_vhost``. ``publish`` sends an event as its source service would.
"""

import json
import os
import uuid
from urllib.parse import quote

import pytest
import requests
import sqlalchemy as sa

from kameng_common.db import Database, messaging_tables
from kameng_common.relay import OutboxRelay

POSTGRES_ADMIN_URL = os.environ.get(
    "KAMENG_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
RABBIT_API = os.environ.get("KAMENG_TEST_RABBIT_API", "http://guest:guest@127.0.0.1:15672/api")
RABBIT_AMQP = os.environ.get("KAMENG_TEST_RABBIT_AMQP", "amqp://guest:guest@127.0.0.1:5672")


def create_postgres_database(prefix="kameng_test"):
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return name, str(
        sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    )


def drop_postgres_database(name):
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def create_vhost(prefix="kameng-test"):
    vhost = f"{prefix}-{uuid.uuid4().hex[:12]}"
    path = quote(vhost, safe="")
    requests.put(f"{RABBIT_API}/vhosts/{path}", timeout=10).raise_for_status()
    requests.put(
        f"{RABBIT_API}/permissions/{path}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        timeout=10,
    ).raise_for_status()
    return vhost, f"{RABBIT_AMQP}/{path}"


def delete_vhost(vhost):
    requests.delete(f"{RABBIT_API}/vhosts/{quote(vhost, safe='')}", timeout=10)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    name, url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture
def publish(rabbit_config):
    """Publish an event the way its source service does (outbox row, then the relay); returns the envelope."""
    outbox_db = Database("sqlite://", messaging_tables(sa.MetaData()))
    outbox_db.create_all()
    outbox = outbox_db.tables["outbox"]

    def publish(source, event_type, payload, correlation_id):
        relay = OutboxRelay(outbox_db, source, rabbit_config["AMQP_URI"])
        try:
            with outbox_db.unit_of_work() as uow:
                event_id = uow.publish(event_type, payload, correlation_id=correlation_id)
            assert relay.publish_pending() == 1
        finally:
            relay.stop()
        with outbox_db.reading() as connection:
            return json.loads(
                connection.execute(sa.select(outbox.c.body).where(outbox.c.event_id == event_id)).scalar_one()
            )

    yield publish
    outbox_db.dispose()
