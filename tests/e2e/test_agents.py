"""Agents through the HTTP API: an invite code, a two-level line earning on a delivered order,
the hold, a withdrawal paid out by finance, and the audit reconciling it all with the ledger."""

import time
import uuid

from kameng_cli import audit, shop

GRACE_SECONDS = 5


def _customer(suite, invite_code=None):
    username, password = f"agent_{uuid.uuid4().hex[:10]}", "correct-horse-battery"
    api = shop.Gateway(suite.settings.gateway_url)
    body = {"username": username, "password": password}
    if invite_code:
        body["invite_code"] = invite_code
    customer = api.request("POST", "/api/v1/auth/register", json=body, expected=(201,))
    return customer["id"], api.log_in(username, password)


def _wait_for_earnings(agent, wanted, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        earnings = agent.request("GET", "/api/v1/agent/earnings")
        if wanted(earnings) or time.monotonic() > deadline:
            return earnings
        time.sleep(0.5)


def test_a_sale_down_an_agents_line_pays_every_agent_up_it(suite, staff, product_with_cards, notify):
    top_id, top = _customer(suite)
    top_agent = staff.request("POST", "/api/v1/admin/agents", json={"customer_id": top_id}, expected=(201,))
    middle_id, middle = _customer(suite)
    middle_agent = staff.request(
        "POST",
        "/api/v1/admin/agents",
        json={"customer_id": middle_id, "parent_agent_id": top_agent["agent_id"]},
        expected=(201,),
    )
    staff.request("PUT", "/api/v1/admin/commission-plan", json={"rates_bp": [1000, 500]})
    buyer_id, buyer = _customer(suite, invite_code=middle_agent["invite_code"])
    staff.request(
        "POST",
        "/api/v1/auth/register",
        json={"username": f"x_{uuid.uuid4().hex[:8]}", "password": "long enough!", "invite_code": "NOSUCH99"},
        expected=(422,),
    )

    product, _cards = product_with_cards(1, price=10_000)
    order = buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
    )
    order = shop.wait_for_status(buyer, order["id"], {"awaiting_payment"})
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert notify(payment).status_code == 200
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"

    middle_earnings = _wait_for_earnings(middle, lambda e: e["available"] == 1000)
    top_earnings = _wait_for_earnings(top, lambda e: e["available"] == 500)
    assert (middle_earnings["available"], top_earnings["available"]) == (1000, 500)
    assert [entry["kind"] for entry in middle_earnings["entries"]] == ["commission"]

    downline = top.request("GET", "/api/v1/agent/downline")["items"]
    assert {(item["customer_id"], item["depth"]) for item in downline} == {(middle_id, 1), (buyer_id, 2)}
    buyer.request("GET", "/api/v1/agent/earnings", expected=(403,))

    withdrawal = middle.request(
        "POST",
        "/api/v1/agent/withdrawals",
        json={"amount": 1000, "account": "alipay:middle"},
        expected=(201,),
    )
    refused = middle.request(
        "POST", "/api/v1/agent/withdrawals", json={"amount": 1, "account": "alipay:middle"}, expected=(422,)
    )
    assert refused["error"]["code"] == "withdrawal_exceeds_available"
    paid = staff.request(
        "POST", f"/api/v1/admin/withdrawals/{withdrawal['id']}/decision", json={"decision": "approve"}
    )
    assert paid["status"] == "paid"
    assert middle.request("GET", "/api/v1/agent/earnings")["withdrawn"] == 1000

    # staff give half the order back: each agent up the line loses half of what they earned on it
    staff.request(
        "POST",
        f"/api/v1/admin/orders/{order['id']}/refunds",
        json={"amount": 5000, "to": "wallet", "reason": "half"},
    )
    assert _wait_for_earnings(top, lambda e: e["available"] == 250)["available"] == 250

    time.sleep(GRACE_SECONDS + 1)  # the ledger postings on their way
    report = audit.audit(
        suite.settings.amqp_uri,
        audit.Timeouts(order_ttl=suite.order_ttl, expiry_interval=1, grace=GRACE_SECONDS),
    )
    assert report.ok, report.render()


