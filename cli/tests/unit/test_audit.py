"""The audit's check on synthetic snapshots: each invariant holding, and each broken."""

import datetime
import json

import pytest

from kameng_cli import audit, main
from kameng_common.errors import Unavailable

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
TIMEOUTS = audit.Timeouts(order_ttl=900, expiry_interval=5, grace=60)
LONG_AGO = NOW - datetime.timedelta(hours=2)
JUST_NOW = NOW - datetime.timedelta(seconds=10)


def iso(moment):
    return moment.isoformat()


class Shop:
    """What the five services would answer, built order by order; consistent until a test breaks it."""

    def __init__(self):
        self.orders = {}
        self.sold = {}
        self.given_back = {}
        self.reserved = {}
        self.receipts = []
        self.refunds = []
        self.sold_twice = []
        self.direct_products = []
        self.loop_products = {}
        self.stock_alerts = {}
        self.ledger_problems = []
        self.agents = {
            "ledger_moves": {},
            "commissions_twice": [],
            "balance_mismatches": [],
            "withdrawals_over_available": [],
            "markups": {},
        }
        self.stats_mismatches = []
        self.agent_postings = {}
        # what payments recorded of a sale, where it differs from the delivered order's items
        self.recorded_sales = {}
        self.sales_kept_since = None
        self.enabled_admins = 1
        self.coupons = {"coupons": {}, "uses": {}}
        self.outboxes = {service: {"pending": 0, "oldest_pending_at": None} for service in audit.SERVICES}
        self.dead_letters = {service: {"depth": 0, "letters": []} for service in audit.SERVICES}

    def order(self, order_id, status, items=None, total=1000, payment_id=None, at=LONG_AGO, expires_at=None):
        self.orders[order_id] = {
            "status": status,
            "total": total,
            "currency": "CNY",
            "payment_id": payment_id,
            "items": items or {"1": 1},
            "created_at": iso(at),
            "updated_at": iso(at),
            "expires_at": iso(expires_at) if expires_at else None,
        }
        return self.orders[order_id]

    def sell(self, order_id, cards=None, at=LONG_AGO):
        self.sold[order_id] = {"cards": cards or {"1": 1}, "sold_at": iso(at)}

    def give_back(self, order_id):
        """inventory gave back a sold order's cards (refunded or void), its money given back in full."""
        self.given_back[order_id] = {"cards": self.sold.pop(order_id)["cards"]}

    def reserve(self, order_id, cards=1, at=LONG_AGO):
        self.reserved[order_id] = {"cards": cards, "reserved_at": iso(at)}

    def receive(
        self, payment_id, order_id, amount=1000, currency="CNY", trade_no=None, at=LONG_AGO, refunded_at=None
    ):
        self.receipts.append(
            {
                "payment_id": payment_id,
                "order_id": order_id,
                "amount": amount,
                "currency": currency,
                "provider": "mockpay",
                "trade_no": trade_no or f"T-{payment_id}-{len(self.receipts)}",
                "received_at": iso(at),
                "refunded_at": iso(refunded_at) if refunded_at else None,
            }
        )

    def staff_refund(self, order_id, amount, status="succeeded", at=LONG_AGO):
        self.refunds.append(
            {
                "refund_id": f"r-{len(self.refunds)}",
                "order_id": order_id,
                "payment_id": f"pay-{order_id}",
                "amount": amount,
                "currency": "CNY",
                "status": status,
                "created_at": iso(at),
            }
        )

    def receipts_of(self, payment_id):
        return [receipt for receipt in self.receipts if receipt["payment_id"] == payment_id]

    def delivered(self, order_id, quantity=1, at=LONG_AGO):
        payment_id = f"pay-{order_id}"
        self.order(
            order_id, "delivered", items={"1": quantity}, total=1000 * quantity, payment_id=payment_id, at=at
        )
        self.receive(payment_id, order_id, amount=1000 * quantity, at=at)
        self.sell(order_id, {"1": quantity}, at=at)

    def snapshots(self):
        """The snapshots; the ledger books exactly the sums received and refunded."""
        sales, refunds = {}, {}
        for receipt in self.receipts:
            sales[receipt["currency"]] = sales.get(receipt["currency"], 0) + receipt["amount"]
            if receipt["refunded_at"]:
                refunds[receipt["currency"]] = refunds.get(receipt["currency"], 0) + receipt["amount"]
        for refund in self.refunds:
            if refund["status"] == "succeeded":
                refunds[refund["currency"]] = refunds.get(refund["currency"], 0) + refund["amount"]
        recorded = {
            order_id: dict(order["items"])
            for order_id, order in self.orders.items()
            if order["status"] == "delivered"
        }
        recorded.update(self.recorded_sales)
        return {
            "orders": {"service": "orders", "orders": self.orders, "outbox": self.outboxes["orders"]},
            "inventory": {
                "service": "inventory",
                "cards": {"available": 5, "reserved": len(self.reserved), "sold": len(self.sold)},
                "direct_products": self.direct_products,
                "sold": self.sold,
                "given_back": self.given_back,
                "reserved": self.reserved,
                "loop_products": self.loop_products,
                "stock_alerts": self.stock_alerts,
                "sold_twice": self.sold_twice,
                "outbox": self.outboxes["inventory"],
            },
            "payments": {
                "service": "payments",
                "receipts": self.receipts,
                "refunds": self.refunds,
                "ledger": {"problems": self.ledger_problems, "sales": sales, "refunds": refunds},
                "agent_postings": self.agent_postings,
                "sales": {order_id: sale for order_id, sale in recorded.items() if sale is not None},
                "sales_kept_since": self.sales_kept_since,
                "outbox": self.outboxes["payments"],
            },
            "customers": {
                "service": "customers",
                "agents": self.agents,
                "stats_mismatches": self.stats_mismatches,
                "accounts": {"enabled_admins": self.enabled_admins},
                "coupons": self.coupons,
                "outbox": self.outboxes["customers"],
            },
            "risk": {"service": "risk", "outbox": self.outboxes["risk"]},
        }

    def agent_move(self, reference, amount, at=LONG_AGO, posted=True, agent_id="a1"):
        """An agent's money moved in customers and, if ``posted``, on the ledger as well."""
        self.agents["ledger_moves"][reference] = {"agent_id": agent_id, "amount": amount, "at": iso(at)}
        if posted:
            self.agent_postings[reference] = {"agent_id": agent_id, "amount": amount}

    def coupon(self, coupon_id="k1", total_limit=10, per_customer_limit=1, used=0, counted=None, over=()):
        self.coupons["coupons"][coupon_id] = {
            "code": coupon_id.upper(),
            "total_limit": total_limit,
            "per_customer_limit": per_customer_limit,
            "used": used,
            "counted": used if counted is None else counted,
            "customers_over_limit": list(over),
        }

    def use(self, order_id, status, discount=100, coupon_id="k1", at=LONG_AGO):
        self.coupons["uses"][order_id] = {
            "coupon_id": coupon_id,
            "customer_id": "c1",
            "discount": discount,
            "currency": "CNY",
            "status": status,
            "held_at": iso(at),
        }
        self.orders[order_id]["discount"] = discount

    def check(self, now=NOW, timeouts=TIMEOUTS):
        return audit.check(self.snapshots(), self.dead_letters, now, timeouts)

    def violations(self, now=NOW):
        return [(violation.kind, violation.subject) for violation in self.check(now)]


