"""Agents: their tree and invite codes, the commission plan, earnings and withdrawals.

Every movement of an agent's money is an entry and a change to their balance in
one unit of work, with an event for payments to post on the ledger
(``commission.earned``, ``commission.reversed``, ``withdrawal.paid``).
"""

import datetime
import logging
import secrets
import uuid
from typing import Any

import sqlalchemy as sa

from customers import domain
from customers.db import (
    accounts,
    agent_balances,
    agent_entries,
    agents,
    commission_plan,
    customer_stats,
    withdrawals,
)
from customers.levels import publish_level_change
from kameng_common import paging
from kameng_common.db import as_utc, utc_isoformat, utcnow
from kameng_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from kameng_common.money import AGENT_LEVEL

_log = logging.getLogger(__name__)

ENTRIES_SHOWN = 50
SETTLE_BATCH = 500


# --- the tree --------------------------------------------------------------------


def make_agent(db, customer_id, parent_agent_id=None):
    """Make a customer an agent under ``parent_agent_id`` (None: at the top), or move an agent there.

    Idempotent: asking again for the same place answers the same agent. A move
    carries the agent's whole subtree and downline along; a parent inside that
    subtree is refused (``agent_cycle``).
    """
    now = utcnow()
    with db.unit_of_work() as uow:
        customer = uow.execute(
            sa.select(accounts.c.id).where(accounts.c.id == customer_id, accounts.c.kind == domain.CUSTOMER)
        ).first()
        if customer is None:
            raise InvalidInput(f"there is no customer {customer_id}", code="customer_unknown")
        parent_path = None
        if parent_agent_id is not None:
            parent_path = uow.execute(sa.select(agents.c.path).where(agents.c.id == parent_agent_id)).scalar()
            if parent_path is None:
                raise InvalidInput(f"there is no agent {parent_agent_id}", code="agent_unknown")
        existing = uow.execute(
            sa.select(agents).where(agents.c.customer_id == customer_id).with_for_update()
        ).first()
        if existing is None:
            agent = _create(uow, customer_id, parent_agent_id, parent_path, now)
        elif existing.parent_agent_id == parent_agent_id:
            agent = existing._asdict()
        else:
            agent = _move(uow, existing, parent_agent_id, parent_path, now)
    return _agent_answer(agent)


def _create(uow, customer_id, parent_agent_id, parent_path, now):
    agent_id = str(uuid.uuid4())
    agent = {
        "id": agent_id,
        "customer_id": customer_id,
        "parent_agent_id": parent_agent_id,
        "path": domain.agent_path(parent_path, agent_id),
        "invite_code": _invite_code(),
        "created_at": now,
        "updated_at": now,
    }
    uow.execute(agents.insert().values(**agent))
    # an agent's own purchases earn for the agents above them, never for themselves
    uow.execute(
        customer_stats.update()
        .where(customer_stats.c.customer_id == customer_id)
        .values(agent_line=parent_path)
    )
    _ensure_balance(uow, agent_id, domain.LEVEL_CURRENCY, now)
    publish_level_change(uow, customer_id, AGENT_LEVEL)
    _log.info("customer made an agent", extra={"customer_id": customer_id, "agent_id": agent_id})
    return agent


def _move(uow, agent, parent_agent_id, parent_path, now):
    if parent_path is not None and domain.would_cycle(agent.id, parent_path):
        raise InvalidInput(
            f"agent {parent_agent_id} is in the subtree of agent {agent.id}: that would make a cycle",
            code="agent_cycle",
        )
    old_prefix, new_prefix = agent.path, domain.agent_path(parent_path, agent.id)
    # one statement per table, however large the subtree: every path under the old
    # place gets the new place as its beginning
    for table, column in ((agents, agents.c.path), (customer_stats, customer_stats.c.agent_line)):
        uow.execute(
            table.update()
            .where(column.startswith(old_prefix, autoescape=True))
            .values({column.name: sa.literal(new_prefix) + sa.func.substr(column, len(old_prefix) + 1)})
        )
    uow.execute(
        agents.update().where(agents.c.id == agent.id).values(parent_agent_id=parent_agent_id, updated_at=now)
    )
    uow.execute(
        customer_stats.update()
        .where(customer_stats.c.customer_id == agent.customer_id)
        .values(agent_line=parent_path)
    )
    _log.info("agent moved", extra={"agent_id": agent.id, "parent_agent_id": parent_agent_id})
    return {**agent._asdict(), "parent_agent_id": parent_agent_id, "path": new_prefix}


