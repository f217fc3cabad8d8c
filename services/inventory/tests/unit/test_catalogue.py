import pytest

from inventory import usecases
from kameng_common.errors import Conflict, InvalidInput, NotFound


@pytest.fixture
def category(db):
    return usecases.create_category(db, "Game cards")["id"]


def test_a_category_is_created_once_per_name(db):
    first = usecases.create_category(db, "  Game cards ")
    assert first == {"id": first["id"], "name": "Game cards", "parent_id": None}
    assert usecases.create_category(db, "Game cards") == first


@pytest.mark.parametrize("name", ["", "   ", None, 12, "x" * 101])
def test_a_category_needs_a_name(db, name):
    with pytest.raises(InvalidInput, match="name"):
        usecases.create_category(db, name)


def test_a_product_is_created_with_its_level_prices(db, category):
    product = usecases.create_product(db, "Steam 100", category, "card", 10000, level_prices={"vip": 9500})
    assert product == {
        "id": product["id"],
        "name": "Steam 100",
        "category_id": category,
        "kind": "card",
        "price": 10000,
        "currency": "CNY",
        "level_prices": {"vip": 9500},
        "status": "on_sale",
        "stock_limit": None,
        "low_stock_threshold": None,
        "created_at": product["created_at"],
        "supplier_id": None,
        "supplier_sku": None,
        "cost_price": None,
        "updated_at": product["created_at"],
    }
    assert product["created_at"].endswith("+00:00")


def test_creating_the_same_product_again_returns_it_and_a_different_one_conflicts(any_db):
    category = usecases.create_category(any_db, "Game cards")["id"]
    product = usecases.create_product(
        any_db, "Steam 100", category, "card", 10000, level_prices={"vip": 9000}
    )
    assert (
        usecases.create_product(any_db, "Steam 100", category, "card", 10000, level_prices={"vip": 9000})
        == product
    )
    with pytest.raises(Conflict):
        usecases.create_product(any_db, "Steam 100", category, "card", 9000)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"name": " "}, "name"),
        ({"category_id": 999}, "category 999 does not exist"),
        ({"category_id": "1"}, "category_id"),
        ({"kind": "gift"}, "kind"),
        ({"price": -1}, "price"),
        ({"price": 10.5}, "price"),
        ({"price": "100"}, "price"),
        ({"currency": "yuan"}, "currency"),
        ({"level_prices": {"vip": -5}}, "level_prices"),
        ({"level_prices": ["vip", 5]}, "level_prices"),
    ],
)
def test_a_bad_product_is_refused_with_a_clear_message(db, category, changes, field):
    arguments = {"name": "Steam 100", "category_id": category, "kind": "card", "price": 100, **changes}
    with pytest.raises(InvalidInput, match=field):
        usecases.create_product(db, **arguments)


def test_the_catalogue_shows_the_price_for_the_level_and_the_available_stock(shop, db):
    card = shop.product(price=1000, level_prices={"vip": 900}, cards=3)
    direct = shop.product(kind="direct", price=5000)
    shop.created("o1", (card, 1))
    listed = usecases.list_products(db, level="vip")
    assert listed["next_cursor"] is None
    assert [(item["id"], item["price"], item["stock"]) for item in listed["items"]] == [
        (card, 900, 2),
        (direct, 5000, None),
    ]
    assert usecases.list_products(db)["items"][0]["price"] == 1000
    assert usecases.list_products(db, level=None)["items"][0]["price"] == 1000


def test_an_agents_shop_lists_the_agent_price_plus_its_markup_rounded_down(shop, db):
    shop.product(price=1000, level_prices={"agent": 801})
    shop.product(price=2000)

    listed = usecases.list_products(db, level="agent", markup_bp=1250)

    assert [item["price"] for item in listed["items"]] == [901, 2250]


@pytest.mark.parametrize("markup_bp", [-1, 10_001, 1.5, "10"])
def test_a_markup_outside_its_bounds_is_refused(db, markup_bp):
    with pytest.raises(InvalidInput, match="markup_bp"):
        usecases.list_products(db, level="agent", markup_bp=markup_bp)


def test_the_catalogue_pages_by_cursor(shop, db):
    ids = [shop.product() for _ in range(5)]
    first = usecases.list_products(db, limit=2)
    assert [item["id"] for item in first["items"]] == ids[:2]
    second = usecases.list_products(db, limit=2, cursor=first["next_cursor"])
    assert [item["id"] for item in second["items"]] == ids[2:4]
    last = usecases.list_products(db, limit=2, cursor=second["next_cursor"])
    assert [item["id"] for item in last["items"]] == ids[4:]
    assert last["next_cursor"] is None


@pytest.mark.parametrize("arguments", [{"limit": 0}, {"limit": 1000}, {"cursor": "abc"}, {"level": ""}])
def test_bad_paging_is_refused(db, arguments):
    with pytest.raises(InvalidInput):
        usecases.list_products(db, **arguments)


def test_a_quote_merges_lines_and_prices_them_at_the_level(shop, db):
    first = shop.product(price=1000, level_prices={"vip": 900})
    second = shop.product(price=300)
    quote = usecases.quote(
        db,
        [
            {"product_id": first, "quantity": 1},
            {"product_id": second, "quantity": 2},
            {"product_id": first, "quantity": 2},
        ],
        "vip",
    )
    assert quote == {
        "items": [
            {
                "product_id": first,
                "name": "Product 1",
                "category_id": shop._category,
                "quantity": 3,
                "unit_price": 900,
            },
            {
                "product_id": second,
                "name": "Product 2",
                "category_id": shop._category,
                "quantity": 2,
                "unit_price": 300,
            },
        ],
        "total": 3 * 900 + 2 * 300,
        "currency": "CNY",
    }


def test_a_quote_of_an_unknown_product_is_not_found(shop, db):
    with pytest.raises(NotFound, match="product 999"):
        usecases.quote(db, [{"product_id": 999, "quantity": 1}], "regular")


@pytest.mark.parametrize(
    "items",
    [
        [],
        [{"product_id": 1, "quantity": 0}],
        [{"product_id": 1, "quantity": -2}],
        [{"product_id": 1}],
        [{"product_id": 1, "quantity": 1.5}],
        "1x2",
        None,
    ],
)
def test_a_quote_of_bad_lines_is_refused(shop, db, items):
    shop.product()
    with pytest.raises(InvalidInput, match="items"):
        usecases.quote(db, items, "regular")


def test_a_quote_in_two_currencies_is_refused(shop, db):
    cny = shop.product()
    usd = shop.product(currency="USD")
    with pytest.raises(InvalidInput, match="currencies"):
        usecases.quote(
            db, [{"product_id": cny, "quantity": 1}, {"product_id": usd, "quantity": 1}], "regular"
        )


def test_stock_levels_count_available_cards_of_every_card_product(shop, db):
    full = shop.product(cards=4)
    empty = shop.product()
    shop.product(kind="direct")
    shop.created("o1", (full, 3))
    assert usecases.stock_levels(db) == {str(full): 1, str(empty): 0}
