"""audit_snapshot: risk tells ``kameng audit`` its outbox backlog, on SQLite and PostgreSQL."""

from risk import usecases
from risk.domain import Thresholds


def test_the_snapshot_tells_the_events_not_yet_published(any_db, make_order):
    empty = {"service": "risk", "outbox": {"pending": 0, "oldest_pending_at": None}}
    assert usecases.audit_snapshot(any_db) == empty
    usecases.assess_order(any_db, Thresholds(), make_order("o1"))
    # orders hears the decision in the answer: nothing is published
    assert usecases.audit_snapshot(any_db) == empty
