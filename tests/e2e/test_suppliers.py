"""Suppliers end to end: a shop syncs its catalogue from an upstream speaking the channel API."""

import uuid

from kameng_cli import audit, shop
from tests.api_steps import every_item


def direct_product(staff, supplier, sku, price=5000):
    category = staff.request(
        "POST", "/api/v1/admin/categories", json={"name": f"top-ups-{uuid.uuid4().hex[:6]}"}
    )
    return staff.request(
        "POST",
        "/api/v1/admin/products",
        json={
            "name": f"top-up-{uuid.uuid4().hex[:6]}",
            "category_id": category["id"],
            "kind": "direct",
            "price": price,
            "supplier_id": supplier["id"],
            "supplier_sku": sku,
        },
    )


def test_a_sync_brings_the_suppliers_stock_and_cost_to_its_products(staff, supplier, stock_of):
    assert "secret" not in supplier
    unlimited = direct_product(staff, supplier, "1")
    sold_out = direct_product(staff, supplier, "3")
    synced = staff.request("POST", f"/api/v1/admin/suppliers/{supplier['id']}/sync")
    assert synced["products"] == 3
    assert stock_of(unlimited["id"]) is None
    assert stock_of(sold_out["id"]) == 0
    listed = {item["id"]: item for item in staff.request("GET", "/api/v1/admin/suppliers")["items"]}
    assert listed[supplier["id"]]["synced_at"] and listed[supplier["id"]]["sync_error"] is None


def test_an_unreachable_supplier_answers_503_and_an_unknown_one_404(staff, supplier, upstream):
    upstream.stop()
    try:
        staff.request("POST", f"/api/v1/admin/suppliers/{supplier['id']}/sync", expected=(503,))
    finally:
        upstream.start()
    listed = {item["id"]: item for item in staff.request("GET", "/api/v1/admin/suppliers")["items"]}
    assert listed[supplier["id"]]["sync_error"]
    staff.request("POST", "/api/v1/admin/suppliers/999999/sync", expected=(404,))


def test_a_product_of_an_unknown_supplier_is_refused(staff):
    category = staff.request("POST", "/api/v1/admin/categories", json={"name": f"x-{uuid.uuid4().hex[:6]}"})
    staff.request(
        "POST",
        "/api/v1/admin/products",
        expected=(422,),
        json={
            "name": "orphan",
            "category_id": category["id"],
            "kind": "direct",
            "price": 100,
            "supplier_id": 999999,
            "supplier_sku": "1",
        },
    )


def buy_top_up(buyer, notify, product, client_key=None, account="13800000000"):
    order = buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": client_key or str(uuid.uuid4())},
        json={"items": [{"product_id": product["id"], "quantity": 1, "recharge_account": account}]},
    )
    order = shop.wait_for_status(buyer, order["id"], {"awaiting_payment"})
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert notify(payment).status_code == 200
    return shop.wait_for_status(buyer, order["id"], {"delivered", "refunded"}, timeout=60)


def test_a_paid_top_up_is_bought_once_from_the_supplier_and_delivered(
    suite, staff, supplier, upstream, new_buyer, notify
):
    product = direct_product(staff, supplier, "1")
    staff.request("POST", f"/api/v1/admin/suppliers/{supplier['id']}/sync")
    buyer = new_buyer()
    order = buy_top_up(buyer, notify, product)
    assert order["status"] == "delivered", order
    [line] = order["items"]
    assert line["recharge_account"] == "13800000000"
    assert line["fulfilment"]["status"] == "succeeded" and line["fulfilment"]["supplier_order_id"]
    state = upstream.state.snapshot()
    assert state["client_order_ids"].count(f"{order['id']}-1") == 1 and state["top_ups"] >= 1
    audit_passes(suite)


def test_a_failed_top_up_is_refunded(suite, staff, supplier, upstream, new_buyer, notify):
    product = direct_product(staff, supplier, "1")
    upstream.state.knobs.failure_rate = 1
    order = buy_top_up(new_buyer(), notify, product)
    assert order["status"] == "refunded", order
    assert order["items"][0]["fulfilment"]["status"] == "failed"
    audit_passes(suite)


def test_a_top_up_without_an_account_is_refused(staff, supplier, new_buyer):
    product = direct_product(staff, supplier, "1")
    buyer = new_buyer()
    buyer.request(
        "POST",
        "/api/v1/orders",
        expected=(422,),
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
    )


def audit_passes(suite):
    report = audit.audit(
        suite.settings.amqp_uri, audit.Timeouts(order_ttl=suite.order_ttl, expiry_interval=1, grace=20)
    )
    assert report.ok, report.render()


def test_the_demo_tops_up_through_the_supplier(suite, staff, supplier, upstream):
    product = direct_product(staff, supplier, "1")
    staff.request("POST", f"/api/v1/admin/suppliers/{supplier['id']}/sync")  # its stock: unlimited
    # the demo buys the first direct product on sale with stock: here, this test's own
    for item in list(every_item(staff, "/api/v1/admin/products")):
        if item["kind"] == "direct" and item["id"] != product["id"] and item["status"] == "on_sale":
            staff.request("PATCH", f"/api/v1/admin/products/{item['id']}", json={"status": "off_sale"})
    customer = (f"demo_{uuid.uuid4().hex[:8]}", "correct-horse-battery")
    shop.Gateway(suite.settings.gateway_url).register(*customer)
    said = []

    order = shop.buy_top_up(suite.settings.gateway_url, customer, suite.mockpay_secret, say=said.append)

    assert order["status"] == "delivered"
    [line] = order["items"]
    assert (line["product_id"], line["recharge_account"]) == (product["id"], shop.DEMO_RECHARGE_ACCOUNT)
    assert line["fulfilment"]["status"] == "succeeded"
    assert upstream.state.snapshot()["client_order_ids"] == [f"{order['id']}-1"]
    assert any("supplier's order" in line for line in said)
