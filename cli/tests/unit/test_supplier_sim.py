"""The supplier simulator speaks the channel API's server side, and misbehaves on request."""

import http.server
import threading
import time

import pytest
import requests

from kameng_cli.supplier_sim import Knobs, SimState, SupplierSim
from kameng_common import channel as protocol
from kameng_common.testing import free_port

KEY_ID, SECRET = "sim-key", "s" * 64
TOP_UP = [{"product_id": 1, "quantity": 1, "recharge_account": "13800000000"}]


@pytest.fixture
def sim():
    running = SupplierSim(
        SimState({KEY_ID: SECRET}, knobs=Knobs(fulfil_seconds=0.05), seed=1), free_port()
    ).start()
    yield running
    running.stop()


@pytest.fixture
def client(sim):
    return protocol.ChannelClient(sim.base_url, KEY_ID, SECRET, timeout=5)


def wait_for(client, order_id, status, timeout=5):
    deadline = time.monotonic() + timeout
    while (order := client.order(order_id))["status"] != status and time.monotonic() < deadline:
        time.sleep(0.02)
    return order


def test_it_lists_its_catalogue_and_tops_up_once_per_client_order_id(sim, client):
    products = client.products()
    assert {product["kind"] for product in products} == {"direct", "card"}
    first = client.place_order(TOP_UP, "shop-o1-1")
    again = client.place_order(TOP_UP, "shop-o1-1")
    assert again["id"] == first["id"] and first["status"] == "paid"
    assert wait_for(client, first["id"], "delivered")["status"] == "delivered"
    assert sim.state.snapshot()["top_ups"] == 1


def test_it_sells_cards_read_with_the_order_once_delivered(sim, client):
    first = client.place_order([{"product_id": 4, "quantity": 2}], "shop-o2-1")
    assert "cards" not in first
    delivered = wait_for(client, first["id"], "delivered")
    assert len(delivered["cards"]) == 2 and all(
        card["number"] and card["secret"] for card in delivered["cards"]
    )
    again = client.place_order([{"product_id": 4, "quantity": 2}], "shop-o2-1")
    assert again["id"] == first["id"] and "cards" not in again
    assert client.order(first["id"])["cards"] == delivered["cards"]  # the same cards, however often read
    assert sim.state.snapshot()["cards_sold"] == 2


def test_it_refuses_unsigned_forged_and_replayed_requests(sim):
    url = f"{sim.base_url}/api/channel/v1/balance"
    assert requests.get(url, timeout=5).status_code == 401
    forged = protocol.signed_headers(KEY_ID, "wrong", "GET", "/api/channel/v1/balance")
    assert requests.get(url, headers=forged, timeout=5).status_code == 401
    headers = protocol.signed_headers(KEY_ID, SECRET, "GET", "/api/channel/v1/balance")
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    assert requests.get(url, headers=headers, timeout=5).status_code == 401


def test_a_top_up_needs_a_recharge_account_and_stock(client):
    with pytest.raises(protocol.ChannelError) as refused:
        client.place_order([{"product_id": 1, "quantity": 1}], "no-account")
    assert refused.value.status == 422
    with pytest.raises(protocol.ChannelError) as refused:
        client.place_order([{"product_id": 3, "quantity": 1, "recharge_account": "x"}], "no-stock")
    assert refused.value.code == "out_of_stock"


def test_knobs_fail_top_ups_and_answer_5xx(sim, client):
    sim.state.knobs.failure_rate = 1
    order = client.place_order(TOP_UP, "will-fail")
    assert wait_for(client, order["id"], "refunded")["status"] == "refunded"
    requests.post(f"{sim.base_url}/_sim/knobs", json={"error_rate": 1}, timeout=5).raise_for_status()
    with pytest.raises(protocol.ChannelError) as refused:
        client.balance()
    assert refused.value.status == 503
    assert requests.post(f"{sim.base_url}/_sim/knobs", json={"nope": 1}, timeout=5).status_code == 422


class _Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.server.received.append(
            (self.path, dict(self.headers), self.rfile.read(int(self.headers["Content-Length"])))
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("duplicate, expected", [(0, 1), (1, 2)])
def test_outcomes_are_pushed_signed_once_or_twice(sim, client, duplicate, expected):
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Receiver)
    receiver.received = []
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    sim.state.knobs.duplicate_callbacks = duplicate
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook?x=1"
        order = client.place_order(TOP_UP, f"pushed-{duplicate}", callback_url=url)
        deadline = time.monotonic() + 5
        while len(receiver.received) < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert len(receiver.received) == expected
        path, headers, body = receiver.received[0]
        assert path == "/hook?x=1"
        assert order["id"].encode() in body
        message = protocol.string_to_sign(
            "POST", "/hook", "x=1", headers[protocol.TIMESTAMP_HEADER], headers[protocol.NONCE_HEADER], body
        )
        assert protocol.signature_matches(SECRET, message, headers[protocol.SIGNATURE_HEADER])
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_lost_callbacks_are_never_sent(sim, client):
    sim.state.knobs.lost_callbacks = 1
    order = client.place_order(TOP_UP, "lost", callback_url="http://127.0.0.1:9/never")
    wait_for(client, order["id"], "delivered")
    assert sim.state.snapshot()["callbacks_sent"] == 0


def test_a_stopped_simulator_keeps_its_orders_when_started_again(sim, client):
    order = client.place_order(TOP_UP, "survives")
    sim.stop()
    with pytest.raises(protocol.ChannelError) as refused:
        client.balance()
    assert refused.value.status is None
    sim.start()
    assert client.place_order(TOP_UP, "survives")["id"] == order["id"]
