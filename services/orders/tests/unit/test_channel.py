"""The channel API in orders: API keys, channel orders paid from the balance, delivery callbacks."""

import datetime
import json

import eventlet
import pytest
import requests
import sqlalchemy as sa

from kameng_common import channel as protocol
from kameng_common.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from kameng_common.sealing import Sealer, generate_keys_line, parse_keys
from orders import channel, domain, usecases
from orders.db import api_keys, channel_callbacks

ITEMS = [{"product_id": 1, "quantity": 1}]


@pytest.fixture
def sealer():
    return Sealer(parse_keys(generate_keys_line("k1")), "api-key")


class FakePayments:
    """payments.create_intent for the balance: pays the order at once, by the saga's own event."""

    def __init__(self, saga):
        self.saga = saga
        self.calls = []

    def __call__(self, order_id, customer_id, amount, currency, method):
        self.calls.append((order_id, method))
        self.saga.pay(self.saga.order(order_id), now=datetime.datetime.now(datetime.UTC))
        return {"payment_id": "p", "amount": amount, "currency": currency, "method": method, "status": "paid"}


def place(saga, sealer, payments, client_order_id="c-1", callback_url=None, customer_id="customer-1"):
    key = channel.create_api_key(saga.db, sealer, customer_id, "shop", ["orders:create"])
    order = channel.create_channel_order(
        saga.db,
        saga.placing,
        saga.DEADLINES,
        payments,
        key["key_id"],
        customer_id,
        ITEMS,
        client_order_id,
        callback_url,
    )
    return key, order


# ---- keys


def test_a_key_verifies_what_its_secret_signed(saga, sealer):
    key = channel.create_api_key(saga.db, sealer, "customer-1", "shop", ["orders:create", "products:read"])
    assert key["key_id"].startswith("ck_") and len(key["secret"]) == 64
    message = protocol.string_to_sign("GET", "/api/channel/v1/products", "", "1700000000", "n1", b"")
    signature = protocol.signature(key["secret"], message)
    assert channel.verify_request(saga.db, sealer, key["key_id"], message, signature) == {
        "key_id": key["key_id"],
        "customer_id": "customer-1",
        "scopes": ["orders:create", "products:read"],
    }


def test_the_secret_is_not_stored_in_clear(saga, sealer):
    key = channel.create_api_key(saga.db, sealer, "customer-1", "shop", ["orders:read"])
    with saga.db.reading() as session:
        row = session.execute(sa.select(api_keys)).one()
    assert key["secret"].encode() not in bytes(row.sealed_secret)
    assert key["secret"] not in json.dumps({k: str(v) for k, v in row._mapping.items()})


@pytest.mark.parametrize("tamper", ["key", "signature", "message", "revoked"])
def test_a_wrong_key_signature_or_message_is_refused_alike(saga, sealer, tamper):
    key = channel.create_api_key(saga.db, sealer, "customer-1", "shop", ["orders:read"])
    message = "GET\n/api/channel/v1/balance\n1700000000\nn1\n" + "0" * 64
    signature = protocol.signature(key["secret"], message)
    key_id = key["key_id"]
    if tamper == "key":
        key_id = "ck_unknown"
    elif tamper == "signature":
        signature = protocol.signature("another secret", message)
    elif tamper == "message":
        message = message.replace("balance", "orders")
    else:
        channel.revoke_api_key(saga.db, key_id)
    with pytest.raises(Unauthorized) as refused:
        channel.verify_request(saga.db, sealer, key_id, message, signature)
    assert refused.value.code == "invalid_signature"


def test_revoking_twice_changes_nothing_and_an_unknown_key_is_not_found(saga, sealer):
    key = channel.create_api_key(saga.db, sealer, "customer-1", "shop", ["orders:read"])
    first = channel.revoke_api_key(saga.db, key["key_id"])
    assert channel.revoke_api_key(saga.db, key["key_id"]) == first
    assert "secret" not in first
    with pytest.raises(NotFound):
        channel.revoke_api_key(saga.db, "ck_nope")


@pytest.mark.parametrize(
    "scopes", [[], ["orders:delete"], "orders:read", None], ids=["none", "unknown", "text", "null"]
)
def test_bad_scopes_are_refused(saga, sealer, scopes):
    with pytest.raises(InvalidInput):
        channel.create_api_key(saga.db, sealer, "customer-1", "shop", scopes)


# ---- channel orders


def test_a_channel_order_is_an_ordinary_order_paid_from_the_balance(saga, sealer):
    payments = FakePayments(saga)
    _, order = place(saga, sealer, payments)
    assert payments.calls == [(order["id"], "balance")]
    assert order["status"] == domain.PAID
    assert order["client_order_id"] == "c-1"
    assert [kind for kind, _ in saga.events()][:1] == ["order.paid"]


def test_the_same_client_order_id_answers_the_first_order_and_pays_once(saga, sealer):
    payments = FakePayments(saga)
    _, first = place(saga, sealer, payments)
    _, second = place(saga, sealer, payments)
    assert second["id"] == first["id"]
    assert len(payments.calls) == 1
    assert (len(saga.reserved), len(saga.assessed)) == (1, 1)


def test_a_client_order_id_used_for_other_items_is_refused(saga, sealer):
    payments = FakePayments(saga)
    key, _ = place(saga, sealer, payments)
    with pytest.raises(InvalidInput) as refused:
        channel.create_channel_order(
            saga.db,
            saga.placing,
            saga.DEADLINES,
            payments,
            key["key_id"],
            "customer-1",
            [{"product_id": 2, "quantity": 1}],
            "c-1",
        )
    assert refused.value.code == "client_order_id_reused"