@pytest.fixture
def shop():
    """A shop where every kind of purchase has happened, and everything holds."""
    shop = Shop()
    shop.delivered("delivered", quantity=2)
    shop.order("cancelled", "cancelled")
    shop.order("expired", "expired")
    # paid after expiry, no stock left: the sale failed and the money went back
    shop.order("refunded", "refunded", payment_id="pay-refunded")
    shop.receive("pay-refunded", "refunded", refunded_at=LONG_AGO)
    # a second payment for a paid order, refunded as a duplicate
    shop.receive("pay-duplicate", "delivered", amount=2000, refunded_at=LONG_AGO)
    # a payment received twice (two trade numbers): the second sum went back
    shop.delivered("paid-twice")
    shop.receive("pay-paid-twice", "paid-twice", refunded_at=LONG_AGO)
    # waits for a reviewer until its review deadline
    shop.order("on-hold", "on_hold", expires_at=NOW + datetime.timedelta(hours=1))
    shop.reserve("on-hold")
    shop.order("awaiting", "awaiting_payment", at=JUST_NOW, expires_at=NOW + datetime.timedelta(minutes=14))
    shop.reserve("awaiting", at=JUST_NOW)
    shop.order("pending", "pending", at=JUST_NOW)
    # paid a moment ago: inventory sold, orders has not heard yet
    shop.order("being-delivered", "paid", payment_id="pay-being-delivered", at=JUST_NOW)
    shop.receive("pay-being-delivered", "being-delivered", at=JUST_NOW)
    shop.sell("being-delivered", at=JUST_NOW)
    # coupons: spent by the delivered order, held by the one awaiting payment, given back by the expired one
    shop.coupon(used=2)
    shop.use("delivered", "spent")
    shop.use("awaiting", "held", at=JUST_NOW)
    shop.use("expired", "released")
    return shop


def test_a_shop_where_everything_holds_has_no_violation(shop):
    assert shop.check() == []


# --- 1. a card is sold to at most one order; a delivered order holds exactly its quantity


def test_a_card_sold_to_two_orders(shop):
    shop.sold_twice.append({"product_id": "1", "card_ids": [7, 8], "order_ids": ["a", "b"]})
    [violation] = shop.check()
    assert (violation.kind, violation.subject) == ("card_sold_twice", "cards 7, 8")
    assert "a, b" in violation.detail


def test_a_loop_product_delivered_to_many_orders_within_its_limit_holds(shop):
    shop.delivered("loop-1", quantity=2)
    shop.delivered("loop-2", quantity=1)
    shop.loop_products = {
        "1": {"stock_limit": 3, "sold": 3, "reserved": 0},
        "2": {"stock_limit": None, "sold": 9, "reserved": 4},
    }
    assert shop.violations() == []


