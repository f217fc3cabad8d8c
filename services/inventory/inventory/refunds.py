"""An order whose money payments gave back in full gives back its cards, as the shop's policy says.

``KAMENG_REFUND_CARD_POLICY`` is ``mark_refunded`` (the default: the cards
stay the buyer's to read, marked refunded) or ``void`` (the cards are void:
the buyer no longer reads them). Either way a card keeps its order and its
sale, and is never sold again. A loop product's card is every buyer's at
once: its sale to a refunded order stays as it is.
"""

import datetime
import os

import sqlalchemy as sa

from inventory import domain
from inventory.db import cards
from inventory.metrics import CARDS_REFUNDED
from kameng_common import auditlog
from kameng_common.db import UnitOfWork

POLICY_ENV = "KAMENG_REFUND_CARD_POLICY"


def card_policy() -> str:
    """The shop's card refund policy; a value it does not know is a configuration error."""
    policy = os.environ.get(POLICY_ENV) or domain.DEFAULT_CARD_REFUND_POLICY
    if policy not in domain.CARD_REFUND_POLICIES:
        raise ValueError(
            f"{POLICY_ENV} must be one of {', '.join(domain.CARD_REFUND_POLICIES)}, not {policy!r}"
        )
    return policy


def give_back_cards(uow: UnitOfWork, order_id: str, now: datetime.datetime) -> list[int]:
    """Move the order's sold cards as the policy says, publish ``cards.refunded``; returns their ids.

    Only sold cards move, so a second call (a redelivered event) moves nothing.
    """
    policy = card_policy()
    card_ids = list(
        uow.execute(
            sa.select(cards.c.id)
            .where(cards.c.order_id == order_id, cards.c.status == domain.SOLD)
            .order_by(cards.c.id)
            .with_for_update()
        ).scalars()
    )
    if not card_ids:
        return []
    values: dict[str, object] = {"refunded_at": now}
    if policy == domain.VOID_CARDS:
        values.update(status=domain.VOID, voided_at=now)
    else:
        values.update(status=domain.REFUNDED)
    uow.execute(
        cards.update().where(cards.c.id.in_(card_ids), cards.c.status == domain.SOLD).values(**values)
    )
    auditlog.record(
        uow,
        "inventory",
        auditlog.SYSTEM_ACTOR,
        "cards.refunded",
        f"order:{order_id}",
        {"cards": len(card_ids), "policy": policy},
    )
    uow.after_commit(lambda: CARDS_REFUNDED.labels(policy).inc(len(card_ids)))
    uow.publish(
        "cards.refunded",
        {"order_id": order_id, "card_ids": card_ids, "policy": policy},
        correlation_id=order_id,
    )
    return card_ids
