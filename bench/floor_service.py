"""A service of no business, for bench/floor.py: Kameng's messaging and nothing else.

``python bench/floor_service.py <role> <amqp_uri> <database_url>`` runs it in
its own process, as every Kameng service runs: nameko on eventlet, the RPC
entrypoint, a unit of work whose events the outbox relay publishes, and an
event handler that marks each event in its inbox.

The event contracts are closed (an envelope's type must be one of
``kameng_common.contracts``), so the floor borrows the smallest one, and the
two roles borrow its publisher's and subscriber's names: ``customers``
answers the RPCs and publishes ``customer.signed_in``; ``risk`` handles it.
They run on a vhost and databases (SQLite or PostgreSQL) of their own, away
from any suite.
"""

import eventlet

eventlet.monkey_patch()  # before anything opens a socket

import sys  # noqa: E402
import uuid  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from kameng_common.db import messaging_tables, utc_isoformat, utcnow  # noqa: E402
from kameng_common.extensions import Instrumentation, ServiceDatabase, event_handler, rpc  # noqa: E402

metadata = messaging_tables(sa.MetaData())
rows = sa.Table("floor_rows", metadata, sa.Column("id", sa.String(36), primary_key=True))


class Publisher:
    name = "customers"
    db = ServiceDatabase(metadata)
    instrumentation = Instrumentation()

    @rpc
    def echo(self):
        """An RPC round trip and nothing else."""

    @rpc
    def write(self):
        """A state-changing RPC's least: one row in one unit of work."""
        with self.db.unit_of_work() as uow:
            uow.execute(rows.insert().values(id=str(uuid.uuid4())))

    @rpc
    def publish(self):
        """``write``, with an event in the same unit of work for the relay to publish."""
        now = utc_isoformat(utcnow())
        with self.db.unit_of_work() as uow:
            row_id = str(uuid.uuid4())
            uow.execute(rows.insert().values(id=row_id))
            uow.publish(
                "customer.signed_in",
                {"customer_id": row_id, "network": "192.0.2.0/24", "signed_in_at": now, "registered_at": now},
                correlation_id=row_id,
            )


class Subscriber:
    name = "risk"
    db = ServiceDatabase(metadata)
    instrumentation = Instrumentation()

    @event_handler("customers", "customer.signed_in")
    def on_customer_signed_in(self, uow, event):
        """An event's least: its inbox mark and one row, in one unit of work."""
        uow.execute(rows.insert().values(id=event["payload"]["customer_id"]))

    @rpc
    def handled(self):
        with self.db.reading() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(rows)).scalar_one()


ROLES = {"publisher": Publisher, "subscriber": Subscriber}


def main(role, amqp_uri, database_url):
    if database_url.startswith("postgresql"):
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()  # as every service does: psycopg2 would otherwise block every greenthread
    service = ROLES[role]
    config = {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "max_workers": 10}
    engine = sa.create_engine(database_url)
    metadata.create_all(engine)
    engine.dispose()
    runner = ServiceRunner(config)
    runner.add_service(service)
    runner.start()
    runner.wait()


if __name__ == "__main__":
    main(*sys.argv[1:])
