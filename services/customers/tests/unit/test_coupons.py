"""Coupons: their rules, their issue, and holds that never pass a limit, on SQLite and PostgreSQL."""

import datetime
import json
import uuid

import eventlet
import pytest

from customers import coupons, segments, usecases
from customers.db import metadata
from kameng_common import contracts
from kameng_common.db import utcnow
from kameng_common.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from kameng_common.testing import deliver

PASSWORD = "s3cret-pass-phrase"
NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)
LINES = [
    {"product_id": 1, "category_id": 10, "quantity": 2, "unit_price": 3_000},
    {"product_id": 2, "category_id": 20, "quantity": 1, "unit_price": 4_000},
]


def new_coupon(**terms):
    return {
        "code": "spring10",
        "kind": "amount_off",
        "value": 1_000,
        "starts_at": NOW - datetime.timedelta(days=1),
        "ends_at": NOW + datetime.timedelta(days=1),
        **terms,
    }


@pytest.fixture
def shared_db(make_database, database_url):
    """The service's tables as its migrations build them, on SQLite and on PostgreSQL."""
    return make_database(metadata, database_url, migrate="customers")


def hold(db, code="SPRING10", order_id=None, customer_id="buyer-1", lines=LINES, currency="CNY", now=NOW):
    return coupons.hold_coupon(db, order_id or str(uuid.uuid4()), customer_id, code, lines, currency, now)


def audit_facts(db):
    with db.reading_snapshot() as session:
        return coupons.audit_facts(session)


def refusal_code(call):
    with pytest.raises((InvalidInput, Conflict, Forbidden)) as refused:
        call()
    return refused.value.code


def closing_event(event_type, order_id):
    payload = {"order_id": order_id, "reason": "test"}
    if event_type == "order.paid":
        payload = {
            "order_id": order_id,
            "customer_id": "buyer-1",
            "items": [{"product_id": 1, "quantity": 1, "unit_price": 1}],
            "payment_id": "pay-1",
            "amount": 1,
            "currency": "CNY",
        }
    return contracts.load_event(contracts.new_event(event_type, payload, order_id))


# --- the rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "terms, eligible, expected",
    [
        ({"kind": "amount_off", "value": 1_000}, 10_000, 1_000),
        ({"kind": "amount_off", "value": 1_000}, 600, 600),  # never more than the items cost
        ({"kind": "percent_off", "value": 15}, 10_001, 1_500),  # rounded down, for the shop
        ({"kind": "percent_off", "value": 100}, 7_000, 7_000),
    ],
)
def test_a_discount_is_the_coupons_share_of_what_it_covers(terms, eligible, expected):
    assert coupons.discount(terms, eligible) == expected


@pytest.mark.parametrize(
    "scope, eligible",
    [
        ({"product_ids": [], "category_ids": []}, 10_000),
        ({"product_ids": [2], "category_ids": []}, 4_000),
        ({"product_ids": [], "category_ids": [10]}, 6_000),
        ({"product_ids": [2], "category_ids": [10]}, 10_000),
        ({"product_ids": [3], "category_ids": [30]}, 0),
    ],
)
def test_a_scope_covers_its_products_and_categories(scope, eligible):
    assert coupons.eligible_subtotal(scope, LINES) == eligible


@pytest.mark.parametrize(
    "terms",
    [
        {"code": "no spaces"},
        {"kind": "percent_off", "value": 101},
        {"ends_at": NOW - datetime.timedelta(days=2)},
        {"total_limit": 1, "per_customer_limit": 2},
        {"segment": "Big Spender"},
        {"segment": "region:"},
        {"segment": "region:cn gd"},
        {"segment": "region:广东"},
    ],
)
def test_contradictory_terms_are_refused(db, terms):
    assert refusal_code(lambda: coupons.create_coupon(db, new_coupon(**terms), "ops-1")) == "invalid_coupon"


def test_a_code_is_one_coupon_whatever_its_case(db):
    created = coupons.create_coupon(db, new_coupon(), "ops-1")
    assert created["code"] == "SPRING10"
    assert refusal_code(lambda: coupons.create_coupon(db, new_coupon(code="Spring10"), "ops-1")) == (
        "coupon_code_taken"
    )
    assert coupons.get_coupon(db, created["id"])["issued"] == 0
    assert [item["code"] for item in coupons.list_coupons(db)["items"]] == ["SPRING10"]


