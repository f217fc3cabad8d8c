"""What payments does: each use case one unit of work (state + ledger + outbox + inbox mark)."""

import dataclasses
import datetime
import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from kameng_common import auditlog
from kameng_common.db import Database, UnitOfWork, as_utc, utc_isoformat, utcnow
from kameng_common.errors import Conflict, InvalidInput, KamengError, NotFound
from kameng_common.money import DEFAULT_CURRENCY
from kameng_common.validation import load_or_invalid, schema_instance
from payments import aftersales, agent_ledger, domain, metrics, sales, schemas, statements
from payments.db import (
    ledger_entries,
    ledger_transactions,
    order_refunds,
    payment_intents,
    receipts,
    refunds,
    wallets,
)
from payments.providers import Adapter, Checkout, Ignored, Providers, RefundFailed

_log = logging.getLogger(__name__)


# the outcome a payment metric records for each refusal, by error code
_REFUSALS = {
    "invalid_signature": "refused_signature",
    "amount_mismatch": "refused_amount",
    "not_found": "refused_unknown_payment",
    "provider_unavailable": "refused_provider",
    "insufficient_balance": "insufficient_balance",
    "already_paid": "refused_already_paid",
    "trade_no_reused": "refused_trade_reused",
}


def _refusal(exc: KamengError) -> str:
    return _REFUSALS.get(exc.code, "refused_invalid")


# --- intents -----------------------------------------------------------------


def create_intent(
    db: Database,
    providers: Providers,
    order_id: str,
    customer_id: str,
    amount: int,
    currency: str,
    method: str,
) -> dict[str, Any]:
    """Open the way to pay an order; a wallet payment is taken at once.

    Idempotent per (order, method): a repeated call, also a concurrent one,
    answers the intent the first call opened and never debits twice.
    """
    try:
        request = load_or_invalid(
            schemas.CreateIntent,
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "amount": amount,
                "currency": currency,
                "method": method,
            },
        )
        providers.check_method(request["method"], request["currency"])
        intent, outcome = _open_or_find_intent(db, request)
        checkout = None if intent.method == domain.BALANCE else _checkout(db, providers, intent)
    except KamengError as exc:
        metrics.count_payment(method, _refusal(exc))
        raise
    if intent.method == domain.BALANCE:
        metrics.count_payment(domain.BALANCE, outcome)
    return _intent_answer(intent, checkout or Checkout())


def _checkout(db: Database, providers: Providers, intent: domain.Intent) -> Checkout:
    """Where the buyer pays: asked of the provider once (outside any transaction), then kept.

    A provider that does not answer leaves the intent open without a checkout:
    the next create_intent for the order asks again.
    """
    with db.reading() as session:
        stored = session.execute(
            sa.select(payment_intents.c.checkout).where(payment_intents.c.id == intent.id)
        ).scalar()
    if stored:
        return Checkout(**json.loads(stored))
    checkout = providers.checkout(intent)
    with db.unit_of_work() as uow:
        uow.execute(
            payment_intents.update()
            .where(payment_intents.c.id == intent.id, payment_intents.c.checkout.is_(None))
            .values(checkout=json.dumps(dataclasses.asdict(checkout)))
        )
    return checkout


def get_checkout(db: Database, payment_id: str) -> dict[str, Any]:
    """The signed form of an intent whose provider is paid through a posted form (UnionPay)."""
    with db.reading() as session:
        row = session.execute(
            sa.select(payment_intents.c.method, payment_intents.c.status, payment_intents.c.checkout).where(
                payment_intents.c.id == str(payment_id)
            )
        ).first()
    form = json.loads(row.checkout).get("form") if row is not None and row.checkout else None
    if row is None or form is None:
        raise NotFound(f"payment {payment_id} has no checkout form")
    return {"payment_id": str(payment_id), "method": row.method, "status": row.status, "form": form}


def create_topup(
    db: Database,
    providers: Providers,
    customer_id: str,
    amount: int,
    currency: str,
    method: str,
    idempotency_key: str,
) -> dict[str, Any]:
    """Open a payment whose money goes into the customer's own wallet once the provider confirms it.

    Idempotent per (customer, idempotency key, method), like an order's intent.
    """
    try:
        query = load_or_invalid(schemas.TopupRequest, {"idempotency_key": idempotency_key})
        request = load_or_invalid(
            schemas.CreateIntent,
            {
                "order_id": domain.topup_id(customer_id, query["idempotency_key"]),
                "customer_id": customer_id,
                "amount": amount,
                "currency": currency,
                "method": method,
            },
        )
        if request["method"] == domain.BALANCE:
            raise InvalidInput("a wallet is topped up through a provider, not from itself", "invalid_method")
        providers.check_method(request["method"], request["currency"])
        request["purpose"] = domain.TOPUP
        try:
            intent, _outcome = _open_or_find_intent(db, request)
        except Conflict as exc:
            if exc.code != "intent_mismatch":
                raise
            raise InvalidInput(
                "this Idempotency-Key was used for a top-up of another amount", "idempotency_key_reused"
            ) from None
        checkout = _checkout(db, providers, intent)
    except KamengError as exc:
        metrics.count_payment(method, _refusal(exc))
        raise
    return {**_intent_answer(intent, checkout), "topup_id": intent.order_id}


def _open_or_find_intent(db: Database, request: dict[str, Any]) -> tuple[domain.Intent, str]:
    """``_open_intent``, or the intent a concurrent call for the same order and method committed first."""
    try:
        return _open_intent(db, request)
    except IntegrityError:
        intent = _find_intent(db, request["order_id"], request["method"])
        if intent is None:
            raise
        domain.same_request(intent, request["customer_id"], request["amount"], request["currency"])
        return intent, "duplicate"


