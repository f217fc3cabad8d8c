"""Suppliers at the gateway: admin and ops only; the secret goes in and never comes out."""

import pytest

from kameng_common.errors import NotFound, Unavailable

SUPPLIER = {
    "id": 1,
    "name": "Upstream",
    "base_url": "http://127.0.0.1:8100",
    "key_id": "key-1",
    "deadline_seconds": None,
    "created_at": "2026-01-01T00:00:00+00:00",
    "synced_at": None,
    "sync_error": None,
}
BODY = {"name": "Upstream", "base_url": "http://127.0.0.1:8100", "key_id": "key-1", "secret": "s" * 32}


@pytest.mark.parametrize("role", ["admin", "ops"])
def test_admin_and_ops_add_a_supplier_whose_secret_is_never_answered(client, rpc, callers, role):
    rpc.answer("inventory", "create_supplier", {**SUPPLIER, "secret": "leaked?"})
    response = client.post("/api/v1/admin/suppliers", json=BODY, headers=callers.staff(role))
    assert response.status_code == 201
    assert "secret" not in response.json
    [call] = rpc.calls_to("inventory", "create_supplier")
    assert call.args == ("Upstream", "http://127.0.0.1:8100", "key-1", "s" * 32, None)


def test_a_supplier_may_have_its_own_deadline(client, rpc, callers):
    rpc.answer("inventory", "create_supplier", {**SUPPLIER, "deadline_seconds": 120})
    response = client.post(
        "/api/v1/admin/suppliers", json={**BODY, "deadline_seconds": 120}, headers=callers.staff("admin")
    )
    assert (response.status_code, response.json["deadline_seconds"]) == (201, 120)
    assert rpc.calls_to("inventory", "create_supplier")[0].args[-1] == 120


@pytest.mark.parametrize("caller", ["customer", "support", "finance", "auditor", "anonymous"])
def test_others_may_not_touch_suppliers(client, rpc, callers, caller):
    assert client.post("/api/v1/admin/suppliers", json=BODY, headers=callers.as_(caller)).status_code in (
        401,
        403,
    )
    assert client.post("/api/v1/admin/suppliers/1/sync", headers=callers.as_(caller)).status_code in (
        401,
        403,
    )
    assert rpc.calls == [] or all(call.service != "inventory" for call in rpc.calls)


@pytest.mark.parametrize(
    "change",
    [{"base_url": "ftp://x"}, {"secret": "short"}, {"key_id": ""}, {"name": None}, {"deadline_seconds": 0}],
)
def test_bad_supplier_input_is_422(client, rpc, callers, change):
    response = client.post("/api/v1/admin/suppliers", json={**BODY, **change}, headers=callers.staff("admin"))
    assert response.status_code == 422


def test_syncing_an_unknown_or_unreachable_supplier_is_a_4xx_or_503(client, rpc, callers):
    rpc.answer("inventory", "sync_supplier", NotFound("supplier 9 does not exist", "supplier_not_found"))
    response = client.post("/api/v1/admin/suppliers/9/sync", headers=callers.staff("ops"))
    assert (response.status_code, response.json["error"]["code"]) == (404, "supplier_not_found")
    rpc.answer("inventory", "sync_supplier", Unavailable("no answer", "supplier_unavailable"))
    assert client.post("/api/v1/admin/suppliers/1/sync", headers=callers.staff("ops")).status_code == 503


def test_a_direct_product_names_its_supplier(client, rpc, callers):
    rpc.answer(
        "inventory",
        "create_product",
        lambda *args, **kwargs: {
            "id": 5,
            "name": args[0],
            "kind": "direct",
            "supplier_id": 1,
            "supplier_sku": "1",
        },
    )
    body = {
        "name": "Top-up 50",
        "category_id": 1,
        "kind": "direct",
        "price": 5000,
        "supplier_id": 1,
        "supplier_sku": "1",
    }
    response = client.post("/api/v1/admin/products", json=body, headers=callers.staff("ops"))
    assert response.status_code == 201 and response.json["supplier_sku"] == "1"
    [call] = rpc.calls_to("inventory", "create_product")
    assert (call.kwargs["supplier_id"], call.kwargs["supplier_sku"]) == (1, "1")
