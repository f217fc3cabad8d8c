"""The tamper-evident audit log across the real suite: staff actions and card reveals reach risk's chain."""

import os
import subprocess
import sys
import time

from kameng_cli import shop


def _entries(staff, action):
    return staff.request("GET", f"/api/v1/admin/audit-log?action={action}&limit=100")["items"]


def _wait_for_entry(staff, action, target, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [entry for entry in _entries(staff, action) if entry["target"] == target]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no {action} entry for {target} within {timeout} s")


def test_staff_actions_and_card_reveals_are_chained_and_verified(
    suite, order_awaiting_payment, notify, staff
):
    buyer, order, product, _cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    notify(payment)
    shop.wait_for_status(buyer, order["id"], {"delivered"})
    cards = buyer.request("GET", f"/api/v1/orders/{order['id']}/cards")

    created = _wait_for_entry(staff, "product.created", f"product:{product['id']}")
    revealed = _wait_for_entry(staff, "cards.revealed", f"order:{order['id']}")
    assert revealed["detail"] == {"outcome": "revealed", "cards": len(cards)}
    assert revealed["actor"] == order["customer_id"]
    assert revealed["seq"] > created["seq"]
    assert "secret" not in str(revealed)

    verdict = staff.request("GET", "/api/v1/admin/audit-log/verify")
    assert verdict["ok"] is True and verdict["first_broken"] is None
    assert verdict["checked"] == verdict["head"]["seq"] >= revealed["seq"]

    cli = subprocess.run(
        [sys.executable, "-m", "kameng_cli.main", "audit-log", "verify"],
        env={**os.environ, "KAMENG_AMQP_URI": suite.settings.amqp_uri},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert "audit log intact" in cli.stdout
