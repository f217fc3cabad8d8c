"""Refunds to the buyer's wallet, in any order and any number of times; on SQLite and PostgreSQL."""

import uuid

import eventlet
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from kameng_common.errors import InvalidInput, NotFound
from kameng_common.testing import deliver
from payments import usecases
from payments.db import refunds


@pytest.fixture
def paid(any_db, providers, open_intent, signed_notification):
    """A mockpay payment of 1500 CNY received for a new order, and that order's id."""
    order_id = str(uuid.uuid4())
    intent = open_intent(order_id=order_id, amount=1500, customer_id="buyer-1")
    usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent, "MP-1"))
    return intent, order_id


def refunds_counted(outcome):
    return REGISTRY.get_sample_value("kameng_refunds_total", {"outcome": outcome}) or 0


def refund_rows(any_db):
    with any_db.reading() as session:
        return session.execute(sa.select(refunds)).all()


def test_a_refund_credits_the_buyers_wallet_posts_and_publishes(any_db, paid, refund_request, published):
    intent, order_id = paid
    before = refunds_counted("refunded")

    deliver(any_db, "payments", usecases.on_refund_requested, refund_request(intent, order_id, "buyer-1"))

    assert usecases.get_wallet(any_db, "buyer-1") == {
        "customer_id": "buyer-1",
        "balance": 1500,
        "currency": "CNY",
    }
    [refund] = refund_rows(any_db)
    assert published("payment.refunded") == [
        {
            "payment_id": intent["payment_id"],
            "order_id": order_id,
            "customer_id": "buyer-1",
            "amount": 1500,
            "currency": "CNY",
            "refund_id": refund.id,
            "order_refunded_in_full": True,
        }
    ]
    assert {row["account"]: row["balance"] for row in usecases.ledger_balances(any_db)} == {
        "provider:mockpay": 1500,
        "sales": -1500,
        "refunds": 1500,
        "wallet:buyer-1": -1500,
    }
    assert usecases.check_ledger(any_db) == []
    assert refunds_counted("refunded") == before + 1


def test_a_redelivered_refund_request_changes_nothing(any_db, paid, refund_request, snapshot):
    intent, order_id = paid
    event = refund_request(intent, order_id, "buyer-1")
    deliver(any_db, "payments", usecases.on_refund_requested, event)
    after_first = snapshot()
    deliver(any_db, "payments", usecases.on_refund_requested, event)
    assert snapshot() == after_first


def test_a_second_request_to_refund_the_same_payment_changes_nothing(any_db, paid, refund_request, published):
    intent, order_id = paid
    deliver(
        any_db,
        "payments",
        usecases.on_refund_requested,
        refund_request(intent, order_id, "buyer-1", reason="expired"),
    )
    duplicates = refunds_counted("duplicate")

    deliver(
        any_db,
        "payments",
        usecases.on_refund_requested,
        refund_request(intent, order_id, "buyer-1", reason="sale failed"),
    )

    assert len(refund_rows(any_db)) == 1
    assert len(published("payment.refunded")) == 1
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 1500
    assert refunds_counted("duplicate") == duplicates + 1


def test_requests_racing_to_refund_one_payment_refund_it_once(any_db, paid, refund_request):
    intent, order_id = paid
    pool = eventlet.GreenPool(10)
    list(
        pool.imap(
            lambda _: deliver(
                any_db, "payments", usecases.on_refund_requested, refund_request(intent, order_id, "buyer-1")
            ),
            range(10),
        )
    )
    assert len(refund_rows(any_db)) == 1
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 1500
    assert usecases.check_ledger(any_db) == []


def test_money_received_twice_can_be_refunded_twice_and_no_more(
    any_db, providers, paid, signed_notification, refund_request, published
):
    intent, order_id = paid
    usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent, "MP-2"))

    for reason in ("paid twice", "expired", "expired again"):
        deliver(
            any_db,
            "payments",
            usecases.on_refund_requested,
            refund_request(intent, order_id, "buyer-1", reason=reason),
        )

    assert len(refund_rows(any_db)) == 2
    assert len(published("payment.refunded")) == 2
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 3000
    assert usecases.check_ledger(any_db) == []


def test_a_wallet_payment_is_refunded_to_the_wallet(any_db, open_intent, fund_wallet, refund_request):
    fund_wallet("buyer-1", 1500)
    order_id = str(uuid.uuid4())
    intent = open_intent(method="balance", amount=1500, order_id=order_id)
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 0
    deliver(any_db, "payments", usecases.on_refund_requested, refund_request(intent, order_id, "buyer-1"))
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 1500
    assert usecases.check_ledger(any_db) == []


@pytest.mark.parametrize(
    "changes, error, code",
    [
        ({"amount": 1000}, InvalidInput, "amount_mismatch"),
        ({"currency": "USD"}, InvalidInput, "refund_mismatch"),
        ({"customer_id": "someone-else"}, InvalidInput, "refund_mismatch"),
        ({"payment_id": "no-such-payment"}, NotFound, "not_found"),
    ],
)
def test_a_refund_that_cannot_be_made_fails_loudly_and_changes_nothing(
    any_db, paid, refund_request, snapshot, changes, error, code
):
    """The reliable handler retries it, then dead-letters it where an operator sees it."""
    intent, order_id = paid
    event = refund_request(intent, order_id, "buyer-1")
    event["payload"].update(changes)
    before = snapshot()
    with pytest.raises(error) as refused:
        deliver(any_db, "payments", usecases.on_refund_requested, event)
    assert refused.value.code == code
    assert snapshot() == before


def test_a_payment_that_received_nothing_has_nothing_to_refund(any_db, open_intent, refund_request, snapshot):
    order_id = str(uuid.uuid4())
    intent = open_intent(order_id=order_id)
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        deliver(any_db, "payments", usecases.on_refund_requested, refund_request(intent, order_id, "buyer-1"))
    assert refused.value.code == "not_paid"
    assert snapshot() == before
