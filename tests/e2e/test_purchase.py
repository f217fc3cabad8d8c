"""A card bought end to end through the gateway's HTTP API, and what must never happen on the way."""

import concurrent.futures
import subprocess
import uuid

from kameng_cli import shop


def test_full_purchase_delivers_the_card_to_its_buyer_only(
    suite, order_awaiting_payment, notify, new_buyer, staff
):
    buyer, order, _product, cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert (payment["amount"], payment["currency"]) == (order["total"], "CNY")

    assert notify(payment).status_code == 200
    delivered = shop.wait_for_status(buyer, order["id"], {"delivered"})
    assert delivered["status"] == "delivered"
    assert [step["status"] for step in delivered["history"]][-3:] == ["awaiting_payment", "paid", "delivered"]
    assert buyer.request("GET", f"/api/v1/orders/{order['id']}/cards") == cards

    stranger = new_buyer()
    stranger.request("GET", f"/api/v1/orders/{order['id']}/cards", expected=(403, 404))
    staff.request("GET", f"/api/v1/orders/{order['id']}/cards", expected=(403,))


def test_one_long_poll_waits_through_payment_and_answers_the_cards(
    suite, order_awaiting_payment, notify, new_buyer
):
    buyer, order, _product, cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    through_payment = {"changed_from": "awaiting_payment,paid", "wait": 20}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(
            buyer.request,
            "GET",
            f"/api/v1/orders/{order['id']}",
            params={**through_payment, "include": "cards"},
        )
        stranger = new_buyer()
        stranger.request("GET", f"/api/v1/orders/{order['id']}", params=through_payment, expected=(403,))
        # refused while the buyer's own long-poll, asked first for as long, still waits: it did not wait
        assert not waiting.done()
        assert notify(payment).status_code == 200
        delivered = waiting.result(timeout=30)
    assert delivered["status"] == "delivered"
    assert delivered["cards"] == cards


def test_same_idempotency_key_gives_one_order(product_with_cards, new_buyer):
    product, _cards = product_with_cards(2)
    buyer = new_buyer()
    key = str(uuid.uuid4())
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    first = buyer.request("POST", "/api/v1/orders", headers={"Idempotency-Key": key}, json=body)
    second = buyer.request("POST", "/api/v1/orders", headers={"Idempotency-Key": key}, json=body)
    assert first["id"] == second["id"]
    assert len(buyer.request("GET", "/api/v1/orders")["items"]) == 1


def test_replayed_notification_pays_and_delivers_once(suite, order_awaiting_payment, notify):
    buyer, order, _product, _cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    trade_no = f"T{uuid.uuid4().hex[:16]}"
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: notify(payment, trade_no=trade_no), range(20)))
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.text for answer in answers}) == 1
    delivered = shop.wait_for_status(buyer, order["id"], {"delivered"})
    assert delivered["status"] == "delivered"
    assert [step["status"] for step in delivered["history"]].count("paid") == 1
    assert len(buyer.request("GET", f"/api/v1/orders/{order['id']}/cards")) == 1


def test_forged_notifications_are_refused_and_change_nothing(suite, order_awaiting_payment, notify):
    buyer, order, _product, _cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    refusals = [
        notify(payment, secret="not-the-secret"),
        notify(payment, amount=payment["amount"] - 1),
        notify(payment, amount=payment["amount"] + 1),
        notify(payment, currency="USD"),
        notify(payment, payment_id=str(uuid.uuid4())),
    ]
    for answer in refusals:
        assert 400 <= answer.status_code < 500, answer.text
        assert set(answer.json()["error"]) == {"code", "message"}
    unchanged = buyer.request("GET", f"/api/v1/orders/{order['id']}")
    assert unchanged["status"] == "awaiting_payment"
    buyer.request("GET", f"/api/v1/orders/{order['id']}/cards", expected=(409,))


def test_no_card_secret_is_stored_or_logged_in_plaintext(suite, order_awaiting_payment, notify):
    buyer, order, _product, cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    notify(payment)
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"
    assert buyer.request("GET", f"/api/v1/orders/{order['id']}/cards") == cards
    secret = cards[0]["secret"].encode()

    stored = list(suite.settings.data_dir.rglob("*"))
    assert any(path.suffix == ".log" for path in stored)
    for path in stored:
        if path.is_file():
            assert secret not in path.read_bytes(), f"card secret found in {path}"
    for name, _url in suite.databases.values():
        dump = subprocess.run(
            ["pg_dump", "--data-only", "-h", "127.0.0.1", "-U", "postgres", name],
            capture_output=True,
            check=True,
        ).stdout
        assert secret not in dump, f"card secret found in database {name}"
