"""Who may call what, route by route, as API.md says."""

import pytest

from kameng_common.errors import Forbidden

CUSTOMER_ID = "c0ffee00-0000-4000-8000-000000000001"
ORDER_ID = "0dde0000-0000-4000-8000-000000000001"
CALLERS = ("anonymous", "customer", "other_customer", "admin", "ops", "support", "finance", "auditor")
ORDER_READERS = {"admin", "support", "finance", "auditor"}
CATALOGUE = {"admin", "ops"}
REVIEWERS = {"admin", "support", "ops"}
ENTRY_ID = "b1ac0000-0000-4000-8000-000000000001"

# (method, path, json body, who may, whether anonymous may)
ROUTES = [
    (
        "POST",
        "/api/v1/admin/staff",
        {"username": "sam", "password": "long enough", "role": "support"},
        {"admin"},
    ),
    ("POST", "/api/v1/admin/categories", {"name": "Game cards"}, CATALOGUE),
    (
        "POST",
        "/api/v1/admin/products",
        {"name": "Card 100", "category_id": 1, "kind": "card", "price": 9500},
        CATALOGUE,
    ),
    ("POST", "/api/v1/admin/products/1/cards", {"cards": [{"number": "N1", "secret": "S1"}]}, CATALOGUE),
    ("PATCH", "/api/v1/admin/categories/1", {"name": "Games"}, CATALOGUE),
    ("GET", "/api/v1/admin/products", None, CATALOGUE),
    ("GET", "/api/v1/admin/products/1", None, CATALOGUE),
    ("PATCH", "/api/v1/admin/products/1", {"status": "off_sale"}, CATALOGUE),
    ("GET", "/api/v1/admin/products/1/prices", None, CATALOGUE),
    ("GET", "/api/v1/admin/products/1/cards", None, CATALOGUE),
    ("POST", "/api/v1/admin/cards/1/void", None, CATALOGUE),
    ("POST", "/api/v1/orders", {"items": [{"product_id": 1, "quantity": 1}]}, {"customer", "other_customer"}),
    ("GET", "/api/v1/orders", None, {"customer", "other_customer"} | ORDER_READERS),
    ("GET", f"/api/v1/orders/{ORDER_ID}", None, {"customer"} | ORDER_READERS),
    ("POST", f"/api/v1/orders/{ORDER_ID}/payments", {"method": "mockpay"}, {"customer"}),
    # support, finance, auditors and admins never see card secrets
    ("GET", f"/api/v1/orders/{ORDER_ID}/cards", None, {"customer"}),
    ("GET", "/metrics", None, {"admin", "ops"}),
    ("GET", "/api/v1/admin/reviews", None, REVIEWERS),
    (
        "POST",
        f"/api/v1/admin/reviews/{ORDER_ID}/decision",
        {"decision": "approve", "reason": "ok"},
        REVIEWERS,
    ),
]
PUBLIC_ROUTES = [
    ("GET", "/api/v1/products", None),
    ("GET", "/api/v1/products/1", None),
    ("GET", "/api/v1/categories", None),
    ("GET", "/health/live", None),
    ("GET", "/openapi.json", None),
]


def _owner_only(answer):
    """Like the services: only the order's customer gets an answer."""

    def respond(order_id, customer_id, *rest):
        if customer_id != CUSTOMER_ID:
            raise Forbidden("This order is not yours.")
        return answer

    return respond


@pytest.fixture(autouse=True)
def services(rpc, make_order):
    rpc.answer(
        "customers", "create_staff", {"id": "s9", "username": "sam", "kind": "staff", "role": "support"}
    )
    rpc.answer("inventory", "create_category", {"id": 1, "name": "Game cards"})
    rpc.answer("inventory", "create_product", {"id": 1, "name": "Card 100"})
    rpc.answer(
        "inventory",
        "import_cards",
        {"imported": 1, "duplicates": 0, "rejected": 0, "duplicate_positions": [], "rejected_positions": []},
    )
    rpc.answer("inventory", "list_products", {"items": [], "next_cursor": None})
    rpc.answer("inventory", "update_category", {"id": 1, "name": "Games", "parent_id": None})
    rpc.answer("inventory", "get_product_for_staff", {"id": 1, "name": "Card 100"})
    rpc.answer("inventory", "get_product", {"id": 1, "name": "Card 100"})
    rpc.answer("inventory", "update_product", {"id": 1, "name": "Card 100"})
    rpc.answer("inventory", "price_history", {"items": [], "next_cursor": None})
    rpc.answer("inventory", "list_cards", {"items": [], "next_cursor": None})
    rpc.answer("inventory", "list_categories", {"items": [], "next_cursor": None})
    rpc.answer("inventory", "void_card", {"id": 1, "state": "void", "product_id": 1})
    rpc.answer("orders", "create_order", make_order())
    rpc.answer("orders", "list_orders", {"items": [], "next_cursor": None})
    rpc.answer(
        "orders",
        "request_payment",
        _owner_only(
            {
                "payment_id": "p1",
                "amount": 19000,
                "currency": "CNY",
                "method": "mockpay",
                "status": "pending",
                "pay_url": None,
            }
        ),
    )
    rpc.answer("inventory", "reveal_cards", _owner_only([{"number": "N1", "secret": "S1"}]))
    rpc.answer("orders", "list_reviews", {"items": [], "next_cursor": None})
    rpc.answer("risk", "list_blacklist", {"items": [], "next_cursor": None})
    rpc.answer("risk", "add_blacklist_entry", {"entry": {"id": ENTRY_ID, "kind": "ip"}, "created": True})
    rpc.answer("risk", "remove_blacklist_entry", {"id": ENTRY_ID})
    rpc.answer(
        "orders", "decide_review", {"order_id": ORDER_ID, "decision": "approve", "status": "awaiting_payment"}
    )


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    "method, path, body, allowed", ROUTES, ids=[f"{method} {path}" for method, path, *_ in ROUTES]
)
def test_only_the_roles_api_md_names_may_call(client, callers, caller, method, path, body, allowed):
    response = client.open(path, method=method, json=body, headers=callers.as_(caller))

    if caller in allowed:
        assert response.status_code in (200, 201, 204), response.json
    elif caller == "anonymous":
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
    else:
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("method, path, body", PUBLIC_ROUTES)
def test_public_routes_answer_anyone(client, callers, caller, method, path, body):
    response = client.open(path, method=method, json=body, headers=callers.as_(caller))

    assert response.status_code == 200


def test_staff_never_reach_the_card_secrets_service_call(client, callers, rpc):
    for role in callers.staff_roles:
        client.get(f"/api/v1/orders/{ORDER_ID}/cards", headers=callers.staff(role))

    assert rpc.calls_to("inventory", "reveal_cards") == []


def test_card_reveal_asks_inventory_for_the_callers_own_id(client, callers, rpc):
    response = client.get(f"/api/v1/orders/{ORDER_ID}/cards", headers=callers.customer())

    assert response.json == [{"number": "N1", "secret": "S1"}]
    assert response.headers["Cache-Control"] == "no-store"
    assert rpc.calls_to("inventory", "reveal_cards")[0].args == (ORDER_ID, CUSTOMER_ID)


def test_metrics_answer_the_scrape_token(client, callers):
    response = client.get("/metrics", headers=callers.bearer("scrape-token"))

    assert response.status_code == 200


def test_a_wrong_scrape_token_is_unauthorized(client, callers):
    response = client.get("/metrics", headers=callers.bearer("guessed"))

    assert response.status_code == 401
