"""Agents: the tree, invite codes, the commission plan, earnings, refunds and withdrawals."""

import datetime
import json
import uuid

import pytest
import sqlalchemy as sa

from customers import agents, usecases
from customers.db import accounts, customer_stats
from kameng_common import contracts
from kameng_common.db import utcnow
from kameng_common.errors import Conflict, Forbidden, InvalidInput
from kameng_common.testing import deliver

PASSWORD = "s3cret-pass-phrase"
HOLD = 3600


class Shop:
    """Drives the customers use cases the way the service and its events do."""

    def __init__(self, db, passwords):
        self.db = db
        self.passwords = passwords

    def customer(self, invite_code=None):
        return usecases.register(
            self.db, self.passwords, f"c_{uuid.uuid4().hex[:12]}", PASSWORD, invite_code=invite_code
        )["id"]

    def agent(self, parent=None, invited_by=None):
        """A new customer made an agent; returns make_agent's answer."""
        customer_id = self.customer(invite_code=invited_by and invited_by["invite_code"])
        return agents.make_agent(self.db, customer_id, parent and parent["agent_id"])

    def line(self, depth):
        """Agents ``depth`` deep, the top first."""
        chain = [self.agent()]
        for _ in range(depth - 1):
            chain.append(self.agent(parent=chain[-1]))
        return chain

    def deliver(self, customer_id, total, order_id=None, now=None, shop=None):
        order_id = order_id or str(uuid.uuid4())
        payload = {"order_id": order_id, "customer_id": customer_id, "total": total, "currency": "CNY"}
        if shop is not None:
            payload["shop"] = shop
        deliver(
            self.db,
            "customers",
            usecases.on_order_delivered,
            _event("order.delivered", payload, order_id),
            HOLD,
        )
        return order_id

    def refund(self, order_id, customer_id, amount):
        payload = {
            "payment_id": str(uuid.uuid4()),
            "order_id": order_id,
            "customer_id": customer_id,
            "amount": amount,
            "currency": "CNY",
            "refund_id": str(uuid.uuid4()),
        }
        deliver(
            self.db, "customers", usecases.on_payment_refunded, _event("payment.refunded", payload, order_id)
        )

    def earnings(self, agent, now=None):
        return agents.earnings(self.db, agent["customer_id"], now=now)

    def published(self, event_type):
        outbox = self.db.tables["outbox"]
        with self.db.reading() as session:
            bodies = session.execute(
                sa.select(outbox.c.body).where(outbox.c.event_type == event_type).order_by(outbox.c.id)
            ).scalars()
            return [json.loads(body)["payload"] for body in bodies]


def _event(event_type, payload, correlation_id):
    return contracts.load_event(contracts.new_event(event_type, payload, correlation_id))


def later(seconds):
    return utcnow() + datetime.timedelta(seconds=seconds)


@pytest.fixture
def shop(db, passwords):
    return Shop(db, passwords)


def test_an_agent_gets_an_invite_code_that_brings_customers_into_their_downline(shop):
    agent = shop.agent()
    buyer = shop.customer(invite_code=agent["invite_code"].lower())  # typed in lower case still works

    downline = agents.downline(shop.db, agent["customer_id"])

    assert [(item["customer_id"], item["depth"]) for item in downline["items"]] == [(buyer, 1)]
    assert agent["depth"] == 1 and len(agent["invite_code"]) == 8


def test_an_unknown_invite_code_is_refused_and_registers_nobody(shop):
    with pytest.raises(InvalidInput) as refused:
        shop.customer(invite_code="NOSUCH99")
    assert refused.value.code == "invite_code_invalid"
    with shop.db.reading() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(accounts)).scalar_one() == 0


def test_making_an_agent_publishes_the_agent_price_level_and_is_idempotent(shop):
    top = shop.agent()
    customer_id = shop.customer()

    first = agents.make_agent(shop.db, customer_id, top["agent_id"])
    again = agents.make_agent(shop.db, customer_id, top["agent_id"])

    assert first == again and first["depth"] == 2
    changes = [
        change for change in shop.published("customer.level_changed") if change["customer_id"] == customer_id
    ]
    assert changes == [{"customer_id": customer_id, "level": "agent", "version": 1}]


@pytest.mark.parametrize(
    "customer, parent, code",
    [("nobody", None, "customer_unknown"), ("real", "no-such-agent", "agent_unknown")],
)
def test_unknown_customers_and_parents_are_refused(shop, customer, parent, code):
    customer_id = shop.customer() if customer == "real" else str(uuid.uuid4())
    with pytest.raises(InvalidInput) as refused:
        agents.make_agent(shop.db, customer_id, parent)
    assert refused.value.code == code


