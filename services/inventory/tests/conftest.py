"""Fixtures of inventory's tests: databases, a keyring, and a shop to drive the use cases."""

import json
from collections import Counter

import eventlet
import pytest
import sqlalchemy as sa

from inventory import usecases
from inventory.crypto import Keyring, generate_keys_line
from inventory.db import cards, orders
from inventory.db import metadata as service_metadata
from kameng_common.contracts import load_event, new_event
from kameng_common.testing import deliver


@pytest.fixture(autouse=True)
def no_default_low_stock_threshold(monkeypatch):
    """Stock alerts only where a test sets a threshold: the other tests count the events they expect."""
    monkeypatch.setenv("KAMENG_LOW_STOCK_THRESHOLD", "0")


@pytest.fixture
def keyring():
    return Keyring.parse(generate_keys_line("k1"))


@pytest.fixture
def metadata():
    """The tables of the shared ``db``, ``any_db`` and ``postgres_db`` fixtures (kameng_common.testing)."""
    return service_metadata


def event(event_type, payload, correlation_id=None):
    """An envelope as a handler receives it: built by the publisher's code, validated by the consumer's."""
    envelope = new_event(event_type, payload, correlation_id or payload["order_id"])
    return load_event(json.dumps(envelope))


class Shop:
    """Drives inventory through its use cases the way the other services and staff would."""

    def __init__(self, db, keyring):
        self.db = db
        self.keyring = keyring
        self._category = None
        self._products = 0
        self._batches = 0
        # inventory's answers to every reservation asked, in order
        self.answers = []

    def product(self, kind="card", price=1000, cards=0, **extra):
        if self._category is None:
            self._category = usecases.create_category(self.db, "Game cards")["id"]
        self._products += 1
        product = usecases.create_product(
            self.db, f"Product {self._products}", self._category, kind, price, **extra
        )
        if cards:
            self.add_cards(product["id"], cards)
        return product["id"]

    def add_cards(self, product_id, count):
        self._batches += 1
        first = self._batches * 100_000
        batch = [{"number": f"N{first + i}", "secret": f"S{first + i}-secret"} for i in range(count)]
        assert usecases.import_cards(self.db, self.keyring, product_id, batch)["imported"] == count

    @staticmethod
    def lines(*pairs):
        return [
            {"product_id": product_id, "quantity": quantity, "unit_price": 1000}
            for product_id, quantity in pairs
        ]

    def created(self, order_id, *pairs, customer_id="c1"):
        """orders asking to reserve a new order's lines, as it does on placing it."""
        answer = usecases.reserve(self.db, order_id, customer_id, self.lines(*pairs))
        self.answers.append(answer)
        return answer

    def reserved(self):
        """The orders whose reservation inventory granted, in order."""
        return [answer["order_id"] for answer in self.answers if answer["reserved"]]

    def rejected(self):
        return [
            {"order_id": answer["order_id"], "reason": answer["reason"]}
            for answer in self.answers
            if not answer["reserved"]
        ]

    def cancelled(self, order_id, reason="risk_rejected"):
        handled = event("order.cancelled", {"order_id": order_id, "reason": reason})
        deliver(self.db, "inventory", usecases.on_order_cancelled, handled)
        return handled

    def expired(self, order_id):
        handled = event("order.expired", {"order_id": order_id})
        deliver(self.db, "inventory", usecases.on_order_expired, handled)
        return handled

    def paid_event(self, order_id, *pairs, customer_id="c1"):
        return event(
            "order.paid",
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "items": self.lines(*pairs),
                "payment_id": f"pay-{order_id}",
                "amount": 1000 * sum(q for _, q in pairs),
                "currency": "CNY",
            },
        )

    def paid(self, order_id, *pairs, customer_id="c1"):
        handled = self.paid_event(order_id, *pairs, customer_id=customer_id)
        deliver(self.db, "inventory", usecases.on_order_paid, handled)
        return handled

    def published(self, event_type=None):
        """Payloads of the events written to the outbox, oldest first."""
        outbox = self.db.tables["outbox"]
        query = sa.select(outbox.c.body).order_by(outbox.c.id)
        if event_type:
            query = query.where(outbox.c.event_type == event_type)
        with self.db.reading() as session:
            return [json.loads(body)["payload"] for body in session.execute(query).scalars()]

    def cards_of(self, order_id, status=None):
        query = sa.select(cards.c.id).where(cards.c.order_id == order_id).order_by(cards.c.id)
        if status:
            query = query.where(cards.c.status == status)
        with self.db.reading() as session:
            return session.execute(query).scalars().all()

    def stock_state(self, order_id):
        with self.db.reading() as session:
            return session.execute(
                sa.select(orders.c.stock_state).where(orders.c.id == order_id)
            ).scalar_one()

    def available(self, product_id):
        return usecases.stock_levels(self.db)[str(product_id)]


def race(handler, events):
    """Handle every event (or call) at once; one that raises is retried, as the broker or the caller would.

    Returns the failures by exception class.
    """
    failures = Counter()

    def deliver(event):
        for _ in range(10):
            try:
                return handler(event)
            except Exception as error:
                failures[type(error).__name__] += 1
        raise AssertionError(f"{event!r} never succeeded")

    pool = eventlet.GreenPool(len(events))
    list(pool.imap(deliver, events))
    return failures


@pytest.fixture
def racing():
    return race


@pytest.fixture
def shop(db, keyring):
    return Shop(db, keyring)


@pytest.fixture
def any_shop(any_db, keyring):
    return Shop(any_db, keyring)


@pytest.fixture
def make_event():
    return event
