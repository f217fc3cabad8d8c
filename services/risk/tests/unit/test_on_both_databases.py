"""What depends on the SQL dialect and on concurrency, on SQLite and PostgreSQL alike."""

import datetime

import eventlet
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kameng_common.db import Database
from kameng_common.migrations import upgrade
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
    """Every decision recorded, in the order risk made them."""
    with db.reading() as session:
        return (
            session.execute(sa.select(assessments.c.decision).order_by(assessments.c.assessed_at))
            .scalars()
            .all()
        )


def test_migrations_build_exactly_the_tables_of_the_metadata(shared_db):
    with shared_db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_the_velocity_window_and_reviews(shared_db, make_order):
    for second in (0, 1, 2, 3, 4, 61):
        usecases.assess_order(
            shared_db,
            TIGHT,
            make_order(
                f"o-{second}",
                total=600_000 if second == 61 else 100,
                at=NOW + datetime.timedelta(seconds=second),
            ),
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
def test_a_burst_of_one_customers_orders_is_counted_exactly(shared_db, make_order, rule):
    """Placed at one moment and scored all at once, each order still counts every order scored before it:
    none is undercounted (without the customer's lock PostgreSQL lets them all count only themselves)."""
    thresholds = {
        "velocity": Thresholds(velocity_review=2, velocity_reject=4, max_unpaid_orders=1_000),
        "unpaid_orders": Thresholds(max_unpaid_orders=3),
    }[rule]
    orders = [make_order(f"o-{n}", at=NOW) for n in range(12)] + [
        make_order(f"other-{n}", customer_id="c2", at=NOW) for n in range(2)
    ]

    outcomes = list(
        eventlet.GreenPool(len(orders)).imap(lambda order: _assess(shared_db, order, thresholds), orders)
    )

    mine = [
        outcome["decision"]
        for order, outcome in zip(orders, outcomes, strict=True)
        if order["customer_id"] == "c1"
    ]
    expected = {
        "velocity": {"approve": 2, "review": 2, "reject": 8},
        "unpaid_orders": {"approve": 3, "reject": 9},
    }
    assert {decision: mine.count(decision) for decision in set(mine)} == expected[rule]
    assert [outcome["decision"] for outcome in outcomes[12:]] == ["approve"] * 2


def _assess(db, order, thresholds=TIGHT):
    """Assess as orders asks: a call that lost a race answers 503 (Unavailable) and is asked again."""
    for _attempt in range(20):
        try:
            return usecases.assess_order(db, thresholds, order)
        except sa.exc.IntegrityError:
            eventlet.sleep(0.01)
    raise AssertionError("never assessed")


def test_concurrent_assessments_of_one_order_decide_once(shared_db, make_order):
    # orders asking again (a retry, the sweeper) while the first call still runs
    order = make_order("o-1", total=600_000, at=NOW)

    outcomes = list(eventlet.GreenPool(8).imap(lambda order: _assess(shared_db, order), [order] * 8))

    assert len({outcome["decision"] for outcome in outcomes}) == 1
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
