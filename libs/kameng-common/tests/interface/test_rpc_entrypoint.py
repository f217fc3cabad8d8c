"""Kameng's RPC entrypoint on a real broker: what callers get back."""

import eventlet
import kombu.exceptions
import pytest
import sqlalchemy as sa
from nameko.exceptions import RpcTimeout
from nameko.messaging import QueueConsumer
from nameko.standalone.rpc import ServiceRpcProxy

from kameng_common import extensions
from kameng_common.errors import NotFound, Unavailable
from kameng_common.extensions import RemoteService, rpc


class LedgerStandIn:
    name = "ledger"

    @rpc
    def add(self, a, b):
        return a + b

    @rpc
    def sleep(self, seconds):
        eventlet.sleep(seconds)

    @rpc
    def find(self, key):
        raise NotFound(f"There is no {key}.")

    @rpc
    def read_while_the_database_is_down(self):
        engine = sa.create_engine("postgresql+psycopg2://kameng@127.0.0.1:1/ledger")
        with engine.connect():
            pass


@pytest.fixture
def ledger(container_factory, rabbit_config):
    container_factory(LedgerStandIn, rabbit_config).start()
    with ServiceRpcProxy("ledger", rabbit_config, timeout=10) as proxy:
        yield proxy


def test_answers_with_the_result(ledger):
    assert ledger.add(2, 3) == 5


def test_a_kameng_error_reaches_the_caller_as_itself(ledger):
    with pytest.raises(NotFound, match="There is no unicorn"):
        ledger.find("unicorn")


def test_a_database_that_is_down_answers_unavailable(ledger):
    with pytest.raises(Unavailable, match="ledger database is not reachable"):
        ledger.read_while_the_database_is_down()


def broker_gone(*_args, **_kwargs):
    raise kombu.exceptions.OperationalError("[Errno 111] ECONNREFUSED")


def test_a_reply_lost_with_the_broker_leaves_the_service_running(ledger, rabbit_config, monkeypatch):
    with monkeypatch.context() as patched:
        patched.setattr(extensions._UnconfirmedReplies, "publish", broker_gone)
        with ServiceRpcProxy("ledger", rabbit_config, timeout=1) as impatient, pytest.raises(RpcTimeout):
            impatient.add(2, 3)
    assert ledger.add(2, 3) == 5


def test_an_ack_on_a_connection_the_broker_reset_leaves_the_service_running(ledger, monkeypatch):
    def reset(*_args, **_kwargs):
        raise ConnectionResetError(104, "Connection reset by peer")

    with monkeypatch.context() as patched:
        patched.setattr(QueueConsumer, "ack_message", reset)  # the service's, not the caller's
        assert ledger.add(2, 3) == 5
    assert ledger.add(2, 3) == 5


class CallerStandIn:
    name = "caller"

    ledger = RemoteService("ledger", timeout=1)
    absent = RemoteService("absent", timeout=1)

    @rpc
    def add_through_the_ledger(self, a, b):
        return self.ledger.add(a, b)

    @rpc
    def wait_for_the_ledger(self, seconds):
        return self.ledger.sleep(seconds)

    @rpc
    def call_a_service_that_is_not_running(self):
        return self.absent.anything()


@pytest.fixture
def caller(container_factory, rabbit_config, ledger):
    container_factory(CallerStandIn, rabbit_config).start()
    with ServiceRpcProxy("caller", rabbit_config, timeout=10) as proxy:
        yield proxy


def test_a_remote_service_answers_through_the_proxy(caller):
    assert caller.add_through_the_ledger(2, 3) == 5


def test_a_remote_service_that_does_not_answer_in_time_is_unavailable(caller):
    with pytest.raises(Unavailable, match="ledger service did not answer in time"):
        caller.wait_for_the_ledger(3)


def test_a_remote_service_that_is_not_running_is_unavailable(caller):
    with pytest.raises(Unavailable, match="absent service is not running"):
        caller.call_a_service_that_is_not_running()


def test_a_remote_call_while_the_broker_is_unreachable_is_unavailable(caller, monkeypatch):
    monkeypatch.setattr(extensions._TimedMethodProxy, "_call", broker_gone)
    with pytest.raises(Unavailable, match="message broker is not reachable"):
        caller.add_through_the_ledger(2, 3)
