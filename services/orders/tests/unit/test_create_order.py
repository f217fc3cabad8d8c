"""create_order: pricing at the buyer's level, storage, asking inventory and risk, idempotency, input validation."""

import dataclasses
import json
import uuid

import eventlet
import pytest

from kameng_common import contracts
from kameng_common.errors import InvalidInput, NotFound, Unavailable
from kameng_common.testing import deliver
from orders import usecases


def create(saga, quote=None, customer_id="customer-1", items=None, key="key-1", coupon_code=None):
    return usecases.create_order(
        saga.db,
        saga.placing_with(quote),
        saga.DEADLINES,
        customer_id,
        items if items is not None else [{"product_id": 1, "quantity": 2}],
        key,
        coupon_code=coupon_code,
        now=saga.NOW,
    )


def test_places_an_order_priced_by_inventory_and_answers_it_awaiting_payment(saga):
    order = create(saga, items=[{"product_id": 1, "quantity": 2}, {"product_id": 3, "quantity": 1}])
    assert order["status"] == "awaiting_payment"
    assert order["customer_id"] == "customer-1"
    assert order["items"] == [
        {"product_id": 1, "name": "Steam card 100", "quantity": 2, "unit_price": 10000},
        {"product_id": 3, "name": "Phone credit 30", "quantity": 1, "unit_price": 2990},
    ]
    assert (order["total"], order["currency"]) == (22990, "CNY")
    assert order["created_at"] == "2026-03-01T12:00:00+00:00"
    assert order["expires_at"] == "2026-03-01T12:15:00+00:00" and order["payment_id"] is None
    assert order["history"] == [
        {"status": "pending", "at": "2026-03-01T12:00:00+00:00", "reason": "created"},
        {
            "status": "awaiting_payment",
            "at": "2026-03-01T12:00:00+00:00",
            "reason": "stock reserved, risk approve",
        },
    ]
    assert saga.order(order["id"]) == order
    assert saga.events() == []  # inventory and risk answered: nothing to tell anyone


def test_asks_inventory_once_to_reserve_and_price_then_risk_to_score_the_order_as_stored(saga):
    order = create(saga)
    # one request to inventory: it prices the items at the buyer's level as it reserves them
    assert saga.reserved == [(order["id"], "customer-1", [{"product_id": 1, "quantity": 2}], "regular", 0)]
    lines = [{"product_id": 1, "quantity": 2, "unit_price": 10000}]
    assert saga.assessed == [
        {
            "order_id": order["id"],
            "customer_id": "customer-1",
            "items": lines,
            "total": 20000,
            "currency": "CNY",
            "created_at": "2026-03-01T12:00:00+00:00",
            "client_ip": None,
            "device_id": None,
        }
    ]
    assert saga.asked == []  # both at once only for an order left pending


def test_where_the_buyer_ordered_from_travels_to_risk_with_the_order(saga):
    usecases.create_order(
        saga.db,
        saga.placing,
        saga.DEADLINES,
        "customer-1",
        [{"product_id": 1, "quantity": 1}],
        "key-1",
        client_ip="203.0.113.9",
        device_id="phone-42",
    )
    [assessment] = saga.assessed
    assert (assessment["client_ip"], assessment["device_id"]) == ("203.0.113.9", "phone-42")
    with pytest.raises(InvalidInput):
        usecases.create_order(
            saga.db,
            saga.placing,
            saga.DEADLINES,
            "customer-1",
            [{"product_id": 1, "quantity": 1}],
            "k2",
            device_id="x" * 129,
        )


def level_changed(customer_id, level, version):
    return contracts.load_event(
        json.dumps(
            contracts.new_event(
                "customer.level_changed",
                {"customer_id": customer_id, "level": level, "version": version},
                customer_id,
            )
        )
    )


def levels_asked(saga, customer_id="customer-1"):
    asked = []

    def quote(items, level):
        asked.append(level)
        return saga.quote(items, level)

    usecases.create_order(
        saga.db,
        saga.placing_with(quote),
        saga.DEADLINES,
        customer_id,
        [{"product_id": 2, "quantity": 1}],
        str(uuid.uuid4()),
    )
    return asked[0]


