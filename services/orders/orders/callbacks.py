"""A channel order's delivery callback, scheduled in the unit of work that moves the order.

Sent by ``channel.send_due_callbacks``; here only what the status change writes.
"""

import sqlalchemy as sa

from orders import domain
from orders.db import channel_callbacks, channel_orders

# the statuses a channel's callback_url hears about
PUSHED_STATUSES = frozenset({domain.DELIVERED, domain.CANCELLED, domain.EXPIRED, domain.REFUNDED})


def schedule_callback(uow, order_id, status, now):
    """In the unit of work that moves the order: a push to its callback_url, if it has one."""
    if status not in PUSHED_STATUSES:
        return
    pending = sa.select(
        channel_orders.c.order_id,
        sa.literal(status),
        sa.literal(0),
        sa.literal(now, channel_callbacks.c.next_attempt_at.type),
        sa.literal(now, channel_callbacks.c.created_at.type),
    ).where(channel_orders.c.order_id == order_id, channel_orders.c.callback_url.is_not(None))
    uow.execute(
        uow.insert(channel_callbacks)
        .from_select(["order_id", "status", "attempts", "next_attempt_at", "created_at"], pending)
        .on_conflict_do_nothing()
    )