def test_a_loop_product_sold_past_its_limit(shop):
    shop.loop_products = {"7": {"stock_limit": 10, "sold": 10, "reserved": 1}}
    assert shop.violations() == [("loop_over_limit", "product 7")]


def test_a_stock_alert_agrees_with_the_stock(shop):
    shop.stock_alerts = {
        "1": {"low": True, "available": 4, "threshold": 5},
        "2": {"low": False, "available": 5, "threshold": 5},
        "3": {"low": False, "available": None, "threshold": 5},  # unlimited
        "4": {"low": False, "available": 2, "threshold": 3},  # a crossing missed
        "5": {"low": True, "available": 9, "threshold": 3},  # never armed again
    }
    assert shop.violations() == [("stock_alert_stale", "product 4"), ("stock_alert_stale", "product 5")]


@pytest.mark.parametrize("held", [{"1": 1}, {"1": 3}, {"1": 2, "2": 1}, {}])
def test_a_delivered_order_holding_other_than_its_quantity(shop, held):
    if held:
        shop.sold["delivered"]["cards"] = held
    else:
        del shop.sold["delivered"]
    assert shop.violations() == [("delivery_mismatch", "order delivered")]


def test_a_direct_product_of_a_delivered_order_holds_no_cards(shop):
    shop.direct_products.append("9")
    shop.orders["delivered"]["items"]["9"] = 1
    assert shop.check() == []


# --- payments records each delivered order's sale once, for finance's cost and margins


@pytest.mark.parametrize("recorded", [None, {"1": 1}, {"1": 4}, {"1": 2, "9": 1}])
def test_a_delivered_order_whose_sale_payments_did_not_record_as_it_was(shop, recorded):
    shop.recorded_sales["delivered"] = recorded
    [violation] = shop.check()
    assert (violation.kind, violation.subject) == ("sale_not_recorded", "order delivered")
    assert violation.detail.startswith("delivered with 2 of product 1, but payments recorded ")


def test_an_order_delivered_before_payments_kept_sales_has_none_and_is_not_asked_for_one(shop):
    shop.recorded_sales["delivered"] = None
    shop.sales_kept_since = iso(LONG_AGO + datetime.timedelta(minutes=1))
    assert shop.check() == []
    shop.sales_kept_since = iso(LONG_AGO - datetime.timedelta(minutes=1))
    assert [violation.kind for violation in shop.check()] == ["sale_not_recorded"]


def test_a_sale_delivered_a_moment_ago_may_not_have_reached_payments_yet(shop):
    shop.delivered("just-delivered", at=JUST_NOW)
    shop.recorded_sales["just-delivered"] = None
    assert shop.check() == []


# --- no card is sold for an order that is not delivered (or being delivered, a moment ago)


@pytest.mark.parametrize("status", ["cancelled", "expired", "refunded", "paid", "awaiting_payment"])
def test_cards_sold_long_ago_for_an_order_not_delivered(shop, status):
    shop.orders["delivered"].update(status=status, expires_at=iso(NOW))
    assert ("cards_sold_to_undelivered_order", "order delivered") in shop.violations()


def test_cards_sold_for_an_order_orders_does_not_know(shop):
    shop.sell("ghost")
    assert shop.violations() == [("cards_sold_to_undelivered_order", "order ghost")]


def test_cards_sold_a_moment_ago_may_not_have_reached_orders_yet(shop):
    shop.sell("expired", at=JUST_NOW)
    assert shop.check() == []


# --- a closed order holds no reservation


@pytest.mark.parametrize("status", ["cancelled", "expired", "delivered", "refunded", "failed"])
def test_cards_still_reserved_for_a_closed_order(shop, status):
    shop.order("closed", status)
    shop.reserve("closed")
    assert ("reservation_leaked", "order closed") in shop.violations()


def test_a_reservation_is_released_within_the_grace_period(shop):
    shop.order("closing", "expired", at=JUST_NOW)
    shop.reserve("closing")
    shop.reserve("unknown-yet", at=JUST_NOW)  # created after orders answered the audit
    assert shop.check() == []


def test_an_old_reservation_for_an_order_orders_does_not_know(shop):
    shop.reserve("ghost")
    assert shop.violations() == [("reservation_leaked", "order ghost")]


def test_a_reservation_for_an_order_never_stored_is_left_to_inventorys_sweep_until_its_grace(shop):
    """inventory reserves before orders stores the order: one never stored is given back by the sweep
    once KAMENG_RESERVATION_GRACE_SECONDS and an interval have passed."""
    sweep_wait = 600 + 60  # the grace period and the sweep's interval (Timeouts' defaults)
    shop.reserve("never-stored", at=NOW - datetime.timedelta(seconds=sweep_wait - 10))
    assert shop.check() == []
    shop.reserve("never-stored", at=NOW - datetime.timedelta(seconds=sweep_wait + 120))
    assert shop.violations() == [("reservation_leaked", "order never-stored")]


# --- 2. no order is delivered without a verified payment of the right amount