# --- holds ---------------------------------------------------------------------------


def test_a_hold_answers_the_discount_and_counts_once_per_order(db):
    coupon = coupons.create_coupon(db, new_coupon(total_limit=5), "ops-1")

    first = hold(db, code=" spring10", order_id="order-1")
    again = hold(db, order_id="order-1")

    assert (
        first
        == again
        == {
            "order_id": "order-1",
            "coupon_id": coupon["id"],
            "code": "SPRING10",
            "discount": 1_000,
            "currency": "CNY",
            "status": "held",
        }
    )
    assert coupons.get_coupon(db, coupon["id"])["used"] == 1


@pytest.mark.parametrize(
    "terms, hold_args, code",
    [
        ({}, {"code": "WINTER"}, "coupon_unknown"),
        ({"starts_at": NOW + datetime.timedelta(hours=1)}, {}, "coupon_not_started"),
        ({"ends_at": NOW}, {}, "coupon_expired"),
        ({"product_ids": [99]}, {}, "coupon_out_of_scope"),
        ({}, {"currency": "USD"}, "coupon_out_of_scope"),
        ({"min_total": 10_001}, {}, "coupon_below_min_total"),
        ({"public": False}, {}, "coupon_not_issued"),
    ],
)
def test_a_coupon_that_cannot_apply_is_refused_with_its_reason(db, terms, hold_args, code):
    coupon = coupons.create_coupon(db, new_coupon(**terms), "ops-1")
    assert refusal_code(lambda: hold(db, **hold_args)) == code
    assert coupons.get_coupon(db, coupon["id"])["used"] == 0


def test_another_coupon_for_an_order_that_holds_one_is_a_conflict(db):
    coupons.create_coupon(db, new_coupon(), "ops-1")
    coupons.create_coupon(db, new_coupon(code="SUMMER"), "ops-1")
    hold(db, order_id="order-1")
    assert refusal_code(lambda: hold(db, code="SUMMER", order_id="order-1")) == "coupon_order_conflict"


def test_a_use_given_back_can_be_used_again_and_a_spent_one_cannot(db):
    coupon = coupons.create_coupon(db, new_coupon(total_limit=1), "ops-1")
    hold(db, order_id="order-1")
    assert refusal_code(lambda: hold(db, order_id="order-2", customer_id="buyer-2")) == "coupon_limit_reached"

    deliver(db, "customers", coupons.on_order_closed, closing_event("order.expired", "order-1"))
    hold(db, order_id="order-2", customer_id="buyer-2")
    deliver(db, "customers", coupons.on_order_paid, closing_event("order.paid", "order-2"))
    deliver(db, "customers", coupons.on_order_closed, closing_event("order.cancelled", "order-2"))

    assert refusal_code(lambda: hold(db, order_id="order-3", customer_id="buyer-3")) == "coupon_limit_reached"
    assert coupons.get_coupon(db, coupon["id"])["used"] == 1
    facts = audit_facts(db)
    assert {order_id: use["status"] for order_id, use in facts["uses"].items()} == {
        "order-1": "released",
        "order-2": "spent",
    }


def test_release_is_idempotent_and_gives_a_use_back_once(db):
    coupon = coupons.create_coupon(db, new_coupon(), "ops-1")
    hold(db, order_id="order-1")
    assert coupons.release_coupon(db, "order-1") == {"order_id": "order-1", "status": "released"}
    assert coupons.release_coupon(db, "order-1") == {"order_id": "order-1", "status": "released"}
    assert coupons.release_coupon(db, "never-held") == {"order_id": "never-held", "status": None}
    assert coupons.get_coupon(db, coupon["id"])["used"] == 0


def test_a_retry_after_the_use_went_back_holds_it_again_under_the_limits(db):
    coupon = coupons.create_coupon(db, new_coupon(total_limit=1), "ops-1")
    hold(db, order_id="order-1")
    coupons.release_coupon(db, "order-1")

    again = hold(db, order_id="order-1")

    assert (again["status"], again["discount"]) == ("held", 1_000)
    assert coupons.get_coupon(db, coupon["id"])["used"] == 1
    assert refusal_code(lambda: hold(db, order_id="order-2", customer_id="buyer-2")) == "coupon_limit_reached"
    facts = audit_facts(db)
    assert facts["uses"]["order-1"]["status"] == "held"
    assert facts["coupons"][coupon["id"]]["counted"] == 1


