"""50 buyers at once for the last 10 cards: 10 delivered, 40 cancelled for stock, nothing sold twice."""

import concurrent.futures
import uuid

from kameng_cli import shop

BUYERS = 50
CARDS = 10


def test_fifty_buyers_for_ten_cards(suite, product_with_cards, new_buyer, notify, stock_of):
    product, cards = product_with_cards(CARDS)
    buyers = [new_buyer() for _ in range(BUYERS)]

    def buy(buyer):
        order = buyer.request(
            "POST",
            "/api/v1/orders",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={"items": [{"product_id": product["id"], "quantity": 1}]},
        )
        order = shop.wait_for_status(buyer, order["id"], {"awaiting_payment"}, timeout=60)
        if order["status"] != "awaiting_payment":
            return order, None
        payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
        assert notify(payment).status_code == 200
        order = shop.wait_for_status(buyer, order["id"], {"delivered"}, timeout=60)
        return order, buyer.request("GET", f"/api/v1/orders/{order['id']}/cards")

    with concurrent.futures.ThreadPoolExecutor(BUYERS) as pool:
        outcomes = list(pool.map(buy, buyers))

    delivered = [(order, got) for order, got in outcomes if order["status"] == "delivered"]
    cancelled = [order for order, _ in outcomes if order["status"] == "cancelled"]
    assert len(delivered) == CARDS
    assert len(cancelled) == BUYERS - CARDS
    assert all("out_of_stock" in (order["history"][-1].get("reason") or "") for order in cancelled)
    sold = [card["number"] for _order, got in delivered for card in got]
    assert sorted(sold) == sorted(card["number"] for card in cards)  # each card once, none twice
    assert stock_of(product["id"]) == 0
