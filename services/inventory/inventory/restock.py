"""Stock alerts and restock suggestions.

``watch_stock`` runs in every unit of work that changes a stocked product's
available stock (reservations and their release, imports, voids, a new limit
or threshold): when the stock has just fallen under the product's threshold it
publishes ``stock.low``, once per crossing; when it is back at or over the
threshold the alert is armed again. ``sweep`` looks at every stocked product
that way, at start-up and now and then: a product under its threshold that
nothing has changed since (created empty, or stocked before alerts existed, or
a new default threshold) raises its alert then, if it has not already. ``restock_list`` answers what to buy:
a Holt-Winters forecast of each product's demand from its own daily sales
(forecast.py), its days of cover and a suggested quantity.
"""

import datetime
import os

import sqlalchemy as sa

from inventory import domain, forecast, schemas
from inventory.db import cards, loop_sales, products, stock_alerts
from inventory.metrics import STOCK_LOW_ALERTS
from inventory.stock import stock_of
from kameng_common.db import utcnow
from kameng_common.validation import load_or_invalid

# a product without a threshold of its own alerts under this many units
THRESHOLD_ENV = "KAMENG_LOW_STOCK_THRESHOLD"
DEFAULT_THRESHOLD = 10
# the days a supplier takes to deliver what is ordered now: what the suggestion covers
LEAD_DAYS_ENV = "KAMENG_RESTOCK_LEAD_DAYS"
DEFAULT_LEAD_DAYS = 7


def default_threshold():
    return int(os.environ.get(THRESHOLD_ENV) or DEFAULT_THRESHOLD)


def lead_days():
    return int(os.environ.get(LEAD_DAYS_ENV) or DEFAULT_LEAD_DAYS)


def threshold_of(row, default):
    return default if row.low_stock_threshold is None else row.low_stock_threshold