def _open_intent(db: Database, request: dict[str, Any]) -> tuple[domain.Intent, str]:
    now = utcnow()
    with db.unit_of_work() as uow:
        existing = _select_intent(uow, order_id=request["order_id"], method=request["method"])
        if existing is not None:
            domain.same_request(existing, request["customer_id"], request["amount"], request["currency"])
            return existing, "duplicate"
        paid = uow.execute(
            sa.select(payment_intents.c.id).where(
                payment_intents.c.order_id == request["order_id"],
                payment_intents.c.status == domain.SUCCEEDED,
            )
        ).all()
        domain.not_paid_yet(request["order_id"], paid)
        intent = domain.Intent(id=str(uuid.uuid4()), status=domain.PENDING, **request)
        uow.execute(
            payment_intents.insert().values(**dataclasses.asdict(intent), created_at=now, updated_at=now)
        )
        if intent.method != domain.BALANCE:
            return intent, "created"
        _debit_wallet(uow, intent.customer_id, intent.amount, intent.currency)
        # the wallet debit is the payment: its trade number is the payment id
        notice = domain.Notice(domain.BALANCE, intent.id, intent.id, intent.amount, intent.currency)
        _receive(
            uow, intent, notice, domain.wallet_payment(intent.customer_id, intent.amount, intent.currency)
        )
        return dataclasses.replace(intent, status=domain.SUCCEEDED), "succeeded"


def _intent_answer(intent: domain.Intent, checkout: Checkout) -> dict[str, Any]:
    return schema_instance(schemas.IntentAnswer).dump(
        {
            "payment_id": intent.id,
            "amount": intent.amount,
            "currency": intent.currency,
            "method": intent.method,
            "status": intent.status,
            "pay_url": checkout.pay_url,
            "code_url": checkout.code_url,
        }
    )


def _to_intent(row: Any) -> domain.Intent:
    return domain.Intent(
        **{field.name: getattr(row, field.name) for field in dataclasses.fields(domain.Intent)}
    )


def _select_intent(uow: UnitOfWork, lock: bool = False, **where: object) -> domain.Intent | None:
    query = sa.select(payment_intents).where(
        *(payment_intents.c[column] == value for column, value in where.items())
    )
    if lock:
        # serializes everything that moves money for one payment (PostgreSQL;
        # SQLite's writers are serialized already)
        query = query.with_for_update()
    row = uow.execute(query).first()
    return None if row is None else _to_intent(row)


def _find_intent(db: Database, order_id: str, method: str) -> domain.Intent | None:
    with db.reading() as session:
        row = session.execute(
            sa.select(payment_intents).where(
                payment_intents.c.order_id == order_id, payment_intents.c.method == method
            )
        ).first()
    return None if row is None else _to_intent(row)


# --- notifications -----------------------------------------------------------


def handle_notification(
    db: Database, providers: Providers, provider: str, body: str, headers: dict[str, str]
) -> dict[str, Any]:
    """Record a provider's signed word that money arrived; answer only once it is committed.

    Idempotent on (provider, trade_no): a repeated notification, also one
    racing the first, is answered exactly as the first was. A refusal
    changes nothing.
    """
    try:
        request = load_or_invalid(
            schemas.NotificationRequest, {"provider": provider, "body": body, "headers": headers}
        )
        adapter = providers.for_notification(request["provider"])
        adapter.verify(request["body"], request["headers"])
        notice = adapter.read(request["body"])
        if isinstance(notice, Ignored):
            # verified, but no money moved: the provider is told it was heard, nothing changes
            metrics.count_payment(notice.provider, "ignored")
            _log.info("%s notification recorded nothing: %s", notice.provider, notice.reason)
            return _notification_answer(adapter, "ignored", None, None)
        answer = _record_or_stored(db, adapter, notice)
        outcome = answer.pop("outcome")
    except KamengError as exc:
        metrics.count_payment(provider, _refusal(exc))
        _log.warning("%s notification refused: %s", metrics.provider_label(provider), exc.code)
        raise
    metrics.count_payment(notice.provider, outcome)
    if outcome == "paid_twice":
        _log.warning(
            "payment %s received money twice (trade %s); it must be refunded",
            notice.payment_id,
            notice.trade_no,
        )
    return answer


def _notification_answer(
    adapter: Adapter | None, status: str, payment_id: str | None, trade_no: str | None
) -> dict[str, Any]:
    answer: dict[str, Any] = {"status": status, "payment_id": payment_id, "trade_no": trade_no}
    reply = getattr(adapter, "reply", None)
    if reply is not None:
        answer["reply"] = dataclasses.asdict(reply)
    return schema_instance(schemas.NotificationAnswer).dump(answer)


def _record_or_stored(db: Database, adapter: Adapter, notice: domain.Notice) -> dict[str, Any]:
    try:
        answer, outcome = _record_notice(db, adapter, notice)
    except IntegrityError as error:
        # the same trade number committed by a concurrent notification
        answer = db.committed_first(error, lambda session: _stored_answer(session, notice))
        outcome = "duplicate"
    return {**answer, "outcome": outcome}


def _record_notice(db: Database, adapter: Adapter, notice: domain.Notice) -> tuple[dict[str, Any], str]:
    with db.unit_of_work() as uow:
        intent = _select_intent(uow, lock=True, id=notice.payment_id)
        if intent is None:
            raise NotFound(f"there is no payment {notice.payment_id}")
        stored = _stored_answer(uow, notice)
        if stored is not None:
            return stored, "duplicate"
        domain.check_notice(intent, notice)
        if intent.purpose == domain.TOPUP:
            entries = domain.provider_topup(
                notice.provider, intent.customer_id, notice.amount, notice.currency
            )
        else:
            entries = domain.provider_payment(notice.provider, notice.amount, notice.currency)
        answer, first = _receive(
            uow, intent, notice, entries, _notification_answer(adapter, "ok", intent.id, notice.trade_no)
        )
    return answer, "succeeded" if first else "paid_twice"


