"""The pika RPC client against a real nameko service on a real broker."""

import threading
import time

import eventlet
import pytest
from nameko.contextdata import ContextDataProvider
from nameko.rpc import rpc

from kameng_common.errors import KamengError, NotFound, Unavailable
from kameng_gateway.rpc import RpcClient


class CorrelationId(ContextDataProvider):
    context_key = "correlation_id"


class CalculatorService:
    name = "calculator"

    correlation_id = CorrelationId()

    @rpc
    def add(self, a, b=0):
        return a + b

    @rpc
    def find(self, key):
        raise NotFound(f"There is no {key}.", "thing_not_found")

    @rpc
    def crash(self):
        raise ValueError("the card secret 1234-SECRET was here")

    @rpc
    def sleep(self, seconds):
        eventlet.sleep(seconds)
        return "woke up"

    @rpc
    def echo_correlation_id(self):
        return self.correlation_id


@pytest.fixture
def pika_uri(rabbit_config):
    # nameko's fixture names kombu's transport; pika wants plain amqp
    return rabbit_config["AMQP_URI"].replace("pyamqp://", "amqp://", 1)


@pytest.fixture
def calculator(container_factory, rabbit_config):
    container = container_factory(CalculatorService, rabbit_config)
    container.start()
    return container


@pytest.fixture
def client(pika_uri, calculator):
    client = RpcClient(pika_uri, timeout=5)
    yield client
    client.close()


def test_returns_the_result(client):
    assert client.call("calculator", "add", 2, b=3) == 5


def test_reuses_the_thread_connection_across_calls(client):
    client.call("calculator", "add", 1)
    connection = client._local.channel.connection
    client.call("calculator", "add", 2)
    assert client._local.channel.connection is connection


def test_remote_kameng_error_keeps_its_class_message_and_code(client):
    with pytest.raises(NotFound) as raised:
        client.call("calculator", "find", "unicorn")
    assert raised.value.message == "There is no unicorn."
    assert raised.value.code == "thing_not_found"


def test_other_remote_errors_become_a_generic_internal_error(client):
    with pytest.raises(KamengError) as raised:
        client.call("calculator", "crash")
    assert type(raised.value) is KamengError
    assert raised.value.status == 500
    assert raised.value.code == "internal_error"
    assert "SECRET" not in raised.value.message


def test_unknown_method_is_an_internal_error(client):
    with pytest.raises(KamengError) as raised:
        client.call("calculator", "divide", 1, 2)
    assert raised.value.code == "internal_error"


def test_timeout_raises_unavailable_and_the_late_reply_is_ignored(client):
    started = time.monotonic()
    with pytest.raises(Unavailable):
        client.call("calculator", "sleep", 0.5, timeout=0.2)
    assert time.monotonic() - started < 0.5

    eventlet.sleep(0.5)  # the late reply arrives now
    assert client.call("calculator", "add", 40, 2) == 42


def test_unknown_service_fails_fast_as_unavailable(client):
    started = time.monotonic()
    with pytest.raises(Unavailable) as raised:
        client.call("nobody", "anything", timeout=5)
    assert time.monotonic() - started < 1
    assert "nobody" in raised.value.message
    # the connection stays usable
    assert client.call("calculator", "add", 1, 1) == 2


def test_unreachable_broker_raises_unavailable():
    client = RpcClient("amqp://guest:guest@127.0.0.1:1/", timeout=1)
    with pytest.raises(Unavailable):
        client.call("calculator", "add", 1, 2)
    with pytest.raises(Unavailable):
        client.ping()


def test_sends_the_correlation_id_header(client):
    assert client.call("calculator", "echo_correlation_id", correlation_id="order-7") == "order-7"
    assert client.call("calculator", "echo_correlation_id") is None


def _close_pika_connections(rabbit_manager, vhost):
    """Close the broker side of every pika connection on ``vhost``.

    The management API lists a new connection only after its next stats
    tick, hence the wait.
    """
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        ours = [
            connection["name"]
            for connection in rabbit_manager.get_connections()
            if connection["vhost"] == vhost
            and connection["client_properties"].get("product") == "Pika Python Client Library"
        ]
        if ours:
            for name in ours:
                rabbit_manager.delete_connection(name)
            return
        eventlet.sleep(0.5)
    raise AssertionError("the broker never listed the client's connection")


def test_reconnects_after_the_broker_closes_the_connection(client, rabbit_manager, rabbit_config):
    assert client.call("calculator", "add", 1, 1) == 2
    first_connection = client._local.channel.connection
    _close_pika_connections(rabbit_manager, rabbit_config["vhost"])

    assert client.call("calculator", "add", 2, 2) == 4
    assert client._local.channel.connection is not first_connection


def test_ping_answers_when_the_broker_is_up(client):
    client.ping()


def test_concurrent_threads_each_get_their_own_answers(client):
    answers = {}
    failures = []

    def caller(number):
        try:
            answers[number] = [client.call("calculator", "add", number, step) for step in range(10)]
        except Exception as exc:  # reported below; a thread cannot fail the test
            failures.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=caller, args=(number,)) for number in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert answers == {number: [number + step for step in range(10)] for number in range(24)}
