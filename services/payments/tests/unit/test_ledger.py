"""The ledger balances after anything payments does, and the check finds it when it does not."""

import random
import uuid

import sqlalchemy as sa

from kameng_common.errors import KamengError
from kameng_common.testing import deliver
from payments import usecases
from payments.db import ledger_entries, ledger_transactions, receipts, wallets

CUSTOMERS = ("buyer-1", "buyer-2", "buyer-3")


def test_the_ledger_balances_and_no_wallet_goes_negative_whatever_happens(
    any_db, providers, open_intent, signed_notification, refund_request
):
    """A seeded random walk through every way money moves, checking the books after each step."""
    chance = random.Random(20261121)
    paid = []  # (intent, order id, customer id) that received money

    def pay_by_mockpay():
        customer, order_id = chance.choice(CUSTOMERS), str(uuid.uuid4())
        intent = open_intent(order_id=order_id, customer_id=customer, amount=chance.randint(1, 5000))
        usecases.handle_notification(
            any_db, providers, "mockpay", *signed_notification(intent, f"MP-{uuid.uuid4()}")
        )
        paid.append((intent, order_id, customer))

    def pay_twice_or_replay():
        if paid:
            intent, _order_id, _customer = chance.choice(paid)
            trade_no = chance.choice(["MP-replayed", f"MP-{uuid.uuid4()}"])
            usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent, trade_no))

    def pay_from_wallet():
        customer, order_id = chance.choice(CUSTOMERS), str(uuid.uuid4())
        intent = open_intent(
            method="balance", order_id=order_id, customer_id=customer, amount=chance.randint(1, 3000)
        )
        paid.append((intent, order_id, customer))

    def refund():
        if paid:
            intent, order_id, customer = chance.choice(paid)
            deliver(
                any_db, "payments", usecases.on_refund_requested, refund_request(intent, order_id, customer)
            )

    def forge():
        if paid:
            intent, _order_id, _customer = chance.choice(paid)
            body, _headers = signed_notification(intent, f"MP-{uuid.uuid4()}")
            usecases.handle_notification(
                any_db, providers, "mockpay", body, {"X-Mockpay-Signature": "0" * 64}
            )

    steps = [pay_by_mockpay, pay_twice_or_replay, pay_from_wallet, refund, forge]
    for _ in range(60):
        try:
            chance.choice(steps)()
        except KamengError:
            pass  # refused (insufficient balance, bad signature, nothing left to refund)
        assert usecases.check_ledger(any_db) == []
        with any_db.reading() as session:
            lowest = session.execute(sa.select(sa.func.min(wallets.c.balance))).scalar()
        assert lowest is None or lowest >= 0
    # the walk moved money every way, not only refused it
    with any_db.reading() as session:
        providers_paid = set(session.execute(sa.select(receipts.c.provider)).scalars())
    accounts = {row["account"] for row in usecases.ledger_balances(any_db)}
    assert providers_paid == {"mockpay", "balance"}
    assert {"provider:mockpay", "sales", "refunds"} <= accounts


def test_the_check_finds_an_unbalanced_or_thin_transaction(
    any_db, providers, open_intent, signed_notification
):
    intent = open_intent()
    usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent))
    with any_db.unit_of_work() as uow:
        uow.execute(
            ledger_transactions.insert().values(
                id="tx-thin", kind="payment", reference="r", created_at=sa.func.now()
            )
        )
        uow.execute(
            ledger_entries.insert().values(
                transaction_id="tx-thin", account="sales", currency="CNY", amount=-1
            )
        )
    problems = usecases.check_ledger(any_db)
    assert "transaction tx-thin sums to -1 CNY" in problems
    assert "transaction tx-thin has fewer than two entries" in problems
    assert "all accounts in CNY sum to -1" in problems


def test_the_check_finds_a_wallet_that_the_ledger_does_not_explain(any_db):
    with any_db.unit_of_work() as uow:
        uow.execute(
            wallets.insert().values(
                customer_id="buyer-1", currency="CNY", balance=100, updated_at=sa.func.now()
            )
        )
    assert usecases.check_ledger(any_db) == ["wallet of buyer-1 holds 100 CNY but the ledger owes 0"]