def test_two_requests_with_one_client_order_id_at_once_make_one_order(any_saga, sealer):
    saga = any_saga
    payments = FakePayments(saga)
    key = channel.create_api_key(saga.db, sealer, "customer-1", "shop", ["orders:create"])
    both_inside = eventlet.event.Event()
    arrived = []

    def slow_quote(items, level):
        arrived.append(1)
        if len(arrived) == 2:
            both_inside.send()
        both_inside.wait()
        return saga.quote(items, level)

    def racer():
        return channel.create_channel_order(
            saga.db,
            saga.placing_with(slow_quote),
            saga.DEADLINES,
            payments,
            key["key_id"],
            "customer-1",
            ITEMS,
            "same",
            None,
        )

    racers = [eventlet.spawn(racer) for _ in range(2)]
    first, second = (each.wait() for each in racers)
    assert first["id"] == second["id"]
    assert len(usecases.list_orders(saga.db)["items"]) == 1
    assert len(saga.events("order.paid")) == 1


def test_a_channel_order_is_read_only_by_its_owner(saga, sealer):
    payments = FakePayments(saga)
    _, order = place(saga, sealer, payments)
    assert channel.get_channel_order(saga.db, order["id"], "customer-1")["client_order_id"] == "c-1"
    with pytest.raises(Forbidden):
        channel.get_channel_order(saga.db, order["id"], "customer-2")


@pytest.mark.parametrize(
    "client_order_id, callback_url",
    [("", None), ("x" * 65, None), ("has space", None), ("ok", "ftp://example.test/x"), ("ok", "not a url")],
)
def test_bad_channel_order_input_is_refused_before_anything_is_stored(
    saga, sealer, client_order_id, callback_url
):
    with pytest.raises(InvalidInput):
        place(saga, sealer, FakePayments(saga), client_order_id=client_order_id, callback_url=callback_url)
    assert saga.events() == []


# ---- callbacks


class Receiver:
    def __init__(self, *statuses):
        self.statuses = list(statuses)
        self.received = []

    def __call__(self, url, data, headers, timeout, allow_redirects):
        self.received.append((url, data, headers))
        status = self.statuses.pop(0) if self.statuses else 200
        if status is None:
            raise requests.ConnectionError("refused")
        return type("Response", (), {"status_code": status})()


def delivered_channel_order(saga, sealer, url="https://shop.test/kameng/callback?shop=1"):
    payments = FakePayments(saga)
    key, order = place(saga, sealer, payments, callback_url=url)
    saga.cards_delivered(order["id"], now=datetime.datetime.now(datetime.UTC))
    return key, order


def test_a_delivery_is_pushed_signed_with_the_keys_secret(saga, sealer):
    key, order = delivered_channel_order(saga, sealer)
    receiver = Receiver()
    assert channel.send_due_callbacks(saga.db, sealer, post=receiver) == {"delivered": 1}
    [(url, body, headers)] = receiver.received
    assert url == "https://shop.test/kameng/callback?shop=1"
    pushed = json.loads(body)
    assert pushed["order_id"] == order["id"] and pushed["client_order_id"] == "c-1"
    assert pushed["status"] == domain.DELIVERED
    assert headers[protocol.KEY_HEADER] == key["key_id"]
    message = protocol.string_to_sign(
        "POST",
        "/kameng/callback",
        "shop=1",
        headers[protocol.TIMESTAMP_HEADER],
        headers[protocol.NONCE_HEADER],
        body,
    )
    assert protocol.signature_matches(key["secret"], message, headers[protocol.SIGNATURE_HEADER])
    # answered 2xx: never sent again
    assert channel.send_due_callbacks(saga.db, sealer, post=receiver, now=far_future()) == {}


def test_a_callback_is_retried_with_back_off_until_answered_2xx(saga, sealer):
    delivered_channel_order(saga, sealer)
    receiver = Receiver(500, None)
    assert channel.send_due_callbacks(saga.db, sealer, post=receiver) == {"refused": 1}
    # not due again before its back-off
    assert channel.send_due_callbacks(saga.db, sealer, post=receiver) == {}
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=6)
    assert channel.send_due_callbacks(saga.db, sealer, post=receiver, now=later) == {"unreachable": 1}
    row = callback_row(saga)
    assert row.attempts == 2 and row.delivered_at is None and row.last_error == "ConnectionError"
    assert channel.send_due_callbacks(saga.db, sealer, post=receiver, now=far_future()) == {"delivered": 1}
    assert callback_row(saga).delivered_at is not None


def test_an_order_without_a_callback_url_pushes_nothing(saga, sealer):
    payments = FakePayments(saga)
    _, order = place(saga, sealer, payments)
    saga.cards_delivered(order["id"], now=datetime.datetime.now(datetime.UTC))
    assert channel.send_due_callbacks(saga.db, sealer, post=Receiver()) == {}


def test_a_callback_being_sent_is_not_taken_by_another_sender(saga, sealer):
    delivered_channel_order(saga, sealer)
    now = datetime.datetime.now(datetime.UTC)
    assert len(channel._take_due(saga.db, now, 10)) == 1
    assert channel._take_due(saga.db, now, 10) == []
    # a sender that died: its lease runs out and the callback is sent again
    assert len(channel._take_due(saga.db, now + channel.CALLBACK_LEASE, 10)) == 1


def test_retry_delays_grow_and_are_capped():
    delays = [channel.retry_delay(attempt).total_seconds() for attempt in range(1, 12)]
    assert delays[:4] == [5, 10, 20, 40]
    assert max(delays) == channel.MAX_RETRY_SECONDS


def callback_row(saga):
    with saga.db.reading() as session:
        return session.execute(sa.select(channel_callbacks)).one()


def far_future():
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
