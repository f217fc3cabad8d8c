"""The payments service in a nameko container on a real broker, on SQLite and PostgreSQL."""

import json
import time
import uuid

import pika
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from kameng_common import contracts, topology
from kameng_common.config import pika_parameters
from kameng_common.errors import InvalidInput, InvalidSignature
from kameng_common.migrations import upgrade
from payments.service import PaymentsService


@pytest.fixture
def config(amqp_uri, database_url, mockpay_secret):
    upgrade("payments", database_url)
    # what the relays declare before they publish: the exchanges, every subscriber's queue
    # (payments' refund queue, orders' payment queues) and the dead-letter queues
    with channel(amqp_uri) as opened:
        topology.declare_publisher_topology(opened, "orders")
        topology.declare_publisher_topology(opened, "payments")
    return {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": database_url,
        "MOCKPAY_SECRET": mockpay_secret,
        "max_workers": 10,
    }


@pytest.fixture
def start_payments(container_factory, config):
    """Start a payments container; each is stopped before the test's vhost is deleted."""
    started = []

    def start(**overrides):
        container = container_factory(PaymentsService, {**config, **overrides})
        container.start()
        started.append(container)
        return container

    yield start
    for container in started:
        container.stop()


@pytest.fixture
def payments(start_payments):
    return start_payments()


