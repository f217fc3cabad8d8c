"""The payment sandbox's refunds: idempotent on the refund request's id, as the providers are."""

import json

import pytest

from kameng_cli import paysim


@pytest.fixture
def sandbox(tmp_path):
    return paysim.Sandbox(tmp_path)


def refunds_recorded(sandbox, provider):
    return [row for row in sandbox._all_trades() if (row["provider"], row["kind"]) == (provider, "refund")]


def test_a_wechat_refund_asked_again_answers_the_same_refund_and_refunds_once(sandbox):
    request = {"transaction_id": "4200t", "out_refund_no": "r-1", "amount": {"refund": 600, "total": 1500}}
    first = sandbox.wechat_refund(request)
    assert sandbox.wechat_refund(request)["refund_id"] == first["refund_id"]
    assert [row["amount"] for row in refunds_recorded(sandbox, "wechat")] == [600]
    with pytest.raises(paysim.RequestRefused):
        sandbox.wechat_refund({**request, "amount": {"refund": 700, "total": 1500}})
    other = sandbox.wechat_refund({**request, "out_refund_no": "r-2"})
    assert other["refund_id"] != first["refund_id"]
    assert len(refunds_recorded(sandbox, "wechat")) == 2


def test_an_alipay_refund_asked_again_refunds_once_also_after_a_restart(sandbox, tmp_path, monkeypatch):
    biz = {"trade_no": "2026t", "out_trade_no": "pay-1", "refund_amount": "6.00", "out_request_no": "r-1"}
    monkeypatch.setattr(sandbox, "alipay_check", lambda params: biz)
    first = json.loads(sandbox.alipay_refund({}))["alipay_trade_refund_response"]
    restarted = paysim.Sandbox(tmp_path)
    monkeypatch.setattr(restarted, "alipay_check", lambda params: biz)
    again = json.loads(restarted.alipay_refund({}))["alipay_trade_refund_response"]
    assert again == first
    assert [row["amount"] for row in refunds_recorded(restarted, "alipay")] == [600]
