"""Customers, agents and marketing routes: who may call them, and what they pass on."""

import pytest

from kameng_common.errors import Conflict, Forbidden, InvalidInput, NotFound

CALLERS = ("anonymous", "customer", "admin", "ops", "support", "finance", "auditor")
LEVELS = {
    "levels": [{"name": "regular", "threshold": 0}, {"name": "gold", "threshold": 5000}],
    "currency": "CNY",
}

WITHDRAWAL_ID = "0dde0000-0000-4000-8000-0000000000aa"
CUSTOMER_ID = "c0ffee00-0000-4000-8000-0000000000c1"
CUSTOMER = {
    "id": CUSTOMER_ID,
    "username": "alice",
    "level": "regular",
    "region": "GD",
    "registered_at": "2026-01-01T00:00:00+00:00",
    "orders_count": 3,
    "total_spent": 30000,
    "refunded": 0,
    "currency": "CNY",
    "first_order_at": "2026-01-02T00:00:00+00:00",
    "last_order_at": "2026-01-03T00:00:00+00:00",
    "rfm": {"recency": 5, "frequency": 2, "monetary": 2},
    "tags": ["new", "wholesale"],
    "agent_id": None,
    "invited_by": None,
}
CUSTOMER_DETAIL = {
    **CUSTOMER,
    "staff_tags": [{"tag": "wholesale", "added_by": "staff-ops", "added_at": "2026-01-04T00:00:00+00:00"}],
}
AGENT = {
    "agent_id": "a1",
    "customer_id": "c1",
    "parent_agent_id": None,
    "invite_code": "K7M2Q9XZ",
    "depth": 1,
}
WITHDRAWAL = {
    "id": WITHDRAWAL_ID,
    "agent_id": "a1",
    "amount": 500,
    "currency": "CNY",
    "account": "bank:1",
    "status": "requested",
    "reason": None,
    "created_at": "2026-01-01T00:00:00+00:00",
    "decided_at": None,
}
EARNINGS = {
    "agent_id": "a1",
    "invite_code": "K7M2Q9XZ",
    "currency": "CNY",
    "pending": 100,
    "available": 900,
    "requested": 0,
    "withdrawn": 0,
    "entries": [],
}

SHOP = {
    "slug": "game-cards",
    "name": "Game cards",
    "markup_bp": 1500,
    "agent_id": "a1",
    "invite_code": "K7M2Q9XZ",
    "updated_at": "2026-01-01T00:00:00+00:00",
}
SHOP_SETTINGS = {"slug": "game-cards", "name": "Game cards", "markup_bp": 1500}
PRODUCT = {
    "id": 7,
    "name": "Game card 100",
    "category_id": 1,
    "kind": "card",
    "price": 9200,
    "currency": "CNY",
    "status": "on_sale",
    "stock": 3,
}

# (method, path, json body, who may)
ROUTES = [
    ("GET", "/api/v1/admin/levels", None, {"admin", "ops"}),
    ("GET", "/api/v1/admin/customers", None, {"admin", "support", "ops"}),
    ("GET", f"/api/v1/admin/customers/{CUSTOMER_ID}", None, {"admin", "support", "ops"}),
    (
        "POST",
        f"/api/v1/admin/customers/{CUSTOMER_ID}/tags",
        {"tag": "wholesale"},
        {"admin", "support", "ops"},
    ),
    ("DELETE", f"/api/v1/admin/customers/{CUSTOMER_ID}/tags/wholesale", None, {"admin", "support", "ops"}),
    ("GET", "/api/v1/admin/customer-tags", None, {"admin", "support", "ops"}),
    ("PUT", "/api/v1/admin/levels", {"levels": LEVELS["levels"]}, {"admin", "ops"}),
    ("POST", "/api/v1/admin/agents", {"customer_id": "c1"}, {"admin"}),
    ("GET", "/api/v1/admin/commission-plan", None, {"admin"}),
    ("PUT", "/api/v1/admin/commission-plan", {"rates_bp": [1000, 500]}, {"admin"}),
    ("GET", "/api/v1/admin/withdrawals", None, {"admin", "finance"}),
    (
        "POST",
        f"/api/v1/admin/withdrawals/{WITHDRAWAL_ID}/decision",
        {"decision": "approve"},
        {"admin", "finance"},
    ),
    ("GET", "/api/v1/agent/earnings", None, {"customer"}),
    ("GET", "/api/v1/agent/shop", None, {"customer"}),
    ("PUT", "/api/v1/agent/shop", SHOP_SETTINGS, {"customer"}),
    ("GET", "/api/v1/shops/game-cards", None, set(CALLERS)),
    ("GET", "/api/v1/shops/game-cards/products", None, set(CALLERS)),
    ("GET", "/api/v1/agent/downline", None, {"customer"}),
    ("POST", "/api/v1/agent/withdrawals", {"amount": 500, "account": "bank:1"}, {"customer"}),
]


