"""Admin catalogue routes, card import in both formats, and the public catalogue."""

import pytest

from kameng_common.errors import NotFound

IMPORTED = {"imported": 2, "duplicates": 0, "rejected": 0, "duplicate_lines": [], "rejected_lines": []}


def _inventory_import(product_id, cards, **options):
    """Like inventory: a number seen before (in this test) is a duplicate, a "TOO-LONG" secret refused."""
    answer = {"imported": 0, "duplicate_positions": [], "rejected_positions": []}
    for position, card in enumerate(cards):
        if card["secret"] == "TOO-LONG":
            answer["rejected_positions"].append(position)
        elif card["number"] in _inventory_import.seen:
            answer["duplicate_positions"].append(position)
        else:
            _inventory_import.seen.add(card["number"])
            answer["imported"] += 1
    answer["duplicates"] = len(answer["duplicate_positions"])
    answer["rejected"] = len(answer["rejected_positions"])
    return answer


@pytest.fixture(autouse=True)
def inventory(rpc):
    _inventory_import.seen = set()
    rpc.answer("inventory", "import_cards", _inventory_import)
    rpc.answer(
        "inventory",
        "list_products",
        {
            "items": [
                {
                    "id": 1,
                    "name": "Card 100",
                    "category_id": 1,
                    "kind": "card",
                    "price": 9000,
                    "currency": "CNY",
                    "status": "on_sale",
                    "stock": 12,
                }
            ],
            "next_cursor": None,
        },
    )


def _import(client, callers, body, content_type):
    return client.post(
        "/api/v1/admin/products/7/cards", data=body, content_type=content_type, headers=callers.staff("ops")
    )


def _sent(rpc):
    return [card for call in rpc.calls_to("inventory", "import_cards") for card in call.args[1]]


def test_import_cards_as_json(client, callers, rpc):
    cards = [{"number": "N1", "secret": "S1"}, {"number": "N2", "secret": "S2"}]

    response = client.post(
        "/api/v1/admin/products/7/cards", json={"cards": cards}, headers=callers.staff("ops")
    )

    assert response.status_code == 200
    assert response.json == IMPORTED
    assert rpc.calls_to("inventory", "import_cards")[0].args == (7, cards)


def test_import_cards_as_text_one_card_a_line(client, callers, rpc):
    response = _import(client, callers, "N1 S1\n\n  N2\tS2  \r\n", "text/plain; charset=utf-8")

    assert response.status_code == 200
    assert response.json == IMPORTED
    assert _sent(rpc) == [{"number": "N1", "secret": "S1"}, {"number": "N2", "secret": "S2"}]


def test_import_cards_as_csv_with_a_header_and_quoted_fields(client, callers, rpc):
    body = '\ufeffnumber,secret\r\nN1,S1\r\n"N,2","S ""2"""\r\n\r\n'.encode()

    response = _import(client, callers, body, "text/csv")

    assert response.status_code == 200
    assert _sent(rpc) == [{"number": "N1", "secret": "S1"}, {"number": "N,2", "secret": 'S "2"'}]


def test_duplicates_and_rejected_lines_are_named_by_number_never_by_content(client, callers):
    text = "N1 S1\nN2-without-secret\nN1 S1-again\nN3 S3 extra-SECRET-part\nN4 TOO-LONG\nN5 S5\n"

    response = _import(client, callers, text, "text/plain")

    assert response.status_code == 200
    assert response.json == {
        "imported": 2,
        "duplicates": 1,
        "rejected": 3,
        "duplicate_lines": [3],
        "rejected_lines": [2, 4, 5],
    }
    assert "SECRET" not in response.get_data(as_text=True)


def test_json_cards_are_reported_by_position(client, callers):
    cards = [{"number": "N1", "secret": "S1"}, {"number": "N1"}, "N2 S2", {"number": "N1", "secret": "S"}]

    response = client.post(
        "/api/v1/admin/products/7/cards", json={"cards": cards}, headers=callers.staff("ops")
    )

    assert response.status_code == 200
    assert (response.json["rejected_lines"], response.json["duplicate_lines"]) == ([2, 3], [4])


def test_a_large_file_goes_to_inventory_in_batches_and_keeps_its_line_numbers(client, callers, rpc):
    lines = [f"N{i} S{i}" for i in range(12_000)]
    lines[11_000] = "N5 S-again"  # a duplicate of line 6, in the third batch

    response = _import(client, callers, "\n".join(lines), "text/plain")

    assert response.status_code == 200
    assert [len(call.args[1]) for call in rpc.calls_to("inventory", "import_cards")] == [5000, 5000, 2000]
    assert response.json["imported"] == 11_999
    assert response.json["duplicate_lines"] == [11_001]


