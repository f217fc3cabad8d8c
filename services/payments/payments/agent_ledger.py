"""Agents' money on the ledger: what customers reports agents earned, lost to refunds and were paid out.

Customers keeps each agent's balance; the ledger holds the same money as the
account ``agent:<id>`` (what the shop owes the agent), so that the audit can
reconcile one with the other. Each posting is made once per customers entry
or withdrawal, whatever the redeliveries.
"""

import sqlalchemy as sa

from payments import domain, usecases
from payments.db import ledger_entries, ledger_transactions

EARNED, REVERSED, PAID_OUT = "agent_earning", "agent_reversal", "agent_payout"


def on_commission_earned(uow, event):
    earned = event["payload"]
    _post_once(
        uow,
        EARNED,
        earned["entry_id"],
        domain.agent_earning(earned["agent_id"], earned["kind"], earned["amount"], earned["currency"]),
    )


def on_commission_reversed(uow, event):
    reversed_ = event["payload"]
    _post_once(
        uow,
        REVERSED,
        reversed_["entry_id"],
        domain.agent_reversal(
            reversed_["agent_id"], reversed_["kind"], reversed_["amount"], reversed_["currency"]
        ),
    )


def on_withdrawal_paid(uow, event):
    paid = event["payload"]
    _post_once(
        uow,
        PAID_OUT,
        paid["withdrawal_id"],
        domain.agent_payout(paid["agent_id"], paid["amount"], paid["currency"]),
    )


def _post_once(uow, kind, reference, entries):
    """Post ``entries`` for ``reference`` unless they already are (the same entry under a new event id)."""
    posted = uow.execute(
        sa.select(ledger_transactions.c.id).where(
            ledger_transactions.c.kind == kind, ledger_transactions.c.reference == reference
        )
    ).first()
    if posted is None:
        usecases._post(uow, kind, reference, entries)


def agent_postings(session):
    """{reference: {agent_id, amount}}: each customers entry or withdrawal posted, and what it
    changed of the shop's debt to the agent (positive: owed more)."""
    rows = session.execute(
        sa.select(ledger_transactions.c.reference, ledger_entries.c.account, ledger_entries.c.amount)
        .join(ledger_entries, ledger_entries.c.transaction_id == ledger_transactions.c.id)
        .where(
            ledger_transactions.c.kind.in_((EARNED, REVERSED, PAID_OUT)),
            ledger_entries.c.account.startswith(domain.AGENT_ACCOUNT_PREFIX),
        )
    ).all()
    return {
        reference: {"agent_id": account.removeprefix(domain.AGENT_ACCOUNT_PREFIX), "amount": -amount}
        for reference, account, amount in rows
    }
