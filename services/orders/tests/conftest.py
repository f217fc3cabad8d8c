"""Fixtures for the orders tests: databases, stand-ins for inventory and risk, and a saga driver."""

import dataclasses
import datetime
import json
import uuid
from contextlib import contextmanager
from functools import partial

import pytest
import sqlalchemy as sa

from kameng_common import contracts
from kameng_common.errors import Unavailable
from kameng_common.testing import deliver
from orders import domain, usecases
from orders.db import metadata as service_metadata
from orders.db import orders

TTL = 900
REVIEW_TTL = 3600
DEADLINES = domain.Deadlines(payment_seconds=TTL, review_seconds=REVIEW_TTL)
NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)

CATALOGUE = {1: ("Steam card 100", 10000), 2: ("Game points 50", 4500), 3: ("Phone credit 30", 2990)}


def fake_quote(items, level):
    lines = [
        {
            "product_id": item["product_id"],
            "name": CATALOGUE[item["product_id"]][0],
            "quantity": item["quantity"],
            "unit_price": CATALOGUE[item["product_id"]][1],
        }
        for item in items
    ]
    return {
        "items": lines,
        "total": sum(line["quantity"] * line["unit_price"] for line in lines),
        "currency": "CNY",
    }


def event(event_type, **payload):
    """A received envelope, exactly as the reliable handler passes it (validated against its contract)."""
    return contracts.load_event(json.dumps(contracts.new_event(event_type, payload, payload["order_id"])))


