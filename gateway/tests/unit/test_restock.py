"""The restock listing at the gateway: admin and ops only, paginated, bad queries answered 422."""

import pytest

ITEM = {
    "product_id": 3,
    "name": "Steam 100",
    "kind": "card",
    "stock": 4,
    "threshold": 10,
    "low": True,
    "forecast_7d": 35.2,
    "forecast_method": "holt_winters",
    "history_days": 112,
    "days_of_cover": 0.8,
    "suggested_quantity": 48,
}


@pytest.mark.parametrize("role", ["admin", "ops"])
def test_admin_and_ops_see_what_to_restock(client, rpc, callers, role):
    rpc.answer("inventory", "restock_list", {"items": [ITEM], "next_cursor": "3"})
    response = client.get("/api/v1/admin/restock?limit=1&cursor=2", headers=callers.staff(role))
    assert response.status_code == 200
    assert response.json == {"items": [ITEM], "next_cursor": "3"}
    [call] = rpc.calls_to("inventory", "restock_list")
    assert call.kwargs == {"limit": 1, "cursor": "2"}


@pytest.mark.parametrize("caller", ["customer", "support", "finance", "auditor", "anonymous"])
def test_others_may_not_see_it(client, rpc, callers, caller):
    assert client.get("/api/v1/admin/restock", headers=callers.as_(caller)).status_code in (401, 403)
    assert rpc.calls_to("inventory", "restock_list") == []


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x"])
def test_a_bad_page_is_422_with_the_error_body(client, rpc, callers, query):
    response = client.get(f"/api/v1/admin/restock?{query}", headers=callers.staff("ops"))
    assert response.status_code == 422
    assert response.json["error"]["code"]


def test_staff_set_a_products_low_stock_threshold(client, rpc, callers):
    rpc.answer("inventory", "update_product", {"id": 3, "name": "Steam 100", "low_stock_threshold": 5})
    response = client.patch(
        "/api/v1/admin/products/3", json={"low_stock_threshold": 5}, headers=callers.staff("ops")
    )
    assert response.status_code == 200 and response.json["low_stock_threshold"] == 5
    [call] = rpc.calls_to("inventory", "update_product")
    assert call.args[1] == {"low_stock_threshold": 5}
    for bad in (-1, 2.5, "5"):
        response = client.patch(
            "/api/v1/admin/products/3", json={"low_stock_threshold": bad}, headers=callers.staff("ops")
        )
        assert response.status_code == 422
