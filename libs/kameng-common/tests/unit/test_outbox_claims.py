"""The relay's claim on outbox rows: in order, and never the same row to two relays at once."""

import pytest
import sqlalchemy as sa

from kameng_common.db import Database, messaging_tables
from kameng_common.relay import OutboxRelay

ORDER = {
    "order_id": "o-1",
    "customer_id": "c-1",
    "payment_id": "p-1",
    "amount": 200,
    "currency": "CNY",
    "items": [{"product_id": 7, "quantity": 2, "unit_price": 100}],
}


@pytest.fixture
def database(database_url):
    database = Database(database_url, messaging_tables(sa.MetaData()))
    database.create_all()
    yield database
    database.dispose()


def test_a_claim_leases_pending_events_in_the_order_they_were_written(database):
    with database.unit_of_work() as uow:
        written = [uow.publish("order.paid", ORDER, correlation_id="o-1") for _ in range(3)]
    first, second = (OutboxRelay(database, "orders", "amqp://unused/", batch_size=2) for _ in range(2))

    assert [row.event_id for row in first._claim()] == written[:2]
    assert [row.event_id for row in second._claim()] == written[2:]
    assert first._claim() == []

    outbox = database.tables["outbox"]
    with database.unit_of_work() as uow:
        uow.execute(outbox.update().values(lease_until=None))
    assert [row.event_id for row in second._claim()] == written[:2]


def test_events_handed_over_to_a_relay_are_leased_to_it(database):
    relay = OutboxRelay(database, "orders", "amqp://unused/")
    with database.unit_of_work() as uow:
        written = uow.publish("order.paid", ORDER, correlation_id="o-1")

    assert [event.event_id for event in relay._handed_over] == [written]
    other_replica = OutboxRelay(database, "orders", "amqp://unused/")
    assert other_replica._claim() == []