def _invite_code():
    return "".join(secrets.choice(domain.INVITE_CODE_ALPHABET) for _ in range(domain.INVITE_CODE_LENGTH))


def _agent_answer(agent):
    return {
        "agent_id": agent["id"],
        "customer_id": agent["customer_id"],
        "parent_agent_id": agent["parent_agent_id"],
        "invite_code": agent["invite_code"],
        "depth": len(domain.agents_up_the_line(agent["path"])),
    }


def agent_for_invite_code(session, invite_code):
    """The agent whose invite code this is, or InvalidInput ``invite_code_invalid``."""
    agent = session.execute(
        sa.select(agents.c.id, agents.c.path).where(agents.c.invite_code == invite_code.strip().upper())
    ).first()
    if agent is None:
        raise InvalidInput("no agent has this invite code", code="invite_code_invalid")
    return agent


def agent_of(session, customer_id):
    """The agent a signed-in customer is; Forbidden for a customer who is not one."""
    agent = session.execute(sa.select(agents).where(agents.c.customer_id == customer_id)).first()
    if agent is None:
        raise Forbidden("only agents may do this", code="not_an_agent")
    return agent


def downline(db, customer_id, limit=50, cursor=None):
    """The customers below the calling agent, at any depth, by customer id; never anyone else's."""
    with db.reading() as session:
        agent = agent_of(session, customer_id)
        query = (
            sa.select(
                customer_stats.c.customer_id,
                customer_stats.c.agent_line,
                customer_stats.c.orders_count,
                accounts.c.username,
                accounts.c.created_at,
                agents.c.id.label("agent_id"),
            )
            .select_from(
                customer_stats.join(accounts, accounts.c.id == customer_stats.c.customer_id).outerjoin(
                    agents, agents.c.customer_id == customer_stats.c.customer_id
                )
            )
            .where(customer_stats.c.agent_line.startswith(agent.path, autoescape=True))
            .order_by(customer_stats.c.customer_id)
            .limit(limit + 1)
        )
        if cursor is not None:
            query = query.where(customer_stats.c.customer_id > cursor)
        rows = session.execute(query).all()
    page = rows[:limit]
    return {
        "items": [
            {
                "customer_id": row.customer_id,
                "username": row.username,
                "depth": domain.depth_below(agent.path, row.agent_line),
                "agent_id": row.agent_id,
                "orders_count": row.orders_count,
                "joined_at": utc_isoformat(row.created_at),
            }
            for row in page
        ],
        "next_cursor": page[-1].customer_id if len(rows) > limit else None,
    }


# --- the commission plan -------------------------------------------------------------


def get_commission_plan(db):
    with db.reading() as session:
        return {"rates_bp": _plan(session)}


def _plan(session):
    return list(
        session.execute(sa.select(commission_plan.c.rate_bp).order_by(commission_plan.c.depth)).scalars()
    )


def set_commission_plan(db, rates_bp):
    """Replace the plan: ``rates_bp[0]`` for the agent closest to the buyer, and so on up."""
    domain.check_plan(rates_bp)
    now = utcnow()
    with db.unit_of_work() as uow:
        uow.execute(commission_plan.delete())
        uow.execute(
            commission_plan.insert(),
            [
                {"depth": depth, "rate_bp": rate, "updated_at": now}
                for depth, rate in enumerate(rates_bp, start=1)
            ],
        )
    _log.info("commission plan set", extra={"rates_bp": rates_bp})
    return {"rates_bp": list(rates_bp)}


# --- earning and taking back -----------------------------------------------------------