@pytest.mark.parametrize(
    "terms, taken_by, code",
    [
        ({"total_limit": 1}, "buyer-2", "coupon_limit_reached"),
        ({"per_customer_limit": 1}, "buyer-1", "coupon_customer_limit_reached"),
    ],
)
def test_a_retry_after_the_use_went_back_and_was_taken_is_refused(db, terms, taken_by, code):
    coupon = coupons.create_coupon(db, new_coupon(**terms), "ops-1")
    hold(db, order_id="order-1")
    coupons.release_coupon(db, "order-1")
    hold(db, order_id="order-2", customer_id=taken_by)

    assert refusal_code(lambda: hold(db, order_id="order-1")) == code
    assert coupons.get_coupon(db, coupon["id"])["used"] == 1
    assert audit_facts(db)["uses"]["order-1"]["status"] == "released"


def test_a_retry_of_a_spent_use_answers_it_and_counts_nothing_more(db):
    coupon = coupons.create_coupon(db, new_coupon(total_limit=1), "ops-1")
    hold(db, order_id="order-1")
    deliver(db, "customers", coupons.on_order_paid, closing_event("order.paid", "order-1"))

    assert hold(db, order_id="order-1")["status"] == "spent"
    assert coupons.get_coupon(db, coupon["id"])["used"] == 1


# --- holds whose order never came to be -------------------------------------------------

GRACE = 600
LONG_AGO = NOW - datetime.timedelta(seconds=GRACE + 1)


class FakeOrders:
    """orders' ``order_statuses``: the statuses of the orders it knows, or no answer at all."""

    def __init__(self, statuses=None, answer=None, while_asked=None):
        self.statuses = statuses or {}
        self.answer = answer
        self.while_asked = while_asked
        self.asked = []

    def __call__(self, order_ids):
        self.asked.append(list(order_ids))
        if self.while_asked is not None:
            self.while_asked()
        if isinstance(self.answer, Exception):
            raise self.answer
        if self.answer is not None:
            return self.answer
        return {
            "orders": {
                order_id: self.statuses[order_id] for order_id in order_ids if order_id in self.statuses
            }
        }


def sweep(db, orders, now=NOW):
    return coupons.release_orphaned_holds(db, orders, GRACE, now=now)


def test_the_sweep_gives_back_the_old_holds_of_orders_unknown_or_closed_unpaid(shared_db):
    db = shared_db
    coupon = coupons.create_coupon(db, new_coupon(per_customer_limit=10), "ops-1")
    statuses = {
        "pending": "pending",
        "awaiting": "awaiting_payment",
        "on-hold": "on_hold",
        "paid": "paid",
        "delivered": "delivered",
        "cancelled": "cancelled",
        "expired": "expired",
    }
    for order_id in (*statuses, "never-stored"):
        hold(db, order_id=order_id, now=LONG_AGO)
    hold(db, order_id="being-stored", now=NOW - datetime.timedelta(seconds=GRACE - 1))
    orders = FakeOrders(statuses)

    assert sweep(db, orders) == 3

    assert orders.asked == [sorted((*statuses, "never-stored"))]
    uses = {order_id: use["status"] for order_id, use in audit_facts(db)["uses"].items()}
    assert uses == {
        **{order_id: "held" for order_id in statuses},
        "being-stored": "held",
        "cancelled": "released",
        "expired": "released",
        "never-stored": "released",
    }
    facts = audit_facts(db)["coupons"][coupon["id"]]
    assert facts["used"] == facts["counted"] == 6
    # given back once: the sweep again, or the order's own event after it, changes nothing
    assert sweep(db, orders) == 0
    deliver(db, "customers", coupons.on_order_closed, closing_event("order.expired", "expired"))
    assert coupons.get_coupon(db, coupon["id"])["used"] == 6


@pytest.mark.parametrize(
    "answer",
    [
        Unavailable("orders is not running"),
        {"orders": ["never-stored"]},
        {"statuses": {}},
        "nothing",
    ],
)
def test_nothing_goes_back_when_orders_does_not_answer(db, answer):
    coupon = coupons.create_coupon(db, new_coupon(), "ops-1")
    hold(db, order_id="never-stored", now=LONG_AGO)

    assert sweep(db, FakeOrders(answer=answer)) == 0

    assert coupons.get_coupon(db, coupon["id"])["used"] == 1
    assert audit_facts(db)["uses"]["never-stored"]["status"] == "held"