class channel:
    def __init__(self, amqp_uri):
        self.connection = pika.BlockingConnection(pika_parameters(amqp_uri))

    def __enter__(self):
        return self.connection.channel()

    def __exit__(self, *exc_info):
        self.connection.close()


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def next_message(amqp_uri, queue, timeout=15):
    """The next message in a queue, decoded, or None once ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    with channel(amqp_uri) as opened:
        while time.monotonic() < deadline:
            method, _properties, body = opened.basic_get(queue, auto_ack=True)
            if method is not None:
                return json.loads(body)
            time.sleep(0.1)
    return None


def published_queue(event_type, method):
    """Orders' queue for one of payments' events."""
    return topology.event_queue("payments", event_type, "orders", method)


def publish_from_orders(amqp_uri, envelope):
    with channel(amqp_uri) as opened:
        opened.confirm_delivery()
        opened.basic_publish(
            exchange=topology.events_exchange("orders"),
            routing_key=envelope["type"],
            body=json.dumps(envelope),
            mandatory=True,
            properties=pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=envelope["id"],
                correlation_id=envelope["correlation_id"],
            ),
        )


def signed(mockpay, payment, trade_no):
    body = json.dumps(
        {
            "payment_id": payment["payment_id"],
            "trade_no": trade_no,
            "amount": payment["amount"],
            "currency": payment["currency"],
            "status": "SUCCESS",
        }
    )
    return body, {"x-mockpay-signature": mockpay.sign(body)}


def paid_by_mockpay(payments, mockpay, order_id, customer_id="buyer-1", amount=1500):
    intent = call(payments, "create_intent", order_id, customer_id, amount, "CNY", "mockpay")
    answer = call(payments, "handle_notification", "mockpay", *signed(mockpay, intent, "MP-1"))
    assert answer == {"status": "ok", "payment_id": intent["payment_id"], "trade_no": "MP-1"}
    return intent


def test_health(payments):
    assert call(payments, "health") == {"service": "payments", "database": "ok"}


def test_a_mockpay_payment_is_published_to_orders(payments, mockpay, amqp_uri):
    order_id = str(uuid.uuid4())
    intent = paid_by_mockpay(payments, mockpay, order_id)

    event = next_message(amqp_uri, published_queue("payment.succeeded", "on_payment_succeeded"))

    assert event["type"] == "payment.succeeded"
    assert event["correlation_id"] == order_id
    assert event["payload"] == {
        "payment_id": intent["payment_id"],
        "order_id": order_id,
        "customer_id": "buyer-1",
        "amount": 1500,
        "currency": "CNY",
        "provider": "mockpay",
        "trade_no": "MP-1",
    }


def test_refusals_reach_the_caller_as_kameng_errors(payments, mockpay):
    intent = call(payments, "create_intent", str(uuid.uuid4()), "buyer-1", 1500, "CNY", "mockpay")
    body, _headers = signed(mockpay, intent, "MP-1")
    with pytest.raises(InvalidSignature):
        call(payments, "handle_notification", "mockpay", body, {"X-Mockpay-Signature": "00"})
    with pytest.raises(InvalidInput) as refused:
        call(payments, "create_intent", str(uuid.uuid4()), "buyer-1", 1500, "CNY", "alipay")
    assert refused.value.code == "provider_unavailable"


def test_mockpay_is_off_without_its_secret(start_payments):
    container = start_payments(MOCKPAY_SECRET=None)
    with pytest.raises(InvalidInput) as refused:
        call(container, "create_intent", str(uuid.uuid4()), "buyer-1", 1500, "CNY", "mockpay")
    assert refused.value.code == "provider_unavailable"


def test_order_refund_requested_round_trip(payments, mockpay, amqp_uri):
    """orders asks for a refund over the broker: the wallet is credited once, and orders hears of it."""
    order_id = str(uuid.uuid4())
    intent = paid_by_mockpay(payments, mockpay, order_id)
    request = contracts.new_event(
        "order.refund_requested",
        {
            "order_id": order_id,
            "customer_id": "buyer-1",
            "payment_id": intent["payment_id"],
            "amount": 1500,
            "currency": "CNY",
            "reason": "sale failed",
        },
        correlation_id=order_id,
    )

    with entrypoint_waiter(payments, "on_refund_requested"):
        publish_from_orders(amqp_uri, request)

    assert call(payments, "get_wallet", "buyer-1") == {
        "customer_id": "buyer-1",
        "balance": 1500,
        "currency": "CNY",
    }
    refunded = next_message(amqp_uri, published_queue("payment.refunded", "on_payment_refunded"))
    assert refunded["type"] == "payment.refunded"
    assert refunded["correlation_id"] == order_id
    assert {key: value for key, value in refunded["payload"].items() if key != "refund_id"} == {
        "payment_id": intent["payment_id"],
        "order_id": order_id,
        "customer_id": "buyer-1",
        "amount": 1500,
        "currency": "CNY",
        "order_refunded_in_full": True,
    }

    # the broker delivers the same event again: nothing changes twice
    with entrypoint_waiter(payments, "on_refund_requested"):
        publish_from_orders(amqp_uri, request)
    assert call(payments, "get_wallet", "buyer-1")["balance"] == 1500
    assert (
        next_message(amqp_uri, published_queue("payment.refunded", "on_payment_refunded"), timeout=2) is None
    )


def test_a_refund_that_cannot_be_made_is_dead_lettered_not_dropped(payments, amqp_uri):
    request = contracts.new_event(
        "order.refund_requested",
        {
            "order_id": "order-1",
            "customer_id": "buyer-1",
            "payment_id": str(uuid.uuid4()),
            "amount": 1500,
            "currency": "CNY",
            "reason": "sale failed",
        },
        correlation_id="order-1",
    )

    publish_from_orders(amqp_uri, request)

    dead = next_message(amqp_uri, topology.dead_letter_queue("payments"), timeout=30)
    assert dead is not None and dead["id"] == request["id"]


def test_answers_cross_the_wire_as_json(payments, config, mockpay):
    """entrypoint_hook skips serialization; a real RPC call does not."""
    order_id = str(uuid.uuid4())
    with ServiceRpcProxy("payments", config) as rpc:
        intent = rpc.create_intent(order_id, "buyer-1", 1500, "CNY", "mockpay")
        body, headers = signed(mockpay, intent, "MP-1")
        assert rpc.handle_notification("mockpay", body, headers)["trade_no"] == "MP-1"
        assert rpc.handle_notification("mockpay", body, headers)["trade_no"] == "MP-1"
        assert rpc.get_wallet("buyer-1")["balance"] == 0
        # kameng_common.errors registers its classes with nameko: they arrive as themselves
        with pytest.raises(InvalidSignature) as refused:
            rpc.handle_notification("mockpay", body, {})
    assert refused.value.code == "invalid_signature"