def credit_delivered(uow, order, shop, hold_seconds, now):
    """Credit every agent up the buyer's line with their rate of a delivered order and, for a sale
    through an agent's shop (``shop``: {agent_id, markup}, as orders priced it), that agent its markup.

    Called once per order, in the unit of work that counts the delivery: the
    cost is one read of the buyer's line and of the plan, then one entry per
    agent paid, linear in the depth of the line, not in the size of the tree.
    Balances are changed in agent id order, the order settlement takes them
    in, so that the two never wait on each other in a cycle (PostgreSQL).
    """
    line = uow.execute(
        sa.select(customer_stats.c.agent_line).where(customer_stats.c.customer_id == order["customer_id"])
    ).scalar()
    earned: list[tuple[str, str, int | None, int]] = [
        (agent_id, domain.COMMISSION, depth, amount)
        for agent_id, depth, amount in (domain.commissions(line, _plan(uow), order["total"]) if line else [])
    ]
    if shop is not None and shop["markup"] > 0:
        earned.append((shop["agent_id"], domain.MARKUP, None, shop["markup"]))
    matures_at = now + datetime.timedelta(seconds=hold_seconds)
    for agent_id, kind, depth, amount in sorted(earned, key=lambda earning: (earning[0], earning[1])):
        _earn(uow, agent_id, kind, order, depth, amount, matures_at, now)


def _earn(uow, agent_id, kind, order, depth, amount, matures_at, now):
    entry_id = str(uuid.uuid4())
    inserted = uow.execute(
        uow.insert(agent_entries)
        .values(
            id=entry_id,
            agent_id=agent_id,
            kind=kind,
            reference=order["order_id"],
            order_id=order["order_id"],
            depth=depth,
            amount=amount,
            currency=order["currency"],
            matures_at=matures_at,
            matured=False,
            created_at=now,
        )
        .on_conflict_do_nothing()
    ).rowcount
    if not inserted:
        return  # never twice for one order
    _ensure_balance(uow, agent_id, order["currency"], now)
    _change_balance(uow, agent_id, order["currency"], now, pending=amount)
    uow.publish(
        "commission.earned",
        {
            "entry_id": entry_id,
            "agent_id": agent_id,
            "order_id": order["order_id"],
            "kind": kind,
            "amount": amount,
            "currency": order["currency"],
        },
        correlation_id=order["order_id"],
    )


def take_back(uow, order, refunded, refund_id, now):
    """Take back from each agent their share of a delivered ``order`` now ``refunded`` in all.

    An earning still pending loses it from pending; one already available loses
    it from available, which may go below zero and is made good by later earnings.
    """
    earnings = uow.execute(
        sa.select(agent_entries)
        .where(agent_entries.c.order_id == order.order_id, agent_entries.c.kind.in_(domain.EARNINGS))
        # balances in agent id order, as settlement takes them (no cycle of waits)
        .order_by(agent_entries.c.agent_id, agent_entries.c.id)
    ).all()
    for earning in earnings:
        amount = domain.reversal(earning.amount, earning.reversed, refunded, order.total)
        if amount:
            _reverse(uow, earning, amount, refund_id, now)


def _reverse(uow, earning, amount, refund_id, now):
    entry_id = str(uuid.uuid4())
    uow.execute(
        agent_entries.insert().values(
            id=entry_id,
            agent_id=earning.agent_id,
            kind=domain.REVERSAL,
            reference=f"{refund_id}/{earning.id}",
            order_id=earning.order_id,
            depth=earning.depth,
            amount=-amount,
            currency=earning.currency,
            # an earning not yet matured takes its reversal along when it matures
            matures_at=earning.matures_at if not earning.matured else now,
            matured=earning.matured,
            created_at=now,
        )
    )
    uow.execute(
        agent_entries.update()
        .where(agent_entries.c.id == earning.id)
        .values(reversed=agent_entries.c.reversed + amount)
    )
    if earning.matured:
        _change_balance(uow, earning.agent_id, earning.currency, now, available=-amount)
    else:
        _change_balance(uow, earning.agent_id, earning.currency, now, pending=-amount)
    uow.publish(
        "commission.reversed",
        {
            "entry_id": entry_id,
            "agent_id": earning.agent_id,
            "order_id": earning.order_id,
            "kind": earning.kind,
            "amount": amount,
            "currency": earning.currency,
        },
        correlation_id=earning.order_id,
    )