def test_a_buyer_whose_level_never_changed_is_priced_at_the_first_level(saga):
    assert levels_asked(saga) == "regular"


def test_asks_inventory_at_the_buyers_level_as_customers_last_announced_it(any_saga):
    deliver(any_saga.db, "orders", usecases.on_customer_level_changed, level_changed("customer-1", "vip", 1))
    assert levels_asked(any_saga) == "vip"
    deliver(
        any_saga.db, "orders", usecases.on_customer_level_changed, level_changed("customer-1", "agent", 2)
    )
    assert levels_asked(any_saga) == "agent"
    assert levels_asked(any_saga, "customer-2") == "regular"


def test_an_older_level_change_arriving_late_changes_nothing(any_saga):
    deliver(any_saga.db, "orders", usecases.on_customer_level_changed, level_changed("customer-1", "svip", 3))
    deliver(any_saga.db, "orders", usecases.on_customer_level_changed, level_changed("customer-1", "vip", 2))
    # a replay of the newest under a new event id keeps it too
    deliver(any_saga.db, "orders", usecases.on_customer_level_changed, level_changed("customer-1", "svip", 3))
    assert levels_asked(any_saga) == "svip"


def test_the_same_key_returns_the_same_order_without_pricing_again(saga):
    calls = []

    def quote(items, level):
        calls.append(items)
        return saga.quote(items, level)

    first = create(saga, quote=quote)
    again = create(saga, quote=quote)
    assert again == first
    assert len(calls) == 1
    assert (len(saga.reserved), len(saga.assessed), saga.asked) == (1, 1, [])  # placed: not asked again


@pytest.mark.parametrize(
    "items, coupon_code",
    [([{"product_id": 2, "quantity": 5}], None), ([{"product_id": 1, "quantity": 3}], None)],
)
def test_the_same_key_with_another_request_is_refused(saga, items, coupon_code):
    first = create(saga)
    with pytest.raises(InvalidInput) as refused:
        create(saga, items=items, coupon_code=coupon_code)
    assert refused.value.code == "idempotency_key_reused"
    assert [order["id"] for order in saga_orders(saga)] == [first["id"]]
    assert (len(saga.reserved), saga.asked) == (1, [])


def test_a_key_raced_with_another_request_is_refused_to_the_loser(any_saga):
    both_inside = eventlet.event.Event()
    arrived = []

    def slow_quote(items, level):
        arrived.append(1)
        if len(arrived) == 2:
            both_inside.send()
        both_inside.wait()
        return any_saga.quote(items, level)

    key = str(uuid.uuid4())
    racers = [
        eventlet.spawn(
            usecases.create_order,
            any_saga.db,
            any_saga.placing_with(slow_quote),
            any_saga.DEADLINES,
            "customer-1",
            items,
            key,
        )
        for items in ([{"product_id": 1, "quantity": 1}], [{"product_id": 1, "quantity": 2}])
    ]
    outcomes = []
    for racer in racers:
        try:
            outcomes.append(racer.wait()["status"])
        except InvalidInput as refused:
            outcomes.append(refused.code)
    assert sorted(outcomes) == ["awaiting_payment", "idempotency_key_reused"]
    assert len(saga_orders(any_saga)) == 1


def test_the_key_belongs_to_its_customer(saga):
    mine = create(saga, customer_id="customer-1", key="same")
    theirs = create(saga, customer_id="customer-2", key="same")
    assert mine["id"] != theirs["id"]