# built once: a reservation watches the stock of what it holds
_STOCKED_PRODUCTS = (
    sa.select(products.c.id, products.c.kind, products.c.stock_limit, products.c.low_stock_threshold)
    .where(products.c.id.in_(sa.bindparam("ids", expanding=True)), products.c.kind.in_(domain.STOCKED_KINDS))
    .order_by(products.c.id)
)
_ALERTS_FOR_UPDATE = (
    sa.select(stock_alerts.c.product_id, stock_alerts.c.low)
    .where(stock_alerts.c.product_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(stock_alerts.c.product_id)
    .with_for_update()
)


def watch_stock(uow, product_ids):
    """Publish ``stock.low`` for each of ``product_ids`` whose stock has just fallen under its threshold;
    returns how many.

    Call it in the unit of work that changed their stock, after the change.
    Each product's alert row is locked (in id order, so two watchers never
    wait on each other) before its stock is counted: on PostgreSQL a
    concurrent change that commits first is counted here, one that commits
    after counts again under the same lock, so a crossing is seen and
    published exactly once. On SQLite the unit of work holds the write lock.
    """
    rows = uow.execute(_STOCKED_PRODUCTS, {"ids": sorted(set(product_ids))}).all()
    raised = 0
    if not rows:
        return raised
    now = utcnow()
    ids = [row.id for row in rows]
    flagged = dict(uow.execute(_ALERTS_FOR_UPDATE, {"ids": ids}).all())
    if len(flagged) < len(ids):
        # a product's first watch: its alert row, armed (a concurrent first watch makes the same row)
        uow.execute(
            uow.insert(stock_alerts).on_conflict_do_nothing(index_elements=["product_id"]),
            [{"product_id": product_id, "low": False, "changed_at": now} for product_id in ids],
        )
        flagged = dict(uow.execute(_ALERTS_FOR_UPDATE, {"ids": ids}).all())
    default = default_threshold()
    stock = stock_of(uow, [row for row in rows if row.kind == domain.LOOP])
    for row in rows:
        threshold = threshold_of(row, default)
        if row.kind == domain.CARD:
            stock[row.id] = _available_cards_up_to(uow, row.id, threshold)
        low = domain.stock_is_low(stock[row.id], threshold)
        if low == flagged[row.id]:
            continue
        uow.execute(
            stock_alerts.update().where(stock_alerts.c.product_id == row.id).values(low=low, changed_at=now)
        )
        if low:
            uow.publish(
                "stock.low",
                {"product_id": row.id, "available": stock[row.id], "threshold": threshold},
                correlation_id=f"product:{row.id}",
            )
            uow.after_commit(STOCK_LOW_ALERTS.inc)
            raised += 1
    return raised


SWEEP_BATCH = 200


def sweep(db, batch=SWEEP_BATCH):
    """``watch_stock`` over every stocked product, a batch per unit of work; the alerts raised."""
    raised, after = 0, 0
    while True:
        with db.unit_of_work() as uow:
            ids = (
                uow.execute(
                    sa.select(products.c.id)
                    .where(products.c.kind.in_(domain.STOCKED_KINDS), products.c.id > after)
                    .order_by(products.c.id)
                    .limit(batch)
                )
                .scalars()
                .all()
            )
            if not ids:
                return raised
            raised += watch_stock(uow, ids)
        after = ids[-1]


_FIRST_AVAILABLE = (
    sa.select(cards.c.id)
    .where(cards.c.product_id == sa.bindparam("product_id"), cards.c.status == domain.AVAILABLE)
    .limit(sa.bindparam("cap", type_=sa.Integer))
    .subquery()
)
_AVAILABLE_UP_TO = sa.select(sa.func.count()).select_from(_FIRST_AVAILABLE)


def _available_cards_up_to(uow, product_id, cap):
    """A card product's available cards, counted up to ``cap``: exact below it, ``cap`` at or over it.

    Every reservation asks, so it reads at most ``cap`` index entries rather
    than the whole stock.
    """
    return uow.execute(_AVAILABLE_UP_TO, {"product_id": product_id, "cap": cap}).scalar_one()


def low_products(db):
    """{product id (text): 1} for every product under its threshold now (the gauge ``kameng_stock_low``)."""
    with db.reading() as session:
        flagged = session.execute(sa.select(stock_alerts.c.product_id).where(stock_alerts.c.low)).scalars()
        return {str(product_id): 1 for product_id in flagged}


def alert_states(session):
    """{product id (text): {low, available, threshold}} of every product with an alert row, for the audit."""
    rows = session.execute(
        sa.select(
            products.c.id,
            products.c.kind,
            products.c.stock_limit,
            products.c.low_stock_threshold,
            stock_alerts.c.low,
        ).join(stock_alerts, stock_alerts.c.product_id == products.c.id)
    ).all()
    stock = stock_of(session, rows)
    default = default_threshold()
    return {
        str(row.id): {"low": row.low, "available": stock[row.id], "threshold": threshold_of(row, default)}
        for row in rows
    }


# ---- what to restock


def restock_list(db, limit=50, cursor=None, today=None):
    """One page of the stocked products, by id: stock, alert, 7-day forecast, cover and suggestion.

    The forecast reads the product's daily units sold (cards and loop units, by
    UTC day) from its creation, or the last 16 weeks, to yesterday: today is
    not over yet.
    """
    data = load_or_invalid(schemas.ListRestock, {"limit": limit, "cursor": cursor})
    today = today or utcnow().date()
    query = (
        sa.select(
            products.c.id,
            products.c.name,
            products.c.kind,
            products.c.stock_limit,
            products.c.low_stock_threshold,
            products.c.created_at,
            stock_alerts.c.low,
        )
        .outerjoin(stock_alerts, stock_alerts.c.product_id == products.c.id)
        .where(products.c.kind.in_(domain.STOCKED_KINDS))
        .order_by(products.c.id)
        .limit(data["limit"] + 1)
    )
    if data["cursor"] is not None:
        query = query.where(products.c.id > data["cursor"])
    with db.reading_snapshot() as session:
        rows = session.execute(query).all()
        page = rows[: data["limit"]]
        stock = stock_of(session, page)
        first_day = today - datetime.timedelta(days=forecast.HISTORY_DAYS)
        sales = daily_sales(session, [row.id for row in page], first_day)
    default, lead = default_threshold(), lead_days()
    items = []
    for row in page:
        start = max(first_day, _day(row.created_at))
        history = [
            sales.get((row.id, start + datetime.timedelta(days=n)), 0) for n in range((today - start).days)
        ]
        predicted = forecast.forecast(history, max(forecast.HORIZON, lead))
        threshold = threshold_of(row, default)
        suggestion = forecast.suggest(predicted, stock[row.id], lead, threshold)
        items.append(
            {
                "product_id": row.id,
                "name": row.name,
                "kind": row.kind,
                "stock": stock[row.id],
                "threshold": threshold,
                "low": bool(row.low),
                "forecast_7d": round(suggestion.forecast_units, 1),
                "forecast_method": predicted.method,
                "history_days": len(history),
                "days_of_cover": suggestion.days_of_cover,
                "suggested_quantity": suggestion.quantity,
            }
        )
    return {"items": items, "next_cursor": str(page[-1].id) if len(rows) > data["limit"] else None}


def daily_sales(session, product_ids, first_day):
    """{(product id, date): units sold that UTC day} from ``first_day`` on: cards and loop units."""
    if not product_ids:
        return {}
    since = datetime.datetime.combine(first_day, datetime.time(), datetime.UTC)
    card_day = sa.func.date(cards.c.sold_at)
    loop_day = sa.func.date(loop_sales.c.sold_at)
    selects = (
        sa.select(cards.c.product_id, card_day, sa.func.count())
        .where(cards.c.product_id.in_(product_ids), cards.c.status == domain.SOLD, cards.c.sold_at >= since)
        .group_by(cards.c.product_id, card_day),
        sa.select(loop_sales.c.product_id, loop_day, sa.func.sum(loop_sales.c.quantity))
        .where(
            loop_sales.c.product_id.in_(product_ids),
            loop_sales.c.status == domain.SOLD,
            loop_sales.c.sold_at >= since,
        )
        .group_by(loop_sales.c.product_id, loop_day),
    )
    units: dict[tuple[int, datetime.date], int] = {}
    for select in selects:
        for product_id, day, count in session.execute(select).all():
            key = (product_id, _day(day))
            units[key] = units.get(key, 0) + int(count)
    return units


def _day(value):
    """A date from what the database answers: a date, a datetime or (SQLite) ISO text."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value)[:10])
