"""Staff manage the catalogue: the category tree, product changes, price history, cards by state."""

import pytest

from inventory import catalogue, usecases
from kameng_common.errors import Conflict, InvalidInput, NotFound


def test_categories_form_a_tree_with_names_unique_among_siblings(any_db):
    games = usecases.create_category(any_db, "Games")
    steam = usecases.create_category(any_db, "Steam", parent_id=games["id"])
    assert steam["parent_id"] == games["id"]
    assert usecases.create_category(any_db, "Steam", parent_id=games["id"]) == steam
    other = usecases.create_category(any_db, "Steam")  # a root of the same name is another category
    assert other["id"] != steam["id"]
    assert usecases.create_category(any_db, "Steam") == other
    listed = catalogue.list_categories(any_db)
    assert listed == {"items": [games, steam, other], "next_cursor": None}


def test_a_category_under_an_unknown_parent_is_refused(db):
    with pytest.raises(InvalidInput, match="parent category 99"):
        usecases.create_category(db, "Steam", parent_id=99)


def test_a_category_is_renamed_and_moved_but_never_inside_itself(any_db):
    root = usecases.create_category(any_db, "Games")["id"]
    child = usecases.create_category(any_db, "Steam", parent_id=root)["id"]
    grandchild = usecases.create_category(any_db, "Wallet", parent_id=child)["id"]
    assert catalogue.update_category(any_db, child, {"name": "Steam cards"})["name"] == "Steam cards"
    for new_parent in (grandchild, child):
        with pytest.raises(InvalidInput, match="under itself"):
            catalogue.update_category(any_db, child, {"parent_id": new_parent})
    moved = catalogue.update_category(any_db, grandchild, {"parent_id": None})
    assert moved == {"id": grandchild, "name": "Wallet", "parent_id": None}
    assert catalogue.update_category(any_db, root, {"parent_id": grandchild})["parent_id"] == grandchild


def test_moving_a_category_beside_one_of_the_same_name_conflicts(db):
    games = usecases.create_category(db, "Games")["id"]
    usecases.create_category(db, "Steam", parent_id=games)
    loose = usecases.create_category(db, "Steam")["id"]
    with pytest.raises(Conflict, match="Steam"):
        catalogue.update_category(db, loose, {"parent_id": games})


@pytest.mark.parametrize(
    "category_id, changes, error",
    [
        (99, {"name": "x"}, NotFound),
        (1, {}, InvalidInput),
        (1, {"name": " "}, InvalidInput),
        (1, {"parent_id": 99}, InvalidInput),
        (1, {"parent_id": "2"}, InvalidInput),
        (1, {"colour": "red"}, InvalidInput),
    ],
)
def test_a_bad_category_change_is_refused(db, category_id, changes, error):
    usecases.create_category(db, "Games")
    with pytest.raises(error):
        catalogue.update_category(db, category_id, changes)


def test_a_price_change_is_kept_in_the_history_and_an_order_keeps_its_quote(shop, db):
    product = shop.product(price=1000, level_prices={"vip": 900}, cards=2)
    quoted = usecases.quote(db, [{"product_id": product, "quantity": 1}], "vip")
    changed = catalogue.update_product(
        db, product, {"price": 1200, "level_prices": {"vip": 1100}}, actor="s1"
    )
    assert (changed["price"], changed["level_prices"], changed["stock"]) == (1200, {"vip": 1100}, 2)
    catalogue.update_product(db, product, {"name": "Renamed", "price": 1200}, actor="s2")  # price unchanged
    history = catalogue.price_history_of(db, product)
    assert [(entry["price"], entry["level_prices"], entry["changed_by"]) for entry in history["items"]] == [
        (1200, {"vip": 1100}, "s1"),
        (1000, {"vip": 900}, None),
    ]
    assert quoted["items"][0]["unit_price"] == 900  # what the order was quoted stays with the order
    assert usecases.quote(db, [{"product_id": product, "quantity": 1}], "vip")["total"] == 1100


def test_the_price_history_pages_newest_first(shop, db):
    product = shop.product(price=100)
    for price in (200, 300, 400):
        catalogue.update_product(db, product, {"price": price})
    first = catalogue.price_history_of(db, product, limit=3)
    assert [entry["price"] for entry in first["items"]] == [400, 300, 200]
    rest = catalogue.price_history_of(db, product, limit=3, cursor=first["next_cursor"])
    assert [entry["price"] for entry in rest["items"]] == [100] and rest["next_cursor"] is None