def test_an_agent_cannot_be_placed_under_its_own_subtree(shop):
    top, middle, bottom = shop.line(3)

    for parent in (bottom, middle, top):
        with pytest.raises(InvalidInput) as refused:
            agents.make_agent(shop.db, top["customer_id"], parent["agent_id"])
        assert refused.value.code == "agent_cycle"


def test_moving_an_agent_carries_its_subtree_and_downline(shop):
    first, second = shop.agent(), shop.agent()
    middle = shop.agent(parent=first)
    below = shop.agent(parent=middle)
    buyer = shop.customer(invite_code=below["invite_code"])
    agents.set_commission_plan(shop.db, [100, 100, 100])

    moved = agents.make_agent(shop.db, middle["customer_id"], second["agent_id"])
    shop.deliver(buyer, 10_000)

    assert moved["parent_agent_id"] == second["agent_id"]
    assert [item["customer_id"] for item in agents.downline(shop.db, first["customer_id"])["items"]] == []
    assert {item["customer_id"] for item in agents.downline(shop.db, second["customer_id"])["items"]} == {
        middle["customer_id"],
        below["customer_id"],
        buyer,
    }
    earned = {(e["agent_id"], e["amount"]) for e in shop.published("commission.earned")}
    assert earned == {(below["agent_id"], 100), (middle["agent_id"], 100), (second["agent_id"], 100)}


@pytest.mark.parametrize(
    "rates, code",
    [
        ([], "invalid_commission_plan"),
        ([-1], "invalid_commission_plan"),
        ([10_001], "invalid_commission_plan"),
        ([5000, 5000, 1], "commission_plan_over_100_percent"),
    ],
)
def test_a_bad_commission_plan_is_refused(db, rates, code):
    with pytest.raises(InvalidInput) as refused:
        agents.set_commission_plan(db, rates)
    assert refused.value.code == code
    assert agents.get_commission_plan(db) == {"rates_bp": []}


def test_every_agent_up_a_ten_deep_line_earns_their_rate_once(shop):
    line = shop.line(10)
    buyer = shop.customer(invite_code=line[-1]["invite_code"])
    rates = [1000, 500, 300, 200, 100, 100, 50, 50, 25, 25]  # closest first
    agents.set_commission_plan(shop.db, rates)

    order_id = shop.deliver(buyer, 100_000)
    shop.deliver(buyer, 100_000, order_id=order_id)  # the same order under another event id

    earned = {e["agent_id"]: e["amount"] for e in shop.published("commission.earned")}
    closest_first = list(reversed(line))
    assert earned == {
        agent["agent_id"]: 100_000 * rate // 10_000 for agent, rate in zip(closest_first, rates, strict=True)
    }
    assert shop.earnings(line[-1])["pending"] == 10_000
    assert shop.earnings(line[0])["pending"] == 250


def test_an_agent_earns_nothing_on_their_own_purchases(shop):
    parent = shop.agent()
    agent = shop.agent(parent=parent)
    agents.set_commission_plan(shop.db, [1000, 500])

    shop.deliver(agent["customer_id"], 10_000)

    assert shop.earnings(agent)["pending"] == 0
    assert shop.earnings(parent)["pending"] == 1000  # the closest agent above the buyer