@pytest.fixture(autouse=True)
def services(rpc):
    rpc.answer("customers", "get_levels", LEVELS)
    rpc.answer("customers", "get_shop", SHOP)
    rpc.answer("customers", "set_shop", SHOP)
    rpc.answer("customers", "shop_by_slug", SHOP)
    rpc.answer("inventory", "list_products", {"items": [PRODUCT], "next_cursor": None})
    rpc.answer("customers", "list_customers", {"items": [CUSTOMER], "next_cursor": None})
    rpc.answer("customers", "customer_detail", CUSTOMER_DETAIL)
    rpc.answer("customers", "add_customer_tag", CUSTOMER_DETAIL)
    rpc.answer("customers", "remove_customer_tag", CUSTOMER_DETAIL)
    rpc.answer(
        "customers",
        "customer_tags",
        {"items": [{"tag": "new", "kind": "computed", "description": "registered lately", "customers": 4}]},
    )
    rpc.answer("customers", "set_levels", lambda levels: {**LEVELS, "levels": levels})
    rpc.answer("customers", "make_agent", AGENT)
    rpc.answer("customers", "get_commission_plan", {"rates_bp": [1000]})
    rpc.answer("customers", "set_commission_plan", lambda rates_bp: {"rates_bp": rates_bp})
    rpc.answer("customers", "list_withdrawals", {"items": [WITHDRAWAL], "next_cursor": None})
    rpc.answer("customers", "decide_withdrawal", {**WITHDRAWAL, "status": "paid"})
    rpc.answer("customers", "agent_earnings", EARNINGS)
    rpc.answer("customers", "agent_downline", {"items": [], "next_cursor": None})
    rpc.answer("customers", "request_withdrawal", WITHDRAWAL)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    "method, path, body, allowed", ROUTES, ids=[f"{method} {path}" for method, path, *_ in ROUTES]
)
def test_only_the_roles_api_md_names_may_call(client, callers, caller, method, path, body, allowed):
    response = client.open(path, method=method, json=body, headers=callers.as_(caller))

    if caller in allowed:
        assert response.status_code in (200, 201), response.json
    else:
        assert response.status_code == (401 if caller == "anonymous" else 403)


def test_levels_are_set_as_sent(client, callers, rpc):
    response = client.put(
        "/api/v1/admin/levels", json={"levels": LEVELS["levels"]}, headers=callers.staff("ops")
    )

    assert response.json == LEVELS
    assert rpc.calls_to("customers", "set_levels")[0].args == (LEVELS["levels"],)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"levels": []},
        {"levels": [{"name": "Gold Card", "threshold": 0}]},
        {"levels": [{"name": "regular", "threshold": -1}]},
        {"levels": [{"name": "regular", "threshold": 1.5}]},
    ],
)
def test_a_malformed_level_table_is_422_before_any_call(client, callers, rpc, body):
    response = client.put("/api/v1/admin/levels", json=body, headers=callers.staff("admin"))

    assert response.status_code == 422
    assert rpc.calls_to("customers", "set_levels") == []


def test_agent_routes_act_for_the_caller_alone(client, callers, rpc):
    client.get("/api/v1/agent/earnings", headers=callers.customer())
    client.get("/api/v1/agent/downline?limit=10", headers=callers.customer())
    client.post(
        "/api/v1/agent/withdrawals", json={"amount": 500, "account": "bank:1"}, headers=callers.customer()
    )

    assert rpc.calls_to("customers", "agent_earnings")[0].args == (callers.customer_id,)
    assert rpc.calls_to("customers", "agent_downline")[0].args == (callers.customer_id,)
    assert rpc.calls_to("customers", "agent_downline")[0].kwargs == {"limit": 10, "cursor": None}
    assert rpc.calls_to("customers", "request_withdrawal")[0].args == (callers.customer_id, 500, "bank:1")


