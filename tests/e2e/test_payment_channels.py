"""Every payment channel end to end against the payment sandbox (kameng paysim), on SQLite and PostgreSQL."""

import csv
import io
import os
import subprocess
import sys
import time

import pytest
import requests

from kameng_cli import audit, shop


@pytest.mark.parametrize("method", ["alipay", "wechat", "unionpay"])
def test_a_card_is_paid_through_each_providers_sandbox_page_and_delivered(
    suite, order_awaiting_payment, method
):
    buyer, order, _product, cards = order_awaiting_payment()

    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": method})
    assert payment["pay_url"] or payment["code_url"]
    shop.press_pay(method, payment)

    order = shop.wait_for_status(buyer, order["id"], {"delivered"})
    assert order["status"] == "delivered"
    revealed = buyer.request("GET", f"/api/v1/orders/{order['id']}/cards")
    assert {card["number"] for card in revealed} <= {card["number"] for card in cards}


def test_a_topup_through_a_provider_fills_the_wallet_which_then_pays(suite, order_awaiting_payment):
    buyer, order, _product, _cards = order_awaiting_payment()
    topup = buyer.request(
        "POST", "/api/v1/me/wallet/topups", json={"amount": order["total"] + 500, "method": "wechat"}
    )
    shop.press_pay("wechat", topup)
    deadline = time.monotonic() + 30
    while (wallet := buyer.request("GET", "/api/v1/me/wallet"))[
        "balance"
    ] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert wallet["balance"] == order["total"] + 500
    assert [entry["kind"] for entry in wallet["items"]] == ["topup"]

    buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "balance"})

    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"
    wallet = buyer.request("GET", "/api/v1/me/wallet")
    assert wallet["balance"] == 500
    assert [entry["amount"] for entry in wallet["items"]] == [-order["total"], order["total"] + 500]


def test_the_sandbox_writes_each_days_statement_in_the_providers_bill_format(suite, order_awaiting_payment):
    buyer, order, _product, _cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "alipay"})
    shop.press_pay("alipay", payment)
    shop.wait_for_status(buyer, order["id"], {"delivered"})

    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
    statement = requests.get(
        f"{suite.settings.paysim_url}/statements/alipay", params={"date": day}, timeout=10
    )
    rows = [line for line in statement.text.splitlines() if not line.startswith("#")]
    table = list(csv.DictReader(io.StringIO("\n".join(rows))))
    assert payment["payment_id"].replace("-", "") in {row["商户订单号"] for row in table}


def test_staff_refund_part_through_the_provider_and_the_rest_to_the_wallet_never_more(
    suite, order_awaiting_payment, staff
):
    buyer, order, _product, _cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "unionpay"})
    shop.press_pay("unionpay", payment)
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"
    path = f"/api/v1/admin/orders/{order['id']}/refunds"

    first = staff.request(
        "POST",
        path,
        json={"amount": 100, "to": "original", "reason": "late"},
        headers={"Idempotency-Key": "r-1"},
    )
    assert (first["status"], first["to"], first["amount"]) == ("succeeded", "original", 100)
    again = staff.request(
        "POST",
        path,
        json={"amount": 100, "to": "original", "reason": "late"},
        headers={"Idempotency-Key": "r-1"},
    )
    assert again["id"] == first["id"]
    rest = staff.request("POST", path, json={"to": "wallet", "reason": "the card did not work"})
    assert rest["amount"] == order["total"] - 100
    assert buyer.request("GET", "/api/v1/me/wallet")["balance"] == order["total"] - 100
    with pytest.raises(shop.ApiError) as refused:
        staff.request("POST", path, json={"amount": 1, "to": "wallet", "reason": "again"})
    assert "refund_exceeds_paid" in str(refused.value)

    report = audit.audit(
        suite.settings.amqp_uri, audit.Timeouts(order_ttl=suite.order_ttl, expiry_interval=1, grace=5)
    )
    assert not [violation for violation in report.violations if "refund" in violation.kind], report.render()


def test_the_days_statement_reconciles_through_the_api_and_the_cli(
    suite, order_awaiting_payment, staff, tmp_path
):
    buyer, order, _product, _cards = order_awaiting_payment()
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "alipay"})
    shop.press_pay("alipay", payment)
    shop.wait_for_status(buyer, order["id"], {"delivered"})
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
    statement = requests.get(
        f"{suite.settings.paysim_url}/statements/alipay", params={"date": day}, timeout=10
    ).text

    report = staff.request(
        "POST",
        "/api/v1/admin/reconciliations",
        params={"provider": "alipay"},
        data=statement.encode(),
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )

    assert report["counts"]["matched"] >= 1 and report["counts"]["broken_lines"] == 0
    assert report["missing_here"] == report["amount_mismatch"] == report["missing_at_provider"] == []
    # a line for a trade nobody here knows, and a broken one: reported, and the CLI says so with exit 1
    statement_file = tmp_path / "alipay.csv"
    lines = statement.splitlines()
    lines.insert(-1, f"2026X,o9,交易,Kameng,{day} 10:00:00,{day} 10:00:00,1.00,1.00,")
    lines.insert(-1, "broken")
    statement_file.write_text("\n".join(lines), encoding="utf-8")
    env = dict(os.environ, KAMENG_AMQP_URI=suite.settings.amqp_uri)
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "kameng_cli.main",
            "finance",
            "reconcile",
            str(statement_file),
            "--provider",
            "alipay",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 1, finished.stderr
    assert "missing_here" in finished.stdout and "2026X" in finished.stdout
    assert f"broken line {len(lines) - 1}" in finished.stdout
