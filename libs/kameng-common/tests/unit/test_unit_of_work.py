"""The unit of work: state, outbox and inbox commit together or not at all."""

import datetime

import pytest
import sqlalchemy as sa
from marshmallow import ValidationError

from kameng_common import contracts
from kameng_common.db import DATABASE_UNAVAILABLE, messaging_tables, utc_isoformat

ORDER = {
    "order_id": "o-1",
    "customer_id": "c-1",
    "payment_id": "p-1",
    "amount": 200,
    "currency": "CNY",
    "items": [{"product_id": 7, "quantity": 2, "unit_price": 100}],
}


def _metadata():
    metadata = messaging_tables(sa.MetaData())
    sa.Table("things", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return metadata


@pytest.fixture
def database(make_database, database_url):
    return make_database(_metadata(), database_url)


@pytest.fixture
def postgres_database(make_database, postgres_url):
    """For what only PostgreSQL shows: SQLite's readers hold its lock, so no writer gets in between."""
    return make_database(_metadata(), postgres_url)


def count(database, table):
    with database.reading() as session:
        return session.execute(sa.select(sa.func.count()).select_from(database.tables[table])).scalar_one()


class RelayStandIn:
    def __init__(self):
        self.handed_over = []

    def hand_over(self, events):
        self.handed_over.append([event.event_id for event in events])


def test_state_and_event_commit_together(database):
    relay = RelayStandIn()
    database.hand_over_events_to(relay)
    with database.unit_of_work() as uow:
        uow.execute(database.tables["things"].insert().values(id=1))
        event_id = uow.publish("order.paid", ORDER, correlation_id="o-1")
        assert relay.handed_over == []
    assert count(database, "things") == 1
    assert database.outbox_backlog() == 1
    assert relay.handed_over == [[event_id]]


def test_a_failed_unit_of_work_leaves_neither_state_nor_event(database):
    with pytest.raises(RuntimeError), database.unit_of_work() as uow:
        uow.execute(database.tables["things"].insert().values(id=1))
        uow.publish("order.paid", ORDER, correlation_id="o-1")
        raise RuntimeError("boom")
    assert count(database, "things") == 0
    assert database.outbox_backlog() == 0


def test_after_commit_calls_run_only_once_the_unit_of_work_committed(database):
    calls = []
    with database.unit_of_work() as uow:
        uow.after_commit(lambda: calls.append(count(database, "things")))
        uow.execute(database.tables["things"].insert().values(id=1))
        assert calls == []
    assert calls == [1]
    with pytest.raises(RuntimeError), database.unit_of_work() as uow:
        uow.after_commit(lambda: calls.append("rolled back"))
        raise RuntimeError("boom")
    assert calls == [1]


def test_an_event_breaking_its_contract_is_never_written(database):
    with pytest.raises(ValidationError), database.unit_of_work() as uow:
        uow.publish("order.paid", {**ORDER, "amount": 1.5}, correlation_id="o-1")
    assert database.outbox_backlog() == 0


def test_inbox_lets_each_consumer_handle_an_event_once(database):
    with database.unit_of_work() as uow:
        assert uow.first_delivery("e-1", "inventory.on_order_paid")
    with database.unit_of_work() as uow:
        assert not uow.first_delivery("e-1", "inventory.on_order_paid")
        assert uow.first_delivery("e-1", "risk.on_order_paid")


def test_inbox_mark_rolls_back_with_a_failed_handler(database):
    with pytest.raises(RuntimeError), database.unit_of_work() as uow:
        uow.first_delivery("e-1", "inventory.on_order_paid")
        raise RuntimeError("handler failed")
    with database.unit_of_work() as uow:
        assert uow.first_delivery("e-1", "inventory.on_order_paid")


def test_handle_once_commits_the_inbox_mark_with_the_handlers_changes(database):
    def handle(uow):
        return uow.publish("order.paid", ORDER, correlation_id="o-1")

    assert database.handle_once("inventory.on_order_paid", "e-1", handle) is not None
    assert database.handle_once("inventory.on_order_paid", "e-1", handle) is None
    assert database.outbox_backlog() == 1


def test_handle_once_leaves_no_mark_when_the_handler_fails(database):
    def fail(uow):
        uow.publish("order.paid", ORDER, correlation_id="o-1")
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        database.handle_once("inventory.on_order_paid", "e-1", fail)
    assert database.outbox_backlog() == 0
    assert database.handle_once("inventory.on_order_paid", "e-1", lambda uow: "handled") == "handled"


def test_envelope_round_trip():
    envelope = contracts.new_event("order.paid", ORDER, correlation_id="o-1")
    loaded = contracts.load_event(envelope)
    assert loaded["payload"] == ORDER
    assert loaded["correlation_id"] == "o-1"
    assert set(envelope) == {"id", "type", "version", "occurred_at", "correlation_id", "payload"}


def test_money_must_be_integer_minor_units():
    with pytest.raises(ValidationError):
        contracts.new_event(
            "payment.succeeded",
            {
                "payment_id": "p",
                "order_id": "o",
                "customer_id": "c",
                "amount": 99.5,
                "currency": "CNY",
                "provider": "mockpay",
                "trade_no": "t",
            },
            correlation_id="o",
        )


def test_every_subscriber_is_declared_for_its_source():
    from kameng_common import topology

    declared = {
        (event_type, service, method)
        for source in {item.source for item in contracts.CONTRACTS.values()}
        for event_type, service, method, _queue in topology.subscriptions(source)
    }
    expected = {
        (event_type, service, method)
        for event_type, item in contracts.CONTRACTS.items()
        for service, method in item.subscribers
    }
    assert declared == expected


def test_outbox_status_tells_how_many_events_wait_and_since_when(database):
    assert database.outbox_status() == {"pending": 0, "oldest_pending_at": None}
    with database.unit_of_work() as uow:
        first = uow.publish("order.paid", ORDER, correlation_id="o-1")
        uow.publish("order.paid", {**ORDER, "order_id": "o-2"}, correlation_id="o-2")
    outbox = database.tables["outbox"]
    with database.reading() as session:
        written = dict(session.execute(sa.select(outbox.c.event_id, outbox.c.created_at)).all())
    status = database.outbox_status()
    assert status == {"pending": 2, "oldest_pending_at": utc_isoformat(min(written.values()))}
    assert datetime.datetime.fromisoformat(status["oldest_pending_at"]).utcoffset() == datetime.timedelta(0)

    with database.unit_of_work() as uow:
        uow.execute(
            outbox.update()
            .where(outbox.c.event_id == first)
            .values(published_at=datetime.datetime.now(datetime.UTC))
        )
    assert database.outbox_status()["pending"] == 1


def test_utc_isoformat_reads_a_zoneless_moment_as_utc():
    naive = datetime.datetime(2026, 3, 1, 12, 0)
    beijing = datetime.datetime(2026, 3, 1, 20, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    assert utc_isoformat(naive) == utc_isoformat(beijing) == "2026-03-01T12:00:00+00:00"
    assert utc_isoformat(None) is None


def test_a_reading_snapshot_sees_one_moment_while_others_commit(postgres_database):
    things = postgres_database.tables["things"]
    with postgres_database.reading_snapshot() as session:
        before = session.execute(sa.select(sa.func.count()).select_from(things)).scalar_one()
        with postgres_database.unit_of_work() as uow:
            uow.execute(things.insert().values(id=1))
        assert session.execute(sa.select(sa.func.count()).select_from(things)).scalar_one() == before
    assert count(postgres_database, "things") == before + 1


@pytest.mark.parametrize("reading", ["reading", "reading_snapshot"])
def test_a_read_on_a_connection_the_server_closed_fails_and_the_next_one_succeeds(postgres_database, reading):
    read = getattr(postgres_database, reading)
    with read() as session:
        backend = session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    other = sa.create_engine(postgres_database.url)
    with other.connect() as connection:
        connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    other.dispose()

    with pytest.raises(DATABASE_UNAVAILABLE), read() as session:
        session.execute(sa.select(1))
    with read() as session:
        assert session.execute(sa.select(1)).scalar_one() == 1
    assert postgres_database.engine.pool.checkedout() == 0
