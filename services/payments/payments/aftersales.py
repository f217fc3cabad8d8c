"""After-sales tickets: a buyer asks for a refund with a reason; staff comment, approve or reject.

Each step is one unit of work: the ticket, the audit-log entry and the event
that puts it in the order's history (and, for a new ticket, in risk's
refund-abuse count). An approval opens the staff refund in the same unit of
work, so an approved ticket has exactly one refund, never more than was paid.
"""

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from kameng_common import auditlog
from kameng_common.db import Database, UnitOfWork, utc_isoformat, utcnow
from kameng_common.errors import Conflict, KamengError, NotFound
from kameng_common.validation import load_or_invalid, schema_instance
from payments import domain, metrics, schemas, usecases
from payments.db import order_refunds, payment_intents, refund_request_comments, refund_requests
from payments.providers import Providers

Ticket = dict[str, Any]


def open_refund_request(db: Database, order_id: str, customer_id: str, reason: str) -> tuple[Ticket, bool]:
    """A buyer's ticket on their own paid order: ``(ticket, created)``.

    One open ticket per order: the same reason again is the same ticket (a
    retried request), another reason while one is open is 409
    ``refund_request_open``. An order of someone else's is 404, an unpaid one
    422 ``not_paid``, one refunded in full 422 ``nothing_to_refund``.
    """
    try:
        request = load_or_invalid(
            schemas.OpenRefundRequest, {"order_id": order_id, "customer_id": customer_id, "reason": reason}
        )
        try:
            ticket, created = _open(db, request)
        except IntegrityError as error:
            # a concurrent request for the same order committed its ticket first
            committed = db.committed_first(error, lambda session: _open_ticket(session, request["order_id"]))
            _same_ticket(committed, request)
            ticket, created = committed, False
    except KamengError as exc:
        metrics.count_refund_request(f"refused_{exc.code}")
        raise
    metrics.count_refund_request("opened" if created else "duplicate")
    return get_refund_request(db, ticket["id"]), created


def _open(db: Database, request: dict[str, Any]) -> tuple[Ticket, bool]:
    now = utcnow()
    with db.unit_of_work() as uow:
        received = usecases.lock_received(uow, request["order_id"])
        owners = set(
            uow.execute(
                sa.select(payment_intents.c.customer_id).where(
                    payment_intents.c.order_id == request["order_id"],
                    payment_intents.c.purpose == domain.ORDER,
                )
            ).scalars()
        )
        if request["customer_id"] not in owners:
            # another customer's order is as unknown as one that does not exist
            raise NotFound(f"order {request['order_id']} not found")
        existing = _open_ticket(uow, request["order_id"])
        if existing is not None:
            _same_ticket(existing, request)
            return existing, False
        domain.refund_left(request["order_id"], received)
        ticket = {
            "id": str(uuid.uuid4()),
            "order_id": request["order_id"],
            "customer_id": request["customer_id"],
            "reason": request["reason"],
            "status": domain.REQUEST_OPEN,
            "created_at": now,
            "updated_at": now,
        }
        uow.execute(refund_requests.insert().values(**ticket))
        auditlog.record(
            uow,
            "payments",
            request["customer_id"],
            "refund_request.opened",
            f"order:{request['order_id']}",
            {"request_id": ticket["id"]},
        )
        uow.publish(
            "refund_request.opened",
            {
                "request_id": ticket["id"],
                "order_id": request["order_id"],
                "customer_id": request["customer_id"],
                "reason": request["reason"],
            },
            correlation_id=request["order_id"],
        )
    return ticket, True


def _open_ticket(connection: UnitOfWork | sa.Connection, order_id: str) -> Ticket | None:
    row = connection.execute(
        sa.select(refund_requests).where(
            refund_requests.c.order_id == order_id, refund_requests.c.status == domain.REQUEST_OPEN
        )
    ).first()
    return None if row is None else dict(row._mapping)


