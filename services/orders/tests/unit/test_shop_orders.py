"""Orders placed through an agent's shop (分站): priced at the agent level plus the shop's markup, as customers
answers the shop, the shop recorded on the order and told to customers on delivery for the agent's credit."""

import uuid

import eventlet
import pytest

from kameng_common.errors import InvalidInput, Unavailable
from orders import usecases

SHOP = {"slug": "lucky-cards", "name": "Lucky cards", "agent_id": "agent-7", "markup_bp": 1_250}
# the agent price of product 1 (the stand-in quote prices every level alike), and the shop's on it
AGENT_PRICE = 10_000
SHOP_PRICE = 11_250


class Customers:
    """customers' shops and coupon holds, as orders sees them."""

    def __init__(self, shop=SHOP, refusal=None, discount=0):
        self.shop, self.refusal, self.discount = shop, refusal, discount
        self.asked = []

    def shop_for_order(self, slug):
        self.asked.append(slug)
        if self.refusal is not None:
            raise self.refusal
        return self.shop

    def hold_coupon(self, order_id, customer_id, code, lines, currency):
        return {"order_id": order_id, "code": code.upper(), "discount": self.discount, "status": "held"}


def place(saga, customers, shop="lucky-cards", key="key-1", quantity=2, coupon_code=None, quote=None):
    return usecases.create_order(
        saga.db,
        saga.placing_with(quote),
        saga.DEADLINES,
        "customer-1",
        [{"product_id": 1, "quantity": quantity}],
        key,
        coupon_code=coupon_code,
        now=saga.NOW,
        hold_coupon=customers.hold_coupon,
        shop=shop,
        find_shop=customers.shop_for_order,
    )


def levels_quoted(saga):
    asked = []

    def quote(items, level):
        asked.append(level)
        return saga.quote(items, level)

    return asked, quote


def test_an_order_through_a_shop_is_priced_at_the_agent_level_plus_the_shops_markup(saga):
    customers = Customers()
    asked, quote = levels_quoted(saga)

    order = place(saga, customers, quote=quote)

    assert asked == ["agent"] and customers.asked == ["lucky-cards"]
    assert order["status"] == "awaiting_payment" and order["shop"] == "lucky-cards"
    assert [line["unit_price"] for line in order["items"]] == [SHOP_PRICE]
    assert order["total"] == 2 * SHOP_PRICE
    row = saga.row(order["id"])
    assert (row.level, row.shop, row.shop_agent_id, row.shop_markup) == (
        "agent",
        "lucky-cards",
        "agent-7",
        2 * (SHOP_PRICE - AGENT_PRICE),
    )
    [assessment] = saga.assessed
    assert assessment["total"] == 2 * SHOP_PRICE  # risk scores what the buyer pays
    # inventory keeps the lines at the shop's price for the sale: it is told the markup
    [(_order_id, _customer_id, _items, level, markup_bp)] = saga.reserved
    assert (level, markup_bp) == ("agent", 1_250)


def test_an_order_through_no_shop_records_none(saga):
    order = place(saga, Customers(), shop=None)
    assert order["shop"] is None
    row = saga.row(order["id"])
    assert (row.shop, row.shop_agent_id, row.shop_markup) == (None, None, 0)


@pytest.mark.parametrize("code", ["shop_not_found", "shop_closed"])
def test_an_unknown_or_closed_shop_refuses_the_order_with_customers_code(saga, code):
    with pytest.raises(InvalidInput) as refused:
        place(saga, Customers(refusal=InvalidInput("no such shop", code=code)))
    assert refused.value.code == code
    assert saga.events() == [] and saga.reserved == []


def test_a_shop_is_refused_where_shops_cannot_be_found(saga):
    with pytest.raises(InvalidInput) as refused:
        usecases.create_order(
            saga.db,
            saga.placing,
            saga.DEADLINES,
            "customer-1",
            [{"product_id": 1, "quantity": 1}],
            "key-1",
            shop="lucky-cards",
        )
    assert refused.value.code == "shop_not_found"


