"""Customers as staff see them: RFM scores, the tags computed from them, tags given by hand.

The scores are measured at read time from the stats that delivered and refunded
orders keep (``customer_stats``): recency moves with the clock, so a stored score
would be stale the day after. The same bounds (``domain.RECENCY_DAYS`` and the
rest) score one customer in Python and filter the list in SQL.
"""

import datetime
import logging

import sqlalchemy as sa

from customers import domain
from customers.db import accounts, agents, counted_orders, customer_stats, customer_tags
from kameng_common import paging
from kameng_common.db import as_utc, utc_isoformat, utcnow
from kameng_common.errors import NotFound

_log = logging.getLogger(__name__)

_ORDERED = sa.and_(customer_stats.c.orders_count > 0, customer_stats.c.last_order_at.is_not(None))


def _reaches(score, minimum, now):
    """SQL: ``score`` is at least ``minimum`` (2 to 5), for a customer who has ordered."""
    if score == "recency":
        days = domain.RECENCY_DAYS[minimum - 2]
        return customer_stats.c.last_order_at >= now - datetime.timedelta(days=days)
    if score == "frequency":
        return customer_stats.c.orders_count >= domain.FREQUENCY_ORDERS[minimum - 2]
    net_spend = customer_stats.c.total_spent - customer_stats.c.refunded_spend
    return net_spend >= domain.MONETARY_SPEND[minimum - 2]


def _score_between(score, low, high, now):
    conditions = [_ORDERED]
    if low > 1:
        conditions.append(_reaches(score, low, now))
    if high < domain.MAX_SCORE:
        conditions.append(sa.not_(_reaches(score, high + 1, now)))
    return sa.and_(*conditions)


def _has_tag(tag, now):
    """SQL: the customer has ``tag``, computed (a rule of domain.TAG_RULES) or given by staff."""
    rule = domain.tag_rule(tag)
    if rule is None:
        return sa.exists().where(customer_tags.c.customer_id == accounts.c.id, customer_tags.c.tag == tag)
    conditions = [_score_between(score, low, high, now) for score, (low, high) in rule.scores.items()]
    if rule.registered_within_days is not None:
        conditions.append(accounts.c.created_at >= now - datetime.timedelta(days=rule.registered_within_days))
    return sa.and_(*conditions)


def _customers_query():
    return sa.select(
        accounts.c.id,
        accounts.c.username,
        accounts.c.created_at,
        accounts.c.region,
        customer_stats.c.level,
        customer_stats.c.orders_count,
        customer_stats.c.total_spent,
        customer_stats.c.refunded_spend,
        customer_stats.c.first_order_at,
        customer_stats.c.last_order_at,
        customer_stats.c.invited_by,
        agents.c.id.label("agent_id"),
    ).select_from(
        accounts.join(customer_stats, customer_stats.c.customer_id == accounts.c.id).outerjoin(
            agents, agents.c.customer_id == accounts.c.id
        )
    )


def _activity(row, now):
    return domain.Activity(
        orders_count=row.orders_count,
        net_spend=row.total_spent - row.refunded_spend,
        days_since_last_order=None
        if row.last_order_at is None
        else (now - as_utc(row.last_order_at)).total_seconds() / 86_400,
        days_since_registration=(now - as_utc(row.created_at)).total_seconds() / 86_400,
    )


def _answer(row, staff_tags, now):
    activity = _activity(row, now)
    return {
        "id": row.id,
        "username": row.username,
        "level": row.level,
        "region": row.region,
        "registered_at": utc_isoformat(row.created_at),
        "orders_count": row.orders_count,
        "total_spent": row.total_spent,
        "refunded": row.refunded_spend,
        "currency": domain.LEVEL_CURRENCY,
        "first_order_at": utc_isoformat(row.first_order_at),
        "last_order_at": utc_isoformat(row.last_order_at),
        "rfm": domain.rfm_scores(activity),
        "tags": domain.computed_tags(activity) + sorted(staff_tags),
        "agent_id": row.agent_id,
        "invited_by": row.invited_by,
    }