def _receive(
    uow: UnitOfWork,
    intent: domain.Intent,
    notice: domain.Notice,
    entries: Sequence[domain.Entry],
    answer: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Money arrived for an intent: the receipt, the intent's status, the ledger, the event."""
    status, first = domain.received(intent.status)
    if answer is None:
        answer = _notification_answer(None, "ok", intent.id, notice.trade_no)
    receipt_id = str(uuid.uuid4())
    now = utcnow()
    uow.execute(
        receipts.insert().values(
            id=receipt_id,
            provider=notice.provider,
            trade_no=notice.trade_no,
            payment_id=intent.id,
            amount=notice.amount,
            currency=notice.currency,
            answer=json.dumps(answer),
            received_at=now,
        )
    )
    if first:
        uow.execute(
            payment_intents.update()
            .where(payment_intents.c.id == intent.id)
            .values(status=status, updated_at=now)
        )
    if intent.purpose == domain.TOPUP:
        # the customer's own money: it goes into their wallet, and no order waits for it
        _credit_wallet(uow, intent.customer_id, notice.amount, notice.currency)
        _post(uow, "topup", receipt_id, entries)
        return answer, first
    _post(uow, "payment", receipt_id, entries)
    # money received twice is published too: orders asks for its refund
    uow.publish(
        "payment.succeeded",
        {
            "payment_id": intent.id,
            "order_id": intent.order_id,
            "customer_id": intent.customer_id,
            "amount": notice.amount,
            "currency": notice.currency,
            "provider": notice.provider,
            "trade_no": notice.trade_no,
        },
        correlation_id=intent.order_id,
    )
    return answer, first


def _stored_answer(connection: UnitOfWork | sa.Connection, notice: domain.Notice) -> dict[str, Any] | None:
    """The answer given to the first notification of this trade, or None if it is new.

    A trade number the provider already reported for another payment is refused:
    answering it as the first would acknowledge money this payment never received.
    """
    row = connection.execute(
        sa.select(receipts.c.answer, receipts.c.payment_id).where(
            receipts.c.provider == notice.provider, receipts.c.trade_no == notice.trade_no
        )
    ).first()
    if row is None:
        return None
    if row.payment_id != notice.payment_id:
        raise Conflict(
            f"{notice.provider} transaction {notice.trade_no} was reported for another payment",
            "trade_no_reused",
        )
    return json.loads(row.answer)


# --- refunds -----------------------------------------------------------------


def on_refund_requested(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """Give a payment's money back into the buyer's wallet, once per sum received."""
    outcome = _refund(uow, event)
    uow.after_commit(lambda: metrics.count_refund(outcome))


def _refund(uow: UnitOfWork, event: dict[str, Any]) -> str:
    request = event["payload"]
    intent = _select_intent(uow, lock=True, id=request["payment_id"])
    if intent is None:
        raise NotFound(f"there is no payment {request['payment_id']} to refund")
    # what staff gave back already counts: a sum is never given back beyond what it was
    received = {row.receipt_id: row for row in _received_for(uow, [intent.id])}
    unrefunded = [
        domain.Receipt(row.receipt_id, row.amount, row.currency)
        for row in received.values()
        if row.remaining > 0
    ]
    receipt = domain.receipt_to_refund(
        intent, request, unrefunded, refunded_count=len(received) - len(unrefunded)
    )
    if receipt is None:
        _log.info("payment %s is already refunded", intent.id)
        return "duplicate"
    amount = received[receipt.id].remaining
    refund_id = str(uuid.uuid4())
    uow.execute(
        refunds.insert().values(
            id=refund_id,
            payment_id=intent.id,
            receipt_id=receipt.id,
            order_id=intent.order_id,
            customer_id=intent.customer_id,
            amount=amount,
            currency=receipt.currency,
            reason=request["reason"],
            created_at=utcnow(),
        )
    )
    _credit_wallet(uow, intent.customer_id, amount, receipt.currency)
    _post(
        uow,
        "refund",
        refund_id,
        domain.refund_to_wallet(intent.customer_id, amount, receipt.currency),
    )
    uow.publish(
        "payment.refunded",
        {
            "payment_id": intent.id,
            "order_id": intent.order_id,
            "customer_id": intent.customer_id,
            "amount": amount,
            "currency": receipt.currency,
            "refund_id": refund_id,
            "order_refunded_in_full": _refunded_in_full(uow, intent.order_id),
        },
        correlation_id=intent.order_id,
    )
    return "refunded"


# --- wallets -----------------------------------------------------------------


def get_wallet(db: Database, customer_id: str, currency: str = DEFAULT_CURRENCY) -> dict[str, Any]:
    query = load_or_invalid(schemas.WalletQuery, {"customer_id": customer_id, "currency": currency})
    with db.reading() as session:
        balance = session.execute(
            sa.select(wallets.c.balance).where(
                wallets.c.customer_id == query["customer_id"], wallets.c.currency == query["currency"]
            )
        ).scalar()
    return schema_instance(schemas.Wallet).dump({**query, "balance": balance or 0})


def wallet_statement(
    db: Database,
    customer_id: str,
    currency: str = DEFAULT_CURRENCY,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A wallet's balance and its entries, newest first: what came in (+) and went out (-), and why."""
    query = load_or_invalid(
        schemas.WalletStatementQuery,
        {"customer_id": customer_id, "currency": currency, "limit": limit, "cursor": cursor},
    )
    account = domain.wallet_account(query["customer_id"])
    statement = (
        sa.select(
            ledger_entries.c.id,
            ledger_entries.c.amount,
            ledger_transactions.c.kind,
            ledger_transactions.c.reference,
            ledger_transactions.c.created_at,
        )
        .join(ledger_transactions, ledger_transactions.c.id == ledger_entries.c.transaction_id)
        .where(ledger_entries.c.account == account, ledger_entries.c.currency == query["currency"])
        .order_by(ledger_entries.c.id.desc())
        .limit(query["limit"] + 1)
    )
    if query["cursor"] is not None:
        statement = statement.where(ledger_entries.c.id < query["cursor"])
    with db.reading_snapshot() as session:
        balance = session.execute(
            sa.select(wallets.c.balance).where(
                wallets.c.customer_id == query["customer_id"], wallets.c.currency == query["currency"]
            )
        ).scalar()
        rows = session.execute(statement).all()
    page = rows[: query["limit"]]
    return schema_instance(schemas.WalletStatement).dump(
        {
            "customer_id": query["customer_id"],
            "currency": query["currency"],
            "balance": balance or 0,
            "entries": [
                {
                    "id": str(row.id),
                    "amount": domain.wallet_entry(row.amount),
                    "kind": row.kind,
                    "reference": row.reference,
                    "at": utc_isoformat(row.created_at),
                }
                for row in page
            ],
            "next_cursor": str(page[-1].id) if len(rows) > query["limit"] else None,
        }
    )


def _debit_wallet(uow: UnitOfWork, customer_id: str, amount: int, currency: str) -> None:
    where = (wallets.c.customer_id == customer_id, wallets.c.currency == currency)
    balance = uow.execute(sa.select(wallets.c.balance).where(*where).with_for_update()).scalar()
    uow.execute(
        wallets.update()
        .where(*where)
        .values(balance=domain.debit_wallet(balance or 0, amount), updated_at=utcnow())
    )


def _credit_wallet(uow: UnitOfWork, customer_id: str, amount: int, currency: str) -> None:
    now = utcnow()
    uow.execute(
        uow.insert(wallets)
        .values(
            customer_id=customer_id,
            currency=currency,
            balance=0,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    uow.execute(
        wallets.update()
        .where(
            wallets.c.customer_id == customer_id,
            wallets.c.currency == currency,
        )
        .values(balance=wallets.c.balance + amount, updated_at=now)
    )


# --- ledger ------------------------------------------------------------------


def _post(uow: UnitOfWork, kind: str, reference: str, entries: Sequence[domain.Entry]) -> None:
    transaction_id = str(uuid.uuid4())
    uow.execute(
        ledger_transactions.insert().values(
            id=transaction_id, kind=kind, reference=reference, created_at=utcnow()
        )
    )
    uow.execute(
        ledger_entries.insert(),
        [
            {
                "transaction_id": transaction_id,
                "account": entry.account,
                "currency": entry.currency,
                "amount": entry.amount,
            }
            for entry in domain.posting(*entries)
        ],
    )


def ledger_balances(db: Database) -> list[dict[str, Any]]:
    """Every account's balance per currency (a debit balance is positive)."""
    with db.reading() as session:
        return [
            {"account": account, "currency": currency, "balance": balance}
            for (account, currency), balance in _account_balances(session).items()
        ]


def _account_balances(session: sa.Connection) -> dict[tuple[str, str], int]:
    rows = session.execute(
        sa.select(ledger_entries.c.account, ledger_entries.c.currency, sa.func.sum(ledger_entries.c.amount))
        .group_by(ledger_entries.c.account, ledger_entries.c.currency)
        .order_by(ledger_entries.c.account, ledger_entries.c.currency)
    )
    return {(account, currency): int(balance) for account, currency, balance in rows}


def check_ledger(db: Database) -> list[str]:
    """Why the ledger does not balance, or does not match the wallets; empty when all is well."""
    entries = ledger_entries
    # every query below sees the same moment, also while money moves
    with db.reading_snapshot() as session:
        unbalanced = session.execute(
            sa.select(entries.c.transaction_id, entries.c.currency, sa.func.sum(entries.c.amount))
            .group_by(entries.c.transaction_id, entries.c.currency)
            .having(sa.func.sum(entries.c.amount) != 0)
        ).all()
        thin = (
            session.execute(
                sa.select(ledger_transactions.c.id)
                .select_from(
                    ledger_transactions.outerjoin(
                        entries, entries.c.transaction_id == ledger_transactions.c.id
                    )
                )
                .group_by(ledger_transactions.c.id)
                .having(sa.func.count(entries.c.id) < 2)
            )
            .scalars()
            .all()
        )
        balances = _account_balances(session)
        wallet_rows = session.execute(
            sa.select(wallets.c.customer_id, wallets.c.currency, wallets.c.balance)
        ).all()
    return domain.ledger_problems(
        [(tid, currency, int(total)) for tid, currency, total in unbalanced],
        thin,
        balances,
        {(customer_id, currency): balance for customer_id, currency, balance in wallet_rows},
    )


# --- audit -------------------------------------------------------------------


def audit_snapshot(db: Database) -> dict[str, Any]:
    """Every sum received and whether it was given back, and the ledger's word, for ``kameng audit``.

    ``receipts``: one per sum received (a payment paid twice has two), with
    ``refunded_at`` once refunded; ``ledger``: check_ledger's problems, and
    what the sales and refunds accounts say was received and given back, per
    currency.
    """
    with db.reading_snapshot() as session:
        rows = session.execute(
            sa.select(
                receipts.c.payment_id,
                payment_intents.c.order_id,
                receipts.c.amount,
                receipts.c.currency,
                receipts.c.provider,
                receipts.c.trade_no,
                receipts.c.received_at,
                refunds.c.created_at.label("refunded_at"),
                refunds.c.amount.label("refunded_amount"),
            )
            .select_from(
                receipts.join(payment_intents, payment_intents.c.id == receipts.c.payment_id).outerjoin(
                    refunds, refunds.c.receipt_id == receipts.c.id
                )
            )
            # a top-up pays for no order: its money is in the wallet, which the ledger check covers
            .where(payment_intents.c.purpose == domain.ORDER)
            .order_by(receipts.c.received_at, receipts.c.id)
        ).all()
        staff_refunds = session.execute(
            sa.select(order_refunds).order_by(order_refunds.c.created_at, order_refunds.c.id)
        ).all()
        agents = agent_ledger.agent_postings(session)
        sold = sales.audit_sales(session)
        sales_kept_since = sales.sales_kept_since(session)
        tickets = aftersales.audit_tickets(session)
        sales_and_refunds = session.execute(
            sa.select(
                ledger_entries.c.account, ledger_entries.c.currency, sa.func.sum(ledger_entries.c.amount)
            )
            .where(ledger_entries.c.account.in_((domain.SALES, domain.REFUNDS)))
            .group_by(ledger_entries.c.account, ledger_entries.c.currency)
        ).all()
    return {
        "service": "payments",
        "receipts": [
            {
                "payment_id": row.payment_id,
                "order_id": row.order_id,
                "amount": row.amount,
                "currency": row.currency,
                "provider": row.provider,
                "trade_no": row.trade_no,
                "received_at": utc_isoformat(row.received_at),
                "refunded_at": utc_isoformat(row.refunded_at),
                # less than the sum when staff had given part of it back first
                "refunded_amount": row.refunded_amount,
            }
            for row in rows
        ],
        # staff refunds, full or partial: pending ones reserve their amount, failed ones nothing
        "refunds": [
            {
                "refund_id": row.id,
                "order_id": row.order_id,
                "payment_id": row.payment_id,
                "amount": row.amount,
                "currency": row.currency,
                "status": row.status,
                "created_at": utc_isoformat(row.created_at),
                # when it last changed: for a succeeded one, when its money went back
                "updated_at": utc_isoformat(row.updated_at),
            }
            for row in staff_refunds
        ],
        "ledger": {
            "problems": check_ledger(db),
            # sales is credited (negative) with what was received; refunds debited with what went back
            "sales": {
                currency: -int(total)
                for account, currency, total in sales_and_refunds
                if account == domain.SALES
            },
            "refunds": {
                currency: int(total)
                for account, currency, total in sales_and_refunds
                if account == domain.REFUNDS
            },
        },
        # decided after-sales tickets, each approval with the refund it opened
        "refund_requests": tickets,
        # each agent earning, reversal and payout posted, by customers' reference
        "agent_postings": agents,
        # the lines of every sale inventory reported (cards.delivered), per order
        "sales": sold,
        "sales_kept_since": sales_kept_since,
        "outbox": db.outbox_status(),
    }


# --- staff refunds -------------------------------------------------------------

REFUND_RECORD_DELAY = datetime.timedelta(seconds=30)
REFUND_RETRY_BATCH = 20


def refund_order(
    db: Database,
    providers: Providers,
    order_id: str,
    amount: int | None,
    to: str,
    reason: str,
    idempotency_key: str,
    actor: str,
) -> dict[str, Any]:
    """Give back all or part of what an order paid, to the buyer's wallet or through the provider.

    Never more than was paid across all refunds, also under concurrent requests
    (the order's intents are locked); idempotent per (order, idempotency key).
    A provider refund is tried at once and, on a timeout or an outage, again by
    ``retry_refunds`` with back-off; after ``MAX_REFUND_ATTEMPTS`` (or a refusal)
    it is ``failed``, listed for finance, and its amount is free to refund again.
    """
    request = load_or_invalid(
        schemas.RefundOrder,
        {
            "order_id": order_id,
            "amount": amount,
            "to": to,
            "reason": reason,
            "idempotency_key": idempotency_key,
            "actor": actor,
        },
    )
    try:
        try:
            refund, created = _open_refund(db, providers, request)
        except IntegrityError as error:
            # the same request, committed by a concurrent call
            refund = db.committed_first(error, lambda session: _existing_refund(session, request))
            created = False
    except KamengError as exc:
        metrics.count_refund(f"refused_{exc.code}")
        raise
    metrics.count_refund("duplicate" if not created else refund["status"])
    if created and refund["status"] == domain.REFUND_PENDING:
        attempt_provider_refund(db, providers, refund["id"])
    return get_refund(db, refund["id"])


def _existing_refund(
    connection: UnitOfWork | sa.Connection, request: dict[str, Any]
) -> dict[str, Any] | None:
    row = connection.execute(
        sa.select(order_refunds).where(
            order_refunds.c.order_id == request["order_id"],
            order_refunds.c.idempotency_key == request["idempotency_key"],
        )
    ).first()
    if row is None:
        return None
    asked_destination = domain.refund_destination(request["to"], row.provider)
    if request["amount"] not in (None, row.amount) or asked_destination != row.destination:
        raise InvalidInput(
            "this Idempotency-Key was used for another refund of this order", "idempotency_key_reused"
        )
    return dict(row._mapping)


def _open_refund(db: Database, providers: Providers, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    with db.unit_of_work() as uow:
        return open_refund_in(uow, providers, request)


def open_refund_in(
    uow: UnitOfWork, providers: Providers, request: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Record a staff refund in ``uow``: ``(refund row, created)``; a wallet refund succeeds at once.

    A provider refund is left pending for the caller to try once committed
    (``attempt_provider_refund``), and for the retry timer if it never does.
    """
    now = utcnow()
    existing = _existing_refund(uow, request)
    if existing is not None:
        return existing, False
    received = lock_received(uow, request["order_id"])
    receipt, amount = domain.receipt_for_refund(
        request["order_id"], received, request["amount"], request["to"]
    )
    destination = domain.refund_destination(request["to"], receipt.provider)
    if destination == domain.TO_ORIGINAL:
        providers.adapter(receipt.provider)
    customer_id = uow.execute(
        sa.select(payment_intents.c.customer_id).where(payment_intents.c.id == receipt.payment_id)
    ).scalar_one()
    refund = {
        "id": str(uuid.uuid4()),
        "order_id": request["order_id"],
        "payment_id": receipt.payment_id,
        "receipt_id": receipt.receipt_id,
        "customer_id": customer_id,
        "provider": receipt.provider,
        "amount": amount,
        "currency": receipt.currency,
        "destination": destination,
        "reason": request["reason"],
        "actor": request["actor"],
        "idempotency_key": request["idempotency_key"],
        "status": domain.REFUND_PENDING,
        "attempts": 0,
        # if this process dies before recording the provider's answer, the retry timer asks again
        "next_attempt_at": now + REFUND_RECORD_DELAY,
        "created_at": now,
        "updated_at": now,
    }
    if destination == domain.TO_WALLET:
        refund.update(status=domain.REFUND_SUCCEEDED, next_attempt_at=None)
    uow.execute(order_refunds.insert().values(**refund))
    auditlog.record(
        uow,
        "payments",
        request["actor"],
        "refund.issued",
        f"order:{request['order_id']}",
        {"refund_id": refund["id"], "amount": amount, "currency": receipt.currency, "to": destination},
    )
    if destination == domain.TO_WALLET:
        _credit_wallet(uow, customer_id, amount, receipt.currency)
        _post(uow, "refund", refund["id"], domain.refund_to_wallet(customer_id, amount, receipt.currency))
        _publish_given_back(uow, refund)
    uow.publish(
        "refund.issued",
        {
            "refund_id": refund["id"],
            "order_id": request["order_id"],
            "customer_id": customer_id,
            "amount": amount,
            "currency": receipt.currency,
            "to": destination,
            "reason": request["reason"],
        },
        correlation_id=request["order_id"],
    )
    return refund, True


def _publish_given_back(uow: UnitOfWork, refund: dict[str, Any]) -> None:
    """A staff refund gave its money back: customers takes agents' commissions back in proportion, and
    inventory gives back the cards of an order now refunded in full.

    The order's intents are locked (``lock_received``), so that of two refunds
    completing at once the later sees the earlier and says the order is refunded in full.
    """
    uow.publish(
        "payment.refunded",
        {
            "payment_id": refund["payment_id"],
            "order_id": refund["order_id"],
            "customer_id": refund["customer_id"],
            "amount": refund["amount"],
            "currency": refund["currency"],
            "refund_id": refund["id"],
            "order_refunded_in_full": _refunded_in_full(uow, refund["order_id"]),
        },
        correlation_id=refund["order_id"],
    )


def _refunded_in_full(uow: UnitOfWork, order_id: str) -> bool:
    """Whether everything the order received is given back, by the refunds that succeeded.

    A pending staff refund does not count until the provider confirms it.
    """
    intents = sa.select(payment_intents.c.id).where(
        payment_intents.c.order_id == order_id, payment_intents.c.purpose == domain.ORDER
    )
    received = uow.execute(
        sa.select(sa.func.coalesce(sa.func.sum(receipts.c.amount), 0)).where(
            receipts.c.payment_id.in_(intents)
        )
    ).scalar_one()
    given_back = (
        uow.execute(
            sa.select(sa.func.coalesce(sa.func.sum(refunds.c.amount), 0)).where(
                refunds.c.payment_id.in_(intents)
            )
        ).scalar_one()
        + uow.execute(
            sa.select(sa.func.coalesce(sa.func.sum(order_refunds.c.amount), 0)).where(
                order_refunds.c.order_id == order_id, order_refunds.c.status == domain.REFUND_SUCCEEDED
            )
        ).scalar_one()
    )
    return bool(received) and int(given_back) >= int(received)


def lock_received(uow: UnitOfWork, order_id: str) -> list[domain.Received]:
    """Each sum an order received, with what is given back of it; its intents stay locked until commit.

    Everything that gives back an order's money, or asks for it, takes these
    locks first: concurrent requests queue here (PostgreSQL; SQLite's writers
    are serialized already).
    """
    intents = uow.execute(
        sa.select(payment_intents.c.id)
        .where(payment_intents.c.order_id == order_id, payment_intents.c.purpose == domain.ORDER)
        .order_by(payment_intents.c.id)
        .with_for_update()
    ).all()
    return _received_for(uow, [row.id for row in intents])


def _received_for(connection: UnitOfWork | sa.Connection, payment_ids: list[str]) -> list[domain.Received]:
    """Each sum received for these payments, with what is given back of it (or being given)."""
    if not payment_ids:
        return []
    rows = connection.execute(
        sa.select(receipts)
        .where(receipts.c.payment_id.in_(payment_ids))
        .order_by(receipts.c.received_at.desc(), receipts.c.id.desc())
    ).all()
    whole = dict(
        connection.execute(
            sa.select(refunds.c.receipt_id, refunds.c.amount).where(refunds.c.payment_id.in_(payment_ids))
        ).all()
    )
    partial = dict(
        connection.execute(
            sa.select(order_refunds.c.receipt_id, sa.func.sum(order_refunds.c.amount))
            .where(
                order_refunds.c.payment_id.in_(payment_ids), order_refunds.c.status != domain.REFUND_FAILED
            )
            .group_by(order_refunds.c.receipt_id)
        ).all()
    )
    return [
        domain.Received(
            receipt_id=row.id,
            payment_id=row.payment_id,
            provider=row.provider,
            trade_no=row.trade_no,
            amount=row.amount,
            currency=row.currency,
            refunded=int(whole.get(row.id, 0)) + int(partial.get(row.id, 0) or 0),
        )
        for row in rows
    ]


def attempt_provider_refund(db: Database, providers: Providers, refund_id: str) -> None:
    """One try of a pending provider refund; its outcome is recorded once, whoever tries."""
    with db.reading() as session:
        row = session.execute(
            sa.select(order_refunds, receipts.c.trade_no, receipts.c.amount.label("received"))
            .join(receipts, receipts.c.id == order_refunds.c.receipt_id)
            .where(order_refunds.c.id == refund_id)
        ).first()
    if row is None or row.status != domain.REFUND_PENDING:
        return
    try:
        adapter = providers.adapter(row.provider)
        provider_refund_id = adapter.refund(
            domain.ProviderRefund(
                refund_id=row.id,
                payment_id=row.payment_id,
                trade_no=row.trade_no,
                amount=row.amount,
                total=row.received,
                currency=row.currency,
                reason=row.reason,
            )
        )
    except RefundFailed as exc:
        _record_refund_failure(db, refund_id, str(exc), exc.retryable)
        return
    except KamengError as exc:  # the provider is no longer enabled here: finance decides
        _record_refund_failure(db, refund_id, exc.message, retryable=False)
        return
    with db.unit_of_work() as uow:
        lock_received(uow, row.order_id)  # before the refund's row, as opening a refund takes them
        pending = uow.execute(
            sa.select(order_refunds.c.status).where(order_refunds.c.id == refund_id).with_for_update()
        ).scalar()
        if pending != domain.REFUND_PENDING:
            return
        uow.execute(
            order_refunds.update()
            .where(order_refunds.c.id == refund_id)
            .values(
                status=domain.REFUND_SUCCEEDED,
                attempts=order_refunds.c.attempts + 1,
                provider_refund_id=provider_refund_id or None,
                next_attempt_at=None,
                last_error=None,
                updated_at=utcnow(),
            )
        )
        _post(uow, "refund", refund_id, domain.refund_to_provider(row.provider, row.amount, row.currency))
        _publish_given_back(uow, dict(row._mapping))
        auditlog.record(
            uow,
            "payments",
            auditlog.SYSTEM_ACTOR,
            "refund.executed",
            f"order:{row.order_id}",
            {"refund_id": refund_id, "provider": row.provider, "amount": row.amount},
        )
    metrics.count_refund("provider_refunded")


def _record_refund_failure(db: Database, refund_id: str, error: str, retryable: bool) -> None:
    now = utcnow()
    with db.unit_of_work() as uow:
        row = uow.execute(
            sa.select(order_refunds).where(order_refunds.c.id == refund_id).with_for_update()
        ).first()
        if row is None or row.status != domain.REFUND_PENDING:
            return
        attempts = row.attempts + 1
        gave_up = not retryable or attempts >= domain.MAX_REFUND_ATTEMPTS
        uow.execute(
            order_refunds.update()
            .where(order_refunds.c.id == refund_id)
            .values(
                attempts=attempts,
                status=domain.REFUND_FAILED if gave_up else domain.REFUND_PENDING,
                next_attempt_at=None
                if gave_up
                else now + datetime.timedelta(seconds=domain.refund_backoff_seconds(attempts)),
                # the adapters' messages name the provider's code, never a key or a signature
                last_error=error[:500],
                updated_at=now,
            )
        )
        if gave_up:
            auditlog.record(
                uow,
                "payments",
                auditlog.SYSTEM_ACTOR,
                "refund.failed",
                f"refund:{refund_id}",
                {"attempts": attempts, "error": error[:200]},
            )
            # the order's history said the refund was issued: it now says it failed
            uow.publish(
                "refund.failed",
                {
                    "refund_id": refund_id,
                    "order_id": row.order_id,
                    "customer_id": row.customer_id,
                    "amount": row.amount,
                    "currency": row.currency,
                    "error": error[:200],
                },
                correlation_id=row.order_id,
            )
    metrics.count_refund("provider_failed" if gave_up else "provider_retry")
    _log.warning("refund %s: %s (%s)", refund_id, error, "given up" if gave_up else "will retry")


def retry_refunds(db: Database, providers: Providers, now: datetime.datetime | None = None) -> int:
    """Try again every provider refund that is due; returns how many were tried."""
    now = now or utcnow()
    with db.reading() as session:
        due = (
            session.execute(
                sa.select(order_refunds.c.id)
                .where(
                    order_refunds.c.status == domain.REFUND_PENDING, order_refunds.c.next_attempt_at <= now
                )
                .order_by(order_refunds.c.next_attempt_at)
                .limit(REFUND_RETRY_BATCH)
            )
            .scalars()
            .all()
        )
    for refund_id in due:
        attempt_provider_refund(db, providers, refund_id)
    return len(due)


def get_refund(db: Database, refund_id: str) -> dict[str, Any]:
    with db.reading() as session:
        row = session.execute(sa.select(order_refunds).where(order_refunds.c.id == refund_id)).first()
    if row is None:
        raise NotFound(f"there is no refund {refund_id}")
    return _refund_answer(row)


def list_refunds(
    db: Database,
    status: str | None = None,
    order_id: str | None = None,
    limit: int = 50,
    cursor: int | None = None,
) -> dict[str, Any]:
    """Staff refunds, newest first; ``status=failed`` is finance's to-do list."""
    query = load_or_invalid(
        schemas.RefundListQuery, {"status": status, "order_id": order_id, "limit": limit, "cursor": cursor}
    )
    with db.reading() as session:
        page, next_cursor = newest_first_page(session, order_refunds, query)
    return {"items": [_refund_answer(row) for row in page], "next_cursor": next_cursor}


def newest_first_page(
    connection: sa.Connection, table: sa.Table, query: dict[str, Any]
) -> tuple[Sequence[sa.Row[Any]], str | None]:
    """A page of ``table``'s rows newest first, of the query's ``status`` and ``order_id`` when given,
    and the next page's cursor (an offset: staff page through short lists)."""
    statement = sa.select(table).order_by(table.c.created_at.desc(), table.c.id.desc())
    if query["status"]:
        statement = statement.where(table.c.status == query["status"])
    if query["order_id"]:
        statement = statement.where(table.c.order_id == query["order_id"])
    offset = query["cursor"] or 0
    rows = connection.execute(statement.offset(offset).limit(query["limit"] + 1)).all()
    more = len(rows) > query["limit"]
    return rows[: query["limit"]], str(offset + query["limit"]) if more else None


def _refund_answer(row: Any) -> dict[str, Any]:
    return schema_instance(schemas.RefundAnswer).dump(
        {
            **row._mapping,
            "to": row.destination,
            "created_at": utc_isoformat(row.created_at),
            "updated_at": utc_isoformat(row.updated_at),
        }
    )


# --- gauges --------------------------------------------------------------------


def wallet_totals(db: Database) -> dict[str, int]:
    """{currency: what the wallets hold}, for the wallet-balance gauge."""
    with db.reading() as session:
        rows = session.execute(
            sa.select(wallets.c.currency, sa.func.sum(wallets.c.balance)).group_by(wallets.c.currency)
        )
        return {currency: total for currency, total in rows}


def intent_counts(db: Database) -> dict[tuple[str, str], int]:
    """{(method, status): intents}, for the payment-intents gauge."""
    with db.reading() as session:
        rows = session.execute(
            sa.select(payment_intents.c.method, payment_intents.c.status, sa.func.count()).group_by(
                payment_intents.c.method, payment_intents.c.status
            )
        )
        return {(method, status): count for method, status, count in rows}


def refund_counts(db: Database) -> dict[str, int]:
    """{status: staff refunds}, for the staff-refunds gauge."""
    with db.reading() as session:
        rows = session.execute(
            sa.select(order_refunds.c.status, sa.func.count()).group_by(order_refunds.c.status)
        )
        return {status: count for status, count in rows}


# --- reconciliation ------------------------------------------------------------

BEIJING = datetime.timezone(datetime.timedelta(hours=8))


def reconcile(db: Database, provider: str, statement: str, actor: str) -> dict[str, Any]:
    """Match a provider's daily statement against what payments recorded on its days (Beijing time).

    Payments are matched by the provider's trade number and amount, refunds by
    our refund request number and amount. Answers matched, missing_here (the
    provider has it, we do not), missing_at_provider and amount_mismatch, each
    with its rows, and the statement's broken lines by number.
    """
    request = load_or_invalid(
        schemas.ReconcileRequest, {"provider": provider, "statement": statement, "actor": actor}
    )
    rows, broken = statements.parse(request["provider"], request["statement"])
    days = sorted({row.day for row in rows})
    ours = _recorded_on(db, request["provider"], days)
    report = statements.match(rows, ours)
    report["broken_lines"] = [dataclasses.asdict(line) for line in broken]
    counts = {kind: len(report[kind]) for kind in (*statements.REPORT_KINDS, "broken_lines")}
    metrics.count_reconciliation(request["provider"], counts)
    with db.unit_of_work() as uow:
        auditlog.record(
            uow,
            "payments",
            request["actor"],
            "reconciliation.run",
            f"provider:{request['provider']}",
            {"days": days, **counts},
        )
    return {"provider": request["provider"], "days": days, "counts": counts, **report}


def _recorded_on(db: Database, provider: str, days: list[str]) -> dict[tuple[str, str], int]:
    """{(kind, reference): amount} of the payments and provider refunds recorded on ``days``."""
    if not days:
        return {}
    # bounds in UTC, as the times are stored: SQLite keeps them as text without their offset, so a
    # Beijing bound compared as text missed what was recorded between 16:00 and 24:00 UTC
    first_day = datetime.datetime.fromisoformat(days[0]).replace(tzinfo=BEIJING)
    last_day = datetime.datetime.fromisoformat(days[-1]).replace(tzinfo=BEIJING)
    start = first_day.astimezone(datetime.UTC)
    end = (last_day + datetime.timedelta(days=1)).astimezone(datetime.UTC)
    wanted = set(days)

    def on_a_day(moment: datetime.datetime) -> bool:
        return as_utc(moment).astimezone(BEIJING).date().isoformat() in wanted

    with db.reading_snapshot() as session:
        paid = session.execute(
            sa.select(receipts.c.trade_no, receipts.c.amount, receipts.c.received_at).where(
                receipts.c.provider == provider, receipts.c.received_at >= start, receipts.c.received_at < end
            )
        ).all()
        refunded = session.execute(
            sa.select(order_refunds.c.id, order_refunds.c.amount, order_refunds.c.updated_at).where(
                order_refunds.c.provider == provider,
                order_refunds.c.destination == domain.TO_ORIGINAL,
                order_refunds.c.status == domain.REFUND_SUCCEEDED,
                order_refunds.c.updated_at >= start,
                order_refunds.c.updated_at < end,
            )
        ).all()
    ours = {(statements.PAYMENT, row.trade_no): row.amount for row in paid if on_a_day(row.received_at)}
    ours.update(
        {
            (statements.REFUND, uuid.UUID(row.id).hex): row.amount
            for row in refunded
            if on_a_day(row.updated_at)
        }
    )
    return ours


# --- the ledger, for finance -----------------------------------------------------


def ledger_page(
    db: Database,
    account: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
    cursor: int | None = None,
) -> dict[str, Any]:
    """Ledger entries newest first, with their transaction's kind and reference; ``since`` ≤ at < ``until``."""
    query = load_or_invalid(
        schemas.LedgerQuery,
        {"account": account, "since": since, "until": until, "limit": limit, "cursor": cursor},
    )
    statement = (
        sa.select(
            ledger_entries.c.id,
            ledger_entries.c.transaction_id,
            ledger_entries.c.account,
            ledger_entries.c.currency,
            ledger_entries.c.amount,
            ledger_transactions.c.kind,
            ledger_transactions.c.reference,
            ledger_transactions.c.created_at,
        )
        .join(ledger_transactions, ledger_transactions.c.id == ledger_entries.c.transaction_id)
        .order_by(ledger_entries.c.id.desc())
        .limit(query["limit"] + 1)
    )
    if query["account"]:
        statement = statement.where(ledger_entries.c.account == query["account"])
    if query["since"]:
        statement = statement.where(ledger_transactions.c.created_at >= query["since"])
    if query["until"]:
        statement = statement.where(ledger_transactions.c.created_at < query["until"])
    if query["cursor"]:
        statement = statement.where(ledger_entries.c.id < query["cursor"])
    with db.reading() as session:
        rows = session.execute(statement).all()
    page = rows[: query["limit"]]
    return {
        "items": [
            {
                "id": str(row.id),
                "transaction_id": row.transaction_id,
                "kind": row.kind,
                "reference": row.reference,
                "account": row.account,
                "currency": row.currency,
                "amount": row.amount,
                "at": utc_isoformat(row.created_at),
            }
            for row in page
        ],
        "next_cursor": str(page[-1].id) if len(rows) > query["limit"] else None,
    }
