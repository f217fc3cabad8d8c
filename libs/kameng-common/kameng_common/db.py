"""A service's database: engine, unit of work, transactional outbox and inbox."""

import datetime
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any, NamedTuple, Protocol, TypeVar, overload

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import StaticPool

from kameng_common import contracts

# an execution option for connections that only read
READ_ONLY = "kameng_read_only"

# what a statement raises when the database is down or a pooled connection died with it
DATABASE_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def as_utc(moment: datetime.datetime) -> datetime.datetime:
    """A stored moment, aware and in UTC: SQLite hands datetimes back without their zone, and every
    one stored is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


@overload
def utc_isoformat(moment: datetime.datetime) -> str: ...
@overload
def utc_isoformat(moment: None) -> None: ...
def utc_isoformat(moment: datetime.datetime | None) -> str | None:
    """A stored moment as an ISO 8601 UTC string (None stays None)."""
    return None if moment is None else as_utc(moment).isoformat()


# how long an outbox row is left to the relay that claimed it (or was handed it);
# after a crash another relay publishes it once the lease runs out (consumers absorb a duplicate)
OUTBOX_LEASE = datetime.timedelta(seconds=10)


# constraint names for a service's MetaData, so that alembic can alter them on SQLite too
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class OutboxEvent(NamedTuple):
    event_id: str
    event_type: str
    correlation_id: str
    body: str


class EventRelay(Protocol):
    def hand_over(self, events: list[OutboxEvent]) -> None: ...


T = TypeVar("T")


def messaging_tables(metadata: sa.MetaData) -> sa.MetaData:
    """Add the outbox and inbox tables to a service's metadata."""
    sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), index=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        # a relay claims rows until then, so that replicas don't publish the same rows at once
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
    )
    sa.Table(
        "inbox",
        metadata,
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("consumer", sa.String(128), primary_key=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
    )
    return metadata


# Connections per process, for transactions and for reads each: a handful keeps
# two cores busy, and replicas × services × both must fit the server's max_connections.
# Each is kept once opened and none is opened beyond: a pool's "overflow" connections
# are closed as soon as they are returned, and under load PostgreSQL then started
# about 1.5 backends a purchase, a third of its CPU. Waiting for a pooled connection
# costs less than opening one (bench, 2026-11-27: 5 + 5 overflow 17.2 purchases/s,
# 10 + 0 18.7, 6 + 0 19.2).
POOL_SIZE, POOL_OVERFLOW = 6, 0


def create_engine(url: str, **options: Any) -> sa.Engine:
    # hide_parameters: a failed statement's error must not quote a hash or a sealed secret
    if url.startswith("sqlite"):
        in_memory = ":memory:" in url or url.rstrip("/") == "sqlite:"
        # an in-memory database lives in one connection: every connection must share it
        pool: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {}
        engine = sa.create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True, **pool
        )
        _serialize_sqlite_writers(engine, in_memory)
        return engine
    # No pool_pre_ping: it costs a round trip per checkout. After a database
    # restart the first statement on each stale connection fails instead, and
    # SQLAlchemy then drops every pooled connection; see DATABASE_UNAVAILABLE.
    return sa.create_engine(
        url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, hide_parameters=True, **options
    )


def _serialize_sqlite_writers(engine: sa.Engine, in_memory: bool) -> None:
    """Take SQLite's write lock when a transaction begins, not when it first writes.

    A deferred transaction that reads and then writes can fail with "database
    is locked" when another writer got in between; BEGIN IMMEDIATE makes the
    second writer wait instead (SQLAlchemy's documented pysqlite recipe).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None
        if not in_memory:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # a reader needs no write lock: in WAL mode it neither waits for writers nor holds them up
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def consumer_name(service: str, method: str) -> str:
    """The name an event handler's inbox marks go under: ``<service>.<method>``."""
    return f"{service}.{method}"


# Statements run for every event published or consumed, built once rather than per message.
@cache
def _insert(table: sa.Table) -> sa.Insert:
    """``table``'s INSERT, its values given when it is executed."""
    return table.insert()


