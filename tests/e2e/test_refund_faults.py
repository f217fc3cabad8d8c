"""Refunds under faults, on SQLite and PostgreSQL: the provider's refund API down, and payments
killed while the refund waits for it. The refund is retried, never lost and never made twice.

Only processes the suite started are killed (the payment sandbox and payments), never the
broker or PostgreSQL.
"""

import json
import socket
import time

import pytest

from kameng_cli import audit, paysim, shop

pytestmark = pytest.mark.slow


def wait_for(predicate, timeout, failure):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, f"{failure} within {timeout} s"
        time.sleep(0.5)
    return found


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def sandbox_refunds(suite, refund_id):
    """The refunds the sandbox made for one of ours (its refund request number is our id without dashes)."""
    trades = paysim.ensure_keys(suite.settings.data_dir) / "trades.jsonl"
    rows = [json.loads(line) for line in trades.read_text(encoding="utf-8").splitlines() if line]
    return [
        row for row in rows if row["kind"] == "refund" and row.get("refund_no") == refund_id.replace("-", "")
    ]


def test_a_refund_waits_out_the_providers_outage_and_a_payments_crash_and_is_made_once(
    suite, order_awaiting_payment, staff
):
    buyer, order, _product, _cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "alipay"})
    shop.press_pay("alipay", payment)
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"

    suite.kill("paysim")
    try:
        refund = staff.request(
            "POST",
            f"/api/v1/admin/orders/{order['id']}/refunds",
            json={"to": "original", "reason": "the card did not work"},
            headers={"Idempotency-Key": f"fault-{order['id']}"},
        )
        # the provider did not answer: the refund waits for the retry, its money reserved
        assert (refund["status"], refund["attempts"]) == ("pending", 1), refund
        assert refund["last_error"]
        suite.kill("payments")
    finally:
        suite.start_process("paysim")
    wait_for(lambda: port_open(suite.settings.paysim_port), 30, "the sandbox did not come back")
    suite.start_process("payments")
    suite.wait_ready()

    def succeeded():
        [listed] = staff.request("GET", f"/api/v1/admin/refunds?order_id={order['id']}")["items"]
        return listed if listed["status"] == "succeeded" else None

    listed = wait_for(succeeded, 90, "the refund was not retried to success")
    assert listed["id"] == refund["id"]
    assert len(sandbox_refunds(suite, refund["id"])) == 1
    # asking again under the same key is the same refund, not a second one
    again = staff.request(
        "POST",
        f"/api/v1/admin/orders/{order['id']}/refunds",
        json={"to": "original", "reason": "the card did not work"},
        headers={"Idempotency-Key": f"fault-{order['id']}"},
    )
    assert (again["id"], again["status"]) == (refund["id"], "succeeded")
    assert len(sandbox_refunds(suite, refund["id"])) == 1

    report = audit.audit(
        suite.settings.amqp_uri, audit.Timeouts(order_ttl=suite.order_ttl, expiry_interval=1, grace=5)
    )
    assert not [violation for violation in report.violations if "refund" in violation.kind], report.render()
