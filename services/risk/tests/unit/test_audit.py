"""audit_snapshot: risk tells ``kameng audit`` its outbox backlog, on SQLite and PostgreSQL."""

import datetime

import pytest

from kameng_common.db import Database
from risk import usecases
from risk.db import metadata
from risk.domain import Thresholds


@pytest.fixture
def any_db(database_url):
    database = Database(database_url, metadata)
    database.create_all()
    yield database
    database.dispose()


def test_the_snapshot_tells_the_events_not_yet_published(any_db, make_order_created):
    assert usecases.audit_snapshot(any_db) == {
        "service": "risk",
        "outbox": {"pending": 0, "oldest_pending_at": None},
    }
    usecases.on_order_created(any_db, Thresholds(), make_order_created("o1"))
    outbox = usecases.audit_snapshot(any_db)["outbox"]
    assert outbox["pending"] == 1  # its risk.assessed
    oldest = datetime.datetime.fromisoformat(outbox["oldest_pending_at"])
    assert abs(datetime.datetime.now(datetime.UTC) - oldest) < datetime.timedelta(minutes=1)
