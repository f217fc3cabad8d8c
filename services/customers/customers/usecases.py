"""What the customers service does, one function per command, query or event.

Each takes the Database (an event handler, the unit of work its event is
handled in) and, where passwords are involved, a ``Passwords``.
Hashing happens outside any transaction: it is slow, and a unit of work must
not wait on it.
"""

import datetime
import logging
import uuid
from typing import Any, Protocol

import sqlalchemy as sa

from customers import agents, coupons, credentials, domain, levels, segments
from customers.db import accounts, counted_orders, customer_stats
from customers.passwords import Passwords
from kameng_common.db import Database, UnitOfWork, as_utc, utcnow
from kameng_common.errors import Conflict, Forbidden, NotFound, Unauthorized

_log = logging.getLogger(__name__)

# the same answer for an unknown username and a wrong password
INVALID_CREDENTIALS = "invalid username or password"


class Identity(Protocol):
    """An account as sign-in reads it (``_find_identity``)."""

    @property
    def id(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def password_hash(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def role(self) -> str | None: ...
    @property
    def created_at(self) -> datetime.datetime: ...
    @property
    def token_version(self) -> int: ...
    @property
    def disabled_at(self) -> datetime.datetime | None: ...
    @property
    def level(self) -> str | None: ...


def _username_taken() -> Conflict:
    return Conflict("username is already taken", code="username_taken")


def _find_identity(session: sa.Connection, key: str) -> Identity | None:
    return session.execute(
        sa.select(
            accounts.c.id,
            accounts.c.username,
            accounts.c.password_hash,
            accounts.c.kind,
            accounts.c.role,
            accounts.c.created_at,
            accounts.c.token_version,
            accounts.c.disabled_at,
            customer_stats.c.level,
        )
        .select_from(accounts.outerjoin(customer_stats, customer_stats.c.customer_id == accounts.c.id))
        .where(accounts.c.username_key == key)
    ).first()


def _create_account(
    db: Database,
    passwords: Passwords,
    username: str,
    password: str,
    kind: str,
    role: str | None = None,
    invite_code: str | None = None,
    region: str | None = None,
) -> str:
    """Insert an account (and a customer's stats); Conflict when the name is taken, even by a racing call.

    A customer who brings an agent's ``invite_code`` joins that agent's downline; ``region`` is
    where the proxy placed them as they registered.
    """
    key = domain.username_key(username)
    with db.reading() as session:
        if session.execute(sa.select(accounts.c.id).where(accounts.c.username_key == key)).first():
            raise _username_taken()
        if invite_code is not None:
            agents.agent_for_invite_code(session, invite_code)  # refused before the slow hashing
    password_hash = passwords.hash(password)
    account_id = str(uuid.uuid4())
    now = utcnow()
    try:
        with db.unit_of_work() as uow:
            uow.execute(
                accounts.insert().values(
                    id=account_id,
                    username=username,
                    username_key=key,
                    password_hash=password_hash,
                    kind=kind,
                    role=role,
                    created_at=now,
                    updated_at=now,
                    region=region,
                )
            )
            if kind == domain.CUSTOMER:
                inviter = None if invite_code is None else agents.agent_for_invite_code(uow, invite_code)
                uow.execute(
                    customer_stats.insert().values(
                        customer_id=account_id,
                        level=domain.FIRST_LEVEL,
                        orders_count=0,
                        total_spent=0,
                        updated_at=now,
                        agent_line=None if inviter is None else inviter.path,
                        invited_by=None if inviter is None else inviter.id,
                    )
                )
    except sa.exc.IntegrityError:
        # the unique username_key: another registration of this name committed first
        raise _username_taken() from None
    return account_id


def register(
    db: Database,
    passwords: Passwords,
    username: str,
    password: str,
    invite_code: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    domain.check_password_strength(password, username)
    account_id = _create_account(
        db, passwords, username, password, domain.CUSTOMER, invite_code=invite_code, region=region
    )
    _log.info("customer registered", extra={"customer_id": account_id, "region": region})
    return {"id": account_id, "username": username, "kind": domain.CUSTOMER, "level": domain.FIRST_LEVEL}


def create_staff(
    db: Database, passwords: Passwords, username: str, password: str, role: str
) -> dict[str, Any]:
    domain.check_password_strength(password, username)
    account_id = _create_account(db, passwords, username, password, domain.STAFF, role)
    _log.info("staff account created", extra={"account_id": account_id, "role": role})
    return {"id": account_id, "username": username, "kind": domain.STAFF, "role": role}


def _admin_exists(db: Database) -> bool:
    with db.reading() as session:
        return (
            session.execute(
                sa.select(accounts.c.id)
                .where(accounts.c.kind == domain.STAFF, accounts.c.role == domain.ADMIN)
                .limit(1)
            ).first()
            is not None
        )


def ensure_admin(db: Database, passwords: Passwords, username: str, password: str) -> dict[str, bool]:
    """Create the first admin; once any admin exists, change nothing."""
    if _admin_exists(db):
        return {"created": False}
    try:
        # the operator's own choice from the environment (generated where unset): not re-judged here
        _create_account(db, passwords, username, password, domain.STAFF, domain.ADMIN)
    except Conflict:
        # a concurrent ensure_admin (another replica starting) created this same admin first
        with db.reading() as session:
            identity = _find_identity(session, domain.username_key(username))
        if identity is not None and identity.kind == domain.STAFF and identity.role == domain.ADMIN:
            return {"created": False}
        raise
    return {"created": True}


def authenticate(
    db: Database, passwords: Passwords, username: str, password: str, client_ip: str | None = None
) -> dict[str, Any]:
    """The account these credentials open, Forbidden ``account_disabled`` for a disabled one;
    a customer's sign-in from ``client_ip`` is published (``customer.signed_in``, with the
    address's network) for risk."""
    identity = None
    if domain.USERNAME_PATTERN.match(username):
        with db.reading() as session:
            identity = _find_identity(session, domain.username_key(username))
    if identity is None:
        passwords.spend_verification_time(password)
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if not passwords.verify(identity.password_hash, password):
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if identity.disabled_at is not None:
        # told only to whoever knows the password
        raise Forbidden("this account is disabled", code="account_disabled")
    if passwords.needs_rehash(identity.password_hash):
        _rehash(db, identity, passwords.hash(password))
    network = domain.client_network(client_ip) if client_ip else None
    if identity.kind == domain.CUSTOMER and network is not None:
        _signed_in(db, identity, network)
    return {
        "id": identity.id,
        "username": identity.username,
        "kind": identity.kind,
        "role": identity.role,
        "level": identity.level,
        # what the token is issued under: a later password change, role change or disable raises it
        "token_version": identity.token_version,
    }


def _signed_in(db: Database, identity: Identity, network: str) -> None:
    with db.unit_of_work() as uow:
        uow.publish(
            "customer.signed_in",
            {
                "customer_id": identity.id,
                "network": network,
                "signed_in_at": utcnow().isoformat(),
                "registered_at": as_utc(identity.created_at).isoformat(),
            },
            correlation_id=identity.id,
        )


def _rehash(db: Database, identity: Identity, new_hash: str) -> None:
    with db.unit_of_work() as uow:
        # only over the hash just verified: a password changed meanwhile stays changed
        uow.execute(
            accounts.update()
            .where(accounts.c.id == identity.id, accounts.c.password_hash == identity.password_hash)
            .values(password_hash=new_hash, updated_at=utcnow())
        )
    _log.info("password rehashed under the current parameters", extra={"account_id": identity.id})


def get_customer(db: Database, customer_id: str) -> dict[str, Any]:
    with db.reading() as session:
        row = session.execute(
            sa.select(
                accounts.c.id,
                accounts.c.username,
                customer_stats.c.level,
                customer_stats.c.orders_count,
                customer_stats.c.total_spent,
            )
            .select_from(accounts.join(customer_stats, customer_stats.c.customer_id == accounts.c.id))
            .where(accounts.c.id == customer_id, accounts.c.kind == domain.CUSTOMER)
        ).first()
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    return {
        "id": row.id,
        "username": row.username,
        "level": row.level,
        "orders_count": row.orders_count,
        "total_spent": row.total_spent,
    }


# --- delivered orders ----------------------------------------------------------


def on_order_delivered(uow: UnitOfWork, event: dict[str, Any], hold_seconds: float) -> None:
    """Count a delivered order once: toward its buyer's stats and level, for the agents up their line,
    and, for an order placed through an agent's shop, for that agent its markup.

    Agents' commissions and markups are ``hold_seconds`` pending before they are available.
    """
    order = event["payload"]
    spend = domain.counted_spend(order["total"], order["currency"])
    now = utcnow()
    counted = uow.execute(
        uow.insert(counted_orders)
        .values(
            order_id=order["order_id"],
            customer_id=order["customer_id"],
            total=order["total"],
            currency=order["currency"],
            counted_at=now,
        )
        .on_conflict_do_nothing()
    ).rowcount
    if not counted:
        return  # the same order under another event id
    levels.count_toward_level(uow, order["customer_id"], spend, now)
    agents.credit_delivered(uow, order, order.get("shop"), hold_seconds, now)


def on_payment_refunded(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """Count what a refund of a delivered order gave back, and take back the agents' share of it."""
    refund = event["payload"]
    order = uow.execute(
        sa.select(counted_orders).where(counted_orders.c.order_id == refund["order_id"]).with_for_update()
    ).first()
    if order is None or refund["currency"] != order.currency:
        return  # never delivered: not in the customer's spend, nobody earned on it
    refunded = order.refunded + refund["amount"]
    uow.execute(
        counted_orders.update().where(counted_orders.c.order_id == order.order_id).values(refunded=refunded)
    )
    uow.execute(
        customer_stats.update()
        .where(customer_stats.c.customer_id == order.customer_id)
        .values(
            refunded_spend=customer_stats.c.refunded_spend
            + domain.counted_spend(refund["amount"], refund["currency"])
        )
    )
    agents.take_back(uow, order, refunded, refund["refund_id"], utcnow())


def customers_by_level(db: Database) -> dict[str, int]:
    with db.reading() as session:
        counts: dict[str, int] = dict(
            session.execute(
                sa.select(customer_stats.c.level, sa.func.count()).group_by(customer_stats.c.level)
            ).all()
        )
        names = [name for name, _threshold in levels.configured(session)]
    return {level: counts.get(level, 0) for level in [*names, *sorted(set(counts) - set(names))]}


def audit_snapshot(db: Database) -> dict[str, Any]:
    """What ``kameng audit`` needs of customers: agents' money (see ``agents.audit_facts``), customers
    whose stats differ from the orders counted for them, how many admins may sign in, coupons and their
    uses (``coupons.audit_facts``), and its outbox."""
    with db.reading_snapshot() as session:
        agent_facts = agents.audit_facts(session)
        stats_mismatches = segments.stats_mismatches(session)
        enabled_admins = credentials.enabled_admins(session)
        coupon_facts = coupons.audit_facts(session)
    return {
        "service": "customers",
        "agents": agent_facts,
        "stats_mismatches": stats_mismatches,
        "accounts": {"enabled_admins": enabled_admins},
        "coupons": coupon_facts,
        "outbox": db.outbox_status(),
    }
