"""Suppliers end to end: a shop syncs its catalogue from an upstream speaking the channel API."""

import time
import uuid

import pytest

from kameng_cli import audit, shop
from tests.api_steps import every_item, product_finance_row


def direct_product(staff, supplier, sku, price=5000, kind="direct"):
    category = staff.request(
        "POST", "/api/v1/admin/categories", json={"name": f"top-ups-{uuid.uuid4().hex[:6]}"}
    )
    return staff.request(
        "POST",
        "/api/v1/admin/products",
        json={
            "name": f"{kind}-{uuid.uuid4().hex[:6]}",
            "category_id": category["id"],
            "kind": kind,
            "price": price,
            "supplier_id": supplier["id"],
            "supplier_sku": sku,
        },
    )


# the simulator's card product
UPSTREAM_CARDS = "4"


def test_a_sync_brings_the_suppliers_stock_and_cost_to_its_products(staff, supplier, stock_of):
    assert "secret" not in supplier
    unlimited = direct_product(staff, supplier, "1")
    sold_out = direct_product(staff, supplier, "3")
    synced = staff.request("POST", f"/api/v1/admin/suppliers/{supplier['id']}/sync")
    assert synced["products"] == 4
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
    # finance counts what the supplier charges as the sale's cost
    cost = staff.request("GET", f"/api/v1/admin/products/{product['id']}")["cost_price"]
    sold = product_finance_row(staff, product["id"])
    assert (sold["revenue"], sold["cost"], sold["lines_without_cost"]) == (order["total"], cost, 0)
    assert sold["margin"] == order["total"] - cost
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


def linked_card_product(staff, supplier, own_cards):
    """A card product with ``own_cards`` of its own, whose missing cards are bought from ``supplier``."""
    product = direct_product(staff, supplier, UPSTREAM_CARDS, price=1000, kind="card")
    cards = [
        {"number": f"N{uuid.uuid4().hex[:14]}", "secret": f"S{uuid.uuid4().hex}"} for _ in range(own_cards)
    ]
    staff.request("POST", f"/api/v1/admin/products/{product['id']}/cards", json={"cards": cards})
    staff.request("POST", f"/api/v1/admin/suppliers/{supplier['id']}/sync")
    return product, cards


def buy_cards(buyer, notify, product, quantity):
    order = buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product["id"], "quantity": quantity}]},
    )
    order = shop.wait_for_status(buyer, order["id"], {"awaiting_payment"})
    assert order["status"] == "awaiting_payment", order
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert notify(payment).status_code == 200
    return shop.wait_for_status(buyer, order["id"], {"delivered", "refunded"}, timeout=60)


def test_cards_a_linked_product_lacks_are_bought_from_the_supplier_once_and_delivered(
    suite, staff, supplier, upstream, new_buyer, notify, stock_of, service_metrics
):
    product, own = linked_card_product(staff, supplier, own_cards=1)
    assert stock_of(product["id"]) is None  # its own card and the supplier's unlimited stock
    buyer = new_buyer()
    order = buy_cards(buyer, notify, product, 3)
    assert order["status"] == "delivered", order
    cards = buyer.request("GET", f"/api/v1/orders/{order['id']}/cards")
    assert len(cards) == 3 and own[0]["number"] in {card["number"] for card in cards}
    assert sum(card["number"].startswith("SIM-") for card in cards) == 2
    state = upstream.state.snapshot()
    assert state["client_order_ids"] == [f"{order['id']}-1"] and state["cards_sold"] == 2
    restocked = [
        sample.value
        for sample in service_metrics("inventory")
        if sample.name == "kameng_card_restocks_total" and sample.labels["outcome"] == "succeeded"
    ]
    assert restocked and restocked[0] >= 1
    audit_passes(suite)


@pytest.mark.parametrize("fault", ["down", "failing", "late"])
def test_cards_the_supplier_cannot_sell_refund_the_order_and_give_its_own_cards_back(
    suite, staff, upstream, add_supplier, new_buyer, notify, fault
):
    supplier = add_supplier(deadline_seconds=3)
    assert supplier["deadline_seconds"] == 3
    product, _ = linked_card_product(staff, supplier, own_cards=1)
    if fault == "down":
        upstream.stop()
    elif fault == "failing":
        upstream.state.knobs.failure_rate = 1
    else:  # delivered after the deadline, its outcome pushed twice
        upstream.state.knobs.fulfil_seconds = 6
        upstream.state.knobs.duplicate_callbacks = 1
    try:
        order = buy_cards(new_buyer(), notify, product, 2)
    finally:
        if fault == "down":
            upstream.start()
    assert order["status"] == "refunded", order

    def available():
        path = f"/api/v1/admin/products/{product['id']}/cards?state=available"
        return len(staff.request("GET", path)["items"])

    if fault == "late":
        # the cards paid for upstream come after all: collected into stock once, the order still refunded
        deadline = time.monotonic() + 30
        while available() < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert upstream.state.snapshot()["cards_sold"] == 1
        time.sleep(2)  # the second callback, and another round of the timer: nothing more
        assert available() == 2  # its own card and the one bought
    else:
        assert upstream.state.snapshot()["cards_sold"] == 0
        assert available() == 1  # its own card is back in stock
    audit_passes(suite)


@pytest.mark.parametrize("fault", ["never_answers", "never_completes"])
def test_a_top_up_the_supplier_leaves_unanswered_is_refunded_after_its_deadline(
    suite, staff, upstream, add_supplier, new_buyer, notify, fault
):
    product = direct_product(staff, add_supplier(deadline_seconds=3), "1")
    if fault == "never_answers":
        upstream.stop()
    else:
        upstream.state.knobs.fulfil_seconds = 3600
    try:
        order = buy_top_up(new_buyer(), notify, product)
    finally:
        if fault == "never_answers":
            upstream.start()
    assert order["status"] == "refunded", order
    assert order["items"][0]["fulfilment"]["status"] == "failed"
    audit_passes(suite)
