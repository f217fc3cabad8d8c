"""After-sales in the order's history: the buyer's request, its decision, each refund issued, the cards
given back."""

import json
import uuid

from kameng_common import contracts
from kameng_common.testing import deliver
from orders import aftersales


def payments_event(event_type, **payload):
    return contracts.load_event(json.dumps(contracts.new_event(event_type, payload, payload["order_id"])))


def test_each_after_sales_step_is_in_the_history_and_the_status_stays(any_saga):
    saga = any_saga
    order = saga.approved()
    saga.pay(order)
    saga.cards_delivered(order["id"])
    ticket = {"request_id": str(uuid.uuid4()), "order_id": order["id"], "customer_id": "customer-1"}
    refund_id = str(uuid.uuid4())
    steps = [
        (
            aftersales.on_refund_request_opened,
            payments_event("refund_request.opened", **ticket, reason="used"),
        ),
        (
            aftersales.on_refund_request_decided,
            payments_event(
                "refund_request.decided",
                **ticket,
                decision="approve",
                reason="supplier confirms",
                decided_by="finance-1",
                refund_id=refund_id,
            ),
        ),
        (
            aftersales.on_refund_issued,
            payments_event(
                "refund.issued",
                refund_id=refund_id,
                order_id=order["id"],
                customer_id="customer-1",
                amount=20000,
                currency="CNY",
                to="original",
                reason="supplier confirms",
            ),
        ),
        (
            aftersales.on_refund_failed,
            payments_event(
                "refund.failed",
                refund_id=str(uuid.uuid4()),
                order_id=order["id"],
                customer_id="customer-1",
                amount=500,
                currency="CNY",
                error="ACQ.SYSTEM_ERROR",
            ),
        ),
        (
            aftersales.on_cards_refunded,
            payments_event("cards.refunded", order_id=order["id"], card_ids=[7, 8], policy="void"),
        ),
    ]
    for handler, received in steps:
        deliver(saga.db, "orders", handler, received, now=saga.NOW)
        # a redelivery is recorded once
        deliver(saga.db, "orders", handler, received, now=saga.NOW)
    history = saga.order(order["id"])["history"]
    assert [(entry["status"], entry["reason"]) for entry in history[-5:]] == [
        ("delivered", "refund requested: used"),
        ("delivered", "refund request approved: supplier confirms"),
        ("delivered", "refund of 200.00 CNY to the original payment channel: supplier confirms"),
        (
            "delivered",
            "refund of 5.00 CNY through the provider failed (ACQ.SYSTEM_ERROR): nothing was given back",
        ),
        ("delivered", "2 card(s) voided: the order is refunded in full"),
    ]
    assert saga.status(order["id"]) == "delivered"