def test_a_delivered_order_whose_payment_received_nothing(shop):
    shop.receipts.remove(*shop.receipts_of("pay-delivered"))
    assert ("delivered_without_payment", "order delivered") in shop.violations()


def test_a_delivered_order_without_a_payment(shop):
    shop.orders["delivered"]["payment_id"] = None
    violations = shop.check()
    assert [(v.kind, v.detail) for v in violations if v.subject == "order delivered"] == [
        ("delivered_without_payment", "it has no payment")
    ]


@pytest.mark.parametrize("amount, currency", [(1999, "CNY"), (2000, "USD")])
def test_a_delivered_order_paid_the_wrong_amount(shop, amount, currency):
    [received] = shop.receipts_of("pay-delivered")
    received.update(amount=amount, currency=currency)
    [violation] = shop.check()
    assert (violation.kind, violation.subject) == ("payment_amount_mismatch", "order delivered")
    assert f"received {amount} {currency}" in violation.detail


def test_a_refunded_order_whose_money_was_not_given_back(shop):
    [received] = shop.receipts_of("pay-refunded")
    received["refunded_at"] = None
    assert ("refund_missing", "order refunded") in shop.violations()


# --- 3. every verified payment ends delivered or refunded


@pytest.mark.parametrize("status", ["expired", "cancelled", "awaiting_payment", "on_hold", "failed"])
def test_money_kept_for_an_order_that_is_not_delivered(shop, status):
    shop.order("unpaid", status, at=JUST_NOW, expires_at=NOW + datetime.timedelta(minutes=1))
    shop.receive("pay-unpaid", "unpaid")
    assert ("payment_unsettled", "payment pay-unpaid") in shop.violations()


def test_money_received_for_an_order_orders_does_not_know(shop):
    shop.receive("pay-ghost", "ghost")
    [violation] = shop.check()
    assert (violation.kind, violation.subject) == ("payment_unsettled", "payment pay-ghost")
    assert "unknown to orders" in violation.detail


def test_money_received_a_moment_ago_is_still_moving(shop):
    shop.receive("pay-expired", "expired", at=JUST_NOW)
    assert shop.check() == []


def test_a_payment_received_twice_keeps_only_one_sum(shop):
    _first, second = shop.receipts_of("pay-paid-twice")
    second["refunded_at"] = None
    [violation] = shop.check()
    assert (violation.kind, violation.subject) == ("payment_unsettled", "payment pay-paid-twice")
    assert "may keep 1 of the sums received, but keeps 2" in violation.detail


def test_a_duplicate_payment_must_go_back(shop):
    [duplicate] = shop.receipts_of("pay-duplicate")
    duplicate["refunded_at"] = None
    assert shop.violations() == [("payment_unsettled", "payment pay-duplicate")]


def test_a_delivered_order_whose_money_was_given_back(shop):
    [received] = shop.receipts_of("pay-delivered")
    received["refunded_at"] = iso(LONG_AGO)
    assert shop.violations() == [
        ("refunded_cards_still_sold", "order delivered"),
        ("delivered_and_refunded", "payment pay-delivered"),
    ]


# --- 4. the ledger balances, no wallet goes below zero, and it books the money that moved


def test_the_ledgers_own_problems_are_violations(shop):
    shop.ledger_problems += ["transaction t1 sums to 5 CNY", "wallet of c1 is negative: -5 CNY"]
    assert shop.violations() == [("ledger_unbalanced", "ledger")] * 2


@pytest.mark.parametrize("account", ["sales", "refunds"])
def test_a_ledger_that_does_not_book_the_money_moved(shop, account):
    snapshots = shop.snapshots()
    snapshots["payments"]["ledger"][account]["CNY"] += 1
    [violation] = audit.check(snapshots, shop.dead_letters, NOW, TIMEOUTS)
    assert (violation.kind, violation.subject) == ("ledger_mismatch", f"ledger {account} CNY")


# --- staff refunds: never more than paid, each executed once


def test_partial_refunds_within_what_was_paid_hold(shop):
    shop.delivered("o1")
    shop.staff_refund("o1", 400)
    shop.staff_refund("o1", 600)
    shop.staff_refund("o1", 1000, status="failed")
    shop.give_back("o1")
    assert shop.violations() == []


def test_cards_still_sold_for_an_order_refunded_in_full_are_a_violation(shop):
    shop.delivered("o1", quantity=2)
    shop.staff_refund("o1", 1500)
    shop.delivered("o2")
    shop.staff_refund("o2", 1000, at=JUST_NOW)  # its cards are on their way back
    shop.delivered("o3")
    shop.staff_refund("o3", 600)  # in part: its cards stay sold
    assert shop.violations() == []
    shop.staff_refund("o1", 500)
    assert shop.violations() == [("refunded_cards_still_sold", "order o1")]
    shop.give_back("o1")
    assert shop.violations() == []


def test_a_loop_products_card_stays_sold_to_an_order_refunded_in_full(shop):
    shop.loop_products["1"] = {"stock_limit": None, "sold": 1, "reserved": 0}
    shop.delivered("o1")
    shop.staff_refund("o1", 1000)
    assert shop.violations() == []