def _staff_tags(session, customer_ids):
    tags: dict[str, list[str]] = {customer_id: [] for customer_id in customer_ids}
    for customer_id, tag in session.execute(
        sa.select(customer_tags.c.customer_id, customer_tags.c.tag).where(
            customer_tags.c.customer_id.in_(customer_ids)
        )
    ):
        tags[customer_id].append(tag)
    return tags


def list_customers(db, tag=None, level=None, username=None, region=None, limit=50, cursor=None, now=None):
    """Customers newest first, with their scores and tags; ``tag``, ``level``, a ``username``
    prefix and ``region`` (as kameng_common.regions normalises it) narrow the list."""
    now = now or utcnow()
    query = (
        _customers_query()
        .where(accounts.c.kind == domain.CUSTOMER)
        .order_by(accounts.c.created_at.desc(), accounts.c.id.desc())
        .limit(limit + 1)
    )
    if tag is not None:
        query = query.where(_has_tag(tag, now))
    if level is not None:
        query = query.where(customer_stats.c.level == level)
    if region is not None:
        query = query.where(accounts.c.region == region)
    if username is not None:
        query = query.where(
            accounts.c.username_key.startswith(domain.username_key(username), autoescape=True)
        )
    if cursor is not None:
        query = query.where(paging.after(accounts.c.created_at, accounts.c.id, cursor, newest_first=True))
    with db.reading() as session:
        rows = session.execute(query).all()
        page = rows[:limit]
        staff_tags = _staff_tags(session, [row.id for row in page])
    return {
        "items": [_answer(row, staff_tags[row.id], now) for row in page],
        "next_cursor": paging.encode_cursor(as_utc(page[-1].created_at), page[-1].id)
        if len(rows) > limit
        else None,
    }


def customer_detail(db, customer_id, now=None):
    """One customer as in the list, with who gave each of their staff tags and when."""
    now = now or utcnow()
    with db.reading() as session:
        return _detail(session, customer_id, now)


def _detail(session, customer_id, now):
    row = session.execute(
        _customers_query().where(accounts.c.id == customer_id, accounts.c.kind == domain.CUSTOMER)
    ).first()
    if row is None:
        raise NotFound(f"no customer {customer_id}", code="customer_not_found")
    given = session.execute(
        sa.select(customer_tags.c.tag, customer_tags.c.added_by, customer_tags.c.added_at)
        .where(customer_tags.c.customer_id == customer_id)
        .order_by(customer_tags.c.tag)
    ).all()
    return {
        **_answer(row, [entry.tag for entry in given], now),
        "staff_tags": [
            {"tag": entry.tag, "added_by": entry.added_by, "added_at": utc_isoformat(entry.added_at)}
            for entry in given
        ],
    }


def add_tag(db, customer_id, tag, staff_id):
    """Give a customer a tag by hand; giving it again changes nothing."""
    domain.check_staff_tag(tag)
    now = utcnow()
    with db.unit_of_work() as uow:
        _detail(uow, customer_id, now)  # NotFound for anyone but a customer
        uow.execute(
            uow.insert(customer_tags)
            .values(customer_id=customer_id, tag=tag, added_by=staff_id, added_at=now)
            .on_conflict_do_nothing()
        )
    _log.info("customer tagged", extra={"customer_id": customer_id, "tag": tag})
    return customer_detail(db, customer_id, now)


def remove_tag(db, customer_id, tag):
    """Take a hand-given tag off a customer; one they do not have changes nothing."""
    domain.check_staff_tag(tag)
    now = utcnow()
    with db.unit_of_work() as uow:
        _detail(uow, customer_id, now)
        uow.execute(
            customer_tags.delete().where(
                customer_tags.c.customer_id == customer_id, customer_tags.c.tag == tag
            )
        )
    _log.info("customer tag removed", extra={"customer_id": customer_id, "tag": tag})
    return customer_detail(db, customer_id, now)