class Saga:
    """Drives one database through the purchase saga the way the other services would.

    Test modules can't import this conftest, so what they need is reachable from here.
    """

    NOW = NOW
    TTL = TTL
    REVIEW_TTL = REVIEW_TTL
    DEADLINES = DEADLINES
    event = staticmethod(event)

    def __init__(self, db):
        self.db = db
        # what the stand-ins for inventory and risk answer, and whether they answer at all
        self.stock = "reserved"
        self.risk = "approve"
        self.down = False
        self.risk_down = False
        # every request to inventory's reserve: (order_id, customer_id, items, level, markup_bp);
        # to risk's assess_order: the assessment; to both at once (complete_order): (reservation, assessment)
        self.reserved = []
        self.assessed = []
        self.asked = []
        self.given_back = []
        # how inventory prices a reservation (a test may slow it down or change the prices)
        self.quote = fake_quote
        self.placing = usecases.Placing(
            reserve=self.reserve, give_back=self.given_back.append, assess=self.assess, ask=self.ask
        )

    def reserve(self, order_id, customer_id, items, level, markup_bp=0, quote=None):
        """inventory's reserve of a new order, priced by it (``quote(items, level)``): the reservation
        with the quote."""
        self.reserved.append((order_id, customer_id, items, level, markup_bp))
        if self.down:
            raise Unavailable("The inventory service is not running.")
        return {**self._reservation(order_id), "quote": (quote or self.quote)(items, level)}

    def placing_with(self, quote=None):
        """The stand-ins for placing an order, inventory pricing with ``quote(items, level)`` if given."""
        if quote is None:
            return self.placing
        return dataclasses.replace(self.placing, reserve=partial(self.reserve, quote=quote))

    def _reservation(self, order_id):
        reserved = self.stock == "reserved"
        return {"order_id": order_id, "reserved": reserved, "reason": None if reserved else "out_of_stock"}

    def assess(self, assessment):
        """risk's assess_order."""
        self.assessed.append(assessment)
        if self.down or self.risk_down:
            raise Unavailable("The risk service is not running.")
        return {
            "order_id": assessment["order_id"],
            "decision": self.risk,
            "score": 10,
            "reasons": ["new customer"],
        }

    def ask(self, reservation, assessment):
        """inventory's reserve and risk's assess_order of a pending order, as orders asks them both."""
        self.asked.append((reservation, assessment))
        if self.down:
            raise Unavailable("The inventory service is not running.")
        return self._reservation(reservation["order_id"]), self.assess(assessment)

    def place(
        self, items=({"product_id": 1, "quantity": 2},), customer_id="customer-1", key=None, now=NOW, **kw
    ):
        """Place an order as POST /orders does: answered as inventory and risk take it."""
        return usecases.create_order(
            self.db,
            self.placing,
            DEADLINES,
            customer_id,
            list(items),
            key or str(uuid.uuid4()),
            now=now,
            **kw,
        )

    def create(self, items=({"product_id": 1, "quantity": 2},), customer_id="customer-1", key=None, now=NOW):
        """An order stored but left pending: inventory reserved it, risk did not answer."""
        self.risk_down = True
        try:
            with pytest.raises(Unavailable):
                self.place(items, customer_id, key, now)
        finally:
            self.risk_down = False
        return self.order(self.reserved[-1][0])

    def answer(self, order_id, stock="reserved", risk="approve", now=NOW):
        """A pending order placed again, inventory and risk answering ``stock`` and ``risk`` this time."""
        self.stock, self.risk = stock, risk
        try:
            return usecases.complete_order(self.db, self.ask, DEADLINES, order_id, now=now)
        finally:
            self.stock, self.risk = "reserved", "approve"

    def approved(self, now=NOW, **create):
        order = self.create(now=now, **create)
        return self.answer(order["id"], now=now)

    def payment_event(self, order, amount=None, currency=None, payment_id=None):
        return event(
            "payment.succeeded",
            payment_id=payment_id or str(uuid.uuid4()),
            order_id=order["id"],
            customer_id=order["customer_id"],
            amount=order["total"] if amount is None else amount,
            currency=currency or order["currency"],
            provider="mockpay",
            trade_no=str(uuid.uuid4()),
        )

    def pay(self, order, now=NOW, **payment):
        received = self.payment_event(order, **payment)
        deliver(self.db, "orders", usecases.on_payment_succeeded, received, now=now)
        return received["payload"]["payment_id"]

    def cards_delivered(self, order_id, now=NOW):
        deliver(
            self.db,
            "orders",
            usecases.on_cards_delivered,
            event("cards.delivered", order_id=order_id, card_ids=[7, 8]),
            now=now,
        )

    def sale_failed(self, order_id, now=NOW):
        deliver(
            self.db,
            "orders",
            usecases.on_sale_failed,
            event("stock.sale_failed", order_id=order_id, reason="sold_out"),
            now=now,
        )

    def refunded(self, order, payment_id, amount=None, now=NOW):
        deliver(
            self.db,
            "orders",
            usecases.on_payment_refunded,
            event(
                "payment.refunded",
                payment_id=payment_id,
                order_id=order["id"],
                customer_id=order["customer_id"],
                amount=order["total"] if amount is None else amount,
                currency=order["currency"],
                refund_id=str(uuid.uuid4()),
            ),
            now=now,
        )

    def expire(self, now):
        return usecases.expire_orders(self.db, DEADLINES, now=now)

    def held(self, now=NOW, **create):
        """An order risk held for review, its stock reserved."""
        order = self.create(now=now, **create)
        return self.answer(order["id"], risk="review", now=now)

    def decide(self, order_id, decision, reason="checked with the buyer", decided_by="staff-1", now=NOW):
        return usecases.decide_review(self.db, order_id, decision, reason, decided_by, DEADLINES, now=now)

    def order(self, order_id):
        return usecases.get_order(self.db, order_id)

    def status(self, order_id):
        return self.order(order_id)["status"]

    def statuses(self, order_id):
        return [entry["status"] for entry in self.order(order_id)["history"]]

    def events(self, event_type=None):
        """Payloads written to the outbox, oldest first, as (type, payload)."""
        outbox = self.db.tables["outbox"]
        with self.db.reading() as session:
            bodies = session.execute(sa.select(outbox.c.body).order_by(outbox.c.id)).scalars().all()
        found = [(body["type"], body["payload"]) for body in map(json.loads, bodies)]
        return [payload for kind, payload in found if kind == event_type] if event_type else found

    def event_types(self, order_id):
        return [kind for kind, payload in self.events() if payload.get("order_id") == order_id]

    def row(self, order_id):
        with self.db.reading() as session:
            return session.execute(sa.select(orders).where(orders.c.id == order_id)).one()

    @contextmanager
    def selects(self):
        """The SELECT statements the database runs within the block."""
        statements = []

        def record(_connection, _cursor, statement, *_args):
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        # on every engine: the database reads through an engine of its own on PostgreSQL
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


@pytest.fixture
def metadata():
    """The tables of the shared ``db``, ``any_db`` and ``postgres_db`` fixtures (kameng_common.testing)."""
    return service_metadata


@pytest.fixture
def saga(db):
    return Saga(db)


@pytest.fixture
def any_saga(any_db):
    return Saga(any_db)


@pytest.fixture
def postgres_saga(postgres_db):
    return Saga(postgres_db)