def test_refunds_beyond_what_was_paid_are_a_violation(shop):
    shop.delivered("o1")
    shop.staff_refund("o1", 600)
    shop.staff_refund("o1", 500, status="pending", at=JUST_NOW)
    assert shop.violations() == [("refund_exceeds_paid", "order o1")]


def test_a_refund_left_pending_past_its_retries_is_not_executed(shop):
    shop.delivered("o1")
    shop.staff_refund("o1", 100, status="pending", at=LONG_AGO)
    shop.staff_refund("o1", 100, status="pending", at=JUST_NOW)
    assert shop.violations() == [("refund_not_executed", "refund r-0")]


def test_a_refund_booked_twice_is_a_ledger_mismatch(shop):
    shop.delivered("o1")
    shop.staff_refund("o1", 300)
    snapshots = shop.snapshots()
    snapshots["payments"]["ledger"]["refunds"]["CNY"] += 300
    [violation] = audit.check(snapshots, shop.dead_letters, NOW, TIMEOUTS)
    assert violation.kind == "ledger_mismatch"


def test_an_approved_ticket_without_its_own_refund_and_a_rejected_one_with_a_refund_are_found(shop):
    shop.delivered("o1")
    shop.staff_refund("o1", 100)
    snapshots = shop.snapshots()
    snapshots["payments"]["refund_requests"] = [
        {
            "request_id": "t-ok",
            "order_id": "o1",
            "status": "approved",
            "refund_id": "r-0",
            "refund_matches": True,
        },
        {
            "request_id": "t-1",
            "order_id": "o1",
            "status": "approved",
            "refund_id": None,
            "refund_matches": False,
        },
        {
            "request_id": "t-2",
            "order_id": "o1",
            "status": "rejected",
            "refund_id": "r-0",
            "refund_matches": True,
        },
        {
            "request_id": "t-3",
            "order_id": "o1",
            "status": "rejected",
            "refund_id": None,
            "refund_matches": False,
        },
    ]
    found = audit.check(snapshots, shop.dead_letters, NOW, TIMEOUTS)
    assert [(violation.kind, violation.subject) for violation in found] == [
        ("refund_request_unrefunded", "refund request t-1"),
        ("refund_request_refunded", "refund request t-2"),
    ]


# --- no order stuck in a transitional status past its timeout and the grace period

STUCK_AFTER = {
    # status: (how long after the order's moment it must have moved on, which moment)
    "pending": (900 + 5 + 60, "created_at"),
    "awaiting_payment": (5 + 60, "expires_at"),
    "on_hold": (5 + 60, "expires_at"),
    "paid": (60, "updated_at"),
    "failed": (60, "updated_at"),
}


@pytest.mark.parametrize("status", sorted(STUCK_AFTER))
def test_an_order_past_its_status_timeout_is_stuck(status):
    seconds, moment = STUCK_AFTER[status]
    shop = Shop()
    for order_id, overdue in (("late", 1), ("in-time", -1)):
        order = shop.order(order_id, status, expires_at=LONG_AGO)
        order[moment] = iso(NOW - datetime.timedelta(seconds=seconds + overdue))
    stuck = [(v.kind, v.subject) for v in shop.check() if v.kind == "order_stuck"]
    assert stuck == [("order_stuck", "order late")]


@pytest.mark.parametrize("status", ["delivered", "cancelled", "expired", "refunded"])
def test_an_order_that_waits_for_nobody_is_never_stuck(status):
    shop = Shop()
    shop.order("old", status, expires_at=LONG_AGO)
    assert "order_stuck" not in [violation.kind for violation in shop.check()]


# --- events are published, and none is dead-lettered


def test_an_event_unpublished_past_the_grace_period(shop):
    shop.outboxes["payments"] = {"pending": 3, "oldest_pending_at": iso(LONG_AGO)}
    shop.outboxes["orders"] = {"pending": 2, "oldest_pending_at": iso(JUST_NOW)}
    [violation] = shop.check()
    assert (violation.kind, violation.subject) == ("outbox_backlog", "service payments")
    assert violation.detail.startswith("3 events")


def test_every_dead_letter_is_a_violation(shop):
    letter = {
        "message_id": "m1",
        "event_type": "order.expired",
        "correlation_id": "o1",
        "queue": "evt-orders-order.expired--risk.on_order_expired",
        "failure": "contract: bad",
        "attempts": 1,
    }
    shop.dead_letters["risk"] = {"depth": 3, "letters": [letter, {**letter, "message_id": "m2"}]}
    violations = shop.check()
    assert [(v.kind, v.subject) for v in violations] == [("dead_letter", "service risk")] * 3
    assert "m1" in violations[0].detail and "contract: bad" in violations[0].detail
    assert violations[2].detail == "1 more not listed here"


# --- collecting, the report and the command


class RecordingRpc:
    def __init__(self):
        self.calls = []

    def call(self, service, method):
        self.calls.append((service, method))
        return {"service": service}