def test_the_sweep_asks_about_every_old_hold_a_page_at_a_time(db, monkeypatch):
    monkeypatch.setattr(coupons, "SWEEP_PAGE", 2)
    coupon = coupons.create_coupon(db, new_coupon(per_customer_limit=10), "ops-1")
    for number in range(5):
        hold(db, order_id=f"order-{number}", now=LONG_AGO)
    orders = FakeOrders({"order-0": "pending", "order-3": "on_hold"})

    assert sweep(db, orders) == 3

    assert orders.asked == [["order-0", "order-1"], ["order-2", "order-3"], ["order-4"]]
    assert coupons.get_coupon(db, coupon["id"])["used"] == 2


def test_a_retry_renews_its_hold_so_the_sweep_keeps_it(db):
    coupon = coupons.create_coupon(db, new_coupon(), "ops-1")
    hold(db, order_id="order-1", now=LONG_AGO)
    hold(db, order_id="order-1", now=NOW - datetime.timedelta(seconds=1))

    assert sweep(db, FakeOrders()) == 0
    assert coupons.get_coupon(db, coupon["id"])["used"] == 1


def test_a_retry_while_the_sweep_asks_orders_keeps_its_use(db):
    """The sweep found the hold old and orders does not know the order yet; the buyer's retry holds it
    again before the sweep gives it back: the use stays held, for the order the retry stores."""
    coupon = coupons.create_coupon(db, new_coupon(total_limit=1), "ops-1")
    hold(db, order_id="order-1", now=LONG_AGO)
    orders = FakeOrders(while_asked=lambda: hold(db, order_id="order-1", now=NOW))

    assert sweep(db, orders) == 0

    assert audit_facts(db)["uses"]["order-1"]["status"] == "held"
    assert coupons.get_coupon(db, coupon["id"])["used"] == 1


def test_a_late_store_orders_answers_for_keeps_its_use(db):
    """The order was stored between the hold and the sweep: orders knows it, its use stays."""
    coupons.create_coupon(db, new_coupon(), "ops-1")
    hold(db, order_id="order-1", now=LONG_AGO)

    assert sweep(db, FakeOrders({"order-1": "pending"})) == 0
    assert audit_facts(db)["uses"]["order-1"]["status"] == "held"


# --- issued coupons -------------------------------------------------------------------


def test_an_issued_coupon_serves_its_customers_alone_and_shows_while_usable(db, passwords):
    alice = usecases.register(db, passwords, "alice", PASSWORD)
    bob = usecases.register(db, passwords, "bob", PASSWORD)
    coupon = coupons.create_coupon(db, new_coupon(public=False, per_customer_limit=1), "ops-1")

    issued = coupons.issue_coupon(db, coupon["id"], [alice["id"], alice["id"]])
    again = coupons.issue_coupon(db, coupon["id"], [alice["id"]])

    assert (issued["customers"], issued["newly_issued"], again["newly_issued"]) == (1, 1, 0)
    assert [item["code"] for item in coupons.my_coupons(db, alice["id"], NOW)["items"]] == ["SPRING10"]
    assert coupons.my_coupons(db, bob["id"], NOW)["items"] == []
    assert refusal_code(lambda: hold(db, customer_id=bob["id"])) == "coupon_not_issued"
    hold(db, customer_id=alice["id"])
    # used up for alice: no longer listed
    assert coupons.my_coupons(db, alice["id"], NOW)["items"] == []
    listed = coupons.my_coupons(db, alice["id"], NOW)
    assert json.loads(json.dumps(listed)) == listed


def test_issuing_to_someone_who_is_no_customer_is_refused(db, passwords):
    coupon = coupons.create_coupon(db, new_coupon(), "ops-1")
    assert refusal_code(lambda: coupons.issue_coupon(db, coupon["id"], ["nobody"])) == "customer_unknown"
    with pytest.raises(NotFound):
        coupons.issue_coupon(db, "no-such-coupon", ["nobody"])


# --- segments: coupons for some customers alone, on SQLite and PostgreSQL -----------------


