"""One Kameng shop as another's supplier: the downstream shop (the session's suite) buys the cards a
product lacks from an upstream Kameng shop of its own (a second suite), through the upstream's channel
API, paid from its prepaid wallet there, and delivers them to its buyer."""

import time
import uuid

import pytest

from kameng_cli import audit, shop
from kameng_cli.secrets import admin_credentials, local_secrets
from kameng_cli.suite import throwaway_suite
from tests.api_steps import every_item, new_card_product, new_customer, notify_mockpay

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse-battery"
UPSTREAM_PRICE = 800
DEPOSIT = 10_000


@pytest.fixture(scope="module")
def upstream_shop():
    """A second suite on SQLite: the upstream shop."""
    settings = {"KAMENG_RATE_LIMITS": "off", "KAMENG_REDIS_PREFIX": f"kameng-e2e-up-{uuid.uuid4().hex[:8]}:"}
    with throwaway_suite("sqlite", f"kameng-e2e-up-{uuid.uuid4().hex[:6]}", extra_env=settings) as running:
        yield running.suite


def downstream_account(upstream_url, secret, staff):
    """The downstream shop's customer account at the upstream: a wallet of DEPOSIT fen and an API key."""
    account = new_customer(upstream_url, PASSWORD, prefix="downstream")
    payment = account.request(
        "POST", "/api/v1/me/wallet/topups", json={"amount": DEPOSIT, "method": "mockpay"}
    )
    assert notify_mockpay(upstream_url, secret, payment).status_code == 200
    deadline = time.monotonic() + 30
    while account.request("GET", "/api/v1/me/wallet")["balance"] < DEPOSIT:
        assert time.monotonic() < deadline, "the top-up never reached the wallet"
        time.sleep(0.2)
    me = account.request("GET", "/api/v1/me")
    key = staff.request(
        "POST", "/api/v1/admin/api-keys", json={"customer_id": me["id"], "name": "downstream"}
    )
    return account, key


def test_a_kameng_shop_buys_the_cards_it_lacks_from_an_upstream_kameng_shop(
    suite, staff, new_buyer, notify, upstream_shop
):
    upstream_url = upstream_shop.settings.gateway_url
    upstream_staff = shop.Gateway(upstream_url).log_in(*admin_credentials(upstream_shop.settings.data_dir))
    upstream_secret = local_secrets(upstream_shop.settings.data_dir)["KAMENG_MOCKPAY_SECRET"]
    upstream_product, upstream_cards = new_card_product(upstream_staff, 5, price=UPSTREAM_PRICE)
    account, key = downstream_account(upstream_url, upstream_secret, upstream_staff)

    supplier = staff.request(
        "POST",
        "/api/v1/admin/suppliers",
        json={
            "name": f"upstream-{uuid.uuid4().hex[:6]}",
            "base_url": upstream_url,
            "key_id": key["key_id"],
            "secret": key["secret"],
        },
    )
    category = staff.request("POST", "/api/v1/admin/categories", json={"name": f"up-{uuid.uuid4().hex[:6]}"})
    product = staff.request(
        "POST",
        "/api/v1/admin/products",
        json={
            "name": f"resold-{uuid.uuid4().hex[:6]}",
            "category_id": category["id"],
            "kind": "card",
            "price": 1000,
            "supplier_id": supplier["id"],
            "supplier_sku": str(upstream_product["id"]),
        },
    )
    synced = staff.request("POST", f"/api/v1/admin/suppliers/{supplier['id']}/sync")
    assert synced["products"] >= 1
    # the upstream's price to this account is the product's cost; its stock is what buyers may order
    assert staff.request("GET", f"/api/v1/admin/products/{product['id']}")["cost_price"] == UPSTREAM_PRICE
    buyer = new_buyer()
    catalogue = {item["id"]: item for item in every_item(buyer, "/api/v1/products")}
    assert catalogue[product["id"]]["stock"] == 5
    order = buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product["id"], "quantity": 2}]},
    )
    assert order["status"] == "awaiting_payment", order
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert notify(payment).status_code == 200
    order = shop.wait_for_status(buyer, order["id"], {"delivered", "refunded"}, timeout=60)
    assert order["status"] == "delivered", order

    # the buyer reads two of the upstream's cards, bought once, paid from the wallet there
    delivered = {
        card["number"]: card["secret"] for card in buyer.request("GET", f"/api/v1/orders/{order['id']}/cards")
    }
    upstream = {card["number"]: card["secret"] for card in upstream_cards}
    assert len(delivered) == 2 and all(upstream.get(number) == secret for number, secret in delivered.items())
    assert account.request("GET", "/api/v1/me/wallet")["balance"] == DEPOSIT - 2 * UPSTREAM_PRICE
    upstream_orders = account.request("GET", "/api/v1/orders")["items"]
    assert [(item["status"], item["total"]) for item in upstream_orders] == [
        ("delivered", 2 * UPSTREAM_PRICE)
    ]
    sold_upstream = upstream_staff.request(
        "GET", f"/api/v1/admin/products/{upstream_product['id']}/cards?state=sold"
    )
    assert {card["number"] for card in sold_upstream["items"]} == set(delivered)

    for running, ttl in ((suite, suite.order_ttl), (upstream_shop, 900)):
        report = audit.audit(
            running.settings.amqp_uri, audit.Timeouts(order_ttl=ttl, expiry_interval=1, grace=20)
        )
        assert report.ok, report.render()