def tag_counts(db, now=None):
    """[{tag, kind, description, customers}]: every computed tag, then every tag staff gave."""
    now = now or utcnow()
    customers = sa.select(sa.func.count()).select_from(
        accounts.join(customer_stats, customer_stats.c.customer_id == accounts.c.id)
    )
    with db.reading() as session:
        computed = [
            {
                "tag": rule.name,
                "kind": "computed",
                "description": rule.description,
                "customers": session.execute(
                    customers.where(accounts.c.kind == domain.CUSTOMER, _has_tag(rule.name, now))
                ).scalar_one(),
            }
            for rule in domain.TAG_RULES
        ]
        given = session.execute(
            sa.select(customer_tags.c.tag, sa.func.count())
            .group_by(customer_tags.c.tag)
            .order_by(customer_tags.c.tag)
        ).all()
    return {
        "items": computed
        + [{"tag": tag, "kind": "staff", "description": None, "customers": count} for tag, count in given]
    }


def customers_by_tag(db):
    """{tag: customers}, for the gauge."""
    return {item["tag"]: item["customers"] for item in tag_counts(db)["items"]}


def stats_mismatches(session):
    """Customers whose stats differ from the orders counted for them (count, spend, refunds)."""
    counted_spend = sa.case(
        (counted_orders.c.currency == domain.LEVEL_CURRENCY, counted_orders.c.total), else_=0
    )
    counted_refunds = sa.case(
        (counted_orders.c.currency == domain.LEVEL_CURRENCY, counted_orders.c.refunded), else_=0
    )
    sums = {
        row.customer_id: (row.orders, int(row.spend), int(row.refunded))
        for row in session.execute(
            sa.select(
                counted_orders.c.customer_id,
                sa.func.count().label("orders"),
                sa.func.sum(counted_spend).label("spend"),
                sa.func.sum(counted_refunds).label("refunded"),
            ).group_by(counted_orders.c.customer_id)
        )
    }
    mismatches = []
    for row in session.execute(
        sa.select(
            customer_stats.c.customer_id,
            customer_stats.c.orders_count,
            customer_stats.c.total_spent,
            customer_stats.c.refunded_spend,
        )
    ):
        held = (row.orders_count, row.total_spent, row.refunded_spend)
        counted = sums.pop(row.customer_id, (0, 0, 0))
        if held != counted:
            mismatches.append(_mismatch(row.customer_id, held, counted))
    mismatches += [_mismatch(customer_id, None, counted) for customer_id, counted in sums.items()]
    return mismatches


def _mismatch(customer_id, held, counted):
    keys = ("orders_count", "total_spent", "refunded")
    return {
        "customer_id": customer_id,
        "held": None if held is None else dict(zip(keys, held, strict=True)),
        "counted": dict(zip(keys, counted, strict=True)),
    }


def with_tag(tag, now):
    """SQL: the ids of the customers who hold ``tag`` at ``now`` (computed or given by staff)."""
    return (
        sa.select(accounts.c.id)
        .select_from(accounts.join(customer_stats, customer_stats.c.customer_id == accounts.c.id))
        .where(accounts.c.kind == domain.CUSTOMER, _has_tag(tag, now))
    )


def with_segment(segment, now):
    """SQL: the ids of the customers in ``segment`` (a tag, or "region:<REGION>") at ``now``."""
    region = domain.segment_region(segment)
    if region is None:
        return with_tag(segment, now)
    return sa.select(accounts.c.id).where(accounts.c.kind == domain.CUSTOMER, accounts.c.region == region)


def segments_of_customer(session, customer_id, now):
    """The segments the customer belongs to at ``now``: their tags, computed (measured as the
    list measures them) and given by staff, and their region's; none for anyone but a customer."""
    row = session.execute(
        _customers_query().where(accounts.c.id == customer_id, accounts.c.kind == domain.CUSTOMER)
    ).first()
    if row is None:
        return set()
    tags = domain.computed_tags(_activity(row, now)) + _staff_tags(session, [customer_id])[customer_id]
    return domain.segments_of(tags, row.region)