def test_a_product_off_sale_is_hidden_from_buyers_and_cannot_be_ordered(shop, db):
    on, off = shop.product(cards=1), shop.product(cards=1)
    catalogue.update_product(db, off, {"status": "off_sale"})
    assert [item["id"] for item in usecases.list_products(db)["items"]] == [on]
    assert [item["id"] for item in usecases.list_products(db, include_off_sale=True)["items"]] == [on, off]
    with pytest.raises(NotFound):
        usecases.get_product(db, off)
    assert catalogue.get_product_for_staff(db, off)["status"] == "off_sale"
    with pytest.raises(Conflict, match="not on sale") as refused:
        usecases.quote(db, [{"product_id": off, "quantity": 1}], "regular")
    assert refused.value.code == "not_on_sale"
    catalogue.update_product(db, off, {"status": "on_sale"})
    assert usecases.get_product(db, off)["stock"] == 1


def test_one_product_is_priced_for_the_caller_with_its_stock(shop, db):
    card = shop.product(price=1000, level_prices={"vip": 900}, cards=3)
    direct = shop.product(kind="direct", price=500)
    assert usecases.get_product(db, card, "vip") == {
        "id": card,
        "name": "Product 1",
        "category_id": 1,
        "kind": "card",
        "price": 900,
        "currency": "CNY",
        "status": "on_sale",
        "stock": 3,
    }
    assert usecases.get_product(db, direct)["stock"] is None
    with pytest.raises(NotFound):
        usecases.get_product(db, 999)


@pytest.mark.parametrize(
    "changes, error",
    [
        ({}, InvalidInput),
        ({"price": -1}, InvalidInput),
        ({"price": 1.5}, InvalidInput),
        ({"status": "sold_out"}, InvalidInput),
        ({"stock_limit": 5}, InvalidInput),  # not a loop product
        ({"kind": "loop"}, InvalidInput),
        ({"level_prices": {"vip": -1}}, InvalidInput),
        ({"name": "Product 2"}, Conflict),
    ],
)
def test_a_bad_product_change_is_refused(shop, db, changes, error):
    product = shop.product()
    shop.product()
    with pytest.raises(error):
        catalogue.update_product(db, product, changes)


def test_a_change_to_an_unknown_product_is_not_found(db):
    with pytest.raises(NotFound):
        catalogue.update_product(db, 999, {"price": 1})


def test_a_loop_products_limit_may_change(shop, db):
    product = shop.product(kind="loop", stock_limit=2, cards=1)
    shop.created("o1", (product, 2))
    assert catalogue.update_product(db, product, {"stock_limit": 5})["stock"] == 3
    assert catalogue.update_product(db, product, {"stock_limit": None})["stock"] is None


def test_cards_are_listed_by_state_without_their_secrets(shop, db):
    product = shop.product(cards=5)
    shop.created("o1", (product, 1))
    shop.paid("o1", (product, 1))
    shop.created("o2", (product, 1))
    cards = catalogue.list_cards(db, product)["items"]
    catalogue.void_card(db, cards[4]["id"])
    listed = catalogue.list_cards(db, product, limit=2)
    assert [card["state"] for card in listed["items"]] == ["sold", "reserved"]
    assert listed["items"][0]["order_id"] == "o1" and listed["items"][0]["sold_at"]
    rest = catalogue.list_cards(db, product, limit=2, cursor=listed["next_cursor"])
    assert [card["state"] for card in rest["items"]] == ["available", "available"]
    assert [card["state"] for card in catalogue.list_cards(db, product, state="void")["items"]] == ["void"]
    assert all("secret" not in card and "S" not in str(card.get("ciphertext")) for card in cards)
    assert set(cards[0]) == {
        "id",
        "number",
        "state",
        "order_id",
        "imported_at",
        "reserved_at",
        "sold_at",
        "voided_at",
        "refunded_at",
    }


@pytest.mark.parametrize("arguments", [{"state": "lost"}, {"limit": 0}, {"cursor": "x"}])
def test_a_bad_card_listing_is_refused(shop, db, arguments):
    with pytest.raises(InvalidInput):
        catalogue.list_cards(db, shop.product(), **arguments)


def test_voiding_takes_an_unsold_card_out_of_stock_once(shop, db):
    product = shop.product(cards=2)
    shop.created("o1", (product, 1))
    shop.paid("o1", (product, 1))
    sold, available = catalogue.list_cards(db, product)["items"]
    with pytest.raises(Conflict, match="sold"):
        catalogue.void_card(db, sold["id"])
    voided = catalogue.void_card(db, available["id"])
    assert (voided["state"], voided["product_id"]) == ("void", product) and voided["voided_at"]
    assert catalogue.void_card(db, available["id"]) == voided
    assert shop.available(product) == 0
    with pytest.raises(NotFound):
        catalogue.void_card(db, 999)
