"""Helpers the payments tests share: a mockpay secret, signed notifications, database snapshots."""

import json
import uuid

import pytest
import sqlalchemy as sa

from kameng_common.db import Database
from payments import usecases
from payments.db import metadata
from payments.providers import Mockpay, Providers

MOCKPAY_SECRET = "test-mockpay-secret"


@pytest.fixture
def mockpay_secret():
    return MOCKPAY_SECRET


@pytest.fixture
def mockpay():
    return Mockpay(MOCKPAY_SECRET)


@pytest.fixture
def providers():
    return Providers(mockpay_secret=MOCKPAY_SECRET)


@pytest.fixture
def db(database_url):
    """A fresh payments database, once on SQLite and once on PostgreSQL."""
    database = Database(database_url, metadata)
    database.create_all()
    yield database
    database.dispose()


@pytest.fixture
def memory_db():
    """An in-memory SQLite database, for what no SQL dialect can change."""
    database = Database("sqlite://", metadata)
    database.create_all()
    yield database
    database.dispose()


@pytest.fixture
def signed_notification(mockpay):
    """(body, headers) of a mockpay notification for an intent, signed unless told otherwise."""

    def build(intent, trade_no="MP-1", amount=None, currency=None, status="SUCCESS"):
        body = json.dumps(
            {
                "payment_id": intent["payment_id"],
                "trade_no": trade_no,
                "amount": intent["amount"] if amount is None else amount,
                "currency": currency or intent["currency"],
                "status": status,
            }
        )
        return body, {"X-Mockpay-Signature": mockpay.sign(body)}

    return build


@pytest.fixture
def open_intent(db, providers):
    """Create an intent for a new order; returns the RPC answer."""

    def create(method="mockpay", amount=1500, currency="CNY", customer_id="buyer-1", order_id=None):
        return usecases.create_intent(
            db, providers, order_id or str(uuid.uuid4()), customer_id, amount, currency, method
        )

    return create


@pytest.fixture
def fund_wallet(db):
    """Put money in a customer's wallet the way payments does: a refund of a paid order."""

    def fund(customer_id, amount, currency="CNY"):
        providers = Providers(mockpay_secret=MOCKPAY_SECRET)
        order_id = str(uuid.uuid4())
        intent = usecases.create_intent(db, providers, order_id, customer_id, amount, currency, "mockpay")
        body = json.dumps(
            {
                "payment_id": intent["payment_id"],
                "trade_no": f"fund-{order_id}",
                "amount": amount,
                "currency": currency,
                "status": "SUCCESS",
            }
        )
        usecases.handle_notification(
            db, providers, "mockpay", body, {"X-Mockpay-Signature": Mockpay(MOCKPAY_SECRET).sign(body)}
        )
        usecases.on_refund_requested(db, refund_event(intent, order_id, customer_id))
        return intent

    return fund


def refund_event(intent, order_id, customer_id, amount=None, event_id=None, reason="test refund"):
    return {
        "id": event_id or str(uuid.uuid4()),
        "type": "order.refund_requested",
        "version": 1,
        "occurred_at": None,
        "correlation_id": order_id,
        "payload": {
            "order_id": order_id,
            "customer_id": customer_id,
            "payment_id": intent["payment_id"],
            "amount": intent["amount"] if amount is None else amount,
            "currency": intent["currency"],
            "reason": reason,
        },
    }


@pytest.fixture
def refund_request():
    """An order.refund_requested envelope as the reliable handler passes it."""
    return refund_event


@pytest.fixture
def snapshot(db):
    """Every row of every table, to show that a refusal changed nothing."""

    def take():
        with db.reading() as session:
            return {
                name: sorted(map(tuple, session.execute(sa.select(table)).all()), key=repr)
                for name, table in metadata.tables.items()
            }

    return take


@pytest.fixture
def published(db):
    """The payloads of the events of one type in the outbox, oldest first."""

    def events(event_type):
        outbox = metadata.tables["outbox"]
        with db.reading() as session:
            bodies = (
                session.execute(
                    sa.select(outbox.c.body).where(outbox.c.event_type == event_type).order_by(outbox.c.id)
                )
                .scalars()
                .all()
            )
        return [json.loads(body)["payload"] for body in bodies]

    return events