def settle_matured(db, now=None, batch_size=SETTLE_BATCH):
    """Move every entry whose hold has run out from pending to available; returns how many moved."""
    now = now or utcnow()
    settled = 0
    while True:
        with db.unit_of_work() as uow:
            due = uow.execute(
                sa.select(
                    agent_entries.c.id,
                    agent_entries.c.agent_id,
                    agent_entries.c.currency,
                    agent_entries.c.amount,
                )
                .where(agent_entries.c.matured.is_(False), agent_entries.c.matures_at <= now)
                .order_by(agent_entries.c.matures_at)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            _settle(uow, due, now)
        settled += len(due)
        if len(due) < batch_size:
            return settled


def _settle(uow, entries, now):
    if not entries:
        return
    # only the entries this transaction turns matured count: a concurrent settlement of
    # the same entries waits for this one, then finds them matured and moves nothing
    entries = uow.execute(
        agent_entries.update()
        .where(agent_entries.c.id.in_([entry.id for entry in entries]), agent_entries.c.matured.is_(False))
        .values(matured=True)
        .returning(agent_entries.c.agent_id, agent_entries.c.currency, agent_entries.c.amount)
    ).all()
    totals: dict[tuple[str, str], int] = {}
    for entry in entries:
        key = (entry.agent_id, entry.currency)
        totals[key] = totals.get(key, 0) + entry.amount
    for (agent_id, currency), amount in sorted(totals.items()):
        _change_balance(uow, agent_id, currency, now, pending=-amount, available=amount)


def _settle_agent(uow, agent_id, now):
    """Settle one agent's matured entries, so that a withdrawal sees all that is available."""
    due = uow.execute(
        sa.select(
            agent_entries.c.id, agent_entries.c.agent_id, agent_entries.c.currency, agent_entries.c.amount
        ).where(
            agent_entries.c.agent_id == agent_id,
            agent_entries.c.matured.is_(False),
            agent_entries.c.matures_at <= now,
        )
    ).all()
    _settle(uow, due, now)


# --- balances ------------------------------------------------------------------------


def _ensure_balance(uow, agent_id, currency, now):
    uow.execute(
        uow.insert(agent_balances)
        .values(
            agent_id=agent_id,
            currency=currency,
            pending=0,
            available=0,
            requested=0,
            withdrawn=0,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )


def _change_balance(uow, agent_id, currency, now, **changes):
    """Add each of ``changes`` (column: amount) to the agent's balance, atomically."""
    uow.execute(
        agent_balances.update()
        .where(agent_balances.c.agent_id == agent_id, agent_balances.c.currency == currency)
        .values(
            updated_at=now,
            **{column: agent_balances.c[column] + amount for column, amount in changes.items()},
        )
    )


def earnings(db, customer_id, now=None):
    """The calling agent's balance and latest entries; entries whose hold ran out count as available."""
    now = now or utcnow()
    with db.reading_snapshot() as session:
        agent = agent_of(session, customer_id)
        balance = session.execute(
            sa.select(agent_balances).where(
                agent_balances.c.agent_id == agent.id, agent_balances.c.currency == domain.LEVEL_CURRENCY
            )
        ).first()
        # PostgreSQL sums into a Decimal, which no RPC answer may carry
        due = session.execute(
            sa.select(sa.cast(sa.func.coalesce(sa.func.sum(agent_entries.c.amount), 0), sa.BigInteger)).where(
                agent_entries.c.agent_id == agent.id,
                agent_entries.c.currency == domain.LEVEL_CURRENCY,
                agent_entries.c.matured.is_(False),
                agent_entries.c.matures_at <= now,
            )
        ).scalar_one()
        entries = session.execute(
            sa.select(agent_entries)
            .where(agent_entries.c.agent_id == agent.id)
            .order_by(agent_entries.c.created_at.desc(), agent_entries.c.id)
            .limit(ENTRIES_SHOWN)
        ).all()
    return {
        "agent_id": agent.id,
        "invite_code": agent.invite_code,
        "currency": domain.LEVEL_CURRENCY,
        "pending": balance.pending - due,
        "available": balance.available + due,
        "requested": balance.requested,
        "withdrawn": balance.withdrawn,
        "entries": [
            {
                "id": entry.id,
                "kind": entry.kind,
                "order_id": entry.order_id,
                "depth": entry.depth,
                "amount": entry.amount,
                "currency": entry.currency,
                "status": "available" if entry.matured or as_utc(entry.matures_at) <= now else "pending",
                "matures_at": utc_isoformat(entry.matures_at),
                "created_at": utc_isoformat(entry.created_at),
            }
            for entry in entries
        ],
    }


# --- withdrawals -------------------------------------------------------------------------


def request_withdrawal(db, customer_id, amount, account):
    """Ask for ``amount`` of the calling agent's available money to be paid to ``account``.

    The balance row is locked while it is checked and lowered, so that
    concurrent requests never take out more than is available.
    """
    now = utcnow()
    currency = domain.LEVEL_CURRENCY
    with db.unit_of_work() as uow:
        agent = agent_of(uow, customer_id)
        _ensure_balance(uow, agent.id, currency, now)
        balance = sa.select(agent_balances.c.available).where(
            agent_balances.c.agent_id == agent.id, agent_balances.c.currency == currency
        )
        uow.execute(balance.with_for_update())  # concurrent requests of this agent wait here
        _settle_agent(uow, agent.id, now)
        available = uow.execute(balance).scalar_one()
        domain.check_withdrawal(amount, available)
        withdrawal_id = str(uuid.uuid4())
        withdrawal = {
            "id": withdrawal_id,
            "agent_id": agent.id,
            "amount": amount,
            "currency": currency,
            "account": account,
            "status": domain.REQUESTED,
            "available_before": available,
            "created_at": now,
        }
        uow.execute(withdrawals.insert().values(**withdrawal))
        _withdrawal_entry(uow, agent.id, domain.WITHDRAWAL, withdrawal_id, -amount, currency, now)
        _change_balance(uow, agent.id, currency, now, available=-amount, requested=amount)
    _log.info("withdrawal requested", extra={"agent_id": agent.id, "withdrawal_id": withdrawal_id})
    return _withdrawal_answer(withdrawal)


def _withdrawal_entry(uow, agent_id, kind, withdrawal_id, amount, currency, now):
    uow.execute(
        agent_entries.insert().values(
            id=str(uuid.uuid4()),
            agent_id=agent_id,
            kind=kind,
            reference=withdrawal_id,
            amount=amount,
            currency=currency,
            matures_at=now,
            matured=True,
            created_at=now,
        )
    )


def decide_withdrawal(db, withdrawal_id, decision, reason, staff_id):
    """Finance pays a withdrawal out (through the ledger) or rejects it (back to available).

    Deciding again as before answers the same; deciding otherwise is a Conflict.
    """
    now = utcnow()
    with db.unit_of_work() as uow:
        withdrawal = uow.execute(
            sa.select(withdrawals).where(withdrawals.c.id == withdrawal_id).with_for_update()
        ).first()
        if withdrawal is None:
            raise NotFound(f"there is no withdrawal {withdrawal_id}")
        target = domain.PAID if decision == domain.APPROVE else domain.REJECTED
        if withdrawal.status != domain.REQUESTED:
            if withdrawal.status == target:
                return _withdrawal_answer(withdrawal._asdict())
            raise Conflict(f"the withdrawal is already {withdrawal.status}", code="withdrawal_decided")
        uow.execute(
            withdrawals.update()
            .where(withdrawals.c.id == withdrawal_id)
            .values(status=target, reason=reason, decided_by=staff_id, decided_at=now)
        )
        agent_id, amount, currency = withdrawal.agent_id, withdrawal.amount, withdrawal.currency
        if target == domain.PAID:
            _change_balance(uow, agent_id, currency, now, requested=-amount, withdrawn=amount)
            uow.publish(
                "withdrawal.paid",
                {
                    "withdrawal_id": withdrawal_id,
                    "agent_id": agent_id,
                    "amount": amount,
                    "currency": currency,
                },
                correlation_id=withdrawal_id,
            )
        else:
            _withdrawal_entry(uow, agent_id, domain.WITHDRAWAL_RETURNED, withdrawal_id, amount, currency, now)
            _change_balance(uow, agent_id, currency, now, requested=-amount, available=amount)
    _log.info("withdrawal %s", target, extra={"withdrawal_id": withdrawal_id})
    return _withdrawal_answer({**withdrawal._asdict(), "status": target, "reason": reason, "decided_at": now})


def list_withdrawals(db, status=None, limit=50, cursor=None):
    """Withdrawals oldest first, ``status="requested"`` for those awaiting a decision; for finance."""
    query = sa.select(withdrawals).order_by(withdrawals.c.created_at, withdrawals.c.id).limit(limit + 1)
    if status is not None:
        query = query.where(withdrawals.c.status == status)
    if cursor is not None:
        query = query.where(
            paging.after(withdrawals.c.created_at, withdrawals.c.id, cursor, newest_first=False)
        )
    with db.reading() as session:
        rows = session.execute(query).all()
    page = rows[:limit]
    return {
        "items": [_withdrawal_answer(row._asdict()) for row in page],
        "next_cursor": paging.encode_cursor(as_utc(page[-1].created_at), page[-1].id)
        if len(rows) > limit
        else None,
    }


def _withdrawal_answer(withdrawal):
    return {
        "id": withdrawal["id"],
        "agent_id": withdrawal["agent_id"],
        "amount": withdrawal["amount"],
        "currency": withdrawal["currency"],
        "account": withdrawal["account"],
        "status": withdrawal["status"],
        "reason": withdrawal.get("reason"),
        "created_at": utc_isoformat(withdrawal["created_at"]),
        "decided_at": utc_isoformat(withdrawal.get("decided_at")),
    }


# --- metrics ------------------------------------------------------------------------------


def count_agents(db):
    with db.reading() as session:
        return session.execute(sa.select(sa.func.count()).select_from(agents)).scalar_one()


def money_by_state(db):
    """{(state, currency): total} of every agent's balance, for the agent-money gauge."""
    states = ("pending", "available", "requested", "withdrawn")
    with db.reading() as session:
        rows = session.execute(
            sa.select(
                agent_balances.c.currency,
                *(sa.func.sum(agent_balances.c[state]).label(state) for state in states),
            ).group_by(agent_balances.c.currency)
        ).all()
    return {(state, row.currency): int(getattr(row, state) or 0) for row in rows for state in states}


def earnings_by_kind(db):
    """{(kind, currency): total} of every agent's earnings less what refunds took back, for its gauge."""
    with db.reading() as session:
        rows = session.execute(
            sa.select(
                agent_entries.c.kind,
                agent_entries.c.currency,
                sa.func.sum(agent_entries.c.amount - agent_entries.c.reversed),
            )
            .where(agent_entries.c.kind.in_(domain.EARNINGS))
            .group_by(agent_entries.c.kind, agent_entries.c.currency)
        ).all()
    earned = {(kind, domain.LEVEL_CURRENCY): 0 for kind in domain.EARNINGS}
    earned.update({(kind, currency): int(total or 0) for kind, currency, total in rows})
    return earned


# --- the audit ---------------------------------------------------------------------------


def audit_facts(session):
    """What ``kameng audit`` checks of agents' money, read in one snapshot.

    ``ledger_moves``: {reference: {agent_id, amount, at}}, every movement payments
    must have posted to the agent's ledger account (earnings and reversals by
    entry id, paid withdrawals by withdrawal id); ``commissions_twice``: agent and
    order pairs earned on more than once; ``balance_mismatches``: agents whose
    balance differs from the sum of their entries; ``withdrawals_over_available``;
    ``markups``: {order id: [{agent_id, amount}]}, what agents were credited on
    orders placed through their shops, to check against those orders.
    """
    moves = {
        row.id: {"agent_id": row.agent_id, "amount": row.amount, "at": utc_isoformat(row.created_at)}
        for row in session.execute(
            sa.select(
                agent_entries.c.id,
                agent_entries.c.agent_id,
                agent_entries.c.amount,
                agent_entries.c.created_at,
            ).where(agent_entries.c.kind.in_((*domain.EARNINGS, domain.REVERSAL)))
        )
    }
    for row in session.execute(
        sa.select(
            withdrawals.c.id, withdrawals.c.agent_id, withdrawals.c.amount, withdrawals.c.decided_at
        ).where(withdrawals.c.status == domain.PAID)
    ):
        moves[row.id] = {"agent_id": row.agent_id, "amount": -row.amount, "at": utc_isoformat(row.decided_at)}
    twice = session.execute(
        sa.select(agent_entries.c.agent_id, agent_entries.c.order_id, agent_entries.c.kind, sa.func.count())
        .where(agent_entries.c.kind.in_(domain.EARNINGS))
        .group_by(agent_entries.c.agent_id, agent_entries.c.order_id, agent_entries.c.kind)
        .having(sa.func.count() > 1)
    ).all()
    markups: dict[str, list[dict[str, Any]]] = {}
    for row in session.execute(
        sa.select(agent_entries.c.order_id, agent_entries.c.agent_id, agent_entries.c.amount)
        .where(agent_entries.c.kind == domain.MARKUP)
        .order_by(agent_entries.c.order_id, agent_entries.c.agent_id)
    ):
        markups.setdefault(row.order_id, []).append({"agent_id": row.agent_id, "amount": row.amount})
    return {
        "ledger_moves": moves,
        "markups": markups,
        "commissions_twice": [
            {"agent_id": agent_id, "order_id": order_id, "kind": kind, "count": count}
            for agent_id, order_id, kind, count in twice
        ],
        "balance_mismatches": _balance_mismatches(session),
        "withdrawals_over_available": [
            {
                "withdrawal_id": row.id,
                "agent_id": row.agent_id,
                "amount": row.amount,
                "available": row.available_before,
            }
            for row in session.execute(
                sa.select(withdrawals).where(withdrawals.c.amount > withdrawals.c.available_before)
            )
        ],
    }


def _balance_mismatches(session):
    sums: dict[tuple[str, str], dict[str, int]] = {}
    for agent_id, currency, matured, total in session.execute(
        sa.select(
            agent_entries.c.agent_id,
            agent_entries.c.currency,
            agent_entries.c.matured,
            sa.func.sum(agent_entries.c.amount),
        ).group_by(agent_entries.c.agent_id, agent_entries.c.currency, agent_entries.c.matured)
    ):
        sums.setdefault((agent_id, currency), {"pending": 0, "available": 0})[
            "available" if matured else "pending"
        ] += int(total)
    for agent_id, currency, status, total in session.execute(
        sa.select(
            withdrawals.c.agent_id,
            withdrawals.c.currency,
            withdrawals.c.status,
            sa.func.sum(withdrawals.c.amount),
        )
        .where(withdrawals.c.status.in_((domain.REQUESTED, domain.PAID)))
        .group_by(withdrawals.c.agent_id, withdrawals.c.currency, withdrawals.c.status)
    ):
        key = "requested" if status == domain.REQUESTED else "withdrawn"
        sums.setdefault((agent_id, currency), {"pending": 0, "available": 0})[key] = int(total)
    mismatches = []
    for balance in session.execute(sa.select(agent_balances)):
        expected = {
            "pending": 0,
            "available": 0,
            "requested": 0,
            "withdrawn": 0,
            **sums.pop((balance.agent_id, balance.currency), {}),
        }
        held = {column: getattr(balance, column) for column in expected}
        if held != expected:
            mismatches.append(
                {
                    "agent_id": balance.agent_id,
                    "currency": balance.currency,
                    "held": held,
                    "entries": expected,
                }
            )
    mismatches += [
        {"agent_id": agent_id, "currency": currency, "held": None, "entries": expected}
        for (agent_id, currency), expected in sums.items()
    ]
    return mismatches