def test_concurrent_requests_with_the_same_key_make_one_order(any_saga):
    """Both pass the look-up before either commits; the unique key lets one win, the other returns it."""
    both_inside = eventlet.event.Event()
    arrived = []

    def slow_quote(items, level):
        arrived.append(1)
        if len(arrived) == 2:
            both_inside.send()
        both_inside.wait()
        return any_saga.quote(items, level)

    key = str(uuid.uuid4())
    racers = [
        eventlet.spawn(
            usecases.create_order,
            any_saga.db,
            any_saga.placing_with(slow_quote),
            any_saga.DEADLINES,
            "customer-1",
            [{"product_id": 1, "quantity": 1}],
            key,
        )
        for _ in range(2)
    ]
    first, second = (racer.wait() for racer in racers)
    assert first == second
    assert len(saga_orders(any_saga)) == 1
    # both reserved the one order (idempotent per order); the loser found it placed already, or placed
    # it again
    assert {reserved[0] for reserved in any_saga.reserved} == {first["id"]}
    assert {reservation["order_id"] for reservation, _assessment in any_saga.asked} <= {first["id"]}


def saga_orders(saga):
    return usecases.list_orders(saga.db, limit=200)["items"]


def test_a_coupon_is_refused_where_coupons_cannot_be_held(saga):
    with pytest.raises(InvalidInput) as refused:
        create(saga, coupon_code="SPRING10")
    assert refused.value.code == "coupon_invalid"
    assert saga.events() == []


class Customers:
    """customers' coupon holds, as orders sees them."""

    def __init__(self, discount=1_500, refusal=None):
        self.discount, self.refusal = discount, refusal
        self.holds = []

    def hold_coupon(self, order_id, customer_id, code, lines, currency):
        self.holds.append((order_id, customer_id, code, lines, currency))
        if self.refusal is not None:
            raise self.refusal
        return {"order_id": order_id, "code": code.upper(), "discount": self.discount, "status": "held"}


def create_with_coupon(saga, customers, key="key-1", code="spring10", deadlines=None):
    return usecases.create_order(
        saga.db,
        saga.placing,
        deadlines or saga.DEADLINES,
        "customer-1",
        [{"product_id": 1, "quantity": 2}],
        key,
        coupon_code=code,
        now=saga.NOW,
        hold_coupon=customers.hold_coupon,
    )


def test_a_coupon_held_for_the_order_takes_its_discount_off_the_total(saga):
    customers = Customers(discount=1_500)

    order = create_with_coupon(saga, customers)

    assert (order["total"], order["discount"], order["coupon_code"]) == (20_000 - 1_500, 1_500, "SPRING10")
    assert saga.order(order["id"]) == order
    [(order_id, customer_id, code, lines, currency)] = customers.holds
    assert (order_id, customer_id, code, currency) == (order["id"], "customer-1", "spring10", "CNY")
    assert lines == [{"product_id": 1, "category_id": None, "quantity": 2, "unit_price": 10_000}]
    [assessment] = saga.assessed
    assert assessment["total"] == 18_500  # risk scores what the buyer pays


def test_a_refused_coupon_refuses_the_order(saga):
    customers = Customers(refusal=InvalidInput("this coupon has expired", code="coupon_expired"))

    with pytest.raises(InvalidInput) as refused:
        create_with_coupon(saga, customers)

    assert refused.value.code == "coupon_expired"
    assert saga.events() == [] and saga_orders(saga) == []
    # its stock, reserved before the coupon was refused, goes back at once rather than with the sweep
    assert saga.given_back == [saga.reserved[0][0]]


def test_a_coupon_customers_did_not_answer_about_keeps_the_reservation_for_the_retry(saga):
    with pytest.raises(Unavailable):
        create_with_coupon(saga, Customers(refusal=Unavailable("customers answered too late")))
    assert saga.given_back == [] and saga_orders(saga) == []


@pytest.mark.parametrize("discount", [-1, 20_001, "100"])
def test_a_discount_that_cannot_be_is_unavailable(saga, discount):
    with pytest.raises(Unavailable):
        create_with_coupon(saga, Customers(discount=discount))
    assert saga_orders(saga) == []


def test_a_key_replayed_answers_its_order_without_a_second_hold(saga):
    customers = Customers()
    first = create_with_coupon(saga, customers)
    again = create_with_coupon(saga, customers)
    assert again["id"] == first["id"] and len(customers.holds) == 1


