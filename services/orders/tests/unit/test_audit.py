"""audit_snapshot: every order in brief for ``kameng audit``, on SQLite and PostgreSQL."""

import datetime

from orders import usecases


def test_the_snapshot_of_no_orders(any_saga):
    assert usecases.audit_snapshot(any_saga.db) == {
        "service": "orders",
        "orders": {},
        "outbox": {"pending": 0, "oldest_pending_at": None},
    }


def test_the_snapshot_tells_each_orders_status_quantities_money_payment_and_times(any_saga):
    saga = any_saga
    later = saga.NOW + datetime.timedelta(minutes=1)
    delivered = saga.approved(items=[{"product_id": 1, "quantity": 3}, {"product_id": 2, "quantity": 1}])
    payment_id = saga.pay(delivered, now=later)
    saga.cards_delivered(delivered["id"], now=later)
    cancelled = saga.create()
    saga.answer(cancelled["id"], stock="rejected")

    snapshot = usecases.audit_snapshot(saga.db)

    assert snapshot["orders"] == {
        delivered["id"]: {
            "status": "delivered",
            "total": 3 * 10000 + 4500,
            "currency": "CNY",
            "coupon_code": None,
            "discount": 0,
            "payment_id": payment_id,
            "shop": None,
            "items": {"1": 3, "2": 1},
            "created_at": "2026-03-01T12:00:00+00:00",
            "updated_at": "2026-03-01T12:01:00+00:00",
            "expires_at": "2026-03-01T12:15:00+00:00",
        },
        cancelled["id"]: {
            "status": "cancelled",
            "total": 20000,
            "currency": "CNY",
            "coupon_code": None,
            "discount": 0,
            "payment_id": None,
            "shop": None,
            "items": {"1": 2},
            "created_at": "2026-03-01T12:00:00+00:00",
            "updated_at": "2026-03-01T12:00:00+00:00",
            "expires_at": None,
        },
    }
    assert snapshot["outbox"]["pending"] == len(saga.events())
    assert snapshot["outbox"]["oldest_pending_at"] is not None
