"""What depends on the SQL dialect and on concurrency, on SQLite and PostgreSQL alike."""

import datetime
import json

import eventlet
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kameng_common.db import Database
from kameng_common.migrations import upgrade
from kameng_common.testing import deliver
from risk import usecases
from risk.db import assessments, metadata, reviews
from risk.domain import Thresholds

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
TIGHT = Thresholds(velocity_review=2, velocity_reject=4, velocity_window_seconds=60)


@pytest.fixture
def shared_db(database_url):
    upgrade("risk", database_url)
    database = Database(database_url, metadata)
    yield database
    database.dispose()


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
        (order_id, [reason.split(": ")[0] for reason in reasons], created_at.replace(tzinfo=datetime.UTC))
        for order_id, reasons, created_at in waiting
    ] == [
        ("o-2", ["velocity:review"], NOW + datetime.timedelta(seconds=2)),
        ("o-3", ["velocity:review"], NOW + datetime.timedelta(seconds=3)),
        (
            "o-61",
            ["amount:review", "velocity:review", "new_account:review"],
            NOW + datetime.timedelta(seconds=61),
        ),
    ]


@pytest.mark.parametrize("rule", ["velocity", "unpaid_orders"])
def test_a_burst_of_one_customers_orders_is_counted_exactly(shared_db, make_order_created, rule):
    """Placed at one moment and scored all at once, each order still counts every order scored before it:
    none is undercounted (without the customer's lock PostgreSQL lets them all count only themselves)."""
    thresholds = {
        "velocity": Thresholds(velocity_review=2, velocity_reject=4, max_unpaid_orders=1_000),
        "unpaid_orders": Thresholds(max_unpaid_orders=3),
    }[rule]
    events = [make_order_created(f"o-{n}", at=NOW) for n in range(12)] + [
        make_order_created(f"other-{n}", customer_id="c2", at=NOW) for n in range(2)
    ]

    outcomes = list(
        eventlet.GreenPool(len(events)).imap(lambda event: _handle(shared_db, event, thresholds), events)
    )

    mine = [
        outcome.decision
        for event, outcome in zip(events, outcomes, strict=True)
        if event["payload"]["customer_id"] == "c1"
    ]
    expected = {
        "velocity": {"approve": 2, "review": 2, "reject": 8},
        "unpaid_orders": {"approve": 3, "reject": 9},
    }
    assert {decision: mine.count(decision) for decision in set(mine)} == expected[rule]
    assert [outcome.decision for outcome in outcomes[12:]] == ["approve"] * 2


def _handle(db, event, thresholds=TIGHT):
    """Handle an event as the reliable handler would: a handler that lost a race is redelivered."""
    for _attempt in range(20):
        try:
            return deliver(db, "risk", usecases.on_order_created, event, thresholds)
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


def test_concurrent_blacklisting_of_one_device(shared_db):
    outcomes = list(
        eventlet.GreenPool(4).imap(
            lambda reason: usecases.add_blacklist_entry(shared_db, "device", "phone-42", reason),
            ["a", "b", "c", "d"],
        )
    )

    assert sum(outcome["created"] for outcome in outcomes) == 1
    assert len({outcome["entry"]["id"] for outcome in outcomes}) == 1