def test_a_region_coupon_serves_and_shows_to_that_regions_customers_alone(shared_db, passwords):
    guangdong = usecases.register(shared_db, passwords, "alice", PASSWORD, region="GD")
    beijing = usecases.register(shared_db, passwords, "bob", PASSWORD, region="BJ")
    unplaced = usecases.register(shared_db, passwords, "carol", PASSWORD)
    everyone = [guangdong["id"], beijing["id"], unplaced["id"]]
    coupon = coupons.create_coupon(shared_db, new_coupon(segment=" Region:gd "), "ops-1")
    coupons.issue_coupon(shared_db, coupon["id"], everyone)

    assert coupon["segment"] == "region:GD"
    assert [coupons.my_coupons(shared_db, customer_id, NOW)["items"] != [] for customer_id in everyone] == [
        True,
        False,
        False,
    ]
    for outsider in everyone[1:]:
        assert refusal_code(lambda: hold(shared_db, customer_id=outsider)) == "coupon_out_of_segment"
    assert hold(shared_db, customer_id=guangdong["id"])["discount"] == 1_000
    report = coupons.get_coupon(shared_db, coupon["id"])
    assert (report["used"], report["issued"], report["segment_customers"]) == (1, 3, 1)


def test_a_tag_gained_or_lost_decides_the_next_hold(shared_db, passwords):
    customer = usecases.register(shared_db, passwords, "alice", PASSWORD)["id"]
    now = utcnow()
    window = {"starts_at": now - datetime.timedelta(days=1), "ends_at": now + datetime.timedelta(days=90)}
    wholesale = coupons.create_coupon(
        shared_db, new_coupon(segment="wholesale", per_customer_limit=5, **window), "ops-1"
    )
    welcome = coupons.create_coupon(shared_db, new_coupon(code="WELCOME", segment="new", **window), "ops-1")

    assert refusal_code(lambda: hold(shared_db, customer_id=customer, now=now)) == "coupon_out_of_segment"
    segments.add_tag(shared_db, customer, "wholesale", "staff-1")
    hold(shared_db, customer_id=customer, now=now)
    segments.remove_tag(shared_db, customer, "wholesale")
    assert refusal_code(lambda: hold(shared_db, customer_id=customer, now=now)) == "coupon_out_of_segment"
    assert coupons.get_coupon(shared_db, wholesale["id"])["used"] == 1

    # "new" is computed from the clock: lost 30 days after registering
    later = now + datetime.timedelta(days=31)
    assert refusal_code(lambda: hold(shared_db, "WELCOME", customer_id=customer, now=later)) == (
        "coupon_out_of_segment"
    )
    assert hold(shared_db, "WELCOME", customer_id=customer, now=now)["coupon_id"] == welcome["id"]
    assert coupons.get_coupon(shared_db, welcome["id"], now=now)["segment_customers"] == 1
    assert coupons.get_coupon(shared_db, welcome["id"], now=later)["segment_customers"] == 0


# --- races, on SQLite and PostgreSQL ------------------------------------------------------


def test_fifty_buyers_racing_for_ten_uses_get_ten(shared_db):
    coupon = coupons.create_coupon(shared_db, new_coupon(total_limit=10), "ops-1")

    def buy(buyer):
        try:
            return hold(shared_db, customer_id=f"buyer-{buyer}")
        except Conflict as exc:
            return exc

    outcomes = list(eventlet.GreenPool(50).imap(buy, range(50)))

    held = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    refused = [outcome for outcome in outcomes if not isinstance(outcome, dict)]
    assert len(held) == 10
    assert {exc.code for exc in refused} == {"coupon_limit_reached"}
    facts = audit_facts(shared_db)
    assert facts["coupons"][coupon["id"]]["used"] == facts["coupons"][coupon["id"]]["counted"] == 10


def test_one_buyer_racing_five_orders_gets_one_use(shared_db):
    coupon = coupons.create_coupon(shared_db, new_coupon(per_customer_limit=1), "ops-1")

    def buy(_):
        try:
            return hold(shared_db, customer_id="buyer-1")
        except Conflict as exc:
            return exc

    outcomes = list(eventlet.GreenPool(5).imap(buy, range(5)))

    assert sum(isinstance(outcome, dict) for outcome in outcomes) == 1
    assert {exc.code for exc in outcomes if not isinstance(exc, dict)} == {"coupon_customer_limit_reached"}
    assert coupons.get_coupon(shared_db, coupon["id"])["used"] == 1


