"""The channel API at the gateway: signed requests, the routes, and the admin routes of API keys."""

import json
import time

import pytest

from kameng_common import channel as protocol
from kameng_common.errors import InvalidInput, NotFound, Unauthorized, Unavailable
from kameng_gateway.app import create_app

KEY_ID = "ck_0123456789abcdef01234567"
SECRET = "s" * 64
ORDER_ID = "0dde0000-0000-4000-8000-000000000001"


class FakeNonces:
    def __init__(self, down=False):
        self.seen = set()
        self.down = down

    def first_use(self, key_id, nonce):
        if self.down:
            raise Unavailable("The nonce store is not reachable (ConnectionError).")
        fresh = (key_id, nonce) not in self.seen
        self.seen.add((key_id, nonce))
        return fresh


def verify(
    key_id, message, signature, scopes=("products:read", "orders:create", "orders:read", "balance:read")
):
    """orders.verify_channel_request, as the service answers it for one key."""
    if key_id != KEY_ID or not protocol.signature_matches(SECRET, message, signature):
        raise Unauthorized("The request's signature does not verify.", "invalid_signature")
    return {"key_id": KEY_ID, "customer_id": "c0ffee00-0000-4000-8000-000000000001", "scopes": list(scopes)}


@pytest.fixture
def nonces():
    return FakeNonces()


@pytest.fixture
def app(settings, rpc, nonces):
    rpc.answer("orders", "verify_channel_request", verify)
    return create_app(settings=settings, rpc=rpc, nonces=nonces)


def signed(method, path, query="", body=b"", secret=SECRET, key_id=KEY_ID, now=None):
    headers = protocol.signed_headers(key_id, secret, method, path, query, body, now=now)
    if body:
        headers["Content-Type"] = "application/json"
    return headers


def get(client, path, query="", **signing):
    url = f"{path}?{query}" if query else path
    return client.get(url, headers=signed("GET", path, query, **signing))


def post(client, path, payload, **signing):
    body = json.dumps(payload).encode()
    return client.post(path, data=body, headers=signed("POST", path, body=body, **signing))


def channel_order(**overrides):
    order = {
        "id": ORDER_ID,
        "customer_id": "c0ffee00-0000-4000-8000-000000000001",
        "status": "paid",
        "items": [{"product_id": 1, "name": "Game card 100", "quantity": 1, "unit_price": 9500}],
        "total": 9500,
        "currency": "CNY",
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
        "expires_at": None,
        "history": [],
        "client_order_id": "shop-1",
        "callback_url": None,
    }
    return {**order, **overrides}


# ---- signatures


def test_a_signed_request_acts_for_the_key_owner_at_their_level(client, rpc):
    rpc.answer("inventory", "list_products", {"items": [], "next_cursor": None})
    response = get(client, "/api/channel/v1/products", "limit=5")
    assert response.status_code == 200, response.json
    [listing] = rpc.calls_to("inventory", "list_products")
    assert listing.kwargs == {"level": "gold", "limit": 5, "cursor": None}


