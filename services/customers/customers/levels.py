"""Membership levels: the table ops configure, and each customer's level as their spend grows."""

import logging

import sqlalchemy as sa

from customers import domain
from customers.db import agents, customer_stats, membership_levels
from kameng_common.db import utcnow

_log = logging.getLogger(__name__)


def configured(session):
    """[(name, threshold)] lowest first: what ops configured, else the defaults."""
    rows = session.execute(
        sa.select(membership_levels.c.name, membership_levels.c.threshold).order_by(
            membership_levels.c.threshold
        )
    ).all()
    return [(row.name, row.threshold) for row in rows] or list(domain.DEFAULT_LEVELS)


def get_levels(db):
    with db.reading() as session:
        levels = configured(session)
    return _levels_answer(levels)


def _levels_answer(levels):
    return {
        "levels": [{"name": name, "threshold": threshold} for name, threshold in levels],
        "currency": domain.LEVEL_CURRENCY,
    }


def set_levels(db, levels):
    """Replace the level table. Customers keep the level they hold; the next delivery measures anew."""
    levels = [(level["name"], level["threshold"]) for level in levels]
    domain.check_levels(levels)
    now = utcnow()
    with db.unit_of_work() as uow:
        uow.execute(membership_levels.delete())
        uow.execute(
            membership_levels.insert(),
            [{"name": name, "threshold": threshold, "updated_at": now} for name, threshold in levels],
        )
    _log.info("membership levels set", extra={"levels": [name for name, _threshold in levels]})
    return _levels_answer(levels)


def publish_level_change(uow, customer_id, level):
    """Tell the pricing service the level ``customer_id`` is now priced at (one more version of it)."""
    version = uow.execute(
        customer_stats.update()
        .where(customer_stats.c.customer_id == customer_id)
        .values(level_version=customer_stats.c.level_version + 1)
        .returning(customer_stats.c.level_version)
    ).scalar_one()
    uow.publish(
        "customer.level_changed",
        {"customer_id": customer_id, "level": level, "version": version},
        correlation_id=customer_id,
    )


def count_toward_level(uow, customer_id, spend, now):
    """Add a delivered order to the customer's stats; move them up a level when it takes them over one."""
    # an atomic increment: concurrent deliveries to one customer add up, none overwrites another
    stats = uow.execute(
        customer_stats.update()
        .where(customer_stats.c.customer_id == customer_id)
        .values(
            orders_count=customer_stats.c.orders_count + 1,
            total_spent=customer_stats.c.total_spent + spend,
            first_order_at=sa.func.coalesce(customer_stats.c.first_order_at, now),
            last_order_at=now,
            updated_at=now,
        )
        .returning(customer_stats.c.level, customer_stats.c.total_spent)
    ).first()
    table = configured(uow)
    if stats is None:
        _log.warning(
            "order delivered to a customer without an account; counted anyway",
            extra={"customer_id": customer_id},
        )
        uow.execute(
            customer_stats.insert().values(
                customer_id=customer_id,
                level=domain.FIRST_LEVEL,
                orders_count=1,
                total_spent=spend,
                first_order_at=now,
                last_order_at=now,
                updated_at=now,
            )
        )
        current_level, total_spent = domain.FIRST_LEVEL, spend
    else:
        current_level, total_spent = stats.level, stats.total_spent
    level = domain.level_after_spend(table, current_level, total_spent)
    if level == current_level:
        return
    uow.execute(
        customer_stats.update().where(customer_stats.c.customer_id == customer_id).values(level=level)
    )
    _log.info("customer moved up to %s", level, extra={"customer_id": customer_id})
    is_agent = uow.execute(sa.select(agents.c.id).where(agents.c.customer_id == customer_id)).first()
    if not is_agent:  # an agent's prices stay the agent tier's, whatever their level
        publish_level_change(uow, customer_id, level)