def test_every_attempt_with_a_key_holds_the_coupon_for_the_one_order_stored(any_saga):
    customers = Customers()
    failing = Customers(refusal=Unavailable("customers answered too late"))
    with pytest.raises(Unavailable):
        create_with_coupon(any_saga, failing)  # a hold customers may have made, its answer lost
    orders = list(eventlet.GreenPool(4).imap(lambda _: create_with_coupon(any_saga, customers), range(4)))

    assert len({order["id"] for order in orders}) == 1
    assert {hold[0] for hold in failing.holds + customers.holds} == {orders[0]["id"]}


def test_an_order_whose_hold_may_have_been_given_back_meanwhile_is_not_stored(saga):
    """Placing the order took half of customers' grace for a hold whose order it does not see stored:
    its sweep might give the use back while the order is stored with the discount. The order is not
    stored; the buyer's retry holds the coupon again."""
    customers = Customers()
    hurried = dataclasses.replace(saga.DEADLINES, coupon_hold_seconds=0)

    with pytest.raises(Unavailable):
        create_with_coupon(saga, customers, deadlines=hurried)
    assert saga_orders(saga) == []

    order = create_with_coupon(saga, customers)
    assert order["discount"] == 1_500 and len(customers.holds) == 2


def test_an_order_whose_reservation_may_have_been_given_back_meanwhile_is_not_stored(saga):
    """Placing the order took half of inventory's grace for a reservation whose order it does not see
    stored: its sweep might give the stock back while the order is stored reserved. The order is not
    stored; the buyer's retry reserves the order again (idempotent per order)."""
    hurried = dataclasses.replace(saga.DEADLINES, reservation_seconds=0)
    with pytest.raises(Unavailable):
        usecases.create_order(
            saga.db, saga.placing, hurried, "customer-1", [{"product_id": 1, "quantity": 2}], "key-1"
        )
    assert saga_orders(saga) == [] and saga.assessed == []

    order = create(saga)
    assert order["status"] == "awaiting_payment"
    assert [reserved[0] for reserved in saga.reserved] == [order["id"]] * 2


def test_an_order_refused_for_its_stock_is_stored_cancelled_without_asking_risk(saga):
    saga.stock = "out_of_stock"
    order = create(saga)
    assert order["status"] == "cancelled"
    assert [(entry["status"], entry["reason"]) for entry in order["history"]] == [
        ("pending", "created"),
        ("cancelled", "stock rejected: out_of_stock"),
    ]
    assert saga.assessed == [] and saga.asked == []
    # risk no longer counts it unpaid, customers gives back a coupon it held
    assert saga.events("order.cancelled") == [
        {"order_id": order["id"], "reason": "stock rejected: out_of_stock"}
    ]
    assert create(saga) == order and len(saga.reserved) == 1


def test_an_order_risk_did_not_score_is_stored_reserved_and_completed_with_its_priced_lines(saga):
    pending = saga.create()
    assert pending["status"] == "pending" and saga.row(pending["id"]).stock_status == "reserved"

    order = create(saga, key=saga.row(pending["id"]).idempotency_key)

    assert order["status"] == "awaiting_payment"
    # placed again: inventory asked with the lines as stored, idempotently, and risk at once
    [(reservation, assessment)] = saga.asked
    lines = [{"product_id": 1, "quantity": 2, "unit_price": 10000}]
    assert reservation == {"order_id": order["id"], "customer_id": "customer-1", "items": lines}
    assert assessment["order_id"] == order["id"] and len(saga.reserved) == 1


@pytest.mark.parametrize(
    "answer",
    [
        {"order_id": "another-order", "reserved": True, "reason": None},
        {"reserved": True, "reason": None},
        {"order_id": None, "reserved": True, "reason": None},
    ],
)
def test_a_reservation_answer_that_cannot_be_stores_nothing(saga, answer):
    def reserve(order_id, customer_id, items, level, markup_bp):
        return {**answer, "quote": saga.quote(items, level)}

    placing = dataclasses.replace(saga.placing, reserve=reserve)
    with pytest.raises(Unavailable):
        usecases.create_order(
            saga.db, placing, saga.DEADLINES, "customer-1", [{"product_id": 1, "quantity": 1}], "key-1"
        )
    assert saga_orders(saga) == []


