"""Agents' shops (分站): a slug, a name and a markup over the agent price, set by the agent.

The shop's public page lists the catalogue at the agent price plus the markup
(inventory prices it); its invite code brings the shop's visitors who sign up
into the agent's downline.
"""

import logging
from typing import Any

import sqlalchemy as sa

from customers import domain
from customers.agents import agent_of
from customers.db import accounts, agents, shops
from kameng_common.db import Database, utc_isoformat, utcnow
from kameng_common.errors import Conflict, InvalidInput, KamengError, NotFound

_log = logging.getLogger(__name__)


def get_shop(db: Database, customer_id: str) -> dict[str, Any]:
    """The calling agent's shop; NotFound ``shop_not_set_up`` until they set it up."""
    with db.reading() as session:
        agent = agent_of(session, customer_id)
        shop = session.execute(sa.select(shops).where(shops.c.agent_id == agent.id)).first()
    if shop is None:
        raise NotFound("this agent has no shop yet", code="shop_not_set_up")
    return _answer(shop._asdict(), agent.invite_code)


def set_shop(db: Database, customer_id: str, slug: str, name: str, markup_bp: int) -> dict[str, Any]:
    """Set up or change the calling agent's shop; a slug another shop has is Conflict ``shop_slug_taken``."""
    domain.check_shop(slug, markup_bp)
    now = utcnow()
    try:
        with db.unit_of_work() as uow:
            agent = agent_of(uow, customer_id)
            # the agent's row locked: two changes of one agent's shop take turns
            uow.execute(sa.select(agents.c.id).where(agents.c.id == agent.id).with_for_update())
            exists = uow.execute(sa.select(shops.c.agent_id).where(shops.c.agent_id == agent.id)).first()
            values = {"slug": slug, "name": name, "markup_bp": markup_bp, "updated_at": now}
            if exists:
                uow.execute(shops.update().where(shops.c.agent_id == agent.id).values(**values))
            else:
                uow.execute(shops.insert().values(agent_id=agent.id, created_at=now, **values))
    except sa.exc.IntegrityError:
        # the unique slug: another agent's shop has it, or took it first
        raise Conflict(f"another shop has the slug {slug!r}", code="shop_slug_taken") from None
    _log.info("shop set", extra={"agent_id": agent.id, "slug": slug, "markup_bp": markup_bp})
    return get_shop(db, customer_id)


def shop_by_slug(db: Database, slug: str) -> dict[str, Any]:
    """A shop as its visitors see it, with the markup inventory prices its catalogue by.

    NotFound ``shop_not_found`` for a slug no shop has, ``shop_closed`` for the
    shop of an agent whose account is disabled: it neither lists nor sells.
    """
    with db.reading() as session:
        shop = _open_shop(session, slug, NotFound)
    return _answer(shop._asdict(), shop.invite_code)


def shop_for_order(db: Database, slug: str) -> dict[str, Any]:
    """What orders prices an order through the shop ``slug`` by: the agent it credits and their markup.

    A slug no shop has is InvalidInput ``shop_not_found``, a closed shop (see
    ``shop_by_slug``) InvalidInput ``shop_closed``: the buyer's order names it.
    """
    with db.reading() as session:
        shop = _open_shop(session, slug, InvalidInput)
    return {"slug": shop.slug, "agent_id": shop.agent_id, "markup_bp": shop.markup_bp}


def _open_shop(session: Any, slug: str, refusal: type[KamengError]) -> Any:
    shop = session.execute(
        sa.select(shops, agents.c.invite_code, accounts.c.disabled_at)
        .select_from(
            shops.join(agents, agents.c.id == shops.c.agent_id).join(
                accounts, accounts.c.id == agents.c.customer_id
            )
        )
        .where(shops.c.slug == slug)
    ).first()
    if shop is None:
        raise refusal(f"there is no shop {slug!r}", code="shop_not_found")
    if shop.disabled_at is not None:
        raise refusal(f"the shop {slug!r} is closed: its agent's account is disabled", code="shop_closed")
    return shop


def _answer(shop: dict[str, Any], invite_code: str) -> dict[str, Any]:
    return {
        "slug": shop["slug"],
        "name": shop["name"],
        "markup_bp": shop["markup_bp"],
        "agent_id": shop["agent_id"],
        "invite_code": invite_code,
        "updated_at": utc_isoformat(shop["updated_at"]),
    }


def count_shops(db: Database) -> int:
    with db.reading() as session:
        return session.execute(sa.select(sa.func.count()).select_from(shops)).scalar_one()