def test_collect_asks_orders_before_the_services_whose_facts_it_reports():
    rpc = RecordingRpc()
    assert set(audit.collect(rpc)) == set(audit.SERVICES)
    assert rpc.calls[0] == ("orders", "audit_snapshot")
    assert sorted(rpc.calls) == sorted((service, "audit_snapshot") for service in audit.SERVICES)


def test_timeouts_come_from_the_orders_settings(monkeypatch):
    monkeypatch.setenv("KAMENG_ORDER_TTL_SECONDS", "15")
    monkeypatch.setenv("KAMENG_ORDER_EXPIRY_INTERVAL", "1")
    monkeypatch.setenv("KAMENG_COUPON_HOLD_GRACE_SECONDS", "30")
    monkeypatch.setenv("KAMENG_COUPON_HOLD_SWEEP_INTERVAL", "1")
    monkeypatch.setenv("KAMENG_RESERVATION_GRACE_SECONDS", "40")
    monkeypatch.setenv("KAMENG_RESERVATION_SWEEP_INTERVAL", "2")
    assert audit.Timeouts.from_env(grace=5) == audit.Timeouts(
        order_ttl=15,
        expiry_interval=1,
        grace=5,
        coupon_hold_grace=30,
        coupon_hold_sweep_interval=1,
        reservation_grace=40,
        reservation_sweep_interval=2,
    )
    for setting in (
        "KAMENG_ORDER_TTL_SECONDS",
        "KAMENG_ORDER_EXPIRY_INTERVAL",
        "KAMENG_COUPON_HOLD_GRACE_SECONDS",
        "KAMENG_COUPON_HOLD_SWEEP_INTERVAL",
        "KAMENG_RESERVATION_GRACE_SECONDS",
        "KAMENG_RESERVATION_SWEEP_INTERVAL",
    ):
        monkeypatch.delenv(setting)
    assert audit.Timeouts.from_env() == audit.Timeouts(order_ttl=900, expiry_interval=5, grace=60)


def report_of(shop):
    snapshots = shop.snapshots()
    return audit.Report(
        checked_at=NOW,
        timeouts=TIMEOUTS,
        counts=audit.summarize(snapshots, shop.dead_letters),
        violations=audit.check(snapshots, shop.dead_letters, NOW, TIMEOUTS),
    )


def test_the_report_counts_orders_cards_payments_and_refunds(shop):
    counts = report_of(shop).counts
    assert counts["orders"] == {
        "awaiting_payment": 1,
        "cancelled": 1,
        "delivered": 2,
        "expired": 1,
        "on_hold": 1,
        "paid": 1,
        "pending": 1,
        "refunded": 1,
    }
    assert counts["cards"] == {"available": 5, "reserved": 2, "sold": 3}
    assert counts["payments"] == {"paid": 5, "received": 6, "refunded": 3}
    assert counts["outbox"] == dict.fromkeys(audit.SERVICES, 0)
    assert counts["dead_letters"] == dict.fromkeys(audit.SERVICES, 0)


@pytest.fixture
def audited(monkeypatch):
    """Make ``kameng audit`` report on a given shop (or fail) instead of asking a running suite.

    Returns the list of the Timeouts the command audits with.
    """

    def use(shop_or_error):
        asked = []

        def fake_audit(amqp_uri, timeouts):
            asked.append(timeouts)
            if isinstance(shop_or_error, Exception):
                raise shop_or_error
            return report_of(shop_or_error)

        monkeypatch.setattr(audit, "audit", fake_audit)
        return asked

    return use


def test_the_command_prints_the_summary_and_exits_0_when_all_holds(shop, audited, capsys):
    audited(shop)
    main.main(["audit"])
    printed = capsys.readouterr().out
    assert "orders        9: awaiting_payment 1, cancelled 1, delivered 2" in printed
    assert printed.rstrip().endswith("OK: every invariant holds")


def test_the_command_prints_each_violation_and_exits_1(shop, audited, capsys):
    shop.sell("ghost")
    shop.reserve("ghost")
    audited(shop)
    with pytest.raises(SystemExit) as exited:
        main.main(["audit"])
    assert exited.value.code == 1
    printed = capsys.readouterr().out
    assert "2 violation(s):" in printed
    assert "  cards_sold_to_undelivered_order  order ghost: 1 of product 1 sold at" in printed
    assert "  reservation_leaked  order ghost: 1 cards still reserved" in printed


