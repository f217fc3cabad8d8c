"""Finance's summary of a period: what orders brought in, what went back, what agents earned, net.

Money is counted when it moved: a sum received on its notification, a refund
when it was given back (a provider refund when the provider confirmed it), an
agent's commission when it was earned or taken back. Days are the shop's days
in Beijing time, as the providers' statements are.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kameng_common.db import Database
from kameng_common.validation import load_or_invalid
from payments import domain, schemas
from payments.db import ledger_entries, ledger_transactions, order_refunds, payment_intents, receipts, refunds

BEIJING = datetime.timezone(datetime.timedelta(hours=8))
DAY = "day"
CHANNEL = "channel"
GROUPINGS = (DAY, CHANNEL)
REVENUE = "revenue"
REFUNDS = "refunds"
COMMISSIONS = "commissions"


@dataclass(frozen=True)
class Movement:
    """One sum of money that moved: ``kind`` is revenue, refunds or commissions; ``channel`` the
    provider that took the money (None for commissions, which belong to no channel)."""

    at: datetime.datetime
    kind: str
    channel: str | None
    currency: str
    amount: int


def shop_day(moment: datetime.datetime) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(BEIJING).date().isoformat()


def summarise(movements: Iterable[Movement], group_by: str) -> dict[str, Any]:
    """Rows per (day or channel, currency) and totals per currency, each with revenue, refunds,
    commissions and net (revenue − refunds − commissions). By channel, commissions are in the
    totals only: an agent earns on an order, not on the channel that paid it."""
    rows: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(_FIGURES, 0))
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_FIGURES, 0))
    for movement in movements:
        totals[movement.currency][movement.kind] += movement.amount
        key = shop_day(movement.at) if group_by == DAY else movement.channel
        if key is not None:
            rows[key, movement.currency][movement.kind] += movement.amount
    return {
        "rows": [
            {"key": key, "currency": currency, **_with_net(figures)}
            for (key, currency), figures in sorted(rows.items())
        ],
        "totals": [
            {"currency": currency, **_with_net(figures)} for currency, figures in sorted(totals.items())
        ],
    }


_FIGURES = (REVENUE, REFUNDS, COMMISSIONS)


def _with_net(figures: dict[str, int]) -> dict[str, int]:
    return {**figures, "net": figures[REVENUE] - figures[REFUNDS] - figures[COMMISSIONS]}


def summary(
    db: Database, since: str | None = None, until: str | None = None, group_by: str = DAY
) -> dict[str, Any]:
    """The period ``since`` ≤ at < ``until`` (aware ISO 8601; at most 366 days), grouped by day or
    channel."""
    query = load_or_invalid(
        schemas.FinanceSummaryQuery(), {"since": since, "until": until, "group_by": group_by}
    )
    start, end = query["since"], query["until"]
    with db.reading_snapshot() as session:
        movements = [
            *_received(session, start, end),
            *_given_back(session, start, end),
            *_commissions(session, start, end),
        ]
        channels = _channel_success(session, start, end)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "group_by": query["group_by"],
        **summarise(movements, query["group_by"]),
        "channels": channels,
    }


def _channel_success(
    session: sa.Connection, start: datetime.datetime, end: datetime.datetime
) -> list[dict[str, Any]]:
    """Per channel, the order payments opened in the period and how many of them were paid: a
    channel whose buyers open payments and give up (a broken page, a provider outage) shows here."""
    paid = sa.func.sum(sa.case((payment_intents.c.status == domain.SUCCEEDED, 1), else_=0))
    rows = session.execute(
        sa.select(payment_intents.c.method, sa.func.count(), paid)
        .where(
            payment_intents.c.purpose == domain.ORDER,
            payment_intents.c.created_at >= start,
            payment_intents.c.created_at < end,
        )
        .group_by(payment_intents.c.method)
        .order_by(payment_intents.c.method)
    ).all()
    return [
        {
            "channel": method,
            "intents": opened,
            "paid": int(paid or 0),
            "success_rate": round((paid or 0) / opened, 4),
        }
        for method, opened, paid in rows
    ]


def _received(session: sa.Connection, start: datetime.datetime, end: datetime.datetime) -> list[Movement]:
    rows = session.execute(
        sa.select(receipts.c.received_at, receipts.c.provider, receipts.c.currency, receipts.c.amount)
        .join(payment_intents, payment_intents.c.id == receipts.c.payment_id)
        # a top-up is the customer's own money in their wallet, not a sale
        .where(
            payment_intents.c.purpose == domain.ORDER,
            receipts.c.received_at >= start,
            receipts.c.received_at < end,
        )
    ).all()
    return [Movement(row.received_at, REVENUE, row.provider, row.currency, row.amount) for row in rows]


def _given_back(session: sa.Connection, start: datetime.datetime, end: datetime.datetime) -> list[Movement]:
    whole = session.execute(
        sa.select(refunds.c.created_at, receipts.c.provider, refunds.c.currency, refunds.c.amount)
        .join(receipts, receipts.c.id == refunds.c.receipt_id)
        .where(refunds.c.created_at >= start, refunds.c.created_at < end)
    ).all()
    # a staff refund gave the money back when it succeeded (at once to the wallet, or on the provider's word)
    staff = session.execute(
        sa.select(
            order_refunds.c.updated_at,
            order_refunds.c.provider,
            order_refunds.c.currency,
            order_refunds.c.amount,
        ).where(
            order_refunds.c.status == domain.REFUND_SUCCEEDED,
            order_refunds.c.updated_at >= start,
            order_refunds.c.updated_at < end,
        )
    ).all()
    return [Movement(row[0], REFUNDS, row.provider, row.currency, row.amount) for row in (*whole, *staff)]


def _commissions(session: sa.Connection, start: datetime.datetime, end: datetime.datetime) -> list[Movement]:
    # debited when earned, credited back when a refund takes a share back: the sum is the cost
    rows = session.execute(
        sa.select(ledger_transactions.c.created_at, ledger_entries.c.currency, ledger_entries.c.amount)
        .join(ledger_transactions, ledger_transactions.c.id == ledger_entries.c.transaction_id)
        .where(
            ledger_entries.c.account.in_((domain.COMMISSIONS, domain.AGENT_MARKUPS)),
            ledger_transactions.c.created_at >= start,
            ledger_transactions.c.created_at < end,
        )
    ).all()
    return [Movement(row.created_at, COMMISSIONS, None, row.currency, row.amount) for row in rows]