@pytest.mark.parametrize("missing", protocol.HEADERS)
def test_an_unsigned_request_is_refused(client, rpc, missing):
    headers = signed("GET", "/api/channel/v1/balance")
    del headers[missing]
    response = client.get("/api/channel/v1/balance", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "signature_required"
    assert rpc.calls_to("payments", "get_wallet") == []


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_stale_or_future_timestamp_is_refused(client, rpc, skew):
    response = get(client, "/api/channel/v1/balance", now=time.time() + skew)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "stale_request"
    assert rpc.calls_to("orders", "verify_channel_request") == []


@pytest.mark.parametrize(
    "forgery", ["secret", "key", "path", "query", "body", "method"], ids=lambda forgery: f"other_{forgery}"
)
def test_a_forged_request_is_refused_and_changes_nothing(client, rpc, forgery):
    rpc.answer("orders", "create_channel_order", lambda *args, **kwargs: channel_order())
    path, body = (
        "/api/channel/v1/orders",
        json.dumps({"items": [{"product_id": 1, "quantity": 1}], "client_order_id": "a"}).encode(),
    )
    headers = signed("POST", path, body=body, secret="x" * 64 if forgery == "secret" else SECRET)
    if forgery == "key":
        headers[protocol.KEY_HEADER] = "ck_other"
    url = path
    if forgery == "path":
        url = "/api/channel/v1/orders/" + ORDER_ID
    if forgery == "query":
        url = path + "?limit=1"
    if forgery == "body":
        body = body.replace(b'"a"', b'"b"')
    method = "PUT" if forgery == "method" else "POST"
    response = client.open(url, method=method, data=body, headers=headers)
    assert response.status_code in (401, 405)
    if response.status_code == 401:
        assert response.json["error"]["code"] == "invalid_signature"
    assert rpc.calls_to("orders", "create_channel_order") == []


def test_a_replayed_request_is_refused(client, rpc):
    rpc.answer("payments", "get_wallet", {"customer_id": "c", "balance": 500, "currency": "CNY"})
    headers = signed("GET", "/api/channel/v1/balance")
    assert client.get("/api/channel/v1/balance", headers=headers).status_code == 200
    again = client.get("/api/channel/v1/balance", headers=headers)
    assert again.status_code == 401
    assert again.json["error"]["code"] == "replayed_request"
    assert len(rpc.calls_to("payments", "get_wallet")) == 1


def test_a_forged_request_does_not_use_up_the_nonce(client, rpc, nonces):
    rpc.answer("payments", "get_wallet", {"customer_id": "c", "balance": 500, "currency": "CNY"})
    headers = signed("GET", "/api/channel/v1/balance")
    forged = {**headers, protocol.SIGNATURE_HEADER: "0" * 64}
    assert client.get("/api/channel/v1/balance", headers=forged).status_code == 401
    assert client.get("/api/channel/v1/balance", headers=headers).status_code == 200


def test_a_key_without_the_scope_is_forbidden(client, rpc):
    rpc.answer("orders", "verify_channel_request", lambda *args: verify(*args, scopes=("products:read",)))
    response = get(client, "/api/channel/v1/balance")
    assert response.status_code == 403
    assert response.json["error"]["code"] == "insufficient_scope"


def test_the_nonce_store_down_answers_503(settings, rpc):
    rpc.answer("orders", "verify_channel_request", verify)
    client = create_app(settings=settings, rpc=rpc, nonces=FakeNonces(down=True)).test_client()
    assert get(client, "/api/channel/v1/balance").status_code == 503


# ---- routes


def test_an_order_is_placed_for_the_key_owner(client, rpc):
    rpc.answer("orders", "create_channel_order", lambda *args, **kwargs: channel_order())
    payload = {
        "items": [{"product_id": 1, "quantity": 1}],
        "client_order_id": "shop-1",
        "callback_url": "https://shop.test/callback",
    }
    response = post(client, "/api/channel/v1/orders", payload)
    assert response.status_code == 201, response.json
    assert response.json["client_order_id"] == "shop-1"
    [placing] = rpc.calls_to("orders", "create_channel_order")
    assert placing.args == (
        KEY_ID,
        "c0ffee00-0000-4000-8000-000000000001",
        [{"product_id": 1, "quantity": 1}],
        "shop-1",
        "https://shop.test/callback",
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"items": [], "client_order_id": "a"},
        {"items": [{"product_id": 1, "quantity": 1}]},
        {"items": [{"product_id": 1, "quantity": 1}], "client_order_id": "a b"},
        {
            "items": [{"product_id": 1, "quantity": 1}],
            "client_order_id": "a",
            "callback_url": "file:///etc/passwd",
        },
    ],
)
def test_a_bad_order_is_refused_with_422(client, rpc, payload):
    response = post(client, "/api/channel/v1/orders", payload)
    assert response.status_code == 422
    assert rpc.calls_to("orders", "create_channel_order") == []


