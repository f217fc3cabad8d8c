import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from inventory.db import metadata
from kameng_common.migrations import upgrade


def test_the_migrations_build_exactly_the_tables_the_code_uses(database_url):
    upgrade("inventory", database_url)
    upgrade("inventory", database_url)  # a restart finds nothing to do
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    finally:
        engine.dispose()