def test_a_customer_who_is_not_an_agent_is_refused_by_customers(client, callers, rpc):
    rpc.answer("customers", "agent_earnings", Forbidden("only agents may do this", "not_an_agent"))

    response = client.get("/api/v1/agent/earnings", headers=callers.customer())

    assert response.status_code == 403 and response.json["error"]["code"] == "not_an_agent"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0, "account": "bank:1"},
        {"amount": -5, "account": "bank:1"},
        {"amount": 10**13, "account": "b"},
        {"amount": 5, "account": ""},
        {"amount": 1.5, "account": "bank:1"},
    ],
)
def test_a_negative_zero_or_oversized_withdrawal_is_422(client, callers, rpc, body):
    response = client.post("/api/v1/agent/withdrawals", json=body, headers=callers.customer())

    assert response.status_code == 422
    assert rpc.calls_to("customers", "request_withdrawal") == []


def test_a_plan_over_100_percent_is_refused_by_customers(client, callers, rpc):
    rpc.answer(
        "customers",
        "set_commission_plan",
        InvalidInput("over 100 %", "commission_plan_over_100_percent"),
    )

    response = client.put(
        "/api/v1/admin/commission-plan", json={"rates_bp": [6000, 6000]}, headers=callers.staff("admin")
    )

    assert response.status_code == 422
    assert response.json["error"]["code"] == "commission_plan_over_100_percent"


def test_the_decision_carries_the_deciding_staff_member(client, callers, rpc):
    client.post(
        f"/api/v1/admin/withdrawals/{WITHDRAWAL_ID}/decision",
        json={"decision": "reject", "reason": "wrong account"},
        headers=callers.staff("finance"),
    )

    assert rpc.calls_to("customers", "decide_withdrawal")[0].args == (
        WITHDRAWAL_ID,
        "reject",
        "wrong account",
        "staff-finance",
    )


def test_registration_passes_the_invite_code_on(client, rpc):
    rpc.answer(
        "customers", "register", {"id": "u1", "username": "alice", "kind": "customer", "level": "regular"}
    )

    client.post(
        "/api/v1/auth/register",
        json={"username": "alice", "password": "long enough", "invite_code": "K7M2Q9XZ"},
    )

    assert rpc.calls_to("customers", "register")[0].kwargs == {
        "invite_code": "K7M2Q9XZ"
    }  # no region known: none named


def test_the_customer_list_passes_its_filters_on_and_answers_the_page(client, callers, rpc):
    response = client.get(
        "/api/v1/admin/customers?tag=high_value&level=vip&username=Al&region=gd&limit=10&cursor=abc",
        headers=callers.staff("support"),
    )

    assert response.status_code == 200
    assert response.json == {"items": [CUSTOMER], "next_cursor": None}
    assert rpc.calls_to("customers", "list_customers")[0].kwargs == {
        "tag": "high_value",
        "level": "vip",
        "username": "Al",
        "region": "gd",
        "limit": 10,
        "cursor": "abc",
    }


@pytest.mark.parametrize(
    "query",
    [
        "tag=High Value",
        "level=VIP",
        "limit=0",
        "limit=101",
        "username=",
        "region=",
        "region=CN GD",
        "region=-GD",
    ],
)
def test_a_malformed_customer_filter_is_422_before_any_call(client, callers, rpc, query):
    response = client.get(f"/api/v1/admin/customers?{query}", headers=callers.staff("admin"))

    assert response.status_code == 422 and response.json["error"]["code"]
    assert rpc.calls_to("customers", "list_customers") == []


def test_tagging_carries_the_staff_member_and_is_audited(client, callers, rpc):
    response = client.post(
        f"/api/v1/admin/customers/{CUSTOMER_ID}/tags", json={"tag": "wholesale"}, headers=callers.staff("ops")
    )
    client.delete(f"/api/v1/admin/customers/{CUSTOMER_ID}/tags/wholesale", headers=callers.staff("ops"))

    assert response.json == CUSTOMER_DETAIL
    assert rpc.calls_to("customers", "add_customer_tag")[0].args == (CUSTOMER_ID, "wholesale", "staff-ops")
    assert rpc.calls_to("customers", "remove_customer_tag")[0].args == (CUSTOMER_ID, "wholesale")
    entries = [call.args[2:] for call in rpc.calls_to("risk", "record_audit")]
    assert entries == [
        ("staff-ops", "customer.tagged", f"customer:{CUSTOMER_ID}", {"tag": "wholesale"}),
        ("staff-ops", "customer.untagged", f"customer:{CUSTOMER_ID}", {"tag": "wholesale"}),
    ]


