"""Finance's summary of a period: what orders brought in, what went back, what the cards sold cost,
what agents earned, net and margin.

Money is counted when it moved: a sum received on its notification, a refund
when it was given back (a provider refund when the provider confirmed it), an
agent's commission when it was earned or taken back. Cost is counted when the
sale was delivered (cards.delivered: each line's cost price then, recorded by
sales.py); a line whose cost price the shop does not know counts 0 and is
counted in ``lines_without_cost``. A refund does not take cost back: the cards
were delivered and are spent. Days are the shop's days in Beijing time, as the
providers' statements are.

By product, an order's money is shared among its products once its sale is
recorded (``by_product``); until then, or for an order never delivered, it is
in the totals only.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from kameng_common.db import Database, as_utc
from kameng_common.validation import load_or_invalid
from payments import domain, schemas
from payments.db import (
    ledger_entries,
    ledger_transactions,
    order_refunds,
    payment_intents,
    receipts,
    refunds,
    sale_lines,
)

BEIJING = datetime.timezone(datetime.timedelta(hours=8))
DAY = "day"
CHANNEL = "channel"
PRODUCT = "product"
GROUPINGS = (DAY, CHANNEL, PRODUCT)
REVENUE = "revenue"
REFUNDS = "refunds"
COST = "cost"
COMMISSIONS = "commissions"
LINES_WITHOUT_COST = "lines_without_cost"


@dataclass(frozen=True)
class Movement:
    """One sum of money that moved: ``kind`` is revenue, refunds, cost or commissions; ``channel``
    the provider that took the money (None for cost and commissions, which belong to no channel);
    ``order_id`` the order it moved for (None for commissions); ``product_id`` the product it is
    counted to, once shared among the order's products (cost always has one); ``uncosted`` marks
    a sale line whose cost price is unknown (its amount is then 0)."""

    at: datetime.datetime
    kind: str
    channel: str | None
    currency: str
    amount: int
    order_id: str | None = None
    product_id: int | None = None
    uncosted: bool = False


def shop_day(moment: datetime.datetime) -> str:
    return as_utc(moment).astimezone(BEIJING).date().isoformat()


def apportion(amount: int, weights: Mapping[int, int]) -> dict[int, int]:
    """``amount`` shared among ``weights``' keys in proportion to their weights, in whole fen that add
    up to it: each gets the floor of its share, and the fen left over go to the largest remainders
    (ties to the earlier key). Weights that are all 0 (free lines) share equally."""
    if not any(weights.values()):
        weights = dict.fromkeys(weights, 1)
    whole = sum(weights.values())
    shares = {key: amount * weight // whole for key, weight in weights.items()}
    left = amount - sum(shares.values())
    by_remainder = sorted(weights, key=lambda key: -(amount * weights[key] % whole))
    for key in by_remainder[:left]:
        shares[key] += 1
    return shares


def by_product(movements: Iterable[Movement], weights: Mapping[str, Mapping[int, int]]) -> list[Movement]:
    """Each revenue or refund ``movement`` of an order with a recorded sale, shared among its products.

    ``weights``: per order, each product's value at the prices quoted (Σ quantity × unit price of its
    lines), so a coupon's discount, or an agent shop's markup, falls on each product in proportion.
    Each kind is shared as a running total in time order: the share of a sum is the share of
    everything up to it less the share of everything before it, so refunds that add up to what was
    paid take back exactly each product's revenue. ``movements`` must hold the order's earlier sums
    too; movements of orders without a sale are handed back as they are.
    """
    shared: list[Movement] = []
    running: defaultdict[tuple[str, str], int] = defaultdict(int)
    for movement in sorted(movements, key=lambda movement: as_utc(movement.at)):
        order_weights = weights.get(movement.order_id or "")
        if not order_weights:
            shared.append(movement)
            continue
        key = (movement.order_id or "", movement.kind)
        before = apportion(running[key], order_weights)
        running[key] += movement.amount
        after = apportion(running[key], order_weights)
        shared.extend(
            replace(movement, product_id=product_id, amount=after[product_id] - before[product_id])
            for product_id in order_weights
            if after[product_id] != before[product_id]
        )
    return shared


def summarise(movements: Iterable[Movement], group_by: str) -> dict[str, Any]:
    """Rows per (day, channel or product, currency) and totals per currency, each with revenue,
    refunds, cost, commissions, net (revenue − refunds − commissions), margin (net − cost) and
    lines_without_cost. By channel, cost and commissions are in the totals only, and by product
    commissions and the money of orders without a recorded sale: they belong to no channel or no
    one product."""
    rows: dict[tuple[str | int, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(_FIGURES, 0))
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_FIGURES, 0))
    for movement in movements:
        key = _key(movement, group_by)
        for figures in (
            totals[movement.currency],
            *([rows[key, movement.currency]] if key is not None else []),
        ):
            figures[movement.kind] += movement.amount
            figures[LINES_WITHOUT_COST] += movement.uncosted
    return {
        "rows": [
            {"key": str(key), "currency": currency, **_with_net(figures)}
            for (key, currency), figures in sorted(rows.items())
        ],
        "totals": [
            {"currency": currency, **_with_net(figures)} for currency, figures in sorted(totals.items())
        ],
    }


_FIGURES = (REVENUE, REFUNDS, COST, COMMISSIONS, LINES_WITHOUT_COST)


def _key(movement: Movement, group_by: str) -> str | int | None:
    """The row ``movement`` counts in: a product's by its id, so that products sort by number."""
    if group_by == DAY:
        return shop_day(movement.at)
    if group_by == CHANNEL:
        return movement.channel
    return movement.product_id