def test_a_short_balance_answers_422(client, rpc):
    rpc.answer(
        "orders",
        "create_channel_order",
        InvalidInput("wallet balance 0 is less than 9500", "insufficient_balance"),
    )
    response = post(
        client,
        "/api/channel/v1/orders",
        {"items": [{"product_id": 1, "quantity": 1}], "client_order_id": "a"},
    )
    assert response.status_code == 422
    assert response.json["error"]["code"] == "insufficient_balance"


def test_a_delivered_order_shows_its_cards_and_the_reveal_is_the_audited_one(client, rpc):
    rpc.answer("orders", "get_channel_order", lambda order_id, customer_id: channel_order(status="delivered"))
    rpc.answer("inventory", "reveal_cards", [{"number": "N1", "secret": "S1"}])
    response = get(client, f"/api/channel/v1/orders/{ORDER_ID}")
    assert response.status_code == 200
    assert response.json["cards"] == [{"number": "N1", "secret": "S1"}]
    assert response.headers["Cache-Control"] == "no-store"
    [reveal] = rpc.calls_to("inventory", "reveal_cards")
    assert reveal.args == (ORDER_ID, "c0ffee00-0000-4000-8000-000000000001")


def test_an_undelivered_order_reveals_nothing(client, rpc):
    rpc.answer("orders", "get_channel_order", lambda order_id, customer_id: channel_order(status="paid"))
    response = get(client, f"/api/channel/v1/orders/{ORDER_ID}")
    assert response.status_code == 200 and "cards" not in response.json
    assert rpc.calls_to("inventory", "reveal_cards") == []


def test_the_balance_is_the_key_owners(client, rpc):
    rpc.answer(
        "payments",
        "get_wallet",
        lambda customer_id: {"customer_id": customer_id, "balance": 700, "currency": "CNY"},
    )
    response = get(client, "/api/channel/v1/balance")
    assert response.json == {
        "customer_id": "c0ffee00-0000-4000-8000-000000000001",
        "balance": 700,
        "currency": "CNY",
    }


# ---- API keys (admin)


def test_an_admin_issues_a_key_to_a_customer(client, rpc, callers):
    rpc.answer(
        "orders",
        "create_api_key",
        lambda customer_id, name, scopes: {
            "key_id": KEY_ID,
            "secret": SECRET,
            "customer_id": customer_id,
            "name": name,
            "scopes": scopes,
            "created_at": "2026-01-01T00:00:00+00:00",
        },
    )
    response = client.post(
        "/api/v1/admin/api-keys",
        json={"customer_id": callers.customer_id, "name": "partner", "scopes": ["orders:create"]},
        headers=callers.staff("admin"),
    )
    assert response.status_code == 201
    assert response.json["secret"] == SECRET and response.json["key_id"] == KEY_ID
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("role", ["ops", "support", "finance", "auditor"])
def test_only_admins_issue_and_revoke_keys(client, rpc, callers, role):
    created = client.post(
        "/api/v1/admin/api-keys", json={"customer_id": "c", "name": "n"}, headers=callers.staff(role)
    )
    revoked = client.delete(f"/api/v1/admin/api-keys/{KEY_ID}", headers=callers.staff(role))
    assert created.status_code == revoked.status_code == 403


def test_a_key_for_no_customer_is_refused(client, rpc, callers):
    rpc.answer("customers", "get_customer", NotFound("no customer c"))
    response = client.post(
        "/api/v1/admin/api-keys", json={"customer_id": "c", "name": "n"}, headers=callers.staff("admin")
    )
    assert response.status_code == 404
    assert rpc.calls_to("orders", "create_api_key") == []


def test_unknown_scopes_are_refused(client, rpc, callers):
    response = client.post(
        "/api/v1/admin/api-keys",
        json={"customer_id": "c", "name": "n", "scopes": ["root"]},
        headers=callers.staff("admin"),
    )
    assert response.status_code == 422


def test_the_spec_documents_the_signature_scheme(client):
    spec = client.get("/openapi.json").json
    assert "channelSignature" in spec["components"]["securitySchemes"]
    assert spec["paths"]["/api/channel/v1/orders"]["post"]["security"] == [{"channelSignature": []}]