@pytest.mark.parametrize(
    "answer",
    [
        {**SHOP, "markup_bp": 10_001},
        {**SHOP, "markup_bp": -1},
        {**SHOP, "markup_bp": "1250"},
        {"slug": "lucky-cards", "markup_bp": 100},
    ],
)
def test_a_shop_answer_that_cannot_be_is_unavailable(saga, answer):
    with pytest.raises(Unavailable):
        place(saga, Customers(shop=answer))
    assert saga.reserved == []


@pytest.mark.parametrize("slug", ["", "x" * 33, 7])
def test_a_malformed_shop_is_invalid_input(saga, slug):
    with pytest.raises(InvalidInput):
        place(saga, Customers(), shop=slug)


def test_the_agent_is_credited_what_the_buyer_pays_over_the_agent_price_after_a_coupon(saga):
    # the coupon takes part of the markup: the agent gets the rest
    order = place(saga, Customers(discount=1_000), coupon_code="spring")
    assert order["total"] == 2 * SHOP_PRICE - 1_000
    assert saga.row(order["id"]).shop_markup == 2 * (SHOP_PRICE - AGENT_PRICE) - 1_000
    # a coupon worth more than the markup leaves the agent nothing, never less
    order = place(saga, Customers(discount=3_000), coupon_code="spring", key="key-2")
    assert saga.row(order["id"]).shop_markup == 0


def test_a_key_replayed_answers_its_order_without_asking_for_the_shop_again_and_another_shop_is_refused(saga):
    customers = Customers()
    first = place(saga, customers)
    again = place(saga, customers)
    assert again["id"] == first["id"] and customers.asked == ["lucky-cards"]
    with pytest.raises(InvalidInput) as refused:
        place(saga, customers, shop="another-shop")
    assert refused.value.code == "idempotency_key_reused"
    with pytest.raises(InvalidInput) as refused:
        place(saga, customers, shop=None)
    assert refused.value.code == "idempotency_key_reused"


def test_the_delivered_order_tells_customers_the_shops_agent_and_markup(saga):
    order = place(saga, Customers())
    saga.pay(order)
    saga.cards_delivered(order["id"])
    saga.cards_delivered(order["id"])  # a replay under a new event id

    [delivered] = saga.events("order.delivered")
    assert delivered["shop"] == {"slug": "lucky-cards", "agent_id": "agent-7", "markup": 2_500}
    assert delivered["total"] == 2 * SHOP_PRICE


def test_an_order_through_no_shop_is_delivered_without_one(saga):
    order = place(saga, Customers(), shop=None)
    saga.pay(order)
    saga.cards_delivered(order["id"])
    [delivered] = saga.events("order.delivered")
    assert "shop" not in delivered


def test_the_audit_snapshot_shows_each_orders_shop(saga):
    through = place(saga, Customers())
    direct = place(saga, Customers(), shop=None, key="key-2")
    snapshot = usecases.audit_snapshot(saga.db)["orders"]
    assert snapshot[through["id"]]["shop"] == {"slug": "lucky-cards", "agent_id": "agent-7", "markup": 2_500}
    assert snapshot[direct["id"]]["shop"] is None


def test_one_key_raced_through_a_shop_makes_one_order(any_saga):
    both_inside = eventlet.event.Event()
    arrived = []

    def slow_quote(items, level):
        arrived.append(level)
        if len(arrived) == 2:
            both_inside.send()
        both_inside.wait(10)
        return any_saga.quote(items, level)

    key = str(uuid.uuid4())
    racers = [eventlet.spawn(place, any_saga, Customers(), key=key, quote=slow_quote) for _ in range(2)]
    answers = [racer.wait() for racer in racers]

    assert answers[0]["id"] == answers[1]["id"] and arrived == ["agent", "agent"]
    assert any_saga.row(answers[0]["id"]).shop_markup == 2_500
