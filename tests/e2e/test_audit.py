"""The audit over a real suite: after purchases of every ending it finds nothing; a broken state it finds."""

import copy
import json
import os
import subprocess
import sys
import time
import uuid

from kameng_cli import audit
from kameng_common.db import utcnow
from kameng_gateway.rpc import RpcClient

# long enough for any event to have travelled, short enough that the expiry wait outlasts it
GRACE_SECONDS = 10


def wait_for(buyer, order_id, status, timeout):
    deadline = time.monotonic() + timeout
    while True:
        order = buyer.request("GET", f"/api/v1/orders/{order_id}")
        if order["status"] == status or time.monotonic() > deadline:
            return order
        time.sleep(0.5)


def pay(buyer, order, notify):
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert notify(payment).status_code == 200
    assert wait_for(buyer, order["id"], "delivered", 30)["status"] == "delivered"
    return payment


def test_after_purchases_of_every_ending_the_audit_finds_nothing(
    suite, order_awaiting_payment, new_buyer, notify
):
    buyer, delivered, product, _cards = order_awaiting_payment()
    pay(buyer, delivered, notify)
    # its one card is sold: the next order of the product is cancelled for want of stock
    late_buyer = new_buyer()
    cancelled = late_buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
    )
    assert wait_for(late_buyer, cancelled["id"], "cancelled", 30)["status"] == "cancelled"
    unpaid_buyer, expiring, _product, _cards = order_awaiting_payment()
    assert wait_for(unpaid_buyer, expiring["id"], "expired", suite.order_ttl + 30)["status"] == "expired"

    report = audit.audit(
        suite.settings.amqp_uri,
        audit.Timeouts(order_ttl=suite.order_ttl, expiry_interval=1, grace=GRACE_SECONDS),
    )

    assert report.ok, report.render()
    assert {"delivered", "cancelled", "expired"} <= set(report.counts["orders"])
    assert report.counts["cards"]["sold"] >= 1 and report.counts["payments"]["paid"] >= 1

    env = dict(
        os.environ,
        KAMENG_AMQP_URI=suite.settings.amqp_uri,
        KAMENG_ORDER_TTL_SECONDS=str(suite.order_ttl),
        KAMENG_ORDER_EXPIRY_INTERVAL="1",
    )
    command = subprocess.run(
        [sys.executable, "-m", "kameng_cli.main", "audit", "--json", "--grace", str(GRACE_SECONDS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert command.returncode == 0, command.stdout + command.stderr
    assert json.loads(command.stdout)["ok"] is True


def test_the_audit_finds_an_order_whose_state_is_broken(suite, order_awaiting_payment, notify):
    buyer, order, _product, _cards = order_awaiting_payment()
    payment = pay(buyer, order, notify)
    rpc = RpcClient(suite.settings.amqp_uri, timeout=60)
    try:
        snapshots = audit.collect(rpc)
    finally:
        rpc.close()
    dead_letters = audit.collect_dead_letters(suite.settings.amqp_uri)
    # no grace: this order's sale and payment count as settled at once
    timeouts = audit.Timeouts(order_ttl=suite.order_ttl, expiry_interval=1, grace=0)
    subjects = {f"order {order['id']}", f"payment {payment['payment_id']}"}

    def found(snapshots):
        return [
            (violation.kind, violation.subject)
            for violation in audit.check(snapshots, dead_letters, utcnow(), timeouts)
            if violation.subject in subjects
        ]

    assert found(snapshots) == []

    cancelled = copy.deepcopy(snapshots)
    cancelled["orders"]["orders"][order["id"]]["status"] = "cancelled"
    assert found(cancelled) == [
        ("cards_sold_to_undelivered_order", f"order {order['id']}"),
        ("payment_unsettled", f"payment {payment['payment_id']}"),
    ]

    short = copy.deepcopy(snapshots)
    [product_id] = short["orders"]["orders"][order["id"]]["items"]
    short["orders"]["orders"][order["id"]]["items"][product_id] = 2
    assert found(short) == [
        ("delivery_mismatch", f"order {order['id']}"),
        ("sale_not_recorded", f"order {order['id']}"),
    ]

    unrecorded = copy.deepcopy(snapshots)
    del unrecorded["payments"]["sales"][order["id"]]
    assert found(unrecorded) == [("sale_not_recorded", f"order {order['id']}")]
