"""Payment intents and wallet payments, on SQLite and PostgreSQL."""

import uuid

import eventlet
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from kameng_common.errors import Conflict, InvalidInput
from payments import usecases
from payments.db import payment_intents, wallets
from payments.providers import Providers


def intents(any_db):
    with any_db.reading() as session:
        return session.execute(sa.select(payment_intents)).all()


def test_a_mockpay_intent_waits_for_its_notification(open_intent):
    intent = open_intent(method="mockpay", amount=1500, currency="CNY")
    uuid.UUID(intent["payment_id"], version=4)
    assert intent == {
        "payment_id": intent["payment_id"],
        "amount": 1500,
        "currency": "CNY",
        "method": "mockpay",
        "status": "pending",
        "pay_url": None,
        "code_url": None,
    }


def test_an_open_intent_is_answered_again_not_opened_twice(any_db, open_intent):
    order_id = str(uuid.uuid4())
    first = open_intent(order_id=order_id)
    assert open_intent(order_id=order_id) == first
    assert len(intents(any_db)) == 1


def test_a_repeated_intent_that_asks_for_another_amount_is_a_conflict(any_db, open_intent, snapshot):
    order_id = str(uuid.uuid4())
    open_intent(order_id=order_id, amount=1500)
    before = snapshot()
    with pytest.raises(Conflict) as refused:
        open_intent(order_id=order_id, amount=1600)
    assert refused.value.code == "intent_mismatch"
    assert snapshot() == before


def test_an_intent_that_loses_the_race_answers_the_winners_intent(any_db, open_intent, monkeypatch):
    """Both calls find no intent; unique (order, method) lets one commit, the other re-reads."""
    order_id = str(uuid.uuid4())
    first = open_intent(order_id=order_id)
    monkeypatch.setattr(usecases, "_select_intent", lambda uow, lock=False, **where: None)
    assert open_intent(order_id=order_id) == first
    assert len(intents(any_db)) == 1


def test_twenty_identical_intents_at_once_open_one(any_db, open_intent):
    order_id = str(uuid.uuid4())
    pool = eventlet.GreenPool(20)
    answers = list(pool.imap(lambda _: open_intent(order_id=order_id), range(20)))
    assert len({answer["payment_id"] for answer in answers}) == 1
    assert len(intents(any_db)) == 1


@pytest.mark.parametrize("method", ["alipay", "wechat", "unionpay"])
def test_providers_without_settings_open_no_intent(any_db, snapshot, method):
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        usecases.create_intent(
            any_db, Providers(mockpay_secret="s"), str(uuid.uuid4()), "buyer-1", 1500, "CNY", method
        )
    assert refused.value.code == "provider_unavailable"
    assert "not enabled" in refused.value.message
    assert snapshot() == before


def test_no_mockpay_intent_while_mockpay_is_disabled(any_db, snapshot):
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        usecases.create_intent(
            any_db, Providers(mockpay_secret=None), "order-1", "buyer-1", 1500, "CNY", "mockpay"
        )
    assert refused.value.code == "provider_unavailable"
    assert snapshot() == before


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": 0},
        {"amount": -1},
        {"amount": 15.0},
        {"amount": "1500"},
        {"amount": True},
        {"amount": 10**13},
        {"currency": "cny"},
        {"currency": None},
        {"method": "paypal"},
        {"order_id": ""},
        {"customer_id": None},
        {"order_id": "x" * 65},
    ],
    ids=repr,
)
def test_bad_input_is_refused_clearly(db, providers, changes):
    request = {
        "order_id": "order-1",
        "customer_id": "buyer-1",
        "amount": 1500,
        "currency": "CNY",
        "method": "mockpay",
        **changes,
    }
    with pytest.raises(InvalidInput) as refused:
        usecases.create_intent(db, providers, **request)
    assert next(iter(changes)) in refused.value.message


def test_a_wallet_payment_debits_posts_and_publishes_at_once(any_db, open_intent, fund_wallet, published):
    fund_wallet("buyer-1", 2000)

    intent = open_intent(method="balance", amount=1500, customer_id="buyer-1")

    assert intent == {
        "payment_id": intent["payment_id"],
        "amount": 1500,
        "currency": "CNY",
        "method": "balance",
        "status": "succeeded",
        "pay_url": None,
        "code_url": None,
    }
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 500
    succeeded = published("payment.succeeded")[-1]
    assert (succeeded["provider"], succeeded["trade_no"], succeeded["amount"]) == (
        "balance",
        intent["payment_id"],
        1500,
    )
    balances = {row["account"]: row["balance"] for row in usecases.ledger_balances(any_db)}
    assert balances["wallet:buyer-1"] == -500  # we still owe the buyer 500
    assert usecases.check_ledger(any_db) == []


def test_a_repeated_wallet_payment_debits_once(any_db, open_intent, fund_wallet, published):
    fund_wallet("buyer-1", 5000)
    order_id = str(uuid.uuid4())
    first = open_intent(method="balance", amount=1500, order_id=order_id)
    assert open_intent(method="balance", amount=1500, order_id=order_id) == first
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 3500
    assert [event["order_id"] for event in published("payment.succeeded")].count(order_id) == 1


@pytest.mark.parametrize("funds", [0, 1499])
def test_an_insufficient_balance_pays_nothing_and_changes_nothing(
    any_db, open_intent, fund_wallet, snapshot, funds
):
    if funds:
        fund_wallet("buyer-1", funds)
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        open_intent(method="balance", amount=1500, customer_id="buyer-1")
    assert refused.value.code == "insufficient_balance"
    assert snapshot() == before


def test_wallet_payments_at_once_never_take_a_wallet_below_zero(any_db, open_intent, fund_wallet):
    fund_wallet("buyer-1", 7000)

    def pay(_):
        try:
            return open_intent(method="balance", amount=1000, customer_id="buyer-1")["status"]
        except InvalidInput as refused:
            return refused.code

    outcomes = list(eventlet.GreenPool(10).imap(pay, range(10)))

    assert sorted(outcomes) == ["insufficient_balance"] * 3 + ["succeeded"] * 7
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 0
    assert usecases.check_ledger(any_db) == []


def test_the_database_refuses_a_negative_wallet_whatever_the_code_does(any_db, fund_wallet):
    fund_wallet("buyer-1", 100)
    with pytest.raises(IntegrityError), any_db.unit_of_work() as uow:
        uow.execute(wallets.update().values(balance=wallets.c.balance - 101))
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 100


def test_a_paid_order_takes_no_other_way_to_pay(
    any_db, providers, open_intent, fund_wallet, signed_notification, snapshot
):
    fund_wallet("buyer-1", 5000)
    order_id = str(uuid.uuid4())
    by_mockpay = open_intent(method="mockpay", order_id=order_id)
    usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(by_mockpay))
    before = snapshot()
    with pytest.raises(Conflict) as refused:
        open_intent(method="balance", order_id=order_id)
    assert refused.value.code == "already_paid"
    assert snapshot() == before


def test_a_wallet_is_empty_until_money_comes_in(db):
    assert usecases.get_wallet(db, "nobody") == {
        "customer_id": "nobody",
        "balance": 0,
        "currency": "CNY",
    }
    with pytest.raises(InvalidInput):
        usecases.get_wallet(db, "")


def test_a_wallet_holds_each_currency_apart(any_db, fund_wallet):
    fund_wallet("buyer-1", 700, currency="USD")
    assert usecases.get_wallet(any_db, "buyer-1", "USD") == {
        "customer_id": "buyer-1",
        "balance": 700,
        "currency": "USD",
    }
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 0
