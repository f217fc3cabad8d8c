"""Kameng's pytest plugin, registered by kameng-common's ``pytest11`` entry point.

Loaded before any test module or conftest, it patches the standard library
with eventlet (nameko containers hang under plain pytest otherwise) and makes
psycopg2 yield to other greenthreads while it waits on PostgreSQL, as it does
in the services. It then serves every package's tests the same fixtures, so
that ``cd services/<name> && pytest`` needs nothing from the repository root:

- ``database_url``: an empty database, once SQLite and once PostgreSQL;
  ``postgres_url``: a fresh PostgreSQL database;
- ``make_database(metadata, url="sqlite://", migrate=None)``: a Database,
  disposed after the test; and built on a service's ``metadata`` fixture,
  ``db`` (in-memory SQLite), ``any_db`` (SQLite, then PostgreSQL) and
  ``postgres_db``;
- ``publish``: an event sent as its source service sends it.

A RabbitMQ vhost of its own comes from nameko's ``rabbit_config`` or
``amqp_uri`` fixtures. Every test that needs PostgreSQL or RabbitMQ is marked
``servers`` (by the fixtures it uses), so ``pytest -m "not servers"`` runs the
rest on a machine with neither.
"""

import eventlet

eventlet.monkey_patch()

from psycogreen.eventlet import patch_psycopg  # noqa: E402

patch_psycopg()

import json  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from kameng_common.db import Database, messaging_tables  # noqa: E402
from kameng_common.migrations import upgrade  # noqa: E402
from kameng_common.relay import OutboxRelay  # noqa: E402
from kameng_common.testing import create_postgres_database, drop_postgres_database  # noqa: E402

# fixtures that reach a server: nameko's broker fixtures and PostgreSQL's
_SERVER_FIXTURES = {"rabbit_config", "amqp_uri", "rabbit_manager", "vhost_pipeline", "postgres_url"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "servers: needs PostgreSQL or RabbitMQ (marked by the fixtures it uses)"
    )
    config.addinivalue_line("markers", "slow: long-running whole-suite tests (CI runs them all)")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:eventlet")
    config.addinivalue_line("filterwarnings", "ignore:.*Eventlet is deprecated.*")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if uses & _SERVER_FIXTURES or "postgresql" in params.values():
            item.add_marker(pytest.mark.servers)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
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
def postgres_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database, dropped after the test."""
    name, url = create_postgres_database()
    yield url
    drop_postgres_database(name)


@pytest.fixture
def make_database() -> Iterator[Callable[..., Database]]:
    """``make_database(metadata, url="sqlite://", migrate=None)``: a Database, disposed after the test.

    Its tables come from ``metadata``, or from the alembic migrations of the
    service named by ``migrate``. The default URL is an in-memory SQLite database.
    """
    made: list[Database] = []

    def make(metadata: sa.MetaData, url: str = "sqlite://", migrate: str | None = None) -> Database:
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
def db(make_database: Callable[..., Database], metadata: sa.MetaData) -> Database:
    """The service's tables in an in-memory SQLite database."""
    return make_database(metadata)


@pytest.fixture
def any_db(make_database: Callable[..., Database], metadata: sa.MetaData, database_url: str) -> Database:
    """The service's tables on SQLite, then on PostgreSQL: the test runs once on each."""
    return make_database(metadata, database_url)


@pytest.fixture
def postgres_db(make_database: Callable[..., Database], metadata: sa.MetaData, postgres_url: str) -> Database:
    """The service's tables on PostgreSQL alone, for what only it shows (row locks, isolation)."""
    return make_database(metadata, postgres_url)


@pytest.fixture
def publish(rabbit_config: dict[str, Any]) -> Iterator[Callable[..., dict[str, Any]]]:
    """Publish an event the way its source service does (outbox row, then the relay); returns the envelope."""
    outbox_db = Database("sqlite://", messaging_tables(sa.MetaData()))
    outbox_db.create_all()
    outbox = outbox_db.tables["outbox"]

    def publish(
        source: str, event_type: str, payload: dict[str, Any], correlation_id: object
    ) -> dict[str, Any]:
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
