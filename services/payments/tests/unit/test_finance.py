"""Finance's summary: revenue, refunds, commissions and net by day or channel, on SQLite and PostgreSQL."""

import datetime
import uuid

import pytest

from kameng_common import contracts
from kameng_common.errors import InvalidInput
from kameng_common.testing import deliver
from payments import agent_ledger, finance, usecases

BEIJING = datetime.timezone(datetime.timedelta(hours=8))


def commission(amount, kind="commission"):
    payload = {
        "entry_id": str(uuid.uuid4()),
        "agent_id": "a1",
        "order_id": "o1",
        "kind": kind,
        "amount": amount,
        "currency": "CNY",
    }
    return contracts.load_event(contracts.new_event("commission.earned", payload, "o1"))


def test_the_periods_money_by_channel_and_in_total(
    any_db, providers, paid_order, fund_wallet, open_intent, alipay_paid_order
):
    by_mockpay = paid_order(1500)
    alipay_paid_order(2000)
    fund_wallet("buyer-2", 700)  # a paid order refunded whole to the wallet: revenue 700, refunds 700
    open_intent(method="balance", amount=300, customer_id="buyer-2")
    usecases.refund_order(any_db, providers, by_mockpay, 500, "wallet", "late", "k-1", "staff-1")
    deliver(any_db, "payments", agent_ledger.on_commission_earned, commission(120))

    summary = finance.summary(any_db, group_by="channel")

    assert summary["group_by"] == "channel"
    assert [
        (row["key"], row["revenue"], row["refunds"], row["commissions"], row["net"])
        for row in summary["rows"]
    ] == [
        ("alipay", 2000, 0, 0, 2000),
        ("balance", 300, 0, 0, 300),
        ("mockpay", 2200, 1200, 0, 1000),
    ]
    assert summary["totals"] == [
        {"currency": "CNY", "revenue": 4500, "refunds": 1200, "commissions": 120, "net": 3180}
    ]


def test_each_channels_payments_opened_and_paid(any_db, paid_order, open_intent, alipay_paid_order):
    paid_order(1500)
    open_intent(amount=800)  # a mockpay payment the buyer never made
    open_intent(amount=900)
    alipay_paid_order(2000)

    channels = finance.summary(any_db)["channels"]

    assert channels == [
        {"channel": "alipay", "intents": 1, "paid": 1, "success_rate": 1.0},
        {"channel": "mockpay", "intents": 3, "paid": 1, "success_rate": 0.3333},
    ]


def test_by_day_a_sum_counts_on_the_shops_day_in_beijing(any_db, paid_order):
    paid_order(1500)
    today = datetime.datetime.now(BEIJING).date().isoformat()
    summary = finance.summary(any_db)
    assert [(row["key"], row["revenue"], row["net"]) for row in summary["rows"]] == [(today, 1500, 1500)]
    assert finance.shop_day(datetime.datetime(2026, 11, 27, 16, 30, tzinfo=datetime.UTC)) == "2026-11-28"
    assert finance.shop_day(datetime.datetime(2026, 11, 27, 15, 59)) == "2026-11-27"


def test_a_period_that_holds_nothing_answers_nothing(any_db, paid_order):
    paid_order(1500)
    summary = finance.summary(any_db, "2020-01-01T00:00:00+08:00", "2020-01-02T00:00:00+08:00")
    assert (summary["rows"], summary["totals"]) == ([], [])
    assert summary["from"] == "2020-01-01T00:00:00+08:00"


@pytest.mark.parametrize(
    "query",
    [
        {"group_by": "product"},
        {"since": "2026-01-02T00:00:00+00:00", "until": "2026-01-01T00:00:00+00:00"},
        {"since": "2024-01-01T00:00:00+00:00", "until": "2026-01-01T00:00:00+00:00"},
        {"since": "2026-01-01T00:00:00"},
        {"until": "yesterday"},
    ],
)
def test_a_bad_period_or_grouping_is_refused(db, query):
    with pytest.raises(InvalidInput):
        finance.summary(db, **query)