def _with_net(figures: dict[str, int]) -> dict[str, int]:
    net = figures[REVENUE] - figures[REFUNDS] - figures[COMMISSIONS]
    return {**figures, "net": net, "margin": net - figures[COST]}


def summary(
    db: Database, since: str | None = None, until: str | None = None, group_by: str = DAY
) -> dict[str, Any]:
    """The period ``since`` ≤ at < ``until`` (aware ISO 8601; at most 366 days), grouped by day,
    channel or product."""
    query = load_or_invalid(
        schemas.FinanceSummaryQuery, {"since": since, "until": until, "group_by": group_by}
    )
    start, end = query["since"], query["until"]
    with db.reading_snapshot() as session:
        if query["group_by"] == PRODUCT:
            # an order's share of a sum depends on its sums before the period: read them all
            touched = _orders_with_money_moved(start, end)
            history = [*_received(session, None, end, touched), *_given_back(session, None, end, touched)]
            money = [
                movement
                for movement in by_product(history, _sale_weights(session, touched))
                if as_utc(movement.at) >= start
            ]
        else:
            money = [*_received(session, start, end), *_given_back(session, start, end)]
        movements = [*money, *_costs(session, start, end), *_commissions(session, start, end)]
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


def _received(
    session: sa.Connection,
    start: datetime.datetime | None,
    end: datetime.datetime,
    orders: sa.Select[Any] | None = None,
) -> list[Movement]:
    query = (
        sa.select(
            receipts.c.received_at,
            receipts.c.provider,
            receipts.c.currency,
            receipts.c.amount,
            payment_intents.c.order_id,
        )
        .join(payment_intents, payment_intents.c.id == receipts.c.payment_id)
        # a top-up is the customer's own money in their wallet, not a sale
        .where(payment_intents.c.purpose == domain.ORDER, receipts.c.received_at < end)
    )
    if start is not None:
        query = query.where(receipts.c.received_at >= start)
    if orders is not None:
        query = query.where(payment_intents.c.order_id.in_(orders))
    return [
        Movement(row.received_at, REVENUE, row.provider, row.currency, row.amount, row.order_id)
        for row in session.execute(query)
    ]


def _given_back(
    session: sa.Connection,
    start: datetime.datetime | None,
    end: datetime.datetime,
    orders: sa.Select[Any] | None = None,
) -> list[Movement]:
    whole = (
        sa.select(
            refunds.c.created_at,
            receipts.c.provider,
            refunds.c.currency,
            refunds.c.amount,
            refunds.c.order_id,
        )
        .join(receipts, receipts.c.id == refunds.c.receipt_id)
        .where(refunds.c.created_at < end)
    )
    # a staff refund gave the money back when it succeeded (at once to the wallet, or on the provider's word)
    staff = sa.select(
        order_refunds.c.updated_at,
        order_refunds.c.provider,
        order_refunds.c.currency,
        order_refunds.c.amount,
        order_refunds.c.order_id,
    ).where(order_refunds.c.status == domain.REFUND_SUCCEEDED, order_refunds.c.updated_at < end)
    if start is not None:
        whole = whole.where(refunds.c.created_at >= start)
        staff = staff.where(order_refunds.c.updated_at >= start)
    if orders is not None:
        whole = whole.where(refunds.c.order_id.in_(orders))
        staff = staff.where(order_refunds.c.order_id.in_(orders))
    return [
        Movement(row[0], REFUNDS, row.provider, row.currency, row.amount, row.order_id)
        for query in (whole, staff)
        for row in session.execute(query)
    ]


def _orders_with_money_moved(start: datetime.datetime, end: datetime.datetime) -> sa.Select[Any]:
    """The ids of the orders that received or gave back money in the period."""
    return (
        sa.union(
            sa.select(payment_intents.c.order_id)
            .join(receipts, receipts.c.payment_id == payment_intents.c.id)
            .where(receipts.c.received_at >= start, receipts.c.received_at < end),
            sa.select(refunds.c.order_id).where(refunds.c.created_at >= start, refunds.c.created_at < end),
            sa.select(order_refunds.c.order_id).where(
                order_refunds.c.status == domain.REFUND_SUCCEEDED,
                order_refunds.c.updated_at >= start,
                order_refunds.c.updated_at < end,
            ),
        )
        .subquery()
        .select()
    )


def _sale_weights(session: sa.Connection, orders: sa.Select[Any]) -> dict[str, dict[int, int]]:
    """Per order with a recorded sale, each product's value at the prices quoted, in line order."""
    weights: dict[str, dict[int, int]] = defaultdict(dict)
    rows = session.execute(
        sa.select(
            sale_lines.c.order_id, sale_lines.c.product_id, sale_lines.c.quantity, sale_lines.c.unit_price
        )
        .where(sale_lines.c.order_id.in_(orders))
        .order_by(sale_lines.c.order_id, sale_lines.c.line_no)
    )
    for order_id, product_id, quantity, unit_price in rows:
        weights[order_id][product_id] = weights[order_id].get(product_id, 0) + quantity * unit_price
    return weights


def _costs(session: sa.Connection, start: datetime.datetime, end: datetime.datetime) -> list[Movement]:
    rows = session.execute(
        sa.select(sale_lines).where(sale_lines.c.delivered_at >= start, sale_lines.c.delivered_at < end)
    )
    return [
        Movement(
            row.delivered_at,
            COST,
            None,
            row.currency,
            row.quantity * (row.unit_cost or 0),
            row.order_id,
            row.product_id,
            uncosted=row.unit_cost is None,
        )
        for row in rows
    ]


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
