"""Each provider's refund call: signed as the provider documents it, its answer verified, failures classified."""

import json
import time
import urllib.parse
import uuid
from types import SimpleNamespace

import pytest
import requests

from payments.domain import ProviderRefund
from payments.providers import RefundFailed

REFUND = ProviderRefund(
    refund_id=str(uuid.uuid4()),
    payment_id=str(uuid.uuid4()),
    trade_no="T-1",
    amount=500,
    total=1500,
    currency="CNY",
    reason="the card did not work",
)


class Answering:
    """A provider API that records what it was sent and answers with ``answer(url, data)``."""

    def __init__(self, answer):
        self.answer = answer
        self.sent = []

    def post(self, url, data=None, headers=None, timeout=None):
        self.sent.append((url, data, headers))
        outcome = self.answer(url, data)
        if isinstance(outcome, Exception):
            raise outcome
        status, text, answer_headers = outcome
        return SimpleNamespace(
            status_code=status, text=text, headers=answer_headers or {}, json=lambda: json.loads(text)
        )


def alipay_answer(keys, kit, response, signer=None):
    member = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
    sign = kit.rsa2(signer or keys.alipay, member.encode())
    return 200, f'{{"alipay_trade_refund_response":{member},"sign":"{sign}"}}', {}


def test_an_alipay_refund_is_a_signed_alipay_trade_refund(adapters, keys, provider_kit, monkeypatch):
    api = Answering(
        lambda url, data: alipay_answer(
            keys, provider_kit, {"code": "10000", "msg": "Success", "trade_no": "T-1"}
        )
    )
    monkeypatch.setattr(adapters.alipay, "_session", api)

    assert adapters.alipay.refund(REFUND) == "T-1"

    [(_url, params, _headers)] = api.sent
    assert params["method"] == "alipay.trade.refund"
    biz = json.loads(params["biz_content"])
    assert biz["refund_amount"] == "5.00" and biz["trade_no"] == "T-1"
    assert biz["out_request_no"] == uuid.UUID(REFUND.refund_id).hex
    message = provider_kit.sorted_string(params, exclude=("sign",)).encode()
    provider_kit.verify(keys.merchant, message, params["sign"])


@pytest.mark.parametrize(
    "answer, retryable",
    [
        ("refused", False),
        ("unavailable", True),
        ("unsigned", True),
        ("timeout", True),
        ("http 502", True),
    ],
)
def test_an_alipay_refund_that_fails_says_whether_to_retry(
    adapters, keys, provider_kit, monkeypatch, answer, retryable
):
    answers = {
        "refused": lambda: alipay_answer(
            keys, provider_kit, {"code": "40004", "sub_code": "ACQ.TRADE_HAS_CLOSE"}
        ),
        "unavailable": lambda: alipay_answer(keys, provider_kit, {"code": "20000"}),
        "unsigned": lambda: alipay_answer(keys, provider_kit, {"code": "10000"}, signer=keys.stranger),
        "timeout": lambda: requests.Timeout("read timed out"),
        "http 502": lambda: (502, "bad gateway", {}),
    }
    monkeypatch.setattr(adapters.alipay, "_session", Answering(lambda url, data: answers[answer]()))
    with pytest.raises(RefundFailed) as failed:
        adapters.alipay.refund(REFUND)
    assert failed.value.retryable is retryable


@pytest.mark.parametrize(
    "answer, outcome",
    [
        ((200, {"status": "PROCESSING", "refund_id": "R-1"}), "R-1"),
        ((200, {"status": "SUCCESS", "refund_id": "R-1"}), "R-1"),
        ((400, {"code": "NOT_ENOUGH", "message": "余额不足"}), False),
        ((500, {"code": "SYSTEM_ERROR"}), True),
    ],
)
def test_a_wechat_refund_is_a_signed_v3_refund(adapters, wechat_api, monkeypatch, answer, outcome):
    monkeypatch.setattr(adapters.wechat, "_session", wechat_api)
    wechat_api.refund_answer = answer
    if isinstance(outcome, str):
        assert adapters.wechat.refund(REFUND) == outcome
    else:
        with pytest.raises(RefundFailed) as failed:
            adapters.wechat.refund(REFUND)
        assert failed.value.retryable is outcome
    [(url, body, _headers)] = wechat_api.requests
    assert url.endswith("/v3/refund/domestic/refunds")
    assert body["amount"] == {"refund": 500, "total": 1500, "currency": "CNY"}
    assert body["transaction_id"] == "T-1"


def test_a_wechat_answer_not_signed_by_the_platform_is_retried(adapters, keys, provider_kit, monkeypatch):
    text = json.dumps({"status": "SUCCESS"})
    headers = provider_kit.wechat_headers(keys.stranger, text, int(time.time()))
    monkeypatch.setattr(adapters.wechat, "_session", Answering(lambda url, data: (200, text, headers)))
    with pytest.raises(RefundFailed) as failed:
        adapters.wechat.refund(REFUND)
    assert failed.value.retryable


def unionpay_answer(keys, kit, resp_code, signer=None):
    form = {
        "respCode": resp_code,
        "respMsg": "ok",
        "queryId": "Q-R-1",
        "merId": "777290058110048",
        "signMethod": "01",
        "signPubKeyCert": keys.unionpay_signer_pem,
        "version": "5.1.0",
    }
    form["signature"] = kit.unionpay_sign(signer or keys.unionpay_signer, form)
    return 200, urllib.parse.urlencode(form), {}


@pytest.mark.parametrize(
    "answer, outcome", [("00", "Q-R-1"), ("12", False), ("03", True), ("forged", True), ("timeout", True)]
)
def test_a_unionpay_refund_is_a_signed_back_refund(
    adapters, keys, provider_kit, monkeypatch, answer, outcome
):
    def respond(url, data):
        if answer == "timeout":
            return requests.ConnectionError("refused")
        if answer == "forged":
            return unionpay_answer(keys, provider_kit, "00", signer=keys.stranger)
        return unionpay_answer(keys, provider_kit, answer)

    api = Answering(respond)
    monkeypatch.setattr(adapters.unionpay, "_session", api)
    if isinstance(outcome, str):
        assert adapters.unionpay.refund(REFUND) == outcome
    else:
        with pytest.raises(RefundFailed) as failed:
            adapters.unionpay.refund(REFUND)
        assert failed.value.retryable is outcome
    [(url, fields, _headers)] = api.sent
    assert url.endswith("/gateway/api/backTransReq.do")
    assert (fields["txnType"], fields["origQryId"], fields["txnAmt"]) == ("04", "T-1", "500")
