"""Staff refunds: full or partial, to the wallet or through the provider, never more than paid."""

import datetime
import uuid
from types import SimpleNamespace

import eventlet
import pytest

from kameng_common.errors import InvalidInput
from kameng_common.testing import deliver
from payments import domain, usecases
from payments.providers import RefundFailed


@pytest.fixture
def refund(any_db, providers):
    def ask(order_id, amount=None, to="wallet", key=None, reason="the card did not work"):
        return usecases.refund_order(
            any_db, providers, order_id, amount, to, reason, key or str(uuid.uuid4()), "staff-1"
        )

    return ask


def test_a_partial_refund_to_the_wallet_credits_it_and_leaves_the_rest_refundable(any_db, paid_order, refund):
    order_id = paid_order(1500)
    first = refund(order_id, 500)
    assert (first["status"], first["amount"], first["to"]) == ("succeeded", 500, "wallet")
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 500
    rest = refund(order_id)  # no amount: all that is left
    assert rest["amount"] == 1000
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 1500
    assert usecases.check_ledger(any_db) == []
    with pytest.raises(InvalidInput) as refused:
        refund(order_id, 1)
    assert refused.value.code == "refund_exceeds_paid"


def test_a_refund_above_what_was_paid_is_422_and_changes_nothing(any_db, paid_order, refund, snapshot):
    order_id = paid_order(1500)
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        refund(order_id, 1501)
    assert refused.value.code == "refund_exceeds_paid"
    assert snapshot() == before


def test_an_unpaid_order_has_nothing_to_refund(any_db, refund, open_intent):
    order_id = str(uuid.uuid4())
    open_intent(order_id=order_id)
    with pytest.raises(InvalidInput) as refused:
        refund(order_id)
    assert refused.value.code == "not_paid"


def test_the_same_idempotency_key_refunds_once(any_db, paid_order, refund):
    order_id = paid_order(1500)
    first = refund(order_id, 300, key="k-1")
    assert refund(order_id, 300, key="k-1") == first
    assert refund(order_id, key="k-1") == first
    with pytest.raises(InvalidInput) as refused:
        refund(order_id, 400, key="k-1")
    assert refused.value.code == "idempotency_key_reused"
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 300


def test_mockpay_cannot_refund_to_the_original_channel(paid_order, refund):
    with pytest.raises(InvalidInput) as refused:
        refund(paid_order(), to="original")
    assert refused.value.code == "refund_channel_unavailable"


def test_twenty_concurrent_refunds_never_give_back_more_than_was_paid(any_db, paid_order, refund):
    order_id = paid_order(1500)
    start = eventlet.event.Event()

    def ask(_):
        start.wait()
        try:
            return refund(order_id, 100)["amount"]
        except InvalidInput as refused:
            return refused.code

    pool = eventlet.GreenPool(20)
    outcomes = pool.imap(ask, range(20))
    eventlet.sleep(0)
    start.send()
    outcomes = list(outcomes)

    assert sorted(outcomes, key=str) == [100] * 15 + ["refund_exceeds_paid"] * 5
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 1500
    assert usecases.check_ledger(any_db) == []


# --- racing the money that arrives late ------------------------------------------


@pytest.fixture
def paid_twice(any_db, providers, open_intent, signed_notification, refund_request):
    """An order paid 1500 (trade T1); ``second_sum()`` records the same payment again (trade T2),
    ``orders_asks()`` delivers orders' request to give that second sum back, as the saga does."""
    order_id = str(uuid.uuid4())
    intent = open_intent(amount=1500, order_id=order_id)
    usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent, "T1"))

    def second_sum():
        usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent, "T2"))

    def orders_asks():
        deliver(any_db, "payments", usecases.on_refund_requested, refund_request(intent, order_id, "buyer-1"))

    return SimpleNamespace(order_id=order_id, second_sum=second_sum, orders_asks=orders_asks)


def received_for(any_db, order_id):
    with any_db.reading() as session:
        return usecases._received_for(session, [usecases._find_intent(any_db, order_id, "mockpay").id])


def given_back(any_db, order_id):
    received = received_for(any_db, order_id)
    return sum(receipt.amount for receipt in received), sum(receipt.refunded for receipt in received)