@pytest.mark.parametrize("body", [{}, {"tag": ""}, {"tag": "Big Spender"}, {"tag": "x" * 33}, {"tag": 5}])
def test_a_malformed_tag_is_422_before_any_call(client, callers, rpc, body):
    response = client.post(
        f"/api/v1/admin/customers/{CUSTOMER_ID}/tags", json=body, headers=callers.staff("ops")
    )

    assert response.status_code == 422
    assert rpc.calls_to("customers", "add_customer_tag") == []


def test_a_computed_tag_refused_by_customers_is_422(client, callers, rpc):
    rpc.answer("customers", "add_customer_tag", InvalidInput("computed", "tag_reserved"))

    response = client.post(
        f"/api/v1/admin/customers/{CUSTOMER_ID}/tags", json={"tag": "dormant"}, headers=callers.staff("ops")
    )

    assert response.status_code == 422 and response.json["error"]["code"] == "tag_reserved"
    assert rpc.calls_to("risk", "record_audit") == []


def test_an_unknown_customer_is_404(client, callers, rpc):
    rpc.answer("customers", "customer_detail", NotFound("no customer", "customer_not_found"))

    response = client.get(f"/api/v1/admin/customers/{CUSTOMER_ID}", headers=callers.staff("admin"))

    assert response.status_code == 404 and response.json["error"]["code"] == "customer_not_found"


def test_an_agent_sets_their_own_shop(client, callers, rpc):
    response = client.put("/api/v1/agent/shop", json=SHOP_SETTINGS, headers=callers.customer())

    assert response.status_code == 200
    assert response.json == {
        key: SHOP[key] for key in ("slug", "name", "markup_bp", "invite_code", "updated_at")
    }
    assert rpc.calls_to("customers", "set_shop")[0].args == (
        callers.customer_id,
        "game-cards",
        "Game cards",
        1500,
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {**SHOP_SETTINGS, "slug": "Game Cards"},
        {**SHOP_SETTINGS, "slug": "ab"},
        {**SHOP_SETTINGS, "name": ""},
        {**SHOP_SETTINGS, "markup_bp": -1},
        {**SHOP_SETTINGS, "markup_bp": 10_001},
        {**SHOP_SETTINGS, "markup_bp": 1.5},
    ],
)
def test_malformed_shop_settings_are_422_before_any_call(client, callers, rpc, body):
    response = client.put("/api/v1/agent/shop", json=body, headers=callers.customer())

    assert response.status_code == 422
    assert rpc.calls_to("customers", "set_shop") == []


def test_a_slug_another_shop_has_is_409(client, callers, rpc):
    rpc.answer("customers", "set_shop", Conflict("taken", "shop_slug_taken"))

    response = client.put("/api/v1/agent/shop", json=SHOP_SETTINGS, headers=callers.customer())

    assert response.status_code == 409 and response.json["error"]["code"] == "shop_slug_taken"


def test_a_shop_lists_the_catalogue_at_the_agent_price_plus_its_markup(client, rpc):
    response = client.get("/api/v1/shops/game-cards/products?limit=10")

    assert response.status_code == 200
    assert response.json["shop"] == {"slug": "game-cards", "name": "Game cards", "invite_code": "K7M2Q9XZ"}
    assert response.json["items"][0]["price"] == 9200
    assert rpc.calls_to("customers", "shop_by_slug")[0].args == ("game-cards",)
    assert rpc.calls_to("inventory", "list_products")[0].kwargs == {
        "level": "agent",
        "limit": 10,
        "cursor": None,
        "markup_bp": 1500,
    }


def test_an_unknown_shop_is_404(client, rpc):
    rpc.answer("customers", "shop_by_slug", NotFound("no shop", "shop_not_found"))

    response = client.get("/api/v1/shops/nowhere/products")

    assert response.status_code == 404 and response.json["error"]["code"] == "shop_not_found"
    assert rpc.calls_to("inventory", "list_products") == []