def test_more_cards_than_one_request_takes_is_refused_before_any_is_imported(client, callers, rpc):
    response = _import(client, callers, "N S\n" * 100_001, "text/plain")

    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert rpc.calls_to("inventory", "import_cards") == []


def test_text_that_is_not_utf8_is_invalid_input_naming_its_line(client, callers, rpc):
    response = _import(client, callers, b"N1 S1\nN2 \xff\xfe\n", "text/plain")

    assert response.status_code == 422
    assert "Line 2" in response.json["error"]["message"]
    assert rpc.calls_to("inventory", "import_cards") == []


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("\n\n", "text/plain"),
        ("only-numbers\nno-secrets\n", "text/plain"),
        ("number,secret\n", "text/csv"),
        ('"unterminated,S1\n', "text/csv"),
        ("N1 S1", "text/plain; charset=no-such-charset"),
        ('{"cards": []}', "application/json"),
        ('{"cards": [{"number": "N1"}]}', "application/json"),
        ('{"cards": "N1 S1"}', "application/json"),
        ('{"cards": [], "more": 1}', "application/json"),
        ("[1, 2]", "application/json"),
        ("not json", "application/json"),
    ],
)
def test_a_body_with_no_card_is_invalid_input(client, callers, rpc, body, content_type):
    response = _import(client, callers, body, content_type)

    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_input"
    assert rpc.calls_to("inventory", "import_cards") == []


def test_cards_in_another_format_are_unsupported(client, callers):
    response = _import(client, callers, "<cards/>", "application/xml")

    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"


def test_inventory_refusing_the_product_is_its_answer(client, callers, rpc):
    rpc.answer("inventory", "import_cards", NotFound("product 7 does not exist"))

    response = _import(client, callers, "N1 S1\n", "text/plain")

    assert response.status_code == 404


def test_create_product_forwards_every_field(client, callers, rpc):
    rpc.answer(
        "inventory",
        "create_product",
        {"id": 5, "name": "Card 100", "category_id": 1, "kind": "card", "price": 10000, "currency": "CNY"},
    )

    response = client.post(
        "/api/v1/admin/products",
        headers=callers.staff("ops"),
        json={
            "name": "Card 100",
            "category_id": 1,
            "kind": "card",
            "price": 10000,
            "level_prices": {"gold": 9000},
        },
    )

    assert response.status_code == 201
    assert response.json["id"] == 5
    call = rpc.calls_to("inventory", "create_product")[0]
    assert call.args == ("Card 100", 1, "card", 10000)
    assert call.kwargs == {
        "currency": "CNY",
        "level_prices": {"gold": 9000},
        "stock_limit": None,
        "actor": "staff-ops",
    }


def test_create_category(client, callers, rpc):
    rpc.answer("inventory", "create_category", {"id": 3, "name": "Game cards"})

    response = client.post(
        "/api/v1/admin/categories", json={"name": "Game cards"}, headers=callers.staff("admin")
    )

    assert response.status_code == 201
    assert response.json == {"id": 3, "name": "Game cards"}
    assert rpc.calls_to("inventory", "create_category")[0].kwargs == {"parent_id": None}


def test_create_staff_does_not_echo_the_password(client, callers, rpc):
    rpc.answer(
        "customers", "create_staff", {"id": "s1", "username": "fin", "kind": "staff", "role": "finance"}
    )

    response = client.post(
        "/api/v1/admin/staff",
        headers=callers.staff("admin"),
        json={"username": "fin", "password": "long enough secret", "role": "finance"},
    )

    assert response.status_code == 201
    assert response.json == {"id": "s1", "username": "fin", "kind": "staff", "role": "finance"}
    assert rpc.calls_to("customers", "create_staff")[0].args == ("fin", "long enough secret", "finance")


def test_an_unknown_staff_role_is_invalid_input(client, callers):
    response = client.post(
        "/api/v1/admin/staff",
        headers=callers.staff("admin"),
        json={"username": "boss", "password": "long enough secret", "role": "owner"},
    )

    assert response.status_code == 422


def test_anonymous_catalogue_is_at_the_regular_price(client, rpc):
    response = client.get("/api/v1/products")

    assert response.status_code == 200
    assert response.json["items"][0]["stock"] == 12
    assert rpc.calls_to("inventory", "list_products")[0].kwargs == {
        "level": "regular",
        "limit": 50,
        "cursor": None,
    }
    assert rpc.calls_to("customers", "get_customer") == []


def test_a_customer_sees_the_price_of_their_level(client, callers, rpc):
    client.get("/api/v1/products?limit=5&cursor=c2", headers=callers.customer())

    assert rpc.calls_to("customers", "get_customer")[0].args == (callers.customer_id,)
    assert rpc.calls_to("inventory", "list_products")[0].kwargs == {
        "level": "gold",
        "limit": 5,
        "cursor": "c2",
    }


