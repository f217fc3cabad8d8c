"""The channel API end to end: an API key, signed requests, orders paid from the balance, callbacks."""

import concurrent.futures
import http.server
import json
import threading
import time
import uuid

import pytest
import requests

from kameng_cli import audit, shop
from kameng_common import channel as protocol
from kameng_common.testing import free_port

GRACE_SECONDS = 20


class CallbackReceiver(http.server.ThreadingHTTPServer):
    """A partner's callback endpoint: refuses the first ``refusals`` pushes with a 500, keeps the rest."""

    def __init__(self, refusals=0):
        self.received = []
        self.refusals = refusals
        super().__init__(("127.0.0.1", free_port()), _CallbackHandler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/kameng/callback?shop=e2e"


class _CallbackHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        if server.refusals > 0:
            server.refusals -= 1
            self.send_response(500)
        else:
            server.received.append((self.path, dict(self.headers), body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = CallbackReceiver(refusals=1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def partner(suite, staff, new_buyer, order_awaiting_payment, notify):
    """A customer with an API key and a balance of 2000 fen; returns (customer id, key)."""
    buyer, order, _product, _cards = order_awaiting_payment(count=1, price=2000)
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    # paid twice: the second sum is given back into the wallet
    assert notify(payment).status_code == 200
    assert notify(payment).status_code == 200
    customer_id = order["customer_id"]
    key = staff.request(
        "POST", "/api/v1/admin/api-keys", json={"customer_id": customer_id, "name": "partner site"}
    )
    client = protocol.ChannelClient(suite.settings.gateway_url, key["key_id"], key["secret"])
    deadline = time.monotonic() + 30
    while client.balance()["balance"] < 2000 and time.monotonic() < deadline:
        time.sleep(0.2)
    return customer_id, key, client


def test_a_partner_buys_with_its_balance_and_hears_of_the_delivery(
    suite, partner, product_with_cards, receiver
):
    customer_id, key, client = partner
    product, cards = product_with_cards(3, price=600)
    listed = {item["id"]: item for item in client.products()}
    assert listed[product["id"]]["stock"] == 3

    items = [{"product_id": product["id"], "quantity": 1}]
    order = client.place_order(items, "partner-order-1", callback_url=receiver.url)
    assert order["client_order_id"] == "partner-order-1" and order["customer_id"] == customer_id
    again = client.place_order(items, "partner-order-1", callback_url=receiver.url)
    assert again["id"] == order["id"]

    delivered = _wait_for_delivery(client, order["id"])
    assert delivered["cards"] == cards[:1]
    assert client.balance()["balance"] == 2000 - 600

    # refused once, the push comes again after its back-off, signed with the key's secret
    deadline = time.monotonic() + 30
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.3)
    [(path, headers, body)] = receiver.received
    pushed = json.loads(body)
    assert (pushed["order_id"], pushed["status"]) == (order["id"], "delivered")
    assert "secret" not in body.decode()
    target, _, query = path.partition("?")
    message = protocol.string_to_sign(
        "POST", target, query, headers[protocol.TIMESTAMP_HEADER], headers[protocol.NONCE_HEADER], body
    )
    assert protocol.signature_matches(key["secret"], message, headers[protocol.SIGNATURE_HEADER])


def test_one_client_order_id_sent_twice_at_once_makes_one_order(partner, product_with_cards):
    _customer_id, _key, client = partner
    product, _cards = product_with_cards(2, price=500)
    items = [{"product_id": product["id"], "quantity": 1}]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: client.place_order(items, "same-at-once"), range(2)))
    assert answers[0]["id"] == answers[1]["id"]
    assert _wait_for_delivery(client, answers[0]["id"])["status"] == "delivered"
    assert client.balance()["balance"] == 2000 - 500


def test_forged_replayed_and_revoked_requests_are_refused(suite, partner, staff):
    _customer_id, key, client = partner
    url = f"{suite.settings.gateway_url}/api/channel/v1/balance"
    headers = protocol.signed_headers(key["key_id"], key["secret"], "GET", "/api/channel/v1/balance")
    assert requests.get(url, headers=headers, timeout=10).status_code == 200
    replayed = requests.get(url, headers=headers, timeout=10)
    assert (replayed.status_code, replayed.json()["error"]["code"]) == (401, "replayed_request")
    forged = protocol.signed_headers(key["key_id"], "not-the-secret", "GET", "/api/channel/v1/balance")
    assert requests.get(url, headers=forged, timeout=10).status_code == 401
    stale = protocol.signed_headers(
        key["key_id"], key["secret"], "GET", "/api/channel/v1/balance", now=time.time() - 600
    )
    assert requests.get(url, headers=stale, timeout=10).status_code == 401

    staff.request("DELETE", f"/api/v1/admin/api-keys/{key['key_id']}")
    with pytest.raises(protocol.ChannelError) as refused:
        client.balance()
    assert refused.value.status == 401


def test_the_audit_passes_after_channel_orders(suite, partner, product_with_cards):
    _customer_id, _key, client = partner
    product, _cards = product_with_cards(1, price=700)
    order = client.place_order(
        [{"product_id": product["id"], "quantity": 1}], f"audit-{uuid.uuid4().hex[:8]}"
    )
    _wait_for_delivery(client, order["id"])
    report = audit.audit(
        suite.settings.amqp_uri,
        audit.Timeouts(order_ttl=suite.order_ttl, expiry_interval=1, grace=GRACE_SECONDS),
    )
    assert report.ok, report.render()


def _wait_for_delivery(client, order_id, timeout=30):
    deadline = time.monotonic() + timeout
    order = client.order(order_id)
    while order["status"] not in shop.FINAL_STATUSES and time.monotonic() < deadline:
        time.sleep(0.3)
        order = client.order(order_id)
    assert order["status"] == "delivered", order
    return order
