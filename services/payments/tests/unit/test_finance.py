"""Finance's summary: revenue, refunds, cost, commissions, net and margin by day, channel or product,
on SQLite and PostgreSQL."""

import datetime
import uuid

import pytest

from kameng_common import contracts
from kameng_common.errors import InvalidInput
from kameng_common.testing import deliver
from payments import agent_ledger, finance, sales, usecases
from payments.db import receipts, sale_lines

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
        {
            "currency": "CNY",
            "revenue": 4500,
            "refunds": 1200,
            "cost": 0,
            "commissions": 120,
            "lines_without_cost": 0,
            "net": 3180,
            "margin": 3180,
        }
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
        {"group_by": "customer"},
        {"since": "2026-01-02T00:00:00+00:00", "until": "2026-01-01T00:00:00+00:00"},
        {"since": "2024-01-01T00:00:00+00:00", "until": "2026-01-01T00:00:00+00:00"},
        {"since": "2026-01-01T00:00:00"},
        {"until": "yesterday"},
    ],
)
def test_a_bad_period_or_grouping_is_refused(db, query):
    with pytest.raises(InvalidInput):
        finance.summary(db, **query)


# --- cost, margin and revenue by product -----------------------------------------

GAME, GIFT = 9, 12  # by product, rows sort by number: 9 before 12


def delivered(order_id, lines, card_ids=(1,)):
    payload = {
        "order_id": order_id,
        "card_ids": list(card_ids),
        "currency": "CNY",
        "lines": [
            {"product_id": product_id, "quantity": quantity, "unit_price": unit_price, "unit_cost": unit_cost}
            for product_id, quantity, unit_price, unit_cost in lines
        ],
    }
    return contracts.load_event(contracts.new_event("cards.delivered", payload, order_id))


def sell(db, order_id, *lines):
    deliver(db, "payments", sales.on_cards_delivered, delivered(order_id, lines))


def figures(summary, *names):
    return {row["key"]: tuple(row[name] for name in names) for row in summary["rows"]}


@pytest.mark.parametrize(
    ("amount", "weights", "shares"),
    [
        (2700, {GAME: 2000, GIFT: 1000}, {GAME: 1800, GIFT: 900}),
        (1000, {GAME: 2000, GIFT: 1000}, {GAME: 667, GIFT: 333}),  # the odd fen to the larger remainder
        (1, {GAME: 1000, GIFT: 1000}, {GAME: 1, GIFT: 0}),  # a tie goes to the earlier line
        (5, {GAME: 0, GIFT: 0}, {GAME: 3, GIFT: 2}),  # free lines share equally
        (0, {GAME: 2000, GIFT: 1000}, {GAME: 0, GIFT: 0}),
    ],
)
def test_a_sum_is_shared_in_proportion_in_whole_fen_that_add_up(amount, weights, shares):
    assert finance.apportion(amount, weights) == shares
    assert sum(finance.apportion(amount, weights).values()) == amount


def test_a_discounted_order_is_shared_by_product_and_a_refund_in_parts_takes_it_back(
    any_db, providers, paid_order
):
    # 2 × 1000 of GAME and 1 × 1000 of GIFT, paid 2700 after a coupon
    order_id = paid_order(2700)
    sell(any_db, order_id, (GAME, 2, 1000, 600), (GIFT, 1, 1000, None))

    summary = finance.summary(any_db, group_by="product")
    assert figures(summary, "revenue", "refunds", "cost", "lines_without_cost", "margin") == {
        str(GAME): (1800, 0, 1200, 0, 600),
        str(GIFT): (900, 0, 0, 1, 900),  # its cost price unknown: counted as 0
    }
    assert summary["totals"][0]["cost"] == 1200 and summary["totals"][0]["margin"] == 2700 - 1200
    assert [row["key"] for row in summary["rows"]] == ["9", "12"]

    usecases.refund_order(any_db, providers, order_id, 1000, "wallet", "one card was bad", "k-1", "staff-1")
    summary = finance.summary(any_db, group_by="product")
    assert figures(summary, "revenue", "refunds") == {str(GAME): (1800, 667), str(GIFT): (900, 333)}

    usecases.refund_order(any_db, providers, order_id, 1700, "wallet", "all of it", "k-2", "staff-1")
    summary = finance.summary(any_db, group_by="product")
    # the refunds add up to what was paid: each product's revenue is taken back exactly;
    # the cost stays, the cards were delivered and are spent
    assert figures(summary, "revenue", "refunds", "cost", "margin") == {
        str(GAME): (1800, 1800, 1200, -1200),
        str(GIFT): (900, 900, 0, 0),
    }