def test_crediting_an_order_costs_the_same_under_a_wide_tree(shop):
    agent = shop.agent()
    agents.set_commission_plan(shop.db, [1000])
    now = utcnow()
    with shop.db.unit_of_work() as uow:  # 10,000 customers under one agent, made without hashing
        ids = [str(uuid.uuid4()) for _ in range(10_000)]
        uow.execute(
            customer_stats.insert(),
            [
                {
                    "customer_id": customer_id,
                    "level": "regular",
                    "orders_count": 0,
                    "total_spent": 0,
                    "updated_at": now,
                    "agent_line": f"/{agent['agent_id']}/",
                }
                for customer_id in ids
            ],
        )
    statements = []
    sa.event.listen(shop.db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    shop.deliver(ids[-1], 10_000)

    assert shop.earnings(agent)["pending"] == 1000
    assert len(statements) < 25


def test_earnings_are_pending_for_the_hold_then_available(shop):
    agent = shop.agent()
    buyer = shop.customer(invite_code=agent["invite_code"])
    agents.set_commission_plan(shop.db, [1000])
    shop.deliver(buyer, 10_000)

    assert (shop.earnings(agent)["pending"], shop.earnings(agent)["available"]) == (1000, 0)
    # the view counts an earning available as soon as its hold ran out, before any sweep
    view = shop.earnings(agent, now=later(HOLD + 1))
    assert (view["pending"], view["available"]) == (0, 1000)
    assert view["entries"][0]["status"] == "available"

    assert agents.settle_matured(shop.db, now=later(HOLD + 1)) == 1
    assert agents.settle_matured(shop.db, now=later(HOLD + 1)) == 0
    assert (shop.earnings(agent)["pending"], shop.earnings(agent)["available"]) == (0, 1000)


def test_a_refund_takes_earnings_back_in_proportion_even_below_zero(shop):
    agent = shop.agent()
    buyer = shop.customer(invite_code=agent["invite_code"])
    agents.set_commission_plan(shop.db, [1000])
    order_id = shop.deliver(buyer, 10_000)
    agents.settle_matured(shop.db, now=later(HOLD + 1))
    agents.request_withdrawal(shop.db, agent["customer_id"], 1000, "alipay:agent@example.com")

    shop.refund(order_id, buyer, 3_333)  # a third back
    assert shop.earnings(agent)["available"] == -333
    shop.refund(order_id, buyer, 6_667)  # the rest: every fen of the earning goes back
    assert shop.earnings(agent)["available"] == -1000

    reversed_ = [e["amount"] for e in shop.published("commission.reversed")]
    assert reversed_ == [333, 667]
    # later earnings make it good
    shop.deliver(buyer, 20_000)
    agents.settle_matured(shop.db, now=later(HOLD + 1))
    assert shop.earnings(agent)["available"] == 1000


def test_a_refund_before_the_hold_ends_takes_from_pending(shop):
    agent = shop.agent()
    buyer = shop.customer(invite_code=agent["invite_code"])
    agents.set_commission_plan(shop.db, [1000])
    order_id = shop.deliver(buyer, 10_000)

    shop.refund(order_id, buyer, 10_000)
    agents.settle_matured(shop.db, now=later(HOLD + 1))

    view = shop.earnings(agent)
    assert (view["pending"], view["available"]) == (0, 0)


def test_a_refund_of_an_order_nobody_earned_on_changes_nothing(shop):
    buyer = shop.customer()
    order_id = shop.deliver(buyer, 10_000)

    shop.refund(order_id, buyer, 10_000)
    shop.refund(str(uuid.uuid4()), buyer, 10_000)  # never delivered

    assert shop.published("commission.reversed") == []


def test_a_sale_through_an_agents_shop_credits_them_the_markup_once_beside_their_commission(shop):
    agent = shop.agent()
    buyer = shop.customer(invite_code=agent["invite_code"])
    stranger = shop.customer()
    agents.set_commission_plan(shop.db, [1000])
    sale = {"slug": "lucky", "agent_id": agent["agent_id"], "markup": 1_250}

    order_id = shop.deliver(buyer, 11_250, shop=sale)
    shop.deliver(buyer, 11_250, order_id=order_id, shop=sale)  # the same order under another event id
    shop.deliver(stranger, 11_250, shop=sale)  # a buyer outside the agent's downline: the markup alone

    view = shop.earnings(agent)
    assert sorted((entry["kind"], entry["amount"]) for entry in view["entries"]) == [
        ("commission", 1_125),
        ("markup", 1_250),
        ("markup", 1_250),
    ]
    assert (view["pending"], view["available"]) == (1_125 + 2 * 1_250, 0)
    assert {entry["order_id"] for entry in view["entries"] if entry["kind"] == "markup"} >= {order_id}
    earned = shop.published("commission.earned")
    assert sorted((event["kind"], event["amount"]) for event in earned) == [
        ("commission", 1_125),
        ("markup", 1_250),
        ("markup", 1_250),
    ]
    # pending for the hold like a commission, then available
    agents.settle_matured(shop.db, now=later(HOLD + 1))
    assert shop.earnings(agent)["available"] == 1_125 + 2 * 1_250
    assert agents.earnings_by_kind(shop.db) == {("commission", "CNY"): 1_125, ("markup", "CNY"): 2_500}
    facts = usecases.audit_snapshot(shop.db)["agents"]
    assert facts["markups"][order_id] == [{"agent_id": agent["agent_id"], "amount": 1_250}]
    assert facts["commissions_twice"] == [] and facts["balance_mismatches"] == []


def test_a_refund_of_a_shop_sale_takes_the_markup_back_in_proportion(shop):
    agent = shop.agent()
    buyer = shop.customer()
    order_id = shop.deliver(
        buyer, 11_000, shop={"slug": "lucky", "agent_id": agent["agent_id"], "markup": 1_000}
    )

    shop.refund(order_id, buyer, 5_500)  # half back
    assert shop.earnings(agent)["pending"] == 500
    shop.refund(order_id, buyer, 5_500)
    assert shop.earnings(agent)["pending"] == 0
    assert [(e["kind"], e["amount"]) for e in shop.published("commission.reversed")] == [
        ("markup", 500),
        ("markup", 500),
    ]
    assert agents.earnings_by_kind(shop.db)[("markup", "CNY")] == 0


def test_a_shop_sale_with_no_markup_left_credits_nothing(shop):
    agent = shop.agent()
    shop.deliver(shop.customer(), 10_000, shop={"slug": "lucky", "agent_id": agent["agent_id"], "markup": 0})
    assert shop.earnings(agent)["entries"] == []


def test_withdrawals_never_exceed_what_is_available(shop):
    agent = shop.agent()
    buyer = shop.customer(invite_code=agent["invite_code"])
    agents.set_commission_plan(shop.db, [1000])
    shop.deliver(buyer, 10_000)

    with pytest.raises(InvalidInput) as refused:  # all of it still pending
        agents.request_withdrawal(shop.db, agent["customer_id"], 1, "bank:1")
    assert refused.value.code == "withdrawal_exceeds_available"

    agents.settle_matured(shop.db, now=later(HOLD + 1))
    asked = agents.request_withdrawal(shop.db, agent["customer_id"], 600, "bank:1")
    with pytest.raises(InvalidInput):
        agents.request_withdrawal(shop.db, agent["customer_id"], 401, "bank:1")

    assert asked["status"] == "requested"
    view = shop.earnings(agent)
    assert (view["available"], view["requested"], view["withdrawn"]) == (400, 600, 0)


def test_finance_pays_a_withdrawal_out_through_the_ledger_or_gives_it_back(shop):
    agent = shop.agent()
    buyer = shop.customer(invite_code=agent["invite_code"])
    agents.set_commission_plan(shop.db, [1000])
    shop.deliver(buyer, 10_000)
    agents.settle_matured(shop.db, now=later(HOLD + 1))
    paid = agents.request_withdrawal(shop.db, agent["customer_id"], 600, "bank:1")
    rejected = agents.request_withdrawal(shop.db, agent["customer_id"], 400, "bank:1")

    assert agents.decide_withdrawal(shop.db, paid["id"], "approve", None, "staff-1")["status"] == "paid"
    assert agents.decide_withdrawal(shop.db, paid["id"], "approve", None, "staff-1")["status"] == "paid"
    agents.decide_withdrawal(shop.db, rejected["id"], "reject", "account closed", "staff-1")
    with pytest.raises(Conflict):
        agents.decide_withdrawal(shop.db, rejected["id"], "approve", None, "staff-1")

    view = shop.earnings(agent)
    assert (view["available"], view["requested"], view["withdrawn"]) == (400, 0, 600)
    assert shop.published("withdrawal.paid") == [
        {"withdrawal_id": paid["id"], "agent_id": agent["agent_id"], "amount": 600, "currency": "CNY"}
    ]
    listed = agents.list_withdrawals(shop.db, status="paid")["items"]
    assert [item["id"] for item in listed] == [paid["id"]]
    facts = usecases.audit_snapshot(shop.db)["agents"]
    assert (facts["balance_mismatches"], facts["commissions_twice"], facts["withdrawals_over_available"]) == (
        [],
        [],
        [],
    )
    assert sorted(move["amount"] for move in facts["ledger_moves"].values()) == [-600, 1000]


def test_a_customer_who_is_not_an_agent_sees_no_agent_data(shop):
    customer_id = shop.customer()
    for call in (
        lambda: agents.earnings(shop.db, customer_id),
        lambda: agents.downline(shop.db, customer_id),
        lambda: agents.request_withdrawal(shop.db, customer_id, 1, "bank:1"),
    ):
        with pytest.raises(Forbidden) as refused:
            call()
        assert refused.value.code == "not_an_agent"


def test_an_agent_sees_only_their_own_subtree(shop):
    top = shop.agent()
    left, right = shop.agent(parent=top), shop.agent(parent=top)
    left_buyer = shop.customer(invite_code=left["invite_code"])
    right_buyer = shop.customer(invite_code=right["invite_code"])

    def seen(agent):
        return {
            item["customer_id"]: item["depth"]
            for item in agents.downline(shop.db, agent["customer_id"])["items"]
        }

    assert seen(left) == {left_buyer: 1}
    assert seen(right) == {right_buyer: 1}
    assert seen(top) == {left["customer_id"]: 1, right["customer_id"]: 1, left_buyer: 2, right_buyer: 2}
    page = agents.downline(shop.db, top["customer_id"], limit=3)
    rest = agents.downline(shop.db, top["customer_id"], limit=3, cursor=page["next_cursor"])
    assert len(page["items"]) == 3 and len(rest["items"]) == 1 and rest["next_cursor"] is None