@cache
def _inbox_mark(inbox: sa.Table, dialect: str) -> postgresql.Insert | sqlite.Insert:
    """The inbox mark's INSERT ... ON CONFLICT DO NOTHING in ``dialect``, its values given when executed."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(inbox).on_conflict_do_nothing()


class UnitOfWork:
    """One transaction: the state change, the events it publishes, the events it consumed."""

    def __init__(
        self,
        connection: sa.Connection,
        tables: Mapping[str, sa.Table],
        lease: datetime.timedelta | None = None,
    ) -> None:
        self.connection = connection
        self._outbox = tables["outbox"]
        self._inbox = tables["inbox"]
        self._lease = lease
        self.published: list[OutboxEvent] = []  # in the order written
        self.after_commit_calls: list[Callable[[], object]] = []

    def after_commit(self, call: Callable[[], object]) -> None:
        """Run ``call()`` once this unit of work has committed (not if it rolls back)."""
        self.after_commit_calls.append(call)

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> sa.CursorResult[*tuple[Any, ...]]:
        return self.connection.execute(statement, *args, **kwargs)

    def publish(self, event_type: str, payload: Mapping[str, Any], correlation_id: object) -> str:
        """Write an event to the outbox in this transaction; the relay sends it after commit."""
        envelope = contracts.new_event(event_type, payload, correlation_id)
        event = OutboxEvent(envelope["id"], event_type, envelope["correlation_id"], json.dumps(envelope))
        now = utcnow()
        self.connection.execute(
            _insert(self._outbox),
            {
                **event._asdict(),
                "created_at": now,
                "lease_until": None if self._lease is None else now + self._lease,
            },
        )
        self.published.append(event)
        return event.event_id

    def first_delivery(self, event_id: str, consumer: str) -> bool:
        """Record that ``consumer`` handles ``event_id``; False if it already has.

        One statement: the mark goes in unless it is there. Of two copies
        handled at once, PostgreSQL makes the second wait for the first to
        commit and then finds its mark; SQLite runs one writer at a time.
        """
        mark = _inbox_mark(self._inbox, self.connection.dialect.name)
        values = {"event_id": event_id, "consumer": consumer, "handled_at": utcnow()}
        return self.connection.execute(mark, values).rowcount == 1

    def insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        """``table``'s INSERT construct in this database's dialect, which knows ON CONFLICT."""
        dialect = self.connection.dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class Database:
    def __init__(self, url: str, metadata: sa.MetaData) -> None:
        self.url = url
        self.metadata = metadata
        self.tables = metadata.tables
        self.engine = create_engine(url)
        if self.engine.dialect.name == "postgresql":
            # Reads go through connections that stay in autocommit: no BEGIN and
            # ROLLBACK round trips, and nothing to reset as they go back to the
            # pool (a reset on a connection the server closed would lose it).
            self._read_engine = create_engine(url, isolation_level="AUTOCOMMIT")
        else:
            self._read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self._relay: EventRelay | None = None

    def hand_over_events_to(self, relay: EventRelay) -> None:
        """Give ``relay.hand_over(events)`` the events of each unit of work once it has committed.

        The outbox rows are then written leased to that relay, so that no
        other relay publishes them meanwhile; if this process dies before they
        are confirmed, any relay publishes them once the lease has run out.
        """
        self._relay = relay

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        # a Core connection, not an ORM session: nothing here maps objects, and
        # a session only adds its bookkeeping to every statement
        with self.engine.begin() as connection:
            uow = UnitOfWork(connection, self.tables, lease=None if self._relay is None else OUTBOX_LEASE)
            yield uow
        for call in uow.after_commit_calls:
            call()
        if uow.published and self._relay is not None:
            self._relay.hand_over(uow.published)

    def handle_once(self, consumer: str, event_id: str, handle: Callable[[UnitOfWork], T]) -> T | None:
        """``handle(uow)`` in a unit of work that first records ``event_id`` as handled by ``consumer``.

        The inbox mark commits with whatever ``handle`` changes and publishes,
        or not at all; an event the consumer has handled already is skipped
        (None). Returns what ``handle`` returns.
        """
        with self.unit_of_work() as uow:
            if not uow.first_delivery(event_id, consumer):
                return None
            return handle(uow)

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """A connection for queries that change nothing.

        On PostgreSQL each query is its own transaction (autocommit), so the
        queries on one connection may see different moments: use
        ``reading_snapshot`` where that matters. On SQLite the connection reads
        in a deferred transaction.
        """
        with self._read_engine.connect() as connection:
            yield connection

    def committed_first(self, error: sa.exc.IntegrityError, read: Callable[[sa.Connection], T | None]) -> T:
        """What a concurrent writer committed first, after ``error`` refused this writer's row.

        ``read(connection)`` looks for it; when it finds nothing the error had
        another cause and is raised again.
        """
        with self.reading() as connection:
            committed = read(connection)
        if committed is None:
            raise error
        return committed

    @contextmanager
    def reading_snapshot(self) -> Iterator[sa.Connection]:
        """A connection for queries that change nothing and must all see the same moment.

        On PostgreSQL its transaction is REPEATABLE READ, set for that
        transaction alone, so nothing needs resetting afterwards; on SQLite
        every transaction holds the database's lock (BEGIN IMMEDIATE) already.
        """
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            yield connection

    def create_all(self) -> None:
        """For tests on a fresh database; services migrate with alembic."""
        self.metadata.create_all(self.engine)

    def check(self) -> None:
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def outbox_backlog(self) -> int:
        """How many events are written but not yet confirmed by the broker."""
        return self.outbox_status()["pending"]

    def outbox_status(self) -> dict[str, Any]:
        """{pending, oldest_pending_at}: events written but not yet confirmed."""
        outbox = self.tables["outbox"]
        with self.engine.connect() as connection:
            pending, oldest = connection.execute(
                sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(
                    outbox.c.published_at.is_(None)
                )
            ).one()
        return {"pending": pending, "oldest_pending_at": utc_isoformat(oldest)}

    def dispose(self) -> None:
        self.engine.dispose()
        self._read_engine.dispose()
