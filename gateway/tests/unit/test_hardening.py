"""Hostile input is refused before any service sees it; every answer carries the security headers."""

import json

import pytest
from marshmallow import Schema

from kameng_gateway import schemas
from kameng_gateway.hardening import MAX_JSON_DEPTH, SECURITY_HEADERS
from kameng_gateway.openapi import _OPERATION_ATTRIBUTE

ORDER_ID = "0dde0000-0000-4000-8000-000000000001"


def _nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "path, caller, body",
    [
        ("/api/v1/auth/register", "anonymous", {"username": "alice", "password": "pass\ud800word-long"}),
        ("/api/v1/auth/register", "anonymous", {"username": "al\ud800ice", "password": "long enough pw"}),
        ("/api/v1/auth/token", "anonymous", {"username": "alice", "password": "\udfff"}),
        ("/api/v1/auth/token", "anonymous", {"username": "ali\x00ce", "password": "x"}),
        ("/api/v1/orders", "customer", {"items": [{"product_id": 2**63, "quantity": 1}]}),
        ("/api/v1/orders", "customer", {"items": [{"product_id": 2**31, "quantity": 1}]}),
        ("/api/v1/orders", "customer", {"items": [{"product_id": 1, "quantity": 2**64}]}),
        (
            "/api/v1/orders",
            "customer",
            {"items": [{"product_id": 1, "quantity": 1}], "coupon_code": "\ud800"},
        ),
        ("/api/v1/admin/categories", "admin", {"name": "cards\ud83d"}),
        (
            "/api/v1/admin/products",
            "admin",
            {"name": "p", "category_id": 1, "kind": "card", "price": 2**63},
        ),
        (
            "/api/v1/admin/products",
            "admin",
            {"name": "p", "category_id": 1, "kind": "card", "price": 1, "level_prices": {"vip": 10**30}},
        ),
        (
            "/api/v1/admin/products",
            "admin",
            {"name": "p", "category_id": 1, "kind": "card", "price": 1, "level_prices": {"v\ud800": 1}},
        ),
        ("/api/v1/admin/products/1/cards", "admin", {"cards": [{"number": "n\ud800", "secret": "s"}]}),
    ],
)
def test_big_integers_and_invalid_text_are_invalid_input_before_any_service_call(
    client, callers, rpc, path, caller, body
):
    # the standard library writes a lone surrogate as the \ud800 escape, as a hostile client would
    response = client.post(
        path, data=json.dumps(body), content_type="application/json", headers=callers.as_(caller)
    )

    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "invalid_input"
    assert rpc.calls == []


@pytest.mark.parametrize(
    "path", ["/api/v1/orders?cursor=%00abc", "/api/v1/orders?limit=99999999999999999999999"]
)
def test_query_strings_are_held_to_the_same_rules(client, callers, rpc, path):
    response = client.get(path, headers=callers.customer())

    assert response.status_code == 422
    assert rpc.calls == []


@pytest.mark.parametrize("product_id", [2**31, 2**63, 10**30])
def test_an_id_beyond_its_column_in_a_path_is_not_found(client, callers, rpc, product_id):
    response = client.post(
        f"/api/v1/admin/products/{product_id}/cards", json={"cards": []}, headers=callers.staff("admin")
    )

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    assert rpc.calls == []


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_json_nested_too_deep_is_refused(client, callers, rpc, depth):
    response = client.post(
        "/api/v1/orders", data=_nested(depth), content_type="application/json", headers=callers.customer()
    )

    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert "nested" in response.json["error"]["message"]
    assert rpc.calls == []


def test_json_nested_within_the_limit_reaches_validation(client, callers, rpc):
    body = {"items": json.loads(_nested(MAX_JSON_DEPTH - 1))}
    response = client.post("/api/v1/orders", json=body, headers=callers.customer())

    assert response.status_code == 422


def test_every_request_schema_guards_text_and_integers():
    """Every schema a view documents as its body, query or headers is a RequestSchema."""
    from kameng_gateway.app import create_app
    from kameng_gateway.settings import Settings

    app = create_app(settings=Settings(jwt_secret="x" * 32, rate_limits_enabled=False), rpc=object())
    documented = [
        getattr(view, _OPERATION_ATTRIBUTE)
        for view in app.view_functions.values()
        if hasattr(view, _OPERATION_ATTRIBUTE)
    ]
    request_schemas = {
        schema
        for operation in documented
        for part in ("body", "query", "headers")
        for schema in (operation[part].values() if isinstance(operation[part], dict) else [operation[part]])
        if isinstance(schema, type) and issubclass(schema, Schema)
    }
    assert request_schemas
    assert all(issubclass(schema, schemas.RequestSchema) for schema in request_schemas), request_schemas


@pytest.mark.parametrize(
    "method, path, caller, status",
    [
        ("get", "/api/v1/products", "anonymous", 200),
        ("get", f"/api/v1/orders/{ORDER_ID}", "customer", 200),
        ("get", "/api/v1/no/such/route", "anonymous", 404),
        ("delete", "/api/v1/products", "anonymous", 405),
        ("get", f"/api/v1/orders/{ORDER_ID}", "anonymous", 401),
        ("post", "/api/v1/orders", "customer", 415),
    ],
)
def test_every_answer_carries_the_security_headers_and_private_ones_are_not_stored(
    client, callers, rpc, method, path, caller, status
):
    rpc.answer("inventory", "list_products", {"items": [], "next_cursor": None})

    response = getattr(client, method)(path, headers=callers.as_(caller))

    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert response.headers["Cache-Control"] == "no-store"
    if status >= 400:
        assert response.mimetype == "application/json"
        assert set(response.json["error"]) >= {"code", "message"}


def test_the_public_spec_may_be_cached(client):
    response = client.get("/openapi.json")

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Cache-Control" not in response.headers


def test_an_oversized_body_is_a_json_413(settings, rpc):
    from dataclasses import replace

    from kameng_gateway.app import create_app

    client = create_app(settings=replace(settings, max_body_bytes=100), rpc=rpc).test_client()
    response = client.post("/api/v1/auth/token", json={"username": "a", "password": "x" * 200})

    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "query, sent",
    [
        ("from=0487-12-25T17:06:33%2B21:39", "0487-12-24T19:27:33+00:00"),
        ("to=2026-01-01T08:00:00%2B08:00", "2026-01-01T00:00:00+00:00"),
    ],
)
def test_times_reach_the_services_in_utc(client, rpc, callers, query, sent):
    rpc.answer("payments", "ledger_page", lambda **kwargs: {"items": [], "next_cursor": None})

    assert client.get(f"/api/v1/admin/ledger?{query}", headers=callers.staff("finance")).status_code == 200

    kwargs = rpc.calls_to("payments", "ledger_page")[0].kwargs
    assert sent in (kwargs.get("since"), kwargs.get("until"))


def test_a_time_beyond_the_years_python_holds_is_invalid_input(client, callers):
    response = client.get(
        "/api/v1/admin/ledger?from=0001-01-01T00:00:00%2B05:00", headers=callers.staff("finance")
    )

    assert response.status_code == 422
