"""What depends on the SQL dialect and on concurrency, on SQLite and PostgreSQL alike."""

import datetime
import json

import eventlet
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kameng_common.testing import deliver
from risk import usecases
from risk.db import assessments, metadata, reviews
from risk.domain import Thresholds

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
TIGHT = Thresholds(velocity_review=2, velocity_reject=4, velocity_window_seconds=60)


@pytest.fixture
def shared_db(make_database, database_url):
    """The service's tables as its migrations build them, on SQLite and on PostgreSQL."""
    return make_database(metadata, database_url, migrate="risk")


def decisions(db):
    outbox = db.tables["outbox"]
    with db.reading() as session:
        bodies = session.execute(sa.select(outbox.c.body).order_by(outbox.c.id)).scalars().all()
    return [json.loads(body)["payload"]["decision"] for body in bodies]


def test_migrations_build_exactly_the_tables_of_the_metadata(shared_db):
    with shared_db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_the_velocity_window_and_reviews(shared_db, make_order_created):
    for second in (0, 1, 2, 3, 4, 61):
        deliver(
            shared_db,
            "risk",
            usecases.on_order_created,
            make_order_created(
                f"o-{second}",
                total=600_000 if second == 61 else 100,
                at=NOW + datetime.timedelta(seconds=second),
            ),
            TIGHT,
        )

    assert decisions(shared_db) == ["approve", "approve", "review", "review", "reject", "review"]
    with shared_db.reading() as session:
        waiting = session.execute(
            sa.select(reviews.c.order_id, reviews.c.reasons, reviews.c.created_at).order_by(
                reviews.c.created_at
            )
        ).all()
    assert [
        (order_id, reasons, created_at.replace(tzinfo=datetime.UTC))
        for order_id, reasons, created_at in waiting
    ] == [
        ("o-2", ["velocity:review"], NOW + datetime.timedelta(seconds=2)),
        ("o-3", ["velocity:review"], NOW + datetime.timedelta(seconds=3)),
        ("o-61", ["amount:review", "velocity:review"], NOW + datetime.timedelta(seconds=61)),
    ]


def _handle(db, event):
    """Handle an event as the reliable handler would: a handler that lost a race is redelivered."""
    for _attempt in range(5):
        try:
            return deliver(db, "risk", usecases.on_order_created, event, TIGHT)
        except sa.exc.IntegrityError:
            eventlet.sleep(0.01)
    raise AssertionError("event never handled")


def test_concurrent_copies_of_one_order_decide_once(shared_db, make_order_created):
    # the same event delivered twice and the same order under new event ids, all at once
    first = make_order_created("o-1", total=600_000, at=NOW)
    events = [first, first] + [make_order_created("o-1", total=600_000, at=NOW) for _ in range(6)]

    outcomes = list(eventlet.GreenPool(len(events)).imap(lambda event: _handle(shared_db, event), events))

    assert sum(outcome is not None for outcome in outcomes) == 1
    assert decisions(shared_db) == ["review"]
    assert usecases.count_waiting_reviews(shared_db) == 1
    with shared_db.reading() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(assessments)).scalar_one() == 1


def test_concurrent_blacklisting_of_one_customer(shared_db):
    outcomes = list(
        eventlet.GreenPool(4).imap(
            lambda reason: usecases.add_to_blacklist(shared_db, "c1", reason), ["a", "b", "c", "d"]
        )
    )

    assert outcomes == [{"customer_id": "c1"}] * 4
