"""The tamper-evident audit log: append, read, verify. Risk owns it as the trust service.

Entries arrive by ``audit.recorded.<service>`` events (kameng_common.auditlog,
written in the unit of work of the change they describe) and by the
``record_audit`` RPC (the gateway's own actions). Appends are idempotent on
``entry_id`` and serialised by locking the chain's head row.
"""

import base64
import binascii
import json

import sqlalchemy as sa

from kameng_common.auditlog import SYSTEM_ACTOR
from kameng_common.db import utc_isoformat, utcnow
from kameng_common.errors import InvalidInput
from risk import auditchain
from risk.db import audit_head, audit_log

HEAD_ID = 1
VERIFY_BATCH = 1000


def append(db, entry_id, at, actor, action, target, detail):
    """Append one entry (once per entry_id); returns it as the API shows it."""
    with db.unit_of_work() as uow:
        entry = append_in(uow, entry_id, at, actor, action, target, detail)
    return entry


def append_in(uow, entry_id, at, actor, action, target, detail):
    uow.execute(
        uow.insert(audit_head).values(id=HEAD_ID, seq=0, hash=auditchain.GENESIS).on_conflict_do_nothing()
    )
    head = uow.execute(
        sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ID).with_for_update()
    ).one()
    existing = uow.execute(sa.select(audit_log).where(audit_log.c.entry_id == entry_id)).first()
    if existing is not None:
        return _shown(_entry(existing))
    detail_text = auditchain.canonical_detail(detail)
    entry = auditchain.chained(head.seq, head.hash, at, actor, action, target, json.loads(detail_text))
    uow.execute(
        audit_log.insert().values(
            seq=entry.seq,
            entry_id=entry_id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            detail=detail_text,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
            recorded_at=utcnow(),
        )
    )
    uow.execute(audit_head.update().where(audit_head.c.id == HEAD_ID).values(seq=entry.seq, hash=entry.hash))
    return _shown(entry)


def on_audit_recorded(uow, event):
    """An ``audit.recorded.<service>`` event: its entry joins the chain once, whatever the redeliveries."""
    entry = event["payload"]
    append_in(
        uow,
        entry["entry_id"],
        entry["at"],
        entry["actor"],
        entry["action"],
        entry["target"],
        entry["detail"],
    )


def on_stock_low(uow, event):
    """A ``stock.low`` alert joins the chain as a ``stock.low`` entry by the system, once per event."""
    alert = event["payload"]
    append_in(
        uow,
        event["id"],
        utc_isoformat(event["occurred_at"]),
        SYSTEM_ACTOR,
        "stock.low",
        f"product:{alert['product_id']}",
        {"available": alert["available"], "threshold": alert["threshold"]},
    )


def list_entries(db, limit=50, cursor=None, action=None, actor=None):
    """Newest first, ``{items, next_cursor}``; the cursor is opaque."""
    before = _seq_from_cursor(cursor)
    query = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(audit_log.c.seq < before)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    with db.reading() as session:
        rows = session.execute(query).all()
    items = [_shown(_entry(row)) for row in rows[:limit]]
    next_cursor = _cursor(items[-1]["seq"]) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


def verify(db):
    """Recompute the whole chain: ``{ok, checked, first_broken, head}``."""
    verifier = auditchain.Verifier()
    after = 0
    with db.reading_snapshot() as session:
        head = session.execute(
            sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ID)
        ).first()
        while True:
            rows = session.execute(
                sa.select(audit_log)
                .where(audit_log.c.seq > after)
                .order_by(audit_log.c.seq)
                .limit(VERIFY_BATCH)
            ).all()
            for row in rows:
                verifier.feed(_entry(row))
            if len(rows) < VERIFY_BATCH:
                break
            after = rows[-1].seq
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, auditchain.GENESIS)
    result = verifier.finish(head_seq, head_hash)
    return {**result, "head": {"seq": head_seq, "hash": head_hash}}


def _entry(row):
    try:
        detail = json.loads(row.detail)
    except ValueError:
        detail = {"unreadable": row.detail}  # tampered: its hash will not match
    return auditchain.Entry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        detail=detail,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _shown(entry):
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _cursor(seq):
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode()


def _seq_from_cursor(cursor):
    if cursor is None:
        return None
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        seq = int(value)
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidInput("invalid cursor", code="invalid_cursor") from None
    if kind != "seq" or not 0 < seq < 2**63:
        raise InvalidInput("invalid cursor", code="invalid_cursor")
    return seq
