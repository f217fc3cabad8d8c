"""Reconciliation through the gateway."""

import pytest

REPORT = {
    "provider": "alipay",
    "days": ["2026-11-27"],
    "counts": {
        "matched": 1,
        "missing_here": 0,
        "missing_at_provider": 0,
        "amount_mismatch": 0,
        "broken_lines": 1,
    },
    "matched": [
        {
            "line": 4,
            "kind": "payment",
            "reference": "A-1",
            "order_no": "o1",
            "amount": 1500,
            "day": "2026-11-27",
        }
    ],
    "missing_here": [],
    "missing_at_provider": [],
    "amount_mismatch": [],
    "broken_lines": [{"line": 5, "error": "amount 'x' is not a number"}],
}


@pytest.mark.parametrize("role", ["admin", "finance"])
def test_a_statement_file_is_passed_as_it_is_and_the_report_answered(client, rpc, callers, role):
    rpc.answer("payments", "reconcile", REPORT)
    statement = "支付宝交易号,商户订单号\nA-1,o1\n"

    response = client.post(
        "/api/v1/admin/reconciliations?provider=alipay",
        data=statement.encode(),
        content_type="text/csv; charset=utf-8",
        headers=callers.staff(role),
    )

    assert response.status_code == 200 and response.json == REPORT
    provider, body, _actor = rpc.calls_to("payments", "reconcile")[0].args
    assert (provider, body) == ("alipay", statement)


def test_only_admins_and_finance_reconcile_a_known_provider(client, rpc, callers):
    path = "/api/v1/admin/reconciliations"
    assert (
        client.post(f"{path}?provider=alipay", data="x", headers=callers.staff("support")).status_code == 403
    )
    assert (
        client.post(f"{path}?provider=paypal", data="x", headers=callers.staff("finance")).status_code == 422
    )
    assert client.post(path, data="x", headers=callers.staff("finance")).status_code == 422
    assert rpc.calls == []


LEDGER = {
    "items": [
        {
            "id": "7",
            "transaction_id": "t1",
            "kind": "payment",
            "reference": "r1",
            "account": "sales",
            "currency": "CNY",
            "amount": -1500,
            "at": "2026-11-27T09:00:00+00:00",
        }
    ],
    "next_cursor": "7",
}


def test_the_ledger_reads_as_json_pages(client, rpc, callers):
    rpc.answer("payments", "ledger_page", LEDGER)
    response = client.get(
        "/api/v1/admin/ledger?account=sales&from=2026-11-27T00:00:00%2B08:00&limit=1",
        headers=callers.staff("auditor"),
    )
    assert response.status_code == 200 and response.json == LEDGER
    kwargs = rpc.calls_to("payments", "ledger_page")[0].kwargs
    assert (kwargs["account"], kwargs["since"], kwargs["limit"]) == ("sales", "2026-11-26T16:00:00+00:00", 1)


def test_the_ledger_exports_as_csv(client, rpc, callers):
    rpc.answer("payments", "ledger_page", LEDGER)
    response = client.get("/api/v1/admin/ledger", headers={**callers.staff("finance"), "Accept": "text/csv"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.get_data(as_text=True).splitlines() == [
        "id,at,transaction_id,kind,reference,account,currency,amount",
        "7,2026-11-27T09:00:00+00:00,t1,payment,r1,sales,CNY,-1500",
    ]
    assert response.headers["X-Next-Cursor"] == "7"
    assert rpc.calls_to("payments", "ledger_page")[0].kwargs["limit"] == 10_000


def test_the_ledger_refuses_bad_queries_and_other_roles(client, rpc, callers):
    assert (
        client.get("/api/v1/admin/ledger?from=yesterday", headers=callers.staff("finance")).status_code == 422
    )
    assert (
        client.get(
            "/api/v1/admin/ledger?from=2026-11-27T00:00:00", headers=callers.staff("finance")
        ).status_code
        == 422
    )
    assert client.get("/api/v1/admin/ledger", headers=callers.staff("support")).status_code == 403
    assert rpc.calls == []


SUMMARY = {
    "from": "2026-11-01T00:00:00+08:00",
    "to": "2026-11-28T00:00:00+08:00",
    "group_by": "product",
    "rows": [
        {
            "key": "7",
            "currency": "CNY",
            "revenue": 2000,
            "refunds": 500,
            "cost": 800,
            "commissions": 0,
            "net": 1500,
            "margin": 700,
            "lines_without_cost": 0,
        }
    ],
    "totals": [
        {
            "currency": "CNY",
            "revenue": 2000,
            "refunds": 500,
            "cost": 800,
            "commissions": 100,
            "net": 1400,
            "margin": 600,
            "lines_without_cost": 1,
        }
    ],
}


@pytest.mark.parametrize("role", ["admin", "finance", "auditor"])
def test_admins_finance_and_auditors_read_the_summary(client, rpc, callers, role):
    rpc.answer("payments", "finance_summary", SUMMARY)
    response = client.get(
        "/api/v1/admin/finance/summary?from=2026-11-01T00:00:00%2B08:00&to=2026-11-28T00:00:00%2B08:00"
        "&group_by=product",
        headers=callers.staff(role),
    )
    assert (response.status_code, response.json) == (200, SUMMARY)
    [call] = rpc.calls_to("payments", "finance_summary")
    assert call.kwargs == {
        "since": "2026-10-31T16:00:00+00:00",
        "until": "2026-11-27T16:00:00+00:00",
        "group_by": "product",
    }


def test_the_summary_defaults_to_days_and_refuses_bad_queries_and_other_roles(client, rpc, callers):
    rpc.answer("payments", "finance_summary", {**SUMMARY, "group_by": "day", "rows": []})
    assert client.get("/api/v1/admin/finance/summary", headers=callers.staff("finance")).status_code == 200
    assert rpc.calls_to("payments", "finance_summary")[0].kwargs == {
        "since": None,
        "until": None,
        "group_by": "day",
    }
    for query in ("group_by=customer", "from=yesterday", "to=2026-11-28T00:00:00"):
        response = client.get(f"/api/v1/admin/finance/summary?{query}", headers=callers.staff("finance"))
        assert response.status_code == 422, query
    for role in ("support", "ops"):
        assert client.get("/api/v1/admin/finance/summary", headers=callers.staff(role)).status_code == 403
    assert client.get("/api/v1/admin/finance/summary", headers=callers.customer()).status_code == 403
