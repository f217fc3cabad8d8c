"""audit_snapshot: risk tells ``kameng audit`` its outbox backlog, on SQLite and PostgreSQL."""

import datetime

from kameng_common.testing import deliver
from risk import usecases
from risk.domain import Thresholds


def test_the_snapshot_tells_the_events_not_yet_published(any_db, make_order_created):
    assert usecases.audit_snapshot(any_db) == {
        "service": "risk",
        "outbox": {"pending": 0, "oldest_pending_at": None},
    }
    deliver(any_db, "risk", usecases.on_order_created, make_order_created("o1"), Thresholds())
    outbox = usecases.audit_snapshot(any_db)["outbox"]
    assert outbox["pending"] == 1  # its risk.assessed
    oldest = datetime.datetime.fromisoformat(outbox["oldest_pending_at"])
    assert abs(datetime.datetime.now(datetime.UTC) - oldest) < datetime.timedelta(minutes=1)
