"""``/openapi.json`` documents every route of API.md."""

import pytest

API_MD_ROUTES = [
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/admin/staff"),
    ("post", "/api/v1/admin/categories"),
    ("post", "/api/v1/admin/products"),
    ("post", "/api/v1/admin/products/{product_id}/cards"),
    ("get", "/api/v1/products"),
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders/{order_id}"),
    ("post", "/api/v1/orders/{order_id}/payments"),
    ("post", "/api/v1/payments/notify/{provider}"),
    ("get", "/api/v1/orders/{order_id}/cards"),
    ("get", "/metrics"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
]


@pytest.fixture
def spec(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json


@pytest.mark.parametrize("method, path", API_MD_ROUTES)
def test_every_api_md_route_is_documented(spec, method, path):
    operation = spec["paths"][path][method]
    assert operation["summary"]
    assert operation["responses"]["default"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_every_route_of_the_app_is_documented(app, spec):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("web."):
            continue  # the storefront's and console's pages and assets: the web app, not the API
        path = rule.rule.replace("<uuid:", "<").replace("<int:", "<")
        path = path.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], f"{method} {path}"


def test_bearer_auth_is_declared_and_required_where_needed(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "a token from POST /api/v1/auth/token",
    }
    assert spec["paths"]["/api/v1/orders"]["post"]["security"] == [{"bearerAuth": []}]
    assert {} in spec["paths"]["/api/v1/products"]["get"]["security"]
    assert "security" not in spec["paths"]["/api/v1/auth/token"]["post"]


def test_request_and_response_schemas_come_from_marshmallow(spec):
    schemas = spec["components"]["schemas"]
    creation = schemas["OrderCreation"]
    assert creation["required"] == ["items"]
    assert creation["properties"]["items"]["minItems"] == 1
    assert "mockpay" in creation["properties"]["payment_method"]["enum"]
    assert "payment" in schemas["PlacedOrder"]["properties"]
    assert schemas["OrderRead"]["properties"]["status"]["enum"][0] == "pending"
    assert schemas["OrderRead"]["properties"]["cards"]["type"] == "array"
    assert schemas["Token"]["properties"]["token_type"]["enum"] == ["bearer"]
    assert schemas["Registration"]["properties"]["password"]["writeOnly"] is True


def test_idempotency_key_and_card_import_formats_are_documented(spec):
    create = spec["paths"]["/api/v1/orders"]["post"]
    assert {"in": "header", "name": "Idempotency-Key"}.items() <= create["parameters"][0].items()
    card_import = spec["paths"]["/api/v1/admin/products/{product_id}/cards"]["post"]
    assert set(card_import["requestBody"]["content"]) == {"application/json", "text/plain", "text/csv"}
    assert card_import["parameters"][0]["schema"]["type"] == "integer"


def test_pagination_is_documented(spec):
    parameters = spec["paths"]["/api/v1/orders"]["get"]["parameters"]
    names = {parameter["name"] for parameter in parameters}
    assert {"limit", "cursor"} <= names


def test_the_order_long_poll_is_documented(spec):
    parameters = {
        parameter["name"]: parameter
        for parameter in spec["paths"]["/api/v1/orders/{order_id}"]["get"]["parameters"]
    }
    assert parameters["changed_from"]["in"] == "query"
    assert parameters["changed_from"]["schema"]["pattern"].startswith("^(pending|awaiting_payment|")
    assert parameters["include"]["schema"]["enum"] == ["cards"]
    assert {"type": "number", "minimum": 0, "maximum": 30, "default": 0}.items() <= (
        parameters["wait"]["schema"].items()
    )