def test_a_staff_refund_of_the_late_sum_leaves_only_its_rest_to_orders_request(
    any_db, paid_twice, refund, published
):
    order_id = paid_twice.order_id
    paid_twice.second_sum()
    refund(order_id, 1000)
    paid_twice.orders_asks()
    # staff took 1,000 of the newest sum; orders' request gives back its other 500, not 1,500 again
    assert [event["amount"] for event in published("payment.refunded")] == [1000, 500]
    assert given_back(any_db, order_id) == (3000, 1500)
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 1500
    assert usecases.check_ledger(any_db) == []
    snapshot = usecases.audit_snapshot(any_db)
    assert sorted(receipt["refunded_amount"] or 0 for receipt in snapshot["receipts"]) == [0, 500]


def test_staff_refunds_racing_a_late_notification_never_give_back_more_than_was_received(
    any_db, paid_twice, refund
):
    order_id = paid_twice.order_id
    start = eventlet.event.Event()

    def act(n):
        start.wait()
        if n == 0:
            paid_twice.second_sum()
            paid_twice.orders_asks()
            return "late"
        try:
            return refund(order_id, 700)["amount"]
        except InvalidInput as refused:
            return refused.code

    pool = eventlet.GreenPool(8)
    outcomes = pool.imap(act, range(8))
    eventlet.sleep(0)
    start.send()
    outcomes = list(outcomes)

    received, refunded = given_back(any_db, order_id)
    assert received == 3000
    assert refunded <= received
    assert all(0 <= receipt.remaining <= receipt.amount for receipt in received_for(any_db, order_id))
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == refunded
    assert usecases.check_ledger(any_db) == []
    assert set(outcomes) <= {"late", 700, "refund_exceeds_paid"}


# --- through the provider ------------------------------------------------------


