"""Catalogue management and loop products through the HTTP API, on a real suite per database."""

import concurrent.futures
import uuid

from kameng_cli import audit, shop

BUYERS = 50
LOOP_LIMIT = 10


def _category(staff, parent_id=None):
    return staff.request(
        "POST",
        "/api/v1/admin/categories",
        json={"name": f"cat-{uuid.uuid4().hex[:6]}", "parent_id": parent_id},
    )


def _product(staff, kind="card", price=1000, **extra):
    return staff.request(
        "POST",
        "/api/v1/admin/products",
        json={
            "name": f"{kind}-{uuid.uuid4().hex[:6]}",
            "category_id": _category(staff)["id"],
            "kind": kind,
            "price": price,
            **extra,
        },
    )


def _order(buyer, product_id, quantity=1, expected=(201,)):
    return buyer.request(
        "POST",
        "/api/v1/orders",
        expected=expected,
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product_id, "quantity": quantity}]},
    )


def test_fifty_buyers_for_a_loop_card_limited_to_ten_get_exactly_ten(suite, staff, api, new_buyer, notify):
    product = _product(staff, kind="loop", stock_limit=LOOP_LIMIT)
    account = {"number": f"member-{uuid.uuid4().hex[:8]}", "secret": "shared-password"}
    staff.request("POST", f"/api/v1/admin/products/{product['id']}/cards", json={"cards": [account]})
    assert api.request("GET", f"/api/v1/products/{product['id']}")["stock"] == LOOP_LIMIT
    buyers = [new_buyer() for _ in range(BUYERS)]

    def buy(buyer):
        order = shop.wait_for_status(
            buyer, _order(buyer, product["id"])["id"], {"awaiting_payment"}, timeout=60
        )
        if order["status"] != "awaiting_payment":
            return order, None
        payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
        assert notify(payment).status_code == 200
        order = shop.wait_for_status(buyer, order["id"], {"delivered"}, timeout=60)
        return order, buyer.request("GET", f"/api/v1/orders/{order['id']}/cards")

    with concurrent.futures.ThreadPoolExecutor(BUYERS) as pool:
        outcomes = list(pool.map(buy, buyers))

    delivered = [got for order, got in outcomes if order["status"] == "delivered"]
    assert len(delivered) == LOOP_LIMIT
    assert all(got == [account] for got in delivered)  # the same card to every buyer
    assert sum(order["status"] == "cancelled" for order, _ in outcomes) == BUYERS - LOOP_LIMIT
    assert api.request("GET", f"/api/v1/products/{product['id']}")["stock"] == 0
    [card] = staff.request("GET", f"/api/v1/admin/products/{product['id']}/cards")["items"]
    assert (card["state"], card["loop_orders"]) == ("available", LOOP_LIMIT)
    report = audit.audit(suite.settings.amqp_uri, audit.Timeouts(order_ttl=suite.order_ttl, grace=30))
    assert not [violation for violation in report.violations if violation.kind == "loop_over_limit"]
    assert not [
        violation for violation in report.violations if "product " + str(product["id"]) in violation.detail
    ]


def test_staff_manage_the_catalogue_and_an_order_keeps_its_quoted_price(suite, staff, api, new_buyer, notify):
    root = _category(staff)
    child = _category(staff, parent_id=root["id"])
    assert staff.request(
        "PATCH", f"/api/v1/admin/categories/{root['id']}", json={"parent_id": child["id"]}, expected=(422,)
    )
    moved = staff.request("PATCH", f"/api/v1/admin/categories/{child['id']}", json={"parent_id": None})
    assert moved == {"id": child["id"], "name": child["name"], "parent_id": None}
    assert child["id"] in {category["id"] for category in api.request("GET", "/api/v1/categories")["items"]}

    product = _product(staff, price=1000)
    imported = staff.request(
        "POST",
        f"/api/v1/admin/products/{product['id']}/cards",
        data="number,secret\nC1,S1\nC2,S2\nC1,again\nbroken-line\nC3,S3\n",
        headers={"Content-Type": "text/csv"},
    )
    assert imported == {
        "imported": 3,
        "duplicates": 1,
        "rejected": 1,
        "duplicate_lines": [4],
        "rejected_lines": [5],
    }

    buyer = new_buyer()
    placed = _order(buyer, product["id"])
    staff.request("PATCH", f"/api/v1/admin/products/{product['id']}", json={"price": 1500})
    order = shop.wait_for_status(buyer, placed["id"], {"awaiting_payment"})
    assert order["total"] == 1000  # quoted before the change
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert payment["amount"] == 1000 and notify(payment).status_code == 200
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"
    assert api.request("GET", f"/api/v1/products/{product['id']}")["price"] == 1500
    history = staff.request("GET", f"/api/v1/admin/products/{product['id']}/prices")["items"]
    assert [entry["price"] for entry in history] == [1500, 1000]

    sold = staff.request("GET", f"/api/v1/admin/products/{product['id']}/cards", params={"state": "sold"})[
        "items"
    ]
    assert len(sold) == 1 and "secret" not in sold[0]
    staff.request("POST", f"/api/v1/admin/cards/{sold[0]['id']}/void", expected=(409,))
    available = staff.request(
        "GET", f"/api/v1/admin/products/{product['id']}/cards", params={"state": "available"}
    )
    voided = staff.request("POST", f"/api/v1/admin/cards/{available['items'][0]['id']}/void")
    assert voided["state"] == "void"
    assert api.request("GET", f"/api/v1/products/{product['id']}")["stock"] == 1

    staff.request("PATCH", f"/api/v1/admin/products/{product['id']}", json={"status": "off_sale"})
    api.request("GET", f"/api/v1/products/{product['id']}", expected=(404,))
    refused = _order(buyer, product["id"], expected=(409,))
    assert refused["error"]["code"] == "not_on_sale"