def _same_ticket(ticket: Ticket, request: dict[str, Any]) -> None:
    if ticket["customer_id"] != request["customer_id"] or ticket["reason"] != request["reason"]:
        raise Conflict(
            f"order {request['order_id']} has an open refund request already", "refund_request_open"
        )


def decide_refund_request(
    db: Database,
    providers: Providers,
    request_id: str,
    decision: str,
    reason: str,
    actor: str,
    amount: int | None = None,
    to: str = domain.TO_ORIGINAL,
) -> Ticket:
    """Approve (opening the staff refund of ``amount``, None: all that is left, ``to`` the original
    channel or the wallet) or reject an open ticket.

    Decided once: the same decision again answers the ticket as it is; another
    is 409 ``already_decided``. An approval the refund rules refuse (more than
    is left, a channel that cannot refund) is 422 and leaves the ticket open.
    """
    try:
        request = load_or_invalid(
            schemas.DecideRefundRequest,
            {
                "request_id": request_id,
                "decision": decision,
                "reason": reason,
                "actor": actor,
                "amount": amount,
                "to": to,
            },
        )
        refund = _decide(db, providers, request)
    except KamengError as exc:
        metrics.count_refund_request(f"refused_{exc.code}")
        raise
    if refund is not None and refund["status"] == domain.REFUND_PENDING:
        usecases.attempt_provider_refund(db, providers, refund["id"])
    return get_refund_request(db, request["request_id"])


def _decide(db: Database, providers: Providers, request: dict[str, Any]) -> dict[str, Any] | None:
    """The decision in one unit of work; answers the refund an approval opened (None otherwise)."""
    now = utcnow()
    with db.unit_of_work() as uow:
        order_id = uow.execute(
            sa.select(refund_requests.c.order_id).where(refund_requests.c.id == request["request_id"])
        ).scalar()
        if order_id is None:
            raise NotFound(f"there is no refund request {request['request_id']}")
        # the order's refund locks first, as every refund takes them, then the ticket
        usecases.lock_received(uow, order_id)
        ticket = uow.execute(
            sa.select(refund_requests).where(refund_requests.c.id == request["request_id"]).with_for_update()
        ).one()
        if not domain.decision_applies(ticket.id, ticket.status, request["decision"]):
            metrics.count_refund_request("duplicate")
            return None
        refund = None
        if request["decision"] == domain.APPROVE:
            refund, _created = usecases.open_refund_in(
                uow,
                providers,
                {
                    "order_id": order_id,
                    "amount": request["amount"],
                    "to": request["to"],
                    "reason": f"refund request {ticket.id}: {request['reason']}",
                    "idempotency_key": domain.request_refund_key(ticket.id),
                    "actor": request["actor"],
                },
            )
        status = domain.REQUEST_DECISIONS[request["decision"]]
        uow.execute(
            refund_requests.update()
            .where(refund_requests.c.id == ticket.id)
            .values(
                status=status,
                decided_by=request["actor"],
                decision_reason=request["reason"],
                decided_at=now,
                refund_id=refund["id"] if refund else None,
                updated_at=now,
            )
        )
        auditlog.record(
            uow,
            "payments",
            request["actor"],
            f"refund_request.{status}",
            f"order:{order_id}",
            {"request_id": ticket.id, "refund_id": refund["id"] if refund else None},
        )
        uow.publish(
            "refund_request.decided",
            {
                "request_id": ticket.id,
                "order_id": order_id,
                "customer_id": ticket.customer_id,
                "decision": request["decision"],
                "reason": request["reason"],
                "decided_by": request["actor"],
                "refund_id": refund["id"] if refund else None,
            },
            correlation_id=order_id,
        )
    metrics.count_refund_request(status)
    return refund