def test_a_shop_lists_the_agent_price_plus_its_markup_and_staff_see_its_buyer_scored(
    suite, staff, product_with_cards, notify
):
    agent_customer_id, agent = _customer(suite)
    made = staff.request(
        "POST", "/api/v1/admin/agents", json={"customer_id": agent_customer_id}, expected=(201,)
    )
    slug = f"shop-{uuid.uuid4().hex[:8]}"
    agent.request("PUT", "/api/v1/agent/shop", json={"slug": slug, "name": "Night market", "markup_bp": 1000})
    product, _cards = product_with_cards(1, price=10_000)
    staff.request("PATCH", f"/api/v1/admin/products/{product['id']}", json={"level_prices": {"agent": 8_000}})

    anyone = shop.Gateway(suite.settings.gateway_url)
    listed = anyone.request("GET", f"/api/v1/shops/{slug}/products?limit=100")
    assert listed["shop"] == {"slug": slug, "name": "Night market", "invite_code": made["invite_code"]}
    assert {item["id"]: item["price"] for item in listed["items"]}[product["id"]] == 8_800
    assert (
        anyone.request("GET", "/api/v1/shops/no-such-shop", expected=(404,))["error"]["code"]
        == "shop_not_found"
    )

    buyer_id, buyer = _customer(suite, invite_code=listed["shop"]["invite_code"])
    order = buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
    )
    shop.wait_for_status(buyer, order["id"], {"awaiting_payment"})
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert notify(payment).status_code == 200
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"

    deadline = time.monotonic() + 30
    while (detail := staff.request("GET", f"/api/v1/admin/customers/{buyer_id}"))["orders_count"] < 1:
        assert time.monotonic() < deadline, detail
        time.sleep(0.5)
    assert (detail["total_spent"], detail["invited_by"], detail["rfm"]) == (
        10_000,
        made["agent_id"],
        {"recency": 5, "frequency": 1, "monetary": 1},
    )
    assert detail["tags"] == ["new"]
    staff.request("POST", f"/api/v1/admin/customers/{buyer_id}/tags", json={"tag": "night-market"})
    tagged = staff.request("GET", "/api/v1/admin/customers?tag=night-market")["items"]
    assert [item["id"] for item in tagged] == [buyer_id]
    refused = staff.request(
        "POST", f"/api/v1/admin/customers/{buyer_id}/tags", json={"tag": "dormant"}, expected=(422,)
    )
    assert refused["error"]["code"] == "tag_reserved"


def test_a_sale_through_an_agents_shop_earns_them_the_markup_beside_their_commission(
    suite, staff, product_with_cards, notify
):
    agent_customer_id, agent = _customer(suite)
    made = staff.request(
        "POST", "/api/v1/admin/agents", json={"customer_id": agent_customer_id}, expected=(201,)
    )
    staff.request("PUT", "/api/v1/admin/commission-plan", json={"rates_bp": [1000]})
    slug = f"shop-{uuid.uuid4().hex[:8]}"
    agent.request("PUT", "/api/v1/agent/shop", json={"slug": slug, "name": "Corner shop", "markup_bp": 1000})
    product, _cards = product_with_cards(2, price=10_000)
    staff.request("PATCH", f"/api/v1/admin/products/{product['id']}", json={"level_prices": {"agent": 8_000}})
    _buyer_id, buyer = _customer(suite, invite_code=made["invite_code"])
    items = [{"product_id": product["id"], "quantity": 1}]

    refused = buyer.request(
        "POST", "/api/v1/orders", json={"items": items, "shop": "no-such-shop"}, expected=(422,)
    )
    assert refused["error"]["code"] == "shop_not_found"

    # the shop's price, whatever the buyer's level; nothing the buyer sends sets it
    order = buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": items, "shop": slug},
        expected=(201,),
    )
    assert (order["shop"], order["total"], order["items"][0]["unit_price"]) == (slug, 8_800, 8_800)
    shop.wait_for_status(buyer, order["id"], {"awaiting_payment"})
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert notify(payment).status_code == 200
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"

    # the markup over the agent price, and the commission on what the buyer paid
    earnings = _wait_for_earnings(agent, lambda e: e["available"] == 800 + 880)
    assert sorted((entry["kind"], entry["amount"], entry["order_id"]) for entry in earnings["entries"]) == [
        ("commission", 880, order["id"]),
        ("markup", 800, order["id"]),
    ]

    # half the order given back: half of each earning taken back
    staff.request(
        "POST",
        f"/api/v1/admin/orders/{order['id']}/refunds",
        json={"amount": 4_400, "to": "wallet", "reason": "half"},
    )
    assert _wait_for_earnings(agent, lambda e: e["available"] == 400 + 440)["available"] == 840

    time.sleep(GRACE_SECONDS + 1)  # the ledger postings on their way
    report = audit.audit(
        suite.settings.amqp_uri,
        audit.Timeouts(order_ttl=suite.order_ttl, expiry_interval=1, grace=GRACE_SECONDS),
    )
    assert report.ok, report.render()
