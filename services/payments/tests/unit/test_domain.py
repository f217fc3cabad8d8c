"""The pure rules: statuses, notices, wallets, refunds and double entry."""

import pytest

from kameng_common.errors import Conflict, InvalidInput
from payments import domain
from payments.domain import Entry, Intent, Notice, Receipt, UnbalancedPosting

INTENT = Intent(
    id="pay-1",
    order_id="order-1",
    customer_id="buyer-1",
    amount=1500,
    currency="CNY",
    method="mockpay",
    status=domain.PENDING,
)


def refund_request(**changes):
    request = {
        "order_id": "order-1",
        "customer_id": "buyer-1",
        "payment_id": "pay-1",
        "amount": 1500,
        "currency": "CNY",
        "reason": "expired",
    }
    return {**request, **changes}


def test_first_money_makes_an_intent_succeed_and_later_money_is_not_first():
    assert domain.received(domain.PENDING) == (domain.SUCCEEDED, True)
    assert domain.received(domain.SUCCEEDED) == (domain.SUCCEEDED, False)
    with pytest.raises(ValueError):
        domain.received("lost")


def test_a_notice_must_match_its_intent():
    domain.check_notice(INTENT, Notice("mockpay", "pay-1", "T1", 1500, "CNY"))
    for notice, code in [
        (Notice("mockpay", "pay-1", "T1", 1499, "CNY"), "amount_mismatch"),
        (Notice("mockpay", "pay-1", "T1", 1500, "USD"), "amount_mismatch"),
        (Notice("alipay", "pay-1", "T1", 1500, "CNY"), "provider_mismatch"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            domain.check_notice(INTENT, notice)
        assert refused.value.code == code


def test_a_repeated_intent_must_ask_for_the_same_payment():
    domain.same_request(INTENT, "buyer-1", 1500, "CNY")
    with pytest.raises(Conflict) as refused:
        domain.same_request(INTENT, "buyer-1", 1600, "CNY")
    assert refused.value.code == "intent_mismatch"
    with pytest.raises(Conflict):
        domain.same_request(INTENT, "buyer-2", 1500, "CNY")


def test_a_paid_order_takes_no_new_way_to_pay():
    domain.not_paid_yet("order-1", [])
    with pytest.raises(Conflict) as refused:
        domain.not_paid_yet("order-1", [("pay-1",)])
    assert refused.value.code == "already_paid"


def test_a_wallet_never_goes_below_zero():
    assert domain.debit_wallet(1500, 1500) == 0
    assert domain.debit_wallet(2000, 1500) == 500
    with pytest.raises(InvalidInput) as refused:
        domain.debit_wallet(1499, 1500)
    assert refused.value.code == "insufficient_balance"
    with pytest.raises(ValueError):
        domain.debit_wallet(1500, 0)


def test_a_refund_gives_back_the_latest_receipt_not_yet_refunded():
    latest, first = Receipt("r-2", 1500, "CNY"), Receipt("r-1", 1500, "CNY")
    assert domain.receipt_to_refund(INTENT, refund_request(), [latest, first], 0) is latest


def test_a_refund_of_a_fully_refunded_payment_changes_nothing():
    assert domain.receipt_to_refund(INTENT, refund_request(), [], refunded_count=1) is None


@pytest.mark.parametrize(
    "request_changes, unrefunded, code",
    [
        ({}, [], "not_paid"),
        ({"amount": 1000}, [Receipt("r-1", 1500, "CNY")], "amount_mismatch"),
        ({"currency": "USD"}, [Receipt("r-1", 1500, "CNY")], "refund_mismatch"),
        ({"customer_id": "someone-else"}, [Receipt("r-1", 1500, "CNY")], "refund_mismatch"),
        ({"order_id": "order-2"}, [Receipt("r-1", 1500, "CNY")], "refund_mismatch"),
    ],
)
def test_a_refund_that_does_not_match_its_payment_is_refused(request_changes, unrefunded, code):
    with pytest.raises(InvalidInput) as refused:
        domain.receipt_to_refund(INTENT, refund_request(**request_changes), unrefunded, 0)
    assert refused.value.code == code


@pytest.mark.parametrize(
    "entries",
    [
        (),
        (Entry("sales", "CNY", -100),),
        (Entry("provider:mockpay", "CNY", 100), Entry("sales", "CNY", -99)),
        (Entry("provider:mockpay", "CNY", 100), Entry("sales", "USD", -100)),
        (Entry("provider:mockpay", "CNY", 0), Entry("sales", "CNY", 0)),
        (Entry("provider:mockpay", "CNY", 1.5), Entry("sales", "CNY", -1.5)),
    ],
)
def test_a_posting_that_breaks_double_entry_is_refused(entries):
    with pytest.raises(UnbalancedPosting):
        domain.posting(*entries)


def test_a_posting_balances_in_each_currency():
    entries = (Entry("a", "CNY", 100), Entry("b", "CNY", -100), Entry("c", "USD", 7), Entry("d", "USD", -7))
    assert domain.posting(*entries) == entries


@pytest.mark.parametrize(
    "entries, expected",
    [
        (domain.provider_payment("mockpay", 1500, "CNY"), {"provider:mockpay": 1500, "sales": -1500}),
        (domain.wallet_payment("buyer-1", 1500, "CNY"), {"wallet:buyer-1": 1500, "sales": -1500}),
        (domain.refund_to_wallet("buyer-1", 1500, "CNY"), {"refunds": 1500, "wallet:buyer-1": -1500}),
    ],
)
def test_each_movement_debits_and_credits_the_right_accounts(entries, expected):
    assert {entry.account: entry.amount for entry in entries} == expected
    assert sum(entry.amount for entry in entries) == 0


def test_a_balanced_ledger_that_matches_its_wallets_has_no_problems():
    # two paid by mockpay, one of them refunded to the wallet, which then paid another order
    balances = {
        ("provider:mockpay", "CNY"): 3000,
        ("sales", "CNY"): -3000 - 1500,
        ("refunds", "CNY"): 1500,
        ("wallet:buyer-1", "CNY"): -1500 + 1500,
    }
    assert domain.ledger_problems([], [], balances, {("buyer-1", "CNY"): 0}) == []


def test_the_ledger_check_names_every_problem():
    balances = {
        ("provider:mockpay", "CNY"): 1500,
        ("sales", "CNY"): -1400,
        ("wallet:buyer-1", "CNY"): -100,
        ("wallet:ghost", "CNY"): -5,
    }
    problems = domain.ledger_problems([("tx-1", "CNY", 100)], ["tx-2"], balances, {("buyer-1", "CNY"): 90})
    assert problems == [
        "transaction tx-1 sums to 100 CNY",
        "transaction tx-2 has fewer than two entries",
        "all accounts in CNY sum to -5",
        "wallet of buyer-1 holds 90 CNY but the ledger owes 100",
        "ledger owes 5 CNY on wallet:ghost, which has no wallet",
    ]
