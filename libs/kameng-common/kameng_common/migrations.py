"""Alembic, driven from code: each service keeps its migrations inside its package.

``upgrade`` runs at service start-up; ``python -m kameng_common.migrations
<package> revision -m "..."`` writes a new revision from the metadata.
"""

import argparse
import importlib
import os
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, engine_from_config, pool


def alembic_config(package: str, database_url: str) -> Config:
    source = importlib.import_module(package).__file__
    assert source is not None, f"{package} is a namespace package, without migrations"
    config = Config()
    config.set_main_option("script_location", str(Path(source).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


# any constant will do: it only has to be the same for every replica of a service
_MIGRATION_LOCK = 7_240_617


def upgrade(package: str, database_url: str) -> None:
    """Migrate to head; replicas starting together on PostgreSQL take turns."""
    config = alembic_config(package, database_url)
    if not database_url.startswith("postgresql"):
        command.upgrade(config, "head")
        return
    engine = create_engine(database_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
        connection.commit()  # a session lock: it outlives the transaction
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        finally:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
            connection.commit()
    engine.dispose()


def run_env(target_metadata: MetaData) -> None:
    """The whole of a service's migrations/env.py."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None, "alembic_config sets the database URL"
    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        "render_as_batch": url.startswith("sqlite"),
    }
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a migration revision for a Kameng service")
    parser.add_argument("package", help="the service package, e.g. orders")
    parser.add_argument("command", choices=["revision", "upgrade"])
    parser.add_argument("-m", "--message", default="change")
    parser.add_argument(
        "--url",
        default=os.environ.get("KAMENG_MIGRATION_URL", "sqlite:///migration-draft.db"),
        help="a database at the current head, to diff the metadata against",
    )
    args = parser.parse_args()
    config = alembic_config(args.package, args.url)
    if args.command == "upgrade":
        command.upgrade(config, "head")
    else:
        command.upgrade(config, "head")
        command.revision(config, message=args.message, autogenerate=True)


if __name__ == "__main__":
    main()
