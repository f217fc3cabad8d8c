"""Admin catalogue routes, card import in both formats, and the public catalogue."""

import pytest

IMPORTED = {"imported": 2, "duplicates": 0, "rejected": 0}


@pytest.fixture(autouse=True)
def inventory(rpc):
    rpc.answer("inventory", "import_cards", IMPORTED)
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
                    "stock": 12,
                }
            ],
            "next_cursor": None,
        },
    )


def test_import_cards_as_json(client, callers, rpc):
    cards = [{"number": "N1", "secret": "S1"}, {"number": "N2", "secret": "S2"}]

    response = client.post(
        "/api/v1/admin/products/7/cards", json={"cards": cards}, headers=callers.staff("ops")
    )

    assert response.status_code == 200
    assert response.json == IMPORTED
    assert rpc.calls_to("inventory", "import_cards")[0].args == (7, cards)


def test_import_cards_as_text_one_card_a_line(client, callers, rpc):
    text = "N1 S1\n\n  N2\tS2  \r\n"

    response = client.post(
        "/api/v1/admin/products/7/cards",
        data=text,
        content_type="text/plain; charset=utf-8",
        headers=callers.staff("admin"),
    )

    assert response.status_code == 200
    assert rpc.calls_to("inventory", "import_cards")[0].args == (
        7,
        [{"number": "N1", "secret": "S1"}, {"number": "N2", "secret": "S2"}],
    )


def test_malformed_lines_are_named_by_number_never_by_content(client, callers, rpc):
    text = "N1 S1\nN2-without-secret\nN3 S3 extra-SECRET-part\n"

    response = client.post(
        "/api/v1/admin/products/7/cards", data=text, content_type="text/plain", headers=callers.staff("ops")
    )

    assert response.status_code == 422
    message = response.json["error"]["details"]["cards"][0]
    assert "line(s) 2, 3." in message
    assert "SECRET" not in response.get_data(as_text=True)
    assert rpc.calls_to("inventory", "import_cards") == []


def test_text_that_is_not_utf8_is_invalid_input(client, callers):
    response = client.post(
        "/api/v1/admin/products/7/cards",
        data=b"N1 \xff\xfe\n",
        content_type="text/plain",
        headers=callers.staff("ops"),
    )

    assert response.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"cards": []},
        {"cards": [{"number": "N1"}]},
        {"cards": [{"number": "", "secret": "S"}]},
        {"cards": "N1 S1"},
    ],
)
def test_bad_card_json_is_invalid_input(client, callers, rpc, body):
    response = client.post("/api/v1/admin/products/7/cards", json=body, headers=callers.staff("ops"))

    assert response.status_code == 422
    assert rpc.calls_to("inventory", "import_cards") == []


def test_empty_text_is_invalid_input(client, callers):
    response = client.post(
        "/api/v1/admin/products/7/cards", data="\n\n", content_type="text/plain", headers=callers.staff("ops")
    )

    assert response.status_code == 422


def test_cards_in_another_format_are_unsupported(client, callers):
    response = client.post(
        "/api/v1/admin/products/7/cards",
        data="number,secret\nN1,S1",
        content_type="text/csv",
        headers=callers.staff("ops"),
    )

    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"


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
    assert call.kwargs == {"currency": "CNY", "level_prices": {"gold": 9000}}


def test_create_category(client, callers, rpc):
    rpc.answer("inventory", "create_category", {"id": 3, "name": "Game cards"})

    response = client.post(
        "/api/v1/admin/categories", json={"name": "Game cards"}, headers=callers.staff("admin")
    )

    assert response.status_code == 201
    assert response.json == {"id": 3, "name": "Game cards"}


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