def test_staff_see_the_regular_price(client, callers, rpc):
    client.get("/api/v1/products", headers=callers.staff("ops"))

    assert rpc.calls_to("inventory", "list_products")[0].kwargs["level"] == "regular"


def test_the_category_tree_is_public(client, rpc):
    tree = {"items": [{"id": 1, "name": "Games", "parent_id": None}], "next_cursor": None}
    rpc.answer("inventory", "list_categories", tree)

    response = client.get("/api/v1/categories")

    assert response.status_code == 200
    assert response.json == tree


def test_a_category_is_moved_to_the_root(client, callers, rpc):
    rpc.answer("inventory", "update_category", {"id": 2, "name": "Steam", "parent_id": None})

    response = client.patch(
        "/api/v1/admin/categories/2", json={"parent_id": None}, headers=callers.staff("ops")
    )

    assert response.status_code == 200
    assert rpc.calls_to("inventory", "update_category")[0].args == (2, {"parent_id": None})


def test_one_product_is_priced_for_the_customer(client, callers, rpc):
    rpc.answer("inventory", "get_product", {"id": 4, "name": "Card", "price": 900, "stock": None})

    response = client.get("/api/v1/products/4", headers=callers.customer())

    assert response.json == {"id": 4, "name": "Card", "price": 900, "stock": None}
    assert rpc.calls_to("inventory", "get_product")[0].kwargs == {"level": "gold"}


def test_a_product_change_is_forwarded_with_who_made_it(client, callers, rpc):
    rpc.answer("inventory", "update_product", {"id": 4, "status": "off_sale", "stock": 3})

    response = client.patch(
        "/api/v1/admin/products/4",
        json={"price": 1200, "level_prices": {"vip": 1100}, "status": "off_sale"},
        headers=callers.staff("admin"),
    )

    assert response.status_code == 200
    call = rpc.calls_to("inventory", "update_product")[0]
    assert call.args == (4, {"price": 1200, "level_prices": {"vip": 1100}, "status": "off_sale"})
    assert call.kwargs == {"actor": "staff-admin"}


@pytest.mark.parametrize(
    "body", [{"price": -1}, {"price": 1.5}, {"status": "gone"}, {"kind": "loop"}, {"stock_limit": -1}]
)
def test_a_bad_product_change_is_invalid_input(client, callers, rpc, body):
    response = client.patch("/api/v1/admin/products/4", json=body, headers=callers.staff("ops"))

    assert response.status_code == 422
    assert rpc.calls_to("inventory", "update_product") == []


def test_cards_are_listed_by_state(client, callers, rpc):
    rpc.answer(
        "inventory",
        "list_cards",
        {"items": [{"id": 1, "number": "N1", "state": "void"}], "next_cursor": None},
    )

    response = client.get("/api/v1/admin/products/4/cards?state=void&limit=10", headers=callers.staff("ops"))

    assert response.json["items"] == [{"id": 1, "number": "N1", "state": "void"}]
    assert rpc.calls_to("inventory", "list_cards")[0].kwargs == {"state": "void", "limit": 10, "cursor": None}
    assert (
        client.get("/api/v1/admin/products/4/cards?state=lost", headers=callers.staff("ops")).status_code
        == 422
    )


def test_every_staff_change_to_the_catalogue_is_audited_without_card_contents(client, callers, rpc):
    rpc.answer("inventory", "update_category", {"id": 2, "name": "Steam", "parent_id": None})
    rpc.answer("inventory", "update_product", {"id": 4, "status": "off_sale"})
    rpc.answer("inventory", "void_card", {"id": 9, "number": "LOGIN-9", "state": "void", "product_id": 4})
    ops = callers.staff("ops")

    client.patch("/api/v1/admin/categories/2", json={"name": "Steam"}, headers=ops)
    client.patch("/api/v1/admin/products/4", json={"price": 1200}, headers=ops)
    client.post("/api/v1/admin/cards/9/void", headers=ops)
    _import(client, callers, "N1 SECRET-1\n", "text/plain")

    entries = [call.args[2:] for call in rpc.calls_to("risk", "record_audit")]
    assert entries == [
        ("staff-ops", "category.changed", "category:2", {"name": "Steam"}),
        ("staff-ops", "product.changed", "product:4", {"price": 1200}),
        ("staff-ops", "card.voided", "card:9", {"product_id": 4}),
        ("staff-ops", "cards.imported", "product:7", {"imported": 1, "duplicates": 0, "rejected": 0}),
    ]
