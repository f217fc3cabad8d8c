"""bench/floor.py: what a run's messages cost at the framework's floor, and the floor measured for real."""

import floor
import pytest

FLOOR = {"rpc": 1.5, "rpc_unit_of_work": 2.0, "event_hop": 3.0, "event_delivery": 1.0}


def test_a_purchase_s_messages_at_the_floor():
    # 14 RPC messages are 7 requests and their replies; 22 delivered less those 14 are 8 deliveries
    # of 5 events: 7 round trips, 5 hops and 3 further deliveries
    broker = {"rpc_per_purchase": 14.0, "events_per_purchase": 5.0, "delivered_per_purchase": 22.0}
    assert floor.purchase_floor(FLOOR, broker) == {
        "rpc_calls": 7.0,
        "events": 5.0,
        "event_deliveries": 8.0,
        "cpu_ms_per_purchase": 28.5,
    }


@pytest.mark.servers  # its own vhost on the machine's RabbitMQ, and PostgreSQL databases
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_floor_of_this_machine(database):
    measured = floor.measure(calls=40, callers=4, database=database)
    assert (measured["calls"], measured["database"]) == (40, database)
    hop = measured["by_process"]["event_hop"]
    assert measured["event_delivery"] == round(hop["subscriber"] + hop.get("postgresql:subscriber", 0.0), 2)
    processes = {"caller", "publisher", "subscriber", "rabbitmq"}
    if database == "postgresql":
        processes |= {"postgresql:publisher", "postgresql:subscriber"}
    for step in ("rpc", "rpc_unit_of_work", "event_hop"):
        assert set(measured["by_process"][step]) == processes
        assert measured[step] == pytest.approx(sum(measured["by_process"][step].values()), abs=0.05)
    # a round trip spends something in the caller, the service and the broker
    rpc = measured["by_process"]["rpc"]
    assert min(rpc["caller"], rpc["publisher"], rpc["rabbitmq"]) > 0