class ScriptedRefunds:
    """The provider's refund API, answering from a script: a refund id, or a RefundFailed."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, provider_refund):
        self.calls.append(provider_refund)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_refund_to_the_original_channel_goes_through_the_provider_once(
    any_db, adapters, alipay_paid_order, refund, monkeypatch, published
):
    api = ScriptedRefunds("2026112722001")
    monkeypatch.setattr(adapters.alipay, "refund", api)
    order_id = alipay_paid_order(1500)

    answer = refund(order_id, 600, to="original")

    assert (answer["status"], answer["to"], answer["provider"]) == ("succeeded", "original", "alipay")
    assert [(call.amount, call.total) for call in api.calls] == [(600, 1500)]
    assert usecases.get_wallet(any_db, "buyer-1")["balance"] == 0
    assert usecases.check_ledger(any_db) == []
    # given back: customers takes agents' commissions back in proportion
    assert [(event["refund_id"], event["amount"]) for event in published("payment.refunded")] == [
        (answer["id"], 600)
    ]


def test_a_wallet_refund_is_published_as_given_back_at_once(paid_order, refund, published):
    order_id = paid_order(1500)
    answer = refund(order_id, 400)
    assert published("payment.refunded") == [
        {
            "payment_id": answer["payment_id"],
            "order_id": order_id,
            "customer_id": "buyer-1",
            "amount": 400,
            "currency": "CNY",
            "refund_id": answer["id"],
            "order_refunded_in_full": False,
        }
    ]


def test_the_refund_that_gives_back_the_last_of_an_order_says_it_is_refunded_in_full(
    paid_order, refund, published
):
    order_id = paid_order(1500)
    refund(order_id, 400)
    refund(order_id)
    assert [
        (event["amount"], event["order_refunded_in_full"]) for event in published("payment.refunded")
    ] == [
        (400, False),
        (1100, True),
    ]


def test_a_provider_refund_says_the_order_is_refunded_in_full_only_once_the_provider_confirms(
    any_db, providers, adapters, alipay_paid_order, refund, monkeypatch, published
):
    api = ScriptedRefunds(RefundFailed("timed out", retryable=True), "R-2")
    monkeypatch.setattr(adapters.alipay, "refund", api)
    order_id = alipay_paid_order(1500)
    refund(order_id, to="original")
    assert published("payment.refunded") == []
    usecases.retry_refunds(any_db, providers, now=domain_later(seconds=10))
    assert [event["order_refunded_in_full"] for event in published("payment.refunded")] == [True]


def test_of_refunds_completing_at_once_the_last_says_the_order_is_refunded_in_full(
    any_db, providers, adapters, alipay_paid_order, refund, monkeypatch, published
):
    """Ten provider refunds of 150 each confirmed at once: on PostgreSQL too, exactly one says it."""
    monkeypatch.setattr(adapters.alipay, "refund", ScriptedRefunds(RefundFailed("busy", retryable=True)))
    order_id = alipay_paid_order(1500)
    pending = [refund(order_id, 150, to="original")["id"] for _ in range(10)]
    monkeypatch.setattr(adapters.alipay, "refund", lambda request: f"R-{request.refund_id}")
    pool = eventlet.GreenPool(10)
    list(pool.imap(lambda refund_id: usecases.attempt_provider_refund(any_db, providers, refund_id), pending))
    given_back = published("payment.refunded")
    assert len(given_back) == 10
    assert [event["order_refunded_in_full"] for event in given_back].count(True) == 1


def test_a_provider_that_times_out_is_retried_then_the_refund_succeeds_once(
    any_db, providers, adapters, alipay_paid_order, refund, monkeypatch
):
    api = ScriptedRefunds(RefundFailed("timed out", retryable=True), "R-2")
    monkeypatch.setattr(adapters.alipay, "refund", api)
    order_id = alipay_paid_order(1500)

    answer = refund(order_id, to="original")
    assert (answer["status"], answer["attempts"]) == ("pending", 1)
    assert usecases.retry_refunds(any_db, providers) == 0  # not due yet
    later = domain_later(seconds=10)
    assert usecases.retry_refunds(any_db, providers, now=later) == 1
    assert usecases.retry_refunds(any_db, providers, now=later) == 0

    [done] = usecases.list_refunds(any_db, order_id=order_id)["items"]
    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    assert len(api.calls) == 2 and api.calls[0].refund_id == api.calls[1].refund_id
    assert usecases.check_ledger(any_db) == []


def test_a_provider_that_keeps_failing_leaves_the_refund_failed_for_finance_and_its_money_refundable(
    any_db, providers, adapters, alipay_paid_order, refund, monkeypatch, published
):
    monkeypatch.setattr(adapters.alipay, "refund", ScriptedRefunds(RefundFailed("HTTP 502", retryable=True)))
    order_id = alipay_paid_order(1500)
    refund(order_id, to="original")
    for minutes in range(1, 20):
        usecases.retry_refunds(any_db, providers, now=domain_later(seconds=60 * minutes * 5))

    [failed] = usecases.list_refunds(any_db, status="failed")["items"]
    assert (failed["attempts"], failed["last_error"]) == (domain.MAX_REFUND_ATTEMPTS, "HTTP 502")
    assert published("payment.refunded") == []
    # the order's history, which said it was issued, hears once that it failed
    assert published("refund.failed") == [
        {
            "refund_id": failed["id"],
            "order_id": order_id,
            "customer_id": "buyer-1",
            "amount": 1500,
            "currency": "CNY",
            "error": "HTTP 502",
        }
    ]
    # nothing was given back, so all of it may be refunded another way
    assert refund(order_id, to="wallet")["amount"] == 1500
    assert usecases.check_ledger(any_db) == []


def test_a_refusal_is_failed_at_once(any_db, adapters, alipay_paid_order, refund, monkeypatch):
    monkeypatch.setattr(
        adapters.alipay, "refund", ScriptedRefunds(RefundFailed("ACQ.TRADE_HAS_CLOSE", retryable=False))
    )
    answer = refund(alipay_paid_order(), to="original")
    assert (answer["status"], answer["attempts"]) == ("failed", 1)


def test_a_crash_between_the_providers_answer_and_the_record_is_recorded_once_by_the_retry(
    any_db, providers, adapters, alipay_paid_order, refund, monkeypatch
):
    api = ScriptedRefunds("R-9")
    monkeypatch.setattr(adapters.alipay, "refund", api)
    order_id = alipay_paid_order(1500)
    crash = RuntimeError("killed")

    def record_then_crash(*args, **kwargs):
        raise crash

    # the provider refunds, then the process dies before it records the answer
    monkeypatch.setattr(usecases, "_post", record_then_crash)
    with pytest.raises(RuntimeError):
        refund(order_id, to="original")
    monkeypatch.undo()
    monkeypatch.setattr(adapters.alipay, "refund", api)

    [pending] = usecases.list_refunds(any_db, order_id=order_id)["items"]
    assert pending["status"] == "pending"
    usecases.retry_refunds(any_db, providers, now=domain_later(seconds=31))

    [done] = usecases.list_refunds(any_db, order_id=order_id)["items"]
    assert done["status"] == "succeeded"
    # asked twice under one refund id, which the provider refunds once
    assert {call.refund_id for call in api.calls} == {done["id"]} and len(api.calls) == 2
    assert usecases.check_ledger(any_db) == []


def domain_later(seconds):
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
