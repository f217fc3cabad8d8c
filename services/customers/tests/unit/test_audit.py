"""audit_snapshot: customers tells ``kameng audit`` its outbox backlog, on SQLite and PostgreSQL."""

from customers import usecases


def test_the_snapshot_tells_the_events_not_yet_published(any_db):
    assert usecases.audit_snapshot(any_db) == {
        "service": "customers",
        "agents": {
            "ledger_moves": {},
            "markups": {},
            "commissions_twice": [],
            "balance_mismatches": [],
            "withdrawals_over_available": [],
        },
        "stats_mismatches": [],
        "accounts": {"enabled_admins": 0},
        "coupons": {"coupons": {}, "uses": {}},
        "outbox": {"pending": 0, "oldest_pending_at": None},
    }
    # any event stands for one
    with any_db.unit_of_work() as uow:
        uow.publish(
            "order.delivered",
            {"order_id": "o1", "customer_id": "c1", "total": 100, "currency": "CNY"},
            correlation_id="o1",
        )
    assert usecases.audit_snapshot(any_db)["outbox"]["pending"] == 1
