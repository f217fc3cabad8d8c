"""Alembic, driven from code: each service keeps its migrations inside its package.

``upgrade`` runs at service start-up; ``python -m kameng_common.migrations
<package> revision -m "..."`` writes a new revision from the metadata.
"""
import argparse
import importlib
import os
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import engine_from_config, pool


def alembic_config(package, database_url):
    module = importlib.import_module(package)
    config = Config()
    config.set_main_option("script_location", str(Path(module.__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(package, database_url):
    command.upgrade(alembic_config(package, database_url), "head")


def run_env(target_metadata):
    """The whole of a service's migrations/env.py."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    options = {"target_metadata": target_metadata, "render_as_batch": url.startswith("sqlite")}
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}),
                                prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()


def main():
    parser = argparse.ArgumentParser(description="Write a migration revision for a Kameng service")
    parser.add_argument("package", help="the service package, e.g. orders")
    parser.add_argument("command", choices=["revision", "upgrade"])
    parser.add_argument("-m", "--message", default="change")
    parser.add_argument("--url", default=os.environ.get("KAMENG_MIGRATION_URL", "sqlite:///migration-draft.db"),
                        help="a database at the current head, to diff the metadata against")
    args = parser.parse_args()
    config = alembic_config(args.package, args.url)
    if args.command == "upgrade":
        command.upgrade(config, "head")
    else:
        command.upgrade(config, "head")
        command.revision(config, message=args.message, autogenerate=True)


if __name__ == "__main__":
    main()
