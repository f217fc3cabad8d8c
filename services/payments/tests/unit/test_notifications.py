"""Provider notifications: verified, idempotent on the trade number, never lost; both databases."""

import json

import eventlet
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from kameng_common.errors import InvalidInput, InvalidSignature, KamengError, NotFound
from payments import usecases
from payments.db import ledger_entries, payment_intents, receipts
from payments.providers import Mockpay, Providers


def payments_counted(outcome, provider="mockpay"):
    return REGISTRY.get_sample_value("kameng_payments_total", {"provider": provider, "outcome": outcome}) or 0


def intent_status(any_db, payment_id):
    with any_db.reading() as session:
        return session.execute(
            sa.select(payment_intents.c.status).where(payment_intents.c.id == payment_id)
        ).scalar_one()


def count(any_db, table):
    with any_db.reading() as session:
        return session.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_an_accepted_notification_pays_posts_and_publishes_at_once(
    any_db, providers, open_intent, signed_notification, published
):
    intent = open_intent(amount=1500)
    assert intent == {
        "payment_id": intent["payment_id"],
        "amount": 1500,
        "currency": "CNY",
        "method": "mockpay",
        "status": "pending",
        "pay_url": None,
        "code_url": None,
    }
    before = payments_counted("succeeded")

    answer = usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent))

    assert answer == {"status": "ok", "payment_id": intent["payment_id"], "trade_no": "MP-1"}
    assert intent_status(any_db, intent["payment_id"]) == "succeeded"
    [event] = published("payment.succeeded")
    assert event == {
        "payment_id": intent["payment_id"],
        "order_id": event["order_id"],
        "customer_id": "buyer-1",
        "amount": 1500,
        "currency": "CNY",
        "provider": "mockpay",
        "trade_no": "MP-1",
    }
    assert {(row["account"], row["balance"]) for row in usecases.ledger_balances(any_db)} == {
        ("provider:mockpay", 1500),
        ("sales", -1500),
    }
    assert usecases.check_ledger(any_db) == []
    assert payments_counted("succeeded") == before + 1


@pytest.mark.parametrize(
    "tamper, error, code, outcome",
    [
        ("body", InvalidSignature, "invalid_signature", "refused_signature"),
        ("signature", InvalidSignature, "invalid_signature", "refused_signature"),
        ("no_signature", InvalidSignature, "invalid_signature", "refused_signature"),
        ("amount", InvalidInput, "amount_mismatch", "refused_amount"),
        ("currency", InvalidInput, "amount_mismatch", "refused_amount"),
        ("unknown_payment", NotFound, "not_found", "refused_unknown_payment"),
        ("not_json", InvalidInput, "invalid_input", "refused_invalid"),
        ("status", InvalidInput, "unsupported_status", "refused_invalid"),
    ],
)
def test_a_refused_notification_changes_nothing(
    any_db, providers, mockpay, open_intent, signed_notification, snapshot, tamper, error, code, outcome
):
    intent = open_intent(amount=1500)
    body, headers = signed_notification(intent)
    if tamper == "body":
        body = body.replace("1500", "15")
    elif tamper == "signature":
        headers = {"X-Mockpay-Signature": Mockpay("a guess").sign(body)}
    elif tamper == "no_signature":
        headers = {}
    elif tamper == "amount":
        body, headers = signed_notification(intent, amount=1)
    elif tamper == "currency":
        body, headers = signed_notification(intent, currency="USD")
    elif tamper == "unknown_payment":
        body, headers = signed_notification({**intent, "payment_id": "no-such-payment"})
    elif tamper == "not_json":
        body = "payment_id=1&amount=1500"
        headers = {"X-Mockpay-Signature": mockpay.sign(body)}
    elif tamper == "status":
        body, headers = signed_notification(intent, status="CLOSED")
    before, counted = snapshot(), payments_counted(outcome)

    with pytest.raises(error) as refused:
        usecases.handle_notification(any_db, providers, "mockpay", body, headers)

    assert refused.value.code == code
    assert snapshot() == before
    assert payments_counted(outcome) == counted + 1


def test_a_notification_for_another_providers_payment_changes_nothing(
    any_db, providers, open_intent, fund_wallet, signed_notification, snapshot
):
    fund_wallet("buyer-1", 1500)
    paid_from_wallet = open_intent(method="balance", amount=1500)
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(paid_from_wallet))
    assert refused.value.code == "provider_mismatch"
    assert snapshot() == before


@pytest.mark.parametrize(
    "provider, body, headers",
    [
        ("mockpay", None, {}),
        ("mockpay", "{}", {"X-Mockpay-Signature": 12}),
        ("mockpay", "{}", ["X-Mockpay-Signature"]),
        ("mockpay", "x" * (64 * 1024 + 1), {}),
        ("", "{}", {}),
        (None, "{}", {}),
    ],
    ids=[
        "no body",
        "header not text",
        "headers not a dict",
        "body too large",
        "empty provider",
        "no provider",
    ],
)
def test_a_malformed_call_is_refused_as_bad_input(db, providers, provider, body, headers):
    with pytest.raises(InvalidInput):
        usecases.handle_notification(db, providers, provider, body, headers)


@pytest.mark.parametrize("provider", ["alipay", "wechat", "unionpay"])
def test_notifications_from_providers_without_settings_are_refused(any_db, provider, snapshot):
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        usecases.handle_notification(any_db, Providers(mockpay_secret="s"), provider, "{}", {})
    assert refused.value.code == "provider_unavailable"
    assert snapshot() == before


def test_mockpay_notifications_are_refused_while_mockpay_is_disabled(
    any_db, open_intent, signed_notification, snapshot
):
    intent = open_intent()
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        usecases.handle_notification(
            any_db, Providers(mockpay_secret=None), "mockpay", *signed_notification(intent)
        )
    assert refused.value.code == "provider_unavailable"
    assert snapshot() == before


