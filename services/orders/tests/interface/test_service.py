"""The orders service's entrypoints on a real broker: RPC, reliable events, the outbox relay, the timer."""

import json
import time
import uuid

import eventlet
import pika
import pytest
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter, replace_dependencies, worker_factory
from prometheus_client import REGISTRY

from kameng_common import contracts, dlq, topology
from kameng_common.config import pika_parameters
from kameng_common.errors import Conflict, InvalidInput, NotFound, Unavailable
from kameng_common.migrations import upgrade
from kameng_common.sealing import generate_keys_line
from orders.service import OrdersService

ITEMS = [{"product_id": 1, "quantity": 2}]


class Reply:
    """What a RemoteService method's ``call_async`` answers: ``result()`` gives the answer or raises."""

    def __init__(self, answer):
        self.answer = answer

    def result(self):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Remote:
    """A fake's method as a RemoteService proxy offers it: called, or sent with ``call_async``."""

    def __init__(self, method):
        self.method = method

    def __call__(self, *args, **kwargs):
        return self.method(*args, **kwargs)

    def call_async(self, *args, **kwargs):
        try:
            return Reply(self.method(*args, **kwargs))
        except Exception as exc:
            return Reply(exc)


class FakeInventory:
    def __init__(self):
        self.reservations = []
        self.given_back = []
        self.reserve = Remote(self._reserve)

    def _reserve(self, order_id, customer_id, items, level=None, markup_bp=0):
        """A new order's reservation is priced by inventory (``level``); a pending one's comes priced."""
        self.reservations.append((order_id, customer_id, items, level))
        answer = {"order_id": order_id, "reserved": True, "reason": None}
        if level is None:
            return answer
        lines = [
            {
                "product_id": item["product_id"],
                "name": f"product {item['product_id']}",
                "quantity": item["quantity"],
                "unit_price": 1500,
            }
            for item in items
        ]
        quote = {"items": lines, "total": sum(1500 * line["quantity"] for line in lines), "currency": "CNY"}
        return {**answer, "quote": quote}

    def give_back_reservation(self, order_id):
        self.given_back.append(order_id)
        return {"order_id": order_id, "released": True}


class FakeRisk:
    def __init__(self):
        self.decision = "approve"
        self.down = False
        self.assess_order = Remote(self._assess_order)

    def _assess_order(self, order):
        if self.down:
            raise Unavailable("The risk service is not running.")
        reasons = ["amount:review"] if self.decision == "review" else []
        return {"order_id": order["order_id"], "decision": self.decision, "score": 50, "reasons": reasons}


class FakePayments:
    def __init__(self):
        self.intents = []

    def create_intent(self, order_id, customer_id, amount, currency, method):
        self.intents.append((order_id, customer_id, amount, currency, method))
        return {
            "payment_id": "payment-1",
            "amount": amount,
            "currency": currency,
            "method": method,
            "status": "pending",
            "pay_url": None,
        }


class RefusingInventory:
    """Stands in for inventory on the broker, refusing as the real one does."""

    name = "inventory"

    @rpc
    def reserve(self, order_id, customer_id, items, level=None, markup_bp=0):
        raise NotFound(f"product {items[0]['product_id']} does not exist", "product_not_found")


class RefusingCustomers:
    """Stands in for customers on the broker, refusing a coupon as the real one does."""

    name = "customers"

    @rpc
    def hold_coupon(self, order_id, customer_id, code, lines, currency):
        raise InvalidInput("this coupon has expired", "coupon_expired")