def test_by_product_a_refund_in_the_period_is_shared_as_the_orders_earlier_sums_say(
    any_db, providers, paid_order
):
    order_id = paid_order(2700)
    sell(any_db, order_id, (GAME, 2, 1000, 600), (GIFT, 1, 1000, None))
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=40)
    with any_db.unit_of_work() as uow:
        uow.execute(receipts.update().values(received_at=long_ago))
        uow.execute(sale_lines.update().values(delivered_at=long_ago))
    usecases.refund_order(any_db, providers, order_id, 1000, "wallet", "one card was bad", "k-1", "staff-1")

    summary = finance.summary(any_db, group_by="product")

    assert figures(summary, "revenue", "refunds", "cost") == {str(GAME): (0, 667, 0), str(GIFT): (0, 333, 0)}


def test_money_of_an_order_without_a_recorded_sale_is_in_the_totals_only(any_db, paid_order):
    sold = paid_order(1000)
    sell(any_db, sold, (GAME, 1, 1000, 400))
    paid_order(500)  # paid, not delivered yet

    summary = finance.summary(any_db, group_by="product")

    assert figures(summary, "revenue", "cost", "margin") == {str(GAME): (1000, 400, 600)}
    [totals] = summary["totals"]
    assert (totals["revenue"], totals["cost"], totals["margin"]) == (1500, 400, 1100)


def test_by_day_cost_counts_on_the_day_of_delivery_and_by_channel_in_the_totals_only(any_db, paid_order):
    order_id = paid_order(1000)
    sell(any_db, order_id, (GAME, 2, 500, 300))
    today = datetime.datetime.now(BEIJING).date().isoformat()

    by_day = finance.summary(any_db)
    assert figures(by_day, "revenue", "cost", "net", "margin") == {today: (1000, 600, 1000, 400)}

    by_channel = finance.summary(any_db, group_by="channel")
    assert figures(by_channel, "revenue", "cost", "margin") == {"mockpay": (1000, 0, 1000)}
    assert by_channel["totals"][0]["cost"] == 600


def test_a_sale_is_recorded_once_however_often_it_is_heard(any_db, paid_order, snapshot):
    order_id = paid_order(1000)
    event = delivered(order_id, [(GAME, 2, 500, 300)])
    deliver(any_db, "payments", sales.on_cards_delivered, event)
    once = snapshot()
    deliver(any_db, "payments", sales.on_cards_delivered, event)  # redelivered: the inbox skips it
    sell(any_db, order_id, (GAME, 2, 500, 300))  # the same sale published again, under a new id
    assert snapshot()["sale_lines"] == once["sale_lines"]
    assert usecases.audit_snapshot(any_db)["sales"] == {order_id: {str(GAME): 2}}


def test_a_delivery_from_an_older_inventory_records_no_sale(any_db, snapshot):
    before = snapshot()
    older = contracts.load_event(
        contracts.new_event("cards.delivered", {"order_id": "o1", "card_ids": [1]}, "o1")
    )
    deliver(any_db, "payments", sales.on_cards_delivered, older)
    assert snapshot()["sale_lines"] == before["sale_lines"]