def test_a_repeated_trade_no_changes_nothing_and_answers_as_the_first_time(
    any_db, providers, open_intent, signed_notification, snapshot
):
    intent = open_intent()
    body, headers = signed_notification(intent)
    first = usecases.handle_notification(any_db, providers, "mockpay", body, headers)
    after_first = snapshot()
    duplicates = payments_counted("duplicate")

    again = usecases.handle_notification(
        any_db, providers, "mockpay", body, {"x-mockpay-signature": headers["X-Mockpay-Signature"]}
    )

    assert again == first
    assert snapshot() == after_first
    assert payments_counted("duplicate") == duplicates + 1


def test_a_trade_no_reused_for_another_payment_is_refused_not_answered_as_that_payment(
    any_db, providers, open_intent, signed_notification, snapshot, monkeypatch
):
    paid, other = open_intent(), open_intent()
    usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(paid, "MP-shared"))
    after_first = snapshot()

    with pytest.raises(KamengError) as refused:
        usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(other, "MP-shared"))
    assert (refused.value.status, refused.value.code) == (409, "trade_no_reused")
    # the same refusal when the reuse loses a race to the unique constraint
    stored_answer = usecases._stored_answer
    lookups = []

    def looked_too_early(connection, notice):
        lookups.append(notice)
        return None if len(lookups) == 1 else stored_answer(connection, notice)

    monkeypatch.setattr(usecases, "_stored_answer", looked_too_early)
    with pytest.raises(KamengError) as raced:
        usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(other, "MP-shared"))
    assert raced.value.code == "trade_no_reused"
    assert snapshot() == after_first
    assert intent_status(any_db, other["payment_id"]) == "pending"


def test_a_notification_that_loses_the_race_answers_with_the_winners_answer(
    any_db, providers, open_intent, signed_notification, snapshot, monkeypatch
):
    """Both copies find no receipt; the unique constraint lets one commit, the other re-reads."""
    intent = open_intent()
    body, headers = signed_notification(intent)
    first = usecases.handle_notification(any_db, providers, "mockpay", body, headers)
    after_first = snapshot()
    # the loser looked before the winner committed; it reads the winner's answer after its insert fails
    lookups = []
    stored_answer = usecases._stored_answer

    def looked_too_early(connection, notice):
        lookups.append(notice)
        return None if len(lookups) == 1 else stored_answer(connection, notice)

    monkeypatch.setattr(usecases, "_stored_answer", looked_too_early)

    assert usecases.handle_notification(any_db, providers, "mockpay", body, headers) == first
    assert snapshot() == after_first


def test_twenty_identical_notifications_at_once_record_one_payment(
    any_db, providers, open_intent, signed_notification, published
):
    intent = open_intent()
    body, headers = signed_notification(intent)
    start = eventlet.event.Event()

    def notify(_):
        start.wait()
        return usecases.handle_notification(any_db, providers, "mockpay", body, headers)

    pool = eventlet.GreenPool(20)
    answers = pool.imap(notify, range(20))
    eventlet.sleep(0)  # let all twenty reach the gate, then open it
    start.send()
    answers = list(answers)

    assert answers == [{"status": "ok", "payment_id": intent["payment_id"], "trade_no": "MP-1"}] * 20
    assert count(any_db, receipts) == 1
    assert len(published("payment.succeeded")) == 1
    assert count(any_db, ledger_entries) == 2
    assert intent_status(any_db, intent["payment_id"]) == "succeeded"
    assert usecases.check_ledger(any_db) == []


def test_a_second_trade_no_for_a_paid_intent_is_money_received_twice(
    any_db, providers, open_intent, signed_notification, published
):
    intent = open_intent(amount=1500)
    usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent, "MP-1"))
    paid_twice = payments_counted("paid_twice")

    answer = usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent, "MP-2"))

    assert answer == {"status": "ok", "payment_id": intent["payment_id"], "trade_no": "MP-2"}
    assert [event["trade_no"] for event in published("payment.succeeded")] == ["MP-1", "MP-2"]
    assert count(any_db, receipts) == 2
    assert {(row["account"], row["balance"]) for row in usecases.ledger_balances(any_db)} == {
        ("provider:mockpay", 3000),
        ("sales", -3000),
    }
    assert intent_status(any_db, intent["payment_id"]) == "succeeded"
    assert payments_counted("paid_twice") == paid_twice + 1
    assert usecases.check_ledger(any_db) == []


def test_two_trade_nos_at_once_are_both_recorded(
    any_db, providers, open_intent, signed_notification, published
):
    intent = open_intent()
    pool = eventlet.GreenPool(2)
    answers = list(
        pool.imap(
            lambda trade_no: usecases.handle_notification(
                any_db, providers, "mockpay", *signed_notification(intent, trade_no)
            ),
            ["MP-1", "MP-2"],
        )
    )
    assert sorted(answer["trade_no"] for answer in answers) == ["MP-1", "MP-2"]
    assert sorted(event["trade_no"] for event in published("payment.succeeded")) == ["MP-1", "MP-2"]
    assert usecases.check_ledger(any_db) == []


def test_the_stored_answer_is_the_one_returned(any_db, providers, open_intent, signed_notification):
    intent = open_intent()
    answer = usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent))
    with any_db.reading() as session:
        stored = session.execute(sa.select(receipts.c.answer)).scalar_one()
    assert json.loads(stored) == answer


def test_every_refusal_is_a_kameng_error_with_a_code(db, providers):
    with pytest.raises(KamengError) as refused:
        usecases.handle_notification(db, providers, "mockpay", "{}", {})
    assert refused.value.args == (refused.value.message, "invalid_signature")