def comment_refund_request(db: Database, request_id: str, author: str, text: str) -> Ticket:
    """A staff note on a ticket (support's findings, finance's question); in the audit log, not the
    buyer's history."""
    request = load_or_invalid(
        schemas.CommentRefundRequest, {"request_id": request_id, "author": author, "text": text}
    )
    with db.unit_of_work() as uow:
        order_id = uow.execute(
            sa.select(refund_requests.c.order_id).where(refund_requests.c.id == request["request_id"])
        ).scalar()
        if order_id is None:
            raise NotFound(f"there is no refund request {request['request_id']}")
        uow.execute(
            refund_request_comments.insert().values(
                request_id=request["request_id"],
                author=request["author"],
                text=request["text"],
                created_at=utcnow(),
            )
        )
        auditlog.record(
            uow,
            "payments",
            request["author"],
            "refund_request.commented",
            f"order:{order_id}",
            {"request_id": request["request_id"]},
        )
    metrics.count_refund_request("commented")
    return get_refund_request(db, request["request_id"])


def get_refund_request(db: Database, request_id: str) -> Ticket:
    with db.reading() as session:
        row = session.execute(
            sa.select(refund_requests).where(refund_requests.c.id == str(request_id))
        ).first()
        if row is None:
            raise NotFound(f"there is no refund request {request_id}")
        return _answers(session, [row])[0]


def list_refund_requests(
    db: Database,
    status: str | None = None,
    order_id: str | None = None,
    limit: int = 50,
    cursor: int | None = None,
) -> dict[str, Any]:
    """Tickets newest first, with their comments; ``status=open`` is the after-sales queue."""
    query = load_or_invalid(
        schemas.RefundRequestQuery,
        {"status": status, "order_id": order_id, "limit": limit, "cursor": cursor},
    )
    with db.reading() as session:
        page, next_cursor = usecases.newest_first_page(session, refund_requests, query)
        return {"items": _answers(session, page), "next_cursor": next_cursor}


def _answers(session: sa.Connection, rows: Sequence[sa.Row[Any]]) -> list[Ticket]:
    comments: dict[str, list[dict[str, str]]] = {}
    if rows:
        for comment in session.execute(
            sa.select(refund_request_comments)
            .where(refund_request_comments.c.request_id.in_([row.id for row in rows]))
            .order_by(refund_request_comments.c.id)
        ):
            comments.setdefault(comment.request_id, []).append(
                {"author": comment.author, "text": comment.text, "at": utc_isoformat(comment.created_at)}
            )
    return [
        schema_instance(schemas.RefundRequestAnswer).dump(
            {
                **row._mapping,
                "decided_at": utc_isoformat(row.decided_at),
                "created_at": utc_isoformat(row.created_at),
                "comments": comments.get(row.id, []),
            }
        )
        for row in rows
    ]


def request_counts(db: Database) -> dict[str, int]:
    """{status: tickets}, for the refund-requests gauge."""
    with db.reading() as session:
        rows = session.execute(
            sa.select(refund_requests.c.status, sa.func.count()).group_by(refund_requests.c.status)
        )
        return {status: count for status, count in rows}


def audit_tickets(session: sa.Connection) -> list[dict[str, Any]]:
    """Every decided ticket with the refund its approval opened (order and key), for ``kameng audit``."""
    rows = session.execute(
        sa.select(
            refund_requests.c.id,
            refund_requests.c.order_id,
            refund_requests.c.status,
            refund_requests.c.refund_id,
            order_refunds.c.order_id.label("refund_order_id"),
            order_refunds.c.idempotency_key,
        )
        .select_from(
            refund_requests.outerjoin(order_refunds, order_refunds.c.id == refund_requests.c.refund_id)
        )
        .where(refund_requests.c.status != domain.REQUEST_OPEN)
        .order_by(refund_requests.c.created_at, refund_requests.c.id)
    ).all()
    return [
        {
            "request_id": row.id,
            "order_id": row.order_id,
            "status": row.status,
            "refund_id": row.refund_id,
            # the refund an approval opened must be this ticket's, of this order
            "refund_matches": row.refund_id is not None
            and row.refund_order_id == row.order_id
            and row.idempotency_key == domain.request_refund_key(row.id),
        }
        for row in rows
    ]
