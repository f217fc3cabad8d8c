import pytest

from inventory import domain
from kameng_common.errors import Conflict, InvalidInput


def test_a_level_price_replaces_the_base_price_only_for_its_level():
    assert domain.price_for_level(1000, {"vip": 900}, "vip") == 900
    assert domain.price_for_level(1000, {"vip": 900}, "regular") == 1000
    assert domain.price_for_level(1000, {}, "vip") == 1000


def test_lines_of_the_same_product_are_merged_in_first_seen_order():
    lines = domain.merge_lines(
        [{"product_id": 2, "quantity": 1}, {"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 3}]
    )
    assert list(lines.items()) == [(2, 4), (1, 2)]


def _product(name, price, level_prices=None, currency="CNY", status=domain.ON_SALE):
    return domain.PricedProduct(
        name=name,
        price=price,
        level_prices=level_prices or {},
        currency=currency,
        status=status,
        category_id=7,
    )


def test_a_quote_prices_each_line_at_the_level_and_adds_them_up():
    products = {1: _product("A", 1000, {"vip": 900}), 2: _product("B", 250)}
    quote = domain.quote({1: 2, 2: 3}, products, "vip")
    assert quote == {
        "items": [
            {"product_id": 1, "name": "A", "category_id": 7, "quantity": 2, "unit_price": 900},
            {"product_id": 2, "name": "B", "category_id": 7, "quantity": 3, "unit_price": 250},
        ],
        "total": 2 * 900 + 3 * 250,
        "currency": "CNY",
    }


def test_a_quote_refuses_to_add_up_different_currencies():
    products = {1: _product("A", 1000), 2: _product("B", 100, currency="USD")}
    with pytest.raises(InvalidInput, match="currencies"):
        domain.quote({1: 1, 2: 1}, products, "regular")


def test_each_kind_of_stock_is_demanded_by_its_own_products():
    kinds = {1: domain.CARD, 2: domain.DIRECT, 3: domain.LOOP}
    assert domain.demand({1: 2, 2: 5, 3: 1}, kinds, domain.CARD) == {1: 2}
    assert domain.demand({1: 2, 2: 5, 3: 1}, kinds, domain.LOOP) == {3: 1}


def test_a_quote_refuses_a_product_off_sale():
    products = {1: _product("A", 1000), 2: _product("B", 100, status=domain.OFF_SALE)}
    with pytest.raises(Conflict, match="product 2 is not on sale"):
        domain.quote({1: 1, 2: 1}, products, "regular")


@pytest.mark.parametrize("stock_limit, taken, left", [(None, 5, None), (10, 3, 7), (10, 10, 0), (10, 12, 0)])
def test_a_loop_product_sells_up_to_its_limit(stock_limit, taken, left):
    assert domain.loop_units_left(stock_limit, taken) == left


@pytest.mark.parametrize(
    "category, new_parent, cycle",
    [(1, None, False), (1, 3, True), (1, 1, True), (2, 1, False), (3, 4, False), (2, 3, True)],
)
def test_a_category_is_never_moved_inside_itself(category, new_parent, cycle):
    parents = {1: None, 2: 1, 3: 2, 4: None}
    assert domain.category_cycle(category, new_parent, parents) is cycle


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "N1 S1",
        {},
        {"number": "N1"},
        {"secret": "S1"},
        {"number": "", "secret": "S1"},
        {"number": "N1", "secret": "   "},
        {"number": 12, "secret": "S1"},
        {"number": "N" * (domain.NUMBER_MAX_LENGTH + 1), "secret": "S1"},
        {"number": "N1", "secret": "S" * (domain.SECRET_MAX_LENGTH + 1)},
    ],
)
def test_a_card_with_a_missing_empty_or_oversized_field_is_rejected(raw):
    assert domain.clean_card(raw) is None


def test_a_card_is_trimmed():
    assert domain.clean_card({"number": " N1 ", "secret": "S1\n"}) == ("N1", "S1")


@pytest.mark.parametrize(
    "state, closed, action",
    [
        (None, False, domain.RESERVE),
        (None, True, domain.REJECT_CLOSED),  # cancel or expiry came first
        (domain.STOCK_RESERVED, False, domain.IGNORE),  # asked again
        (domain.STOCK_REJECTED, False, domain.IGNORE),
        (domain.STOCK_SOLD, False, domain.IGNORE),  # order.paid came first and sold
        (domain.STOCK_SALE_FAILED, True, domain.IGNORE),
        (domain.STOCK_SWEPT, False, domain.RESERVE),  # given back by the sweep, then the buyer retried
        (domain.STOCK_SWEPT, True, domain.REJECT_CLOSED),
    ],
)
def test_a_reservation_holds_only_for_a_new_open_order(state, closed, action):
    assert domain.on_reservation_asked(state, closed) == action


@pytest.mark.parametrize(
    "state, action",
    [
        (domain.STOCK_RESERVED, domain.RELEASE),
        (None, domain.CLOSE),  # before its reservation was asked: a tombstone
        (domain.STOCK_REJECTED, domain.CLOSE),
        (domain.STOCK_RELEASED, domain.CLOSE),
        (domain.STOCK_SOLD, domain.CLOSE),  # a sale stands
        (domain.STOCK_SWEPT, domain.CLOSE),
    ],
)
def test_closing_an_order_releases_only_a_reservation(state, action):
    assert domain.on_order_closed(state) == action


@pytest.mark.parametrize(
    "state, action",
    [
        (domain.STOCK_RESERVED, domain.SELL),
        (None, domain.SELL),
        (domain.STOCK_RELEASED, domain.SELL),
        (domain.STOCK_REJECTED, domain.SELL),
        (domain.STOCK_SOLD, domain.IGNORE),
        (domain.STOCK_SALE_FAILED, domain.IGNORE),
    ],
)
def test_payment_sells_once(state, action):
    assert domain.on_order_paid(state) == action


def _order(customer_id="c1", state=domain.STOCK_SOLD):
    return domain.SoldOrder(customer_id=customer_id, stock_state=state)


@pytest.mark.parametrize(
    "order, customer_id, refusal",
    [
        (None, "c1", domain.NOT_FOUND),
        (_order(customer_id=None, state=None), "c1", domain.NOT_FOUND),
        (_order(), "c2", domain.FORBIDDEN),
        (_order(state=domain.STOCK_RESERVED), "c1", domain.NOT_DELIVERED),
        (_order(), "c1", None),
    ],
)
def test_only_the_buyer_of_a_delivered_order_may_read_its_cards(order, customer_id, refusal):
    assert domain.reveal_refusal(order, customer_id) == refusal