def test_the_command_prints_json(shop, audited, capsys):
    shop.sell("ghost")
    audited(shop)
    with pytest.raises(SystemExit):
        main.main(["audit", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is False
    assert printed["timeouts"] == {
        "order_ttl": 900,
        "expiry_interval": 5,
        "grace": 60,
        "coupon_hold_grace": 600,
        "coupon_hold_sweep_interval": 60,
        "reservation_grace": 600,
        "reservation_sweep_interval": 60,
    }
    assert [violation["kind"] for violation in printed["violations"]] == ["cards_sold_to_undelivered_order"]


def test_the_command_fails_when_a_service_does_not_answer(audited):
    audited(Unavailable("The payments service did not answer in time."))
    with pytest.raises(SystemExit) as exited:
        main.main(["audit"])
    assert exited.value.code == "kameng audit: The payments service did not answer in time."


def test_the_grace_period_is_an_option(shop, audited):
    asked = audited(shop)
    main.main(["audit", "--grace", "5"])
    assert [timeouts.grace for timeouts in asked] == [5]


# --- agents' money -----------------------------------------------------------------


def test_a_shop_where_no_admin_may_sign_in_is_a_violation(shop):
    shop.enabled_admins = 0

    assert [violation.kind for violation in shop.check()] == ["no_admin"]


def test_agents_money_on_the_ledger_as_customers_moved_it_passes(shop):
    shop.agent_move("entry-1", 1000)
    shop.agent_move("entry-2", -400)
    shop.agent_move("withdrawal-1", -500)
    shop.agent_move("entry-3", 100, at=JUST_NOW, posted=False)  # still on its way

    assert shop.check() == []


def test_an_agent_move_the_ledger_never_posted_or_posted_otherwise_is_a_violation(shop):
    shop.agent_move("entry-1", 1000, posted=False)
    shop.agent_move("entry-2", 300)
    shop.agent_postings["entry-2"] = {"agent_id": "a1", "amount": 30}
    shop.agent_postings["entry-unknown"] = {"agent_id": "a2", "amount": 5}

    assert shop.violations() == [("agent_ledger_mismatch", "agent a1")] * 2 + [
        ("agent_ledger_mismatch", "agent a2")
    ]


def test_a_commission_twice_a_balance_off_its_entries_and_an_overdrawn_withdrawal_are_violations(shop):
    shop.agents["commissions_twice"].append(
        {"agent_id": "a1", "order_id": "o1", "kind": "commission", "count": 2}
    )
    shop.agents["balance_mismatches"].append(
        {"agent_id": "a1", "currency": "CNY", "held": {"available": 5}, "entries": {"available": 4}}
    )
    shop.agents["withdrawals_over_available"].append(
        {"withdrawal_id": "w1", "agent_id": "a1", "amount": 500, "available": 400}
    )

    assert shop.violations() == [
        ("commission_twice", "order o1"),
        ("agent_balance_mismatch", "agent a1"),
        ("withdrawal_over_available", "withdrawal w1"),
    ]


def sold_through_a_shop(shop, order_id, markup, at=LONG_AGO):
    shop.delivered(order_id, at=at)
    shop.orders[order_id]["shop"] = {"slug": "a1-shop", "agent_id": "a1", "markup": markup}


def test_a_shop_order_whose_agent_was_credited_its_markup_holds(shop):
    sold_through_a_shop(shop, "through-a-shop", 150)
    shop.agents["markups"]["through-a-shop"] = [{"agent_id": "a1", "amount": 150}]
    sold_through_a_shop(shop, "no-markup-left", 0)  # a coupon took it all: nothing to credit
    assert shop.violations() == []


def test_a_shop_order_credits_its_agent_its_markup_once_delivered_and_no_other_order_credits_one(shop):
    sold_through_a_shop(shop, "through-a-shop", 150)
    sold_through_a_shop(shop, "uncredited", 90)
    sold_through_a_shop(shop, "just-delivered", 90, at=JUST_NOW)
    shop.agents["markups"]["through-a-shop"] = [{"agent_id": "a2", "amount": 150}]
    shop.agents["markups"]["delivered"] = [{"agent_id": "a1", "amount": 10}]

    assert shop.violations() == [
        ("markup_mismatch", "order through-a-shop"),
        ("markup_mismatch", "order delivered"),
        ("markup_not_credited", "order uncredited"),
    ]


def test_direct_lines_are_served_or_refunded_and_upstream_orders_used_once():
    from kameng_cli.audit import Timeouts, _direct_lines_served_or_refunded, _upstream_orders_used_once

    now = datetime.datetime(2026, 1, 1, 12, tzinfo=datetime.UTC)
    old = (now - datetime.timedelta(hours=1)).isoformat()
    orders = {
        "served": {"status": "delivered", "items": {"9": 1}, "updated_at": old},
        "half": {"status": "delivered", "items": {"9": 1}, "updated_at": old},
        "refunded": {"status": "refunded", "items": {"9": 1}, "updated_at": old},
        "never": {"status": "paid", "items": {"9": 1}, "updated_at": old},
        "cards": {"status": "paid", "items": {"1": 1}, "updated_at": old},
        # card lines bought from a supplier on demand
        "restocked": {"status": "delivered", "items": {"2": 3}, "updated_at": old},
        "restocking": {"status": "delivered", "items": {"2": 3}, "updated_at": old},
        "returned": {"status": "refunded", "items": {"2": 3}, "updated_at": old},
    }
    inventory = {
        "direct_products": ["9"],
        "sold": {"returned": {"cards": {"2": 3}}},
        "fulfilments": {
            "served": [{"status": "succeeded"}],
            "half": [{"status": "pending"}],
            "refunded": [{"status": "succeeded"}],
            "restocked": [{"status": "succeeded"}],
            "restocking": [{"status": "pending"}],
            "returned": [{"status": "succeeded"}],
        },
        "supplier_orders_reused": [{"supplier_id": 1, "supplier_order_id": "u1"}],
    }
    timeouts = Timeouts(order_ttl=900, expiry_interval=5, grace=60)
    found = {(v.kind, v.subject) for v in _direct_lines_served_or_refunded(orders, inventory, now, timeouts)}
    assert found == {
        ("direct_line_unserved", "order half"),
        ("direct_line_refunded_when_served", "order refunded"),
        ("direct_line_unserved", "order never"),
        ("direct_line_unserved", "order restocking"),
    }
    assert [v.kind for v in _upstream_orders_used_once(inventory)] == ["supplier_order_reused"]


def test_a_failed_restock_line_is_collected_late_only_within_its_window():
    from kameng_cli.audit import Timeouts, _direct_lines_served_or_refunded, _late_collections_end_in_time

    now = datetime.datetime(2026, 1, 1, 12, tzinfo=datetime.UTC)
    old = (now - datetime.timedelta(hours=1)).isoformat()
    soon = (now + datetime.timedelta(days=6)).isoformat()
    orders = {
        "collecting": {"status": "refunded", "items": {"2": 3}, "updated_at": old},
        "overdue": {"status": "refunded", "items": {"2": 3}, "updated_at": old},
    }
    inventory = {
        "direct_products": [],
        "sold": {},
        "fulfilments": {
            "collecting": [{"line_no": 1, "status": "failed", "collect_until": soon}],
            "overdue": [{"line_no": 1, "status": "failed", "collect_until": old}],
        },
    }
    timeouts = Timeouts(grace=60)
    # refunded with a failed line: served as it should be, collected or not
    assert list(_direct_lines_served_or_refunded(orders, inventory, now, timeouts)) == []
    found = [(v.kind, v.subject) for v in _late_collections_end_in_time(inventory, now, timeouts)]
    assert found == [("late_collection_overdue", "order overdue line 1")]


def test_customer_stats_off_the_orders_counted_are_a_violation(shop):
    shop.stats_mismatches.append(
        {
            "customer_id": "c1",
            "held": {"orders_count": 2, "total_spent": 100, "refunded": 0},
            "counted": {"orders_count": 1, "total_spent": 100, "refunded": 0},
        }
    )

    assert shop.violations() == [("customer_stats_mismatch", "customer c1")]


# --- coupons: never over their limits; every use follows its order


@pytest.mark.parametrize(
    "coupon, detail",
    [
        ({"total_limit": 1, "used": 2}, "total_limit is 1"),
        ({"over": ["c9"]}, "customer c9"),
    ],
)
def test_a_coupon_over_a_limit(shop, coupon, detail):
    shop.coupon("k2", **coupon)
    [violation] = shop.check()
    assert (violation.kind, violation.subject) == ("coupon_over_limit", "coupon K2 (k2)")
    assert detail in violation.detail


def test_a_coupon_whose_count_is_not_its_uses(shop):
    shop.coupon("k2", used=3, counted=2)
    assert shop.violations() == [("coupon_use_count_mismatch", "coupon K2 (k2)")]


def test_a_hold_left_behind_by_a_closed_or_unknown_order(shop):
    shop.use("cancelled", "held")
    shop.order("never-stored", "pending")
    shop.use("never-stored", "held")
    del shop.orders["never-stored"]
    assert shop.violations() == [
        ("coupon_hold_orphaned", "order cancelled"),
        ("coupon_hold_orphaned", "order never-stored"),
    ]


def test_a_hold_for_an_unknown_order_is_the_sweeps_until_its_grace_and_interval_have_passed(shop):
    # the sweep gives it back 600 s after the hold, within its 60 s interval; the audit waits its grace too
    held_at = NOW - datetime.timedelta(seconds=600 + 60 + 60 - 1)
    shop.order("never-stored", "pending")
    shop.use("never-stored", "held", at=held_at)
    del shop.orders["never-stored"]
    assert shop.check() == []
    assert shop.violations(now=NOW + datetime.timedelta(seconds=2)) == [
        ("coupon_hold_orphaned", "order never-stored")
    ]


def test_a_paid_order_whose_use_was_not_spent_and_a_spent_use_of_an_unpaid_order(shop):
    shop.use("paid-twice", "held")
    shop.use("on-hold", "spent")
    assert sorted(shop.violations()) == [
        ("coupon_not_spent", "order paid-twice"),
        ("coupon_spent_unpaid", "order on-hold"),
    ]


def test_a_use_still_moving_is_no_violation(shop):
    shop.use("being-delivered", "held", at=JUST_NOW)
    assert shop.check() == []


def test_a_discount_no_use_stands_for(shop):
    shop.orders["pending"]["discount"] = 300
    shop.use("on-hold", "held")
    shop.coupons["uses"]["on-hold"]["discount"] = 50
    assert sorted(shop.violations()) == [
        ("coupon_discount_mismatch", "order on-hold"),
        ("coupon_discount_mismatch", "order pending"),
    ]
