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

from kameng_common.db import Database, consumer_name, messaging_tables
from kameng_common.migrations import upgrade
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
    """The URL of an empty database: a SQLite file, then a fresh PostgreSQL database (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    name, url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture
def postgres_url():
    """The URL of a fresh PostgreSQL database, dropped after the test."""
    name, url = create_postgres_database()
    yield url
    drop_postgres_database(name)


@pytest.fixture
def make_database():
    """``make_database(metadata, url="sqlite://", migrate=None)``: a Database, disposed after the test.

    Its tables come from ``metadata``, or from the alembic migrations of the
    service named by ``migrate``. The default URL is an in-memory SQLite database.
    """
    made = []

    def make(metadata, url="sqlite://", migrate=None):
        if migrate is not None:
            upgrade(migrate, url)
        database = Database(url, metadata)
        if migrate is None:
            database.create_all()
        made.append(database)
        return database

    yield make
    for database in made:
        database.dispose()


# A service's tests name their tables with a ``metadata`` fixture; these three
# give them the service's database, the same way in every service.


@pytest.fixture
def db(make_database, metadata):
    """The service's tables in an in-memory SQLite database."""
    return make_database(metadata)


@pytest.fixture
def any_db(make_database, metadata, database_url):
    """The service's tables on SQLite, then on PostgreSQL: the test runs once on each."""
    return make_database(metadata, database_url)


@pytest.fixture
def postgres_db(make_database, metadata, postgres_url):
    """The service's tables on PostgreSQL alone, for what only it shows (row locks, isolation)."""
    return make_database(metadata, postgres_url)


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


def deliver(db, service, use_case, event, *args, **kwargs):
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
