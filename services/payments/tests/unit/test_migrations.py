"""The alembic migrations build exactly the tables the code uses, on SQLite and PostgreSQL."""

import datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kameng_common.migrations import upgrade
from payments import sales
from payments.db import metadata


def test_the_migrations_reach_the_metadata(database_url):
    upgrade("payments", database_url)
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    finally:
        engine.dispose()


def test_the_migrations_run_twice_without_harm(database_url):
    upgrade("payments", database_url)
    upgrade("payments", database_url)


def test_the_migrations_mark_when_sales_began_to_be_kept(make_database, database_url):
    database = make_database(metadata, database_url, migrate="payments")

    with database.reading() as session:
        kept_since = sales.sales_kept_since(session)

    assert kept_since is not None
    assert datetime.datetime.fromisoformat(kept_since) <= datetime.datetime.now(datetime.UTC)
