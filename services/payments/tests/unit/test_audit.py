"""audit_snapshot: every sum received, what went back, and the ledger's word, on SQLite and PostgreSQL."""

import datetime
import uuid

from kameng_common.db import utcnow
from kameng_common.testing import deliver
from payments import usecases
from payments.db import ledger_entries


def test_the_snapshot_of_no_payments(any_db):
    assert usecases.audit_snapshot(any_db) == {
        "service": "payments",
        "receipts": [],
        "refunds": [],
        "ledger": {"problems": [], "sales": {}, "refunds": {}},
        "refund_requests": [],
        "agent_postings": {},
        "sales": {},
        "sales_kept_since": None,  # the tables made here, not by the migrations
        "outbox": {"pending": 0, "oldest_pending_at": None},
    }


def test_the_snapshot_lists_each_sum_received_and_whether_it_went_back(
    any_db, providers, open_intent, signed_notification, refund_request, fund_wallet, published
):
    card_order = str(uuid.uuid4())
    by_card = open_intent(order_id=card_order, amount=1500)
    usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(by_card, "MP-1"))
    # the same payment received twice: its second sum is refunded
    usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(by_card, "MP-2"))
    deliver(any_db, "payments", usecases.on_refund_requested, refund_request(by_card, card_order, "buyer-1"))
    funding = fund_wallet("buyer-1", 3000)
    wallet_order = str(uuid.uuid4())
    by_wallet = open_intent(method="balance", order_id=wallet_order, amount=1000)

    snapshot = usecases.audit_snapshot(any_db)

    received = {receipt["trade_no"]: receipt for receipt in snapshot["receipts"]}
    [funding_trade] = [trade_no for trade_no in received if trade_no.startswith("fund-")]
    funding_order = funding_trade.removeprefix("fund-")  # fund_wallet's trade number names its order
    assert {
        trade_no: (
            receipt["payment_id"],
            receipt["order_id"],
            receipt["provider"],
            receipt["amount"],
            receipt["currency"],
            receipt["refunded_at"] is not None,
        )
        for trade_no, receipt in received.items()
    } == {
        "MP-1": (by_card["payment_id"], card_order, "mockpay", 1500, "CNY", False),
        "MP-2": (by_card["payment_id"], card_order, "mockpay", 1500, "CNY", True),
        funding_trade: (funding["payment_id"], funding_order, "mockpay", 3000, "CNY", True),
        by_wallet["payment_id"]: (by_wallet["payment_id"], wallet_order, "balance", 1000, "CNY", False),
    }
    for receipt in snapshot["receipts"]:
        for moment in filter(None, (receipt["received_at"], receipt["refunded_at"])):
            assert abs(utcnow() - datetime.datetime.fromisoformat(moment)) < datetime.timedelta(minutes=1)
    assert snapshot["ledger"] == {
        "problems": [],
        "sales": {"CNY": 1500 + 1500 + 3000 + 1000},
        "refunds": {"CNY": 1500 + 3000},
    }
    events = published("payment.succeeded") + published("payment.refunded")
    assert snapshot["outbox"]["pending"] == len(events) == 6


def test_the_snapshot_carries_the_ledgers_problems(any_db, providers, open_intent, signed_notification):
    intent = open_intent()
    usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent))
    with any_db.unit_of_work() as uow:
        uow.execute(
            ledger_entries.update()
            .where(ledger_entries.c.account == "sales")
            .values(amount=ledger_entries.c.amount - 1)
        )
    ledger = usecases.audit_snapshot(any_db)["ledger"]
    assert ledger["problems"] and ledger["problems"] == usecases.check_ledger(any_db)
    assert ledger["sales"] == {"CNY": 1501}


def test_the_snapshot_lists_staff_refunds_with_their_status(
    any_db, providers, open_intent, signed_notification
):
    order_id = str(uuid.uuid4())
    intent = open_intent(order_id=order_id, amount=1500)
    usecases.handle_notification(any_db, providers, "mockpay", *signed_notification(intent, "MP-9"))
    refund = usecases.refund_order(
        any_db, providers, order_id, 400, "wallet", "late delivery", "k-1", "staff-1"
    )

    snapshot = usecases.audit_snapshot(any_db)

    assert [
        (item["refund_id"], item["order_id"], item["amount"], item["status"]) for item in snapshot["refunds"]
    ] == [(refund["id"], order_id, 400, "succeeded")]
    assert snapshot["ledger"]["refunds"] == {"CNY": 400}
