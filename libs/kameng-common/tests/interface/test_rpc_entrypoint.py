"""Kameng's RPC entrypoint on a real broker: what callers get back."""
import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ServiceRpcProxy

from kameng_common.errors import NotFound, Unavailable
from kameng_common.extensions import rpc


class LedgerStandIn:
    name = "ledger"

    @rpc
    def add(self, a, b):
        return a + b

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
