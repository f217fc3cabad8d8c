"""Agents' money posted on the ledger from customers' events, once each."""

import uuid

from kameng_common import contracts
from kameng_common.testing import deliver
from payments import agent_ledger, usecases


def event(event_type, payload, correlation_id):
    return contracts.load_event(contracts.new_event(event_type, payload, correlation_id))


def earned(agent_id, amount, kind="commission"):
    entry_id = str(uuid.uuid4())
    payload = {
        "entry_id": entry_id,
        "agent_id": agent_id,
        "order_id": "o1",
        "kind": kind,
        "amount": amount,
        "currency": "CNY",
    }
    return event("commission.earned", payload, "o1")


def test_earnings_reversals_and_payouts_move_the_agents_account_and_balance(db):
    commission, markup = earned("a1", 1000), earned("a1", 300, kind="markup")
    reversal = event(
        "commission.reversed",
        {
            "entry_id": str(uuid.uuid4()),
            "agent_id": "a1",
            "order_id": "o1",
            "kind": "commission",
            "amount": 400,
            "currency": "CNY",
        },
        "o1",
    )
    payout = event(
        "withdrawal.paid", {"withdrawal_id": "w1", "agent_id": "a1", "amount": 500, "currency": "CNY"}, "w1"
    )

    deliver(db, "payments", agent_ledger.on_commission_earned, commission)
    deliver(db, "payments", agent_ledger.on_commission_earned, markup)
    deliver(db, "payments", agent_ledger.on_commission_reversed, reversal)
    deliver(db, "payments", agent_ledger.on_withdrawal_paid, payout)

    balances = {(row["account"], row["currency"]): row["balance"] for row in usecases.ledger_balances(db)}
    assert balances[("agent:a1", "CNY")] == -(1000 + 300 - 400 - 500)
    assert balances[("commissions", "CNY")] == 600
    assert balances[("agent_markups", "CNY")] == 300
    assert balances[("payouts", "CNY")] == -500
    assert usecases.check_ledger(db) == []
    snapshot = usecases.audit_snapshot(db)["agent_postings"]
    assert snapshot == {
        commission["payload"]["entry_id"]: {"agent_id": "a1", "amount": 1000},
        markup["payload"]["entry_id"]: {"agent_id": "a1", "amount": 300},
        reversal["payload"]["entry_id"]: {"agent_id": "a1", "amount": -400},
        "w1": {"agent_id": "a1", "amount": -500},
    }


def test_a_redelivered_or_repeated_event_posts_nothing_twice(db):
    commission = earned("a1", 1000)
    again = event("commission.earned", commission["payload"], "o1")  # the same entry, a new event id

    for each in (commission, commission, again):
        deliver(db, "payments", agent_ledger.on_commission_earned, each)

    balances = {(row["account"], row["currency"]): row["balance"] for row in usecases.ledger_balances(db)}
    assert balances[("agent:a1", "CNY")] == -1000