def test_holds_and_releases_racing_keep_the_count_exact(shared_db):
    coupon = coupons.create_coupon(shared_db, new_coupon(total_limit=3), "ops-1")
    orders = [f"order-{number}" for number in range(3)]
    for number, order_id in enumerate(orders):
        hold(shared_db, order_id=order_id, customer_id=f"buyer-{number}")

    def release_or_hold(number):
        if number < 3:
            return coupons.release_coupon(shared_db, orders[number])
        try:
            return hold(shared_db, customer_id=f"late-{number}")
        except Conflict as exc:
            return exc

    list(eventlet.GreenPool(10).imap(release_or_hold, range(10)))

    facts = audit_facts(shared_db)["coupons"][coupon["id"]]
    assert facts["used"] == facts["counted"] <= 3


def test_sweeps_racing_retries_leave_every_retried_use_held_and_counted(shared_db):
    """Every order's first hold is old and orders knows none of them; two sweeps and each buyer's retry
    race. Whichever commits first, the retry's answer stands for a use held and counted."""
    coupon = coupons.create_coupon(shared_db, new_coupon(total_limit=20), "ops-1")
    orders = [f"order-{number}" for number in range(10)]
    for number, order_id in enumerate(orders):
        hold(shared_db, order_id=order_id, customer_id=f"buyer-{number}", now=LONG_AGO)

    def sweep_or_retry(number):
        if number < 2:
            return sweep(shared_db, FakeOrders())
        return hold(shared_db, order_id=orders[number - 2], customer_id=f"buyer-{number - 2}")

    outcomes = list(eventlet.GreenPool(12).imap(sweep_or_retry, range(12)))

    assert all(outcome["status"] == "held" for outcome in outcomes[2:])
    facts = audit_facts(shared_db)
    assert {use["status"] for use in facts["uses"].values()} == {"held"}
    assert facts["coupons"][coupon["id"]]["used"] == facts["coupons"][coupon["id"]]["counted"] == 10


def test_a_coupon_issued_to_a_tag_reaches_everyone_who_has_it_then(shared_db, passwords):
    alice = usecases.register(shared_db, passwords, "alice", PASSWORD)
    bob = usecases.register(shared_db, passwords, "bob", PASSWORD)
    carol = usecases.register(shared_db, passwords, "carol", PASSWORD)
    for customer in (alice, bob):
        segments.add_tag(shared_db, customer["id"], "spring_campaign", "ops-1")
    coupon = coupons.create_coupon(shared_db, new_coupon(public=False), "ops-1")

    issued = coupons.issue_coupon(shared_db, coupon["id"], tag="spring_campaign", now=NOW)
    again = coupons.issue_coupon(shared_db, coupon["id"], tag="spring_campaign", now=NOW)

    assert (issued["customers"], issued["newly_issued"], again["newly_issued"]) == (2, 2, 0)
    assert [item["code"] for item in coupons.my_coupons(shared_db, bob["id"], NOW)["items"]] == ["SPRING10"]
    assert coupons.my_coupons(shared_db, carol["id"], NOW)["items"] == []


def test_a_campaigns_report_counts_the_tagged_customers_who_paid_with_it(db, passwords):
    alice = usecases.register(db, passwords, "alice", PASSWORD)
    bob = usecases.register(db, passwords, "bob", PASSWORD)
    segments.add_tag(db, alice["id"], "spring_campaign", "ops-1")
    coupon = coupons.create_coupon(db, new_coupon(public=False), "ops-1")
    coupons.issue_coupon(db, coupon["id"], customer_ids=[alice["id"], bob["id"]])
    for customer in (alice, bob):
        hold(db, order_id=f"order-{customer['username']}", customer_id=customer["id"])
    deliver(db, "customers", coupons.on_order_paid, closing_event("order.paid", "order-alice"))

    report = coupons.get_coupon(db, coupon["id"], tag="spring_campaign", now=NOW)

    assert (report["issued"], report["customers_paid"], report["used"]) == (2, 1, 2)
    assert (report["tag"], report["tagged_issued"], report["tagged_paid"]) == ("spring_campaign", 1, 1)
