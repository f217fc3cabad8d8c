"""Every failure answers API.md's error body; bad input is a 4xx, never a 500."""

from dataclasses import replace

import pytest

from kameng_common.errors import InvalidInput, KamengError, NotFound, Unavailable
from kameng_gateway.app import create_app

ORDER_ID = "0dde0000-0000-4000-8000-000000000001"
ORDER = {"items": [{"product_id": 1, "quantity": 1}]}


def assert_error_body(response, status, code):
    assert response.status_code == status
    assert response.is_json
    error = response.json["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_unknown_route(client):
    assert_error_body(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_malformed_order_id_is_not_found(client, callers):
    response = client.get("/api/v1/orders/not-a-uuid", headers=callers.customer())

    assert_error_body(response, 404, "not_found")


def test_wrong_method_keeps_the_allow_header(client):
    response = client.delete("/api/v1/auth/token")

    assert_error_body(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_malformed_json_is_a_bad_request(client, rpc):
    response = client.post("/api/v1/auth/token", data="{not json", content_type="application/json")

    assert_error_body(response, 400, "bad_request")
    assert rpc.calls == []


def test_body_that_is_not_json_is_unsupported(client):
    response = client.post(
        "/api/v1/auth/token", data="username=a&password=b", content_type="application/x-www-form-urlencoded"
    )

    assert_error_body(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("body", ["[]", '"a string"', "42", "null"])
def test_json_of_the_wrong_shape_is_invalid_input(client, body):
    response = client.post("/api/v1/auth/token", data=body, content_type="application/json")

    assert_error_body(response, 422, "invalid_input")


def test_missing_fields_are_named(client, callers):
    response = client.post("/api/v1/orders", json={}, headers=callers.customer())

    error = assert_error_body(response, 422, "invalid_input")
    assert error["details"] == {"items": ["Missing data for required field."]}
    assert "items" in error["message"]


def test_unknown_fields_are_refused(client):
    response = client.post("/api/v1/auth/token", json={"username": "a", "password": "b", "admin": True})

    error = assert_error_body(response, 422, "invalid_input")
    assert error["details"] == {"admin": ["Unknown field."]}


@pytest.mark.parametrize(
    "item",
    [
        {"product_id": 1, "quantity": 0},
        {"product_id": 1, "quantity": 1.5},
        {"product_id": "1", "quantity": 1},
        {"product_id": -3, "quantity": 1},
        {"quantity": 1},
    ],
)
def test_bad_order_items_are_invalid_input(client, callers, rpc, item):
    response = client.post("/api/v1/orders", json={"items": [item]}, headers=callers.customer())

    assert_error_body(response, 422, "invalid_input")
    assert rpc.calls_to("orders", "create_order") == []


@pytest.mark.parametrize("price", [9.5, "9500", -1, None])
def test_money_must_be_a_non_negative_integer(client, callers, price):
    response = client.post(
        "/api/v1/admin/products",
        headers=callers.staff("admin"),
        json={"name": "Card", "category_id": 1, "kind": "card", "price": price},
    )

    assert_error_body(response, 422, "invalid_input")


@pytest.mark.parametrize("query", ["limit=0", "limit=1000", "limit=ten", "cursor="])
def test_bad_pagination_is_invalid_input(client, query):
    assert_error_body(client.get(f"/api/v1/products?{query}"), 422, "invalid_input")


@pytest.mark.parametrize(
    "remote_error, status, code",
    [
        (NotFound("No such order."), 404, "not_found"),
        (InvalidInput("Not enough stock.", "out_of_stock"), 422, "out_of_stock"),
        (Unavailable("The orders service did not answer in time."), 503, "unavailable"),
    ],
)
def test_service_errors_keep_their_status_and_code(client, callers, rpc, remote_error, status, code):
    rpc.answer("orders", "get_order", remote_error)

    response = client.get(f"/api/v1/orders/{ORDER_ID}", headers=callers.customer())

    error = assert_error_body(response, status, code)
    assert error["message"] == remote_error.message


def test_a_generic_remote_failure_is_a_500_without_details(client, callers, rpc):
    rpc.answer("orders", "get_order", KamengError("The service could not complete the request."))

    response = client.get(f"/api/v1/orders/{ORDER_ID}", headers=callers.customer())

    assert_error_body(response, 500, "internal_error")


def test_an_unexpected_exception_is_a_generic_500(client, callers, rpc):
    rpc.answer("orders", "get_order", RuntimeError("password=hunter2 in a traceback"))

    response = client.get(f"/api/v1/orders/{ORDER_ID}", headers=callers.customer())

    error = assert_error_body(response, 500, "internal_error")
    assert "hunter2" not in response.get_data(as_text=True)
    assert error["message"] == "Internal server error."


def test_a_body_over_the_limit_is_refused(settings, rpc, callers):
    client = create_app(settings=replace(settings, max_body_bytes=1024), rpc=rpc).test_client()

    response = client.post(
        "/api/v1/admin/categories", json={"name": "x" * 2000}, headers=callers.staff("ops")
    )

    assert_error_body(response, 413, "payload_too_large")


def test_a_card_import_over_its_own_limit_is_refused(settings, rpc, callers):
    client = create_app(settings=replace(settings, max_import_bytes=4096), rpc=rpc).test_client()

    response = client.post(
        "/api/v1/admin/products/1/cards",
        data="N S\n" * 2000,
        content_type="text/plain",
        headers=callers.staff("ops"),
    )

    assert_error_body(response, 413, "payload_too_large")
    assert rpc.calls_to("inventory", "import_cards") == []


def test_rate_limit_on_the_auth_routes(settings, rpc):
    rpc.answer("customers", "authenticate", {"id": "u1", "kind": "customer", "token_version": 0})
    limited = replace(settings, rate_limits_enabled=True, auth_rate_limit="2/minute")
    client = create_app(settings=limited, rpc=rpc).test_client()
    credentials = {"username": "alice", "password": "secret"}

    statuses = [client.post("/api/v1/auth/token", json=credentials).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    response = client.post("/api/v1/auth/token", json=credentials)
    assert_error_body(response, 429, "rate_limited")
    assert "Retry-After" in response.headers
    # other routes count apart
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/health/live").status_code == 200


def test_rate_limits_count_per_client(settings, rpc, callers):
    rpc.answer("inventory", "list_products", {"items": [], "next_cursor": None})
    limited = replace(settings, rate_limits_enabled=True, default_rate_limit="2/minute")
    client = create_app(settings=limited, rpc=rpc).test_client()

    for _ in range(2):
        assert client.get("/api/v1/products").status_code == 200
    assert client.get("/api/v1/products").status_code == 429
    # a signed-in customer is counted by their id, not their address
    assert client.get("/api/v1/products", headers=callers.customer()).status_code == 200


def test_rate_limits_off(settings, rpc):
    rpc.answer("customers", "authenticate", {"id": "u1", "kind": "customer", "token_version": 0})
    unlimited = replace(settings, rate_limits_enabled=False, auth_rate_limit="1/minute")
    client = create_app(settings=unlimited, rpc=rpc).test_client()

    statuses = {
        client.post("/api/v1/auth/token", json={"username": "a", "password": "b"}).status_code
        for _ in range(5)
    }

    assert statuses == {200}
