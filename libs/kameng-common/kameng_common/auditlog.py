"""The one way a service writes to the tamper-evident audit log.

Call ``record(uow, "inventory", actor, action, target, detail)`` inside the
unit of work that makes the change: the entry goes out through that service's
outbox as an ``audit.recorded.<service>`` event, in the same transaction as
the change it describes, and the risk service appends it to its hash chain.
A change is never committed without its audit entry, nor the other way round.

``actor`` is who acted (an account id, or ``system``); ``action`` a dotted
name (``cards.revealed``, ``account.disabled``); ``target`` what it acted on;
``detail`` a small JSON object, never a secret. The gateway's own actions go
through ``kameng_gateway.audit.record`` instead, which calls risk directly.
"""

import uuid

from kameng_common.db import UnitOfWork, utc_isoformat, utcnow

# the services that publish audit entries; each has its own event type, since an
# event type has one source (see contracts.CONTRACTS)
AUDITING_SERVICES = ("inventory", "orders", "payments", "customers")
SYSTEM_ACTOR = "system"


def event_type(service: str) -> str:
    return f"audit.recorded.{service}"


def record(
    uow: UnitOfWork, service: str, actor: object, action: str, target: object, detail: dict | None = None
) -> str:
    """Add an audit entry to ``uow``; returns its entry id (the chain's idempotency key)."""
    entry_id = str(uuid.uuid4())
    uow.publish(
        event_type(service),
        {
            "entry_id": entry_id,
            "at": utc_isoformat(utcnow()),
            "actor": str(actor),
            "action": action,
            "target": str(target),
            "detail": detail or {},
        },
        correlation_id=str(target),
    )
    return entry_id
