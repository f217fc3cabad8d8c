"""What an account's holder and the admins change about it: its password, its role, whether it may sign in.

Every change that must end the account's sessions raises ``token_version``
in the same statement; the caller (the gateway) refuses tokens issued under a
lower version from then on.
"""

import logging

import sqlalchemy as sa

from customers import domain
from customers.db import accounts, agents, customer_stats
from kameng_common.db import as_utc, utcnow
from kameng_common.errors import Conflict, Forbidden, NotFound

_log = logging.getLogger(__name__)


def profile(db, account_id):
    """``{id, username, kind, role, level, agent}`` of a signed-in account (``agent``: the
    customer's agent id and invite code, or None)."""
    with db.reading() as session:
        row = session.execute(
            sa.select(
                accounts.c.id,
                accounts.c.username,
                accounts.c.kind,
                accounts.c.role,
                customer_stats.c.level,
                agents.c.id.label("agent_id"),
                agents.c.invite_code,
            )
            .select_from(
                accounts.outerjoin(customer_stats, customer_stats.c.customer_id == accounts.c.id).outerjoin(
                    agents, agents.c.customer_id == accounts.c.id
                )
            )
            .where(accounts.c.id == account_id, accounts.c.disabled_at.is_(None))
        ).first()
    if row is None:
        raise NotFound(f"no account {account_id}")
    return {
        "id": row.id,
        "username": row.username,
        "kind": row.kind,
        "role": row.role,
        "level": row.level,
        "agent": None if row.agent_id is None else {"agent_id": row.agent_id, "invite_code": row.invite_code},
    }


def change_password(db, passwords, account_id, current_password, new_password):
    """Replace the password of an account that proves it knows the current one, and end its
    other sessions: ``{id, username, kind, role, level, token_version}`` to issue the new token under.
    A customer's change is published (``customer.password_changed``) for risk.

    Forbidden ``wrong_password``; InvalidInput ``weak_password``; Conflict
    ``password_changed_meanwhile`` when another change committed first.
    """
    with db.reading() as session:
        account = session.execute(
            sa.select(accounts.c.id, accounts.c.username, accounts.c.kind, accounts.c.password_hash).where(
                accounts.c.id == account_id, accounts.c.disabled_at.is_(None)
            )
        ).first()
    if account is None:
        raise NotFound(f"no account {account_id}")
    if not passwords.verify(account.password_hash, current_password):
        raise Forbidden("the current password is not right", code="wrong_password")
    domain.check_password_strength(new_password, account.username)
    new_hash = passwords.hash(new_password)
    with db.unit_of_work() as uow:
        # only over the hash just verified: of two changes racing, the second is refused
        changed = uow.execute(
            accounts.update()
            .where(accounts.c.id == account_id, accounts.c.password_hash == account.password_hash)
            .values(password_hash=new_hash, token_version=accounts.c.token_version + 1, updated_at=utcnow())
        ).rowcount
        if not changed:
            raise Conflict("the password was changed meanwhile", code="password_changed_meanwhile")
        if account.kind == domain.CUSTOMER:
            # risk holds the orders of an account whose password changed right after a sign-in
            # from a network it never used: a takeover's pattern
            uow.publish(
                "customer.password_changed",
                {"customer_id": account_id, "changed_at": utcnow().isoformat()},
                correlation_id=account_id,
            )
    _log.info("password changed", extra={"account_id": account_id})
    return _token_subject(db, account_id)


def _token_subject(db, account_id):
    with db.reading() as session:
        row = session.execute(
            sa.select(
                accounts.c.id,
                accounts.c.username,
                accounts.c.kind,
                accounts.c.role,
                accounts.c.token_version,
                customer_stats.c.level,
            )
            .select_from(accounts.outerjoin(customer_stats, customer_stats.c.customer_id == accounts.c.id))
            .where(accounts.c.id == account_id)
        ).one()
    return dict(row._mapping)


def list_staff(db, limit=50, cursor=None):
    """Staff accounts by username, disabled ones too: ``{items, next_cursor}`` (the cursor is a username)."""
    statement = (
        sa.select(
            accounts.c.id,
            accounts.c.username,
            accounts.c.username_key,
            accounts.c.role,
            accounts.c.disabled_at,
            accounts.c.created_at,
        )
        .where(accounts.c.kind == domain.STAFF)
        .order_by(accounts.c.username_key)
        .limit(limit + 1)
    )
    if cursor is not None:
        statement = statement.where(accounts.c.username_key > domain.username_key(cursor))
    with db.reading() as session:
        rows = session.execute(statement).all()
    page = rows[:limit]
    return {
        "items": [_staff_answer(row) for row in page],
        "next_cursor": page[-1].username_key if len(rows) > limit else None,
    }