@pytest.mark.parametrize(
    "items, complaint",
    [
        ([], "items: Length must be between 1 and 50."),
        (
            [{"product_id": 1, "quantity": 1 + n} for n in range(51)],
            "items: Length must be between 1 and 50.",
        ),
        ([{"product_id": 1, "quantity": 0}], "items.0.quantity: Must be greater than or equal to 1"),
        ([{"product_id": 1, "quantity": True}], "items.0.quantity: Not a valid integer."),
        ([{"product_id": "1", "quantity": 1}], "items.0.product_id: Not a valid integer."),
        ([{"product_id": 1}], "items.0.quantity: Missing data for required field."),
        ([{"product_id": 1, "quantity": 1, "price": 1}], "items.0.price: Unknown field."),
        (
            [{"product_id": 1, "quantity": 1}, {"product_id": 1, "quantity": 2}],
            "items: each product may appear on one line only",
        ),
        ("two cards please", "items: Not a valid list."),
    ],
)
def test_bad_items_are_refused_with_a_clear_message(saga, items, complaint):
    with pytest.raises(InvalidInput) as refused:
        create(saga, items=items)
    assert complaint in refused.value.message
    assert saga.events() == []


@pytest.mark.parametrize(
    "arguments", [{"customer_id": ""}, {"customer_id": None}, {"key": ""}, {"key": "k" * 129}]
)
def test_bad_customer_or_key_is_refused(saga, arguments):
    with pytest.raises(InvalidInput):
        create(saga, **arguments)


def test_inventory_refusals_reach_the_caller(saga):
    def quote(items, level):
        raise NotFound("product 9 does not exist")

    with pytest.raises(NotFound):
        create(saga, quote=quote)
    assert saga_orders(saga) == []


@pytest.mark.parametrize(
    "answer",
    [
        {
            "items": [{"product_id": 1, "name": "x", "quantity": 1, "unit_price": 10000}],
            "total": 10000,
            "currency": "CNY",
        },  # another quantity than ordered
        {
            "items": [{"product_id": 1, "name": "x", "quantity": 2, "unit_price": 10000}],
            "total": 19999,
            "currency": "CNY",
        },  # lines that don't add up
        {
            "items": [{"product_id": 1, "name": "x", "quantity": 2, "unit_price": -1}],
            "total": -2,
            "currency": "CNY",
        },  # malformed
        None,
    ],
)
def test_a_quote_that_does_not_fit_the_order_stores_nothing(saga, answer):
    with pytest.raises(Unavailable):
        create(saga, quote=lambda items, level: answer)
    assert saga_orders(saga) == []


class Payments:
    """payments' create_intent: opens an intent and remembers what it was asked."""

    def __init__(self):
        self.asked = []

    def __call__(self, order_id, customer_id, amount, currency, method):
        self.asked.append((order_id, customer_id, amount, currency, method))
        return {"payment_id": f"pay-{order_id}", "amount": amount, "currency": currency, "method": method}


def test_a_payment_method_opens_the_payment_of_an_order_that_awaits_it(saga):
    payments = Payments()
    order = saga.place(key="k", payment_method="alipay", create_intent=payments)
    assert order["status"] == "awaiting_payment"
    assert order["payment"] == {
        "payment_id": f"pay-{order['id']}",
        "amount": 20000,
        "currency": "CNY",
        "method": "alipay",
    }
    # the same key again answers the same order and the same payment (payments is idempotent per order)
    assert saga.place(key="k", payment_method="alipay", create_intent=payments) == order
    assert payments.asked == [(order["id"], "customer-1", 20000, "CNY", "alipay")] * 2


@pytest.mark.parametrize("risk", ["review", "reject"])
def test_an_order_that_does_not_await_payment_opens_none(saga, risk):
    payments = Payments()
    saga.risk = risk
    order = saga.place(payment_method="alipay", create_intent=payments)
    assert order["status"] in ("on_hold", "cancelled") and order["payment"] is None
    assert payments.asked == []


def test_without_a_payment_method_the_answer_is_the_order_alone(saga):
    assert "payment" not in saga.place()