@pytest.fixture
def config(amqp_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("KAMENG_CARD_KEYS", generate_keys_line("k1"))
    database_url = f"sqlite:///{tmp_path / 'orders.db'}"
    upgrade("orders", database_url)  # as the service does at start-up
    return {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": database_url,
        "ORDER_TTL_SECONDS": 900,
        "REVIEW_TTL_SECONDS": 3600,
        "COUPON_HOLD_GRACE_SECONDS": 600,
        "RESERVATION_GRACE_SECONDS": 600,
        "EXPIRY_INTERVAL_SECONDS": 60,
        "STATUS_RECHECK_SECONDS": 0.5,
        "CALLBACK_INTERVAL_SECONDS": 60,
        "max_workers": 10,
    }


@pytest.fixture
def fakes():
    return FakeInventory(), FakePayments(), FakeRisk()


@pytest.fixture
def container(container_factory, config, fakes):
    inventory, payments, risk = fakes
    container = container_factory(OrdersService, config)
    replace_dependencies(container, inventory=inventory, payments=payments, risk=risk)
    container.start()
    return container


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as entrypoint:
        return entrypoint(*args, **kwargs)


def publish(amqp_uri, event_type, payload):
    """Publish a new event the way another service's outbox relay does."""
    envelope = contracts.new_event(event_type, payload, payload["order_id"])
    publish_again(amqp_uri, envelope)
    return envelope


def publish_again(amqp_uri, envelope):
    connection = pika.BlockingConnection(pika_parameters(amqp_uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            exchange=topology.events_exchange(contracts.contract(envelope["type"]).source),
            routing_key=envelope["type"],
            body=json.dumps(envelope),
            mandatory=True,
            properties=pika.BasicProperties(
                content_type="application/json",
                message_id=envelope["id"],
                correlation_id=envelope["correlation_id"],
                delivery_mode=pika.DeliveryMode.Persistent,
            ),
        )
    finally:
        connection.close()


def published(amqp_uri, event_type, subscriber, timeout=10):
    """The next event of ``event_type`` the relay delivered to ``subscriber``'s queue (service, method)."""
    queue = topology.event_queue("orders", event_type, *subscriber)
    connection = pika.BlockingConnection(pika_parameters(amqp_uri))
    try:
        channel = connection.channel()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                method, _properties, body = channel.basic_get(queue, auto_ack=True)
            except pika.exceptions.ChannelClosedByBroker:  # the relay has not declared it yet
                channel = connection.channel()
                method = None
            if method is not None:
                return json.loads(body)
            connection.sleep(0.1)
    finally:
        connection.close()
    raise AssertionError(f"no {event_type} reached {queue} within {timeout}s")


def test_health(container):
    assert call(container, "health") == {"service": "orders", "database": "ok"}


def test_create_order_reserves_at_a_price_scores_and_answers_the_order_payable(container, fakes):
    order = call(container, "create_order", "customer-1", ITEMS, "key-1", client_ip="203.0.113.9")
    assert (order["status"], order["total"], order["currency"]) == ("awaiting_payment", 3000, "CNY")
    # one request to inventory: the reservation, priced at the buyer's level
    assert fakes[0].reservations == [(order["id"], "customer-1", ITEMS, "regular")]
    assert call(container, "create_order", "customer-1", ITEMS, "key-1", client_ip="203.0.113.9") == order
    assert len(fakes[0].reservations) == 1


def test_a_pending_order_placed_again_asks_inventory_with_its_lines_as_priced(container, fakes):
    fakes[2].down = True
    with pytest.raises(Unavailable):
        call(container, "create_order", "customer-1", ITEMS, "again")
    fakes[2].down = False
    order = call(container, "create_order", "customer-1", ITEMS, "again")
    lines = [{"product_id": 1, "quantity": 2, "unit_price": 1500}]
    assert order["status"] == "awaiting_payment"
    assert fakes[0].reservations == [
        (order["id"], "customer-1", ITEMS, "regular"),
        (order["id"], "customer-1", lines, None),
    ]


def test_an_order_risk_could_not_score_is_unavailable_and_stays_pending(container, fakes):
    fakes[2].down = True
    with pytest.raises(Unavailable):
        call(container, "create_order", "customer-1", ITEMS, "down")
    [pending] = call(container, "list_orders")["items"]
    assert pending["status"] == "pending"
    fakes[2].down = False
    assert call(container, "create_order", "customer-1", ITEMS, "down")["status"] == "awaiting_payment"


def test_get_and_list_orders(container):
    first = call(container, "create_order", "customer-1", ITEMS, "a")
    second = call(container, "create_order", "customer-1", ITEMS, "b")
    call(container, "create_order", "customer-2", ITEMS, "a")
    assert call(container, "get_order", first["id"]) == first
    page = call(container, "list_orders", customer_id="customer-1", limit=1)
    assert [item["id"] for item in page["items"]] in ([second["id"]], [first["id"]])
    rest = call(container, "list_orders", customer_id="customer-1", limit=1, cursor=page["next_cursor"])
    assert {page["items"][0]["id"], rest["items"][0]["id"]} == {first["id"], second["id"]}
    assert rest["next_cursor"] is None


def test_get_order_waits_for_the_status_to_change(container, config, fakes):
    fakes[2].decision = "review"
    order = call(container, "create_order", "customer-1", ITEMS, "long-poll")

    def get_order_once_changed():
        with ServiceRpcProxy("orders", config) as orders:
            return orders.get_order(order["id"], changed_from="on_hold", wait=20)

    waiting = eventlet.spawn(get_order_once_changed)
    call(container, "decide_review", order["id"], "approve", "called the buyer", "staff-1")
    with eventlet.Timeout(15):
        answer = waiting.wait()
    assert answer["status"] == "awaiting_payment"
    assert answer == call(container, "get_order", order["id"])


def test_get_order_answers_the_order_unchanged_when_the_wait_is_over(container, config):
    order = call(container, "create_order", "customer-1", ITEMS, "quiet")
    with ServiceRpcProxy("orders", config) as orders:
        assert orders.get_order(order["id"], changed_from="awaiting_payment", wait=0.3) == order
        with pytest.raises(InvalidInput):
            orders.get_order(order["id"], changed_from="awaiting_payment", wait=31)


def test_a_reviewer_decides_an_order_on_hold_over_rpc(container, config, fakes):
    fakes[2].decision = "review"
    order_id = call(container, "create_order", "customer-1", ITEMS, "held")["id"]
    [review] = call(container, "list_reviews")["items"]
    assert (review["order_id"], review["score"], review["reasons"]) == (order_id, 50, ["amount:review"])

    with ServiceRpcProxy("orders", config) as orders:
        decided = orders.decide_review(order_id, "approve", "called the buyer", "staff-1")
        assert decided["status"] == "awaiting_payment"
        with pytest.raises(Conflict) as refused:
            orders.decide_review(order_id, "reject", "second thoughts", "staff-2")
        assert refused.value.code == "review_already_decided"
        with pytest.raises(InvalidInput):
            orders.decide_review(order_id, "perhaps", "why", "staff-2")
    assert call(container, "list_reviews") == {"items": [], "next_cursor": None}


def test_the_whole_saga_through_the_reliable_handlers(container, config, fakes):
    uri = config["AMQP_URI"]
    order = call(container, "create_order", "customer-1", ITEMS, "saga")
    order_id = order["id"]
    assert order["status"] == "awaiting_payment"

    assert call(container, "request_payment", order_id, "customer-1", "mockpay")["payment_id"] == "payment-1"
    assert fakes[1].intents == [(order_id, "customer-1", 3000, "CNY", "mockpay")]

    payment = {
        "payment_id": "payment-1",
        "order_id": order_id,
        "customer_id": "customer-1",
        "amount": 3000,
        "currency": "CNY",
        "provider": "mockpay",
        "trade_no": "T-1",
    }
    with entrypoint_waiter(container, "on_payment_succeeded"):
        sent = publish(uri, "payment.succeeded", payment)
    paid = published(uri, "order.paid", ("inventory", "on_order_paid"))
    assert paid["payload"]["payment_id"] == "payment-1" and paid["correlation_id"] == order_id

    with entrypoint_waiter(container, "on_payment_succeeded"):  # the broker delivers it again
        publish_again(uri, sent)
    with pytest.raises(AssertionError):
        published(uri, "order.paid", ("inventory", "on_order_paid"), timeout=1)
    with entrypoint_waiter(container, "on_cards_delivered"):
        publish(uri, "cards.delivered", {"order_id": order_id, "card_ids": [11, 12]})
    delivered = published(uri, "order.delivered", ("customers", "on_order_delivered"))
    assert delivered["payload"] == {
        "order_id": order_id,
        "customer_id": "customer-1",
        "total": 3000,
        "currency": "CNY",
    }
    assert [entry["status"] for entry in call(container, "get_order", order_id)["history"]] == [
        "pending",
        "awaiting_payment",
        "paid",
        "delivered",
    ]


def test_a_handler_that_keeps_failing_dead_letters_the_event(container, config):
    unknown_order = str(uuid.uuid4())
    publish(config["AMQP_URI"], "cards.delivered", {"order_id": unknown_order, "card_ids": [1]})
    deadline = time.monotonic() + 20
    while dlq.depth(config["AMQP_URI"], "orders") == 0:
        assert time.monotonic() < deadline, "the failing event was never dead-lettered"
        time.sleep(0.2)
    [dead] = dlq.list_dead_letters(config["AMQP_URI"], "orders")
    assert (dead["event_type"], dead["correlation_id"]) == ("cards.delivered", unknown_order)
    assert dead["queue"] == topology.event_queue(
        "inventory", "cards.delivered", "orders", "on_cards_delivered"
    )


def test_the_timer_expires_orders_left_unanswered(container_factory, config, fakes):
    config = {**config, "ORDER_TTL_SECONDS": 1, "EXPIRY_INTERVAL_SECONDS": 0.2}
    container = container_factory(OrdersService, config)
    replace_dependencies(container, inventory=fakes[0], payments=fakes[1], risk=fakes[2])
    container.start()
    fakes[2].down = True
    with pytest.raises(Unavailable):
        call(container, "create_order", "customer-1", ITEMS, "expiring")
    [order] = call(container, "list_orders")["items"]
    deadline = time.monotonic() + 10
    while call(container, "get_order", order["id"])["status"] != "expired":
        assert time.monotonic() < deadline, "the timer never expired the order"
        time.sleep(0.2)
    expired = published(config["AMQP_URI"], "order.expired", ("inventory", "on_order_expired"))
    assert expired["payload"]["order_id"] == order["id"]


def test_orders_by_status_gauge(container):
    call(container, "create_order", "customer-1", ITEMS, "gauge")
    assert REGISTRY.get_sample_value("kameng_orders_by_status", {"status": "awaiting_payment"}) == 1
    assert REGISTRY.get_sample_value("kameng_orders_by_status", {"status": "refunded"}) == 0


def test_refusals_travel_over_rpc_with_their_class_and_code(container_factory, container, config, fakes):
    container_factory(RefusingCustomers, config).start()
    with ServiceRpcProxy("orders", config) as orders:
        with pytest.raises(InvalidInput) as refused:
            orders.create_order("customer-1", ITEMS, "coupon", coupon_code="SPRING")
        assert refused.value.code == "coupon_expired"
        # reserved before the coupon was refused: given back at once, not left to the sweep
        assert fakes[0].given_back == [fakes[0].reservations[-1][0]]
        with pytest.raises(InvalidInput):
            orders.create_order("customer-1", [], "empty")


def test_inventorys_refusal_reaches_the_caller_as_itself(container_factory, config):
    container_factory(RefusingInventory, config).start()
    orders = container_factory(OrdersService, config)
    replace_dependencies(orders, payments=FakePayments())
    orders.start()
    with ServiceRpcProxy("orders", config) as proxy, pytest.raises(NotFound) as refused:
        proxy.create_order("customer-1", [{"product_id": 99, "quantity": 1}], "k")
    assert (refused.value.message, refused.value.code) == ("product 99 does not exist", "product_not_found")


def test_entrypoints_only_delegate(db):
    inventory, payments = FakeInventory(), FakePayments()
    service = worker_factory(
        OrdersService,
        db=db,
        inventory=inventory,
        payments=payments,
        risk=FakeRisk(),
        config={
            "ORDER_TTL_SECONDS": 900,
            "REVIEW_TTL_SECONDS": 3600,
            "COUPON_HOLD_GRACE_SECONDS": 600,
            "RESERVATION_GRACE_SECONDS": 600,
        },
    )
    order = service.create_order("customer-1", ITEMS, "k")
    service.request_payment(order["id"], "customer-1", "balance")
    assert payments.intents == [(order["id"], "customer-1", 3000, "CNY", "balance")]
    service.expire_orders()
    assert service.get_order(order["id"])["status"] == "awaiting_payment"