def set_role(db, account_id, role, actor_id):
    """Give a staff member another role; their tokens, which carry the old one, stop working.

    The last enabled admin keeps the role (Conflict ``last_admin``), and no one changes their own.
    """
    if account_id == actor_id:
        raise Conflict("no one may change their own role", code="own_account")
    now = utcnow()
    with db.unit_of_work() as uow:
        account = _locked_account(uow, account_id)
        if account.kind != domain.STAFF:
            raise NotFound(f"no staff account {account_id}")
        if account.role != role:
            if account.role == domain.ADMIN:
                _keep_an_admin(uow, account)
            uow.execute(
                accounts.update()
                .where(accounts.c.id == account_id)
                .values(role=role, token_version=accounts.c.token_version + 1, updated_at=now)
            )
    _log.info("staff role changed", extra={"account_id": account_id, "role": role})
    return account_state(db, account_id)


def set_disabled(db, account_id, disabled, actor_id):
    """Disable an account (its tokens stop working, it cannot sign in) or enable it again.

    Idempotent: disabling a disabled account changes nothing but answers the same.
    The last enabled admin stays enabled (Conflict ``last_admin``), and no one disables themselves.
    """
    if account_id == actor_id:
        raise Conflict("no one may disable their own account", code="own_account")
    now = utcnow()
    with db.unit_of_work() as uow:
        account = _locked_account(uow, account_id)
        if (account.disabled_at is not None) != disabled:
            if disabled:
                _keep_an_admin(uow, account)
            uow.execute(
                accounts.update()
                .where(accounts.c.id == account_id)
                .values(
                    disabled_at=now if disabled else None,
                    # enabling again revives no old token: only a new sign-in does
                    token_version=accounts.c.token_version + (1 if disabled else 0),
                    updated_at=now,
                )
            )
    _log.info("account disabled" if disabled else "account enabled", extra={"account_id": account_id})
    return account_state(db, account_id)


def _locked_account(uow, account_id):
    """The account's row, locked, after every enabled admin's row (see ``_keep_an_admin``)."""
    _lock_enabled_admins(uow)
    account = uow.execute(
        sa.select(accounts.c.id, accounts.c.kind, accounts.c.role, accounts.c.disabled_at)
        .where(accounts.c.id == account_id)
        .with_for_update()
    ).first()
    if account is None:
        raise NotFound(f"no account {account_id}")
    return account


def _lock_enabled_admins(uow):
    """Lock every enabled admin's row, always first and in one order, so that two admins
    taking the role or the account from each other at once queue up rather than both
    seeing the other still there (SQLite's writers queue anyway)."""
    uow.execute(
        sa.select(accounts.c.id)
        .where(
            accounts.c.kind == domain.STAFF,
            accounts.c.role == domain.ADMIN,
            accounts.c.disabled_at.is_(None),
        )
        .order_by(accounts.c.id)
        .with_for_update()
    ).all()


def _keep_an_admin(uow, account):
    """Conflict when ``account`` is the last enabled admin (the admins' rows are locked already)."""
    if account.kind != domain.STAFF or account.role != domain.ADMIN or account.disabled_at is not None:
        return
    others = uow.execute(
        sa.select(sa.func.count()).where(
            accounts.c.kind == domain.STAFF,
            accounts.c.role == domain.ADMIN,
            accounts.c.disabled_at.is_(None),
            accounts.c.id != account.id,
        )
    ).scalar_one()
    if not others:
        raise Conflict("the last enabled admin keeps the role and the account", code="last_admin")


def account_state(db, account_id):
    """``{id, username, kind, role, disabled, token_version}``."""
    with db.reading() as session:
        row = session.execute(
            sa.select(
                accounts.c.id,
                accounts.c.username,
                accounts.c.kind,
                accounts.c.role,
                accounts.c.disabled_at,
                accounts.c.token_version,
            ).where(accounts.c.id == account_id)
        ).one()
    return {
        "id": row.id,
        "username": row.username,
        "kind": row.kind,
        "role": row.role,
        "disabled": row.disabled_at is not None,
        "token_version": row.token_version,
    }


def _staff_answer(row):
    return {
        "id": row.id,
        "username": row.username,
        "role": row.role,
        "disabled": row.disabled_at is not None,
        "created_at": as_utc(row.created_at).isoformat(),
    }


def enabled_admins(session):
    """How many admins may sign in: ``kameng audit`` wants at least one."""
    return session.execute(
        sa.select(sa.func.count()).where(
            accounts.c.kind == domain.STAFF,
            accounts.c.role == domain.ADMIN,
            accounts.c.disabled_at.is_(None),
        )
    ).scalar_one()
