"""Alipay, WeChat Pay and UnionPay: genuine notifications record a payment once; anything else changes nothing.

Each provider's notification is built here as the provider documents it, with
keys and certificates generated for the test session.
"""

import hashlib
import json
import time
import urllib.parse
import uuid

import pytest

from kameng_common.errors import Conflict, InvalidInput, InvalidSignature, NotFound
from payments import usecases
from payments.db import ledger_entries, receipts

PROVIDERS = ["alipay", "wechat", "unionpay"]


@pytest.fixture
def notification(keys, provider_kit):
    """(body, headers) of a provider's notification that ``intent`` was paid; knobs break one thing."""
    kit = provider_kit

    def build(provider, intent, trade_no="T-1", amount=None, signer=None, timestamp=None, **knobs):
        amount = intent["amount"] if amount is None else amount
        payment_id = intent["payment_id"]
        if provider == "alipay":
            form = kit.alipay_notification(
                signer or keys.alipay,
                knobs.get("app_id", "2021000000000001"),
                payment_id,
                trade_no,
                f"{amount // 100}.{amount % 100:02d}",
                status=knobs.get("status", "TRADE_SUCCESS"),
            )
            return kit.form_body(form), {"Content-Type": "application/x-www-form-urlencoded"}
        if provider == "wechat":
            transaction = kit.wechat_transaction(
                "1900000109", payment_id, trade_no, amount, trade_state=knobs.get("status", "SUCCESS")
            )
            return kit.wechat_notification(
                signer or keys.wechat_platform,
                knobs.get("api_v3_key", keys.api_v3_key),
                transaction,
                int(time.time()) if timestamp is None else timestamp,
                event_type=knobs.get("event_type", "TRANSACTION.SUCCESS"),
            )
        form = kit.unionpay_notification(
            signer or keys.unionpay_signer,
            knobs.get("cert", keys.unionpay_signer_pem),
            "777290058110048",
            payment_id,
            trade_no,
            str(amount),
            resp_code=knobs.get("status", "00"),
        )
        return kit.form_body(form), {"Content-Type": "application/x-www-form-urlencoded"}

    return build


def tamper(provider, body):
    """The same notification with its amount changed after it was signed."""
    if provider == "wechat":
        document = json.loads(body)
        document["summary"] = "支付失败"
        return json.dumps(document, ensure_ascii=False)
    form = dict(urllib.parse.parse_qsl(body))
    key = "total_amount" if provider == "alipay" else "txnAmt"
    form[key] = "0.01" if provider == "alipay" else "1"
    return urllib.parse.urlencode(form)


def count(any_db, table):
    with any_db.reading() as session:
        return (
            session.execute(table.select()).rowcount if False else len(session.execute(table.select()).all())
        )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_genuine_notification_records_the_payment_once_and_answers_in_the_providers_format(
    any_db, providers, open_intent, notification, published, provider
):
    intent = open_intent(method=provider)
    body, headers = notification(provider, intent)

    answer = usecases.handle_notification(any_db, providers, provider, body, headers)

    assert answer["status"] == "ok" and answer["payment_id"] == intent["payment_id"]
    assert answer["trade_no"] == "T-1"
    expected_reply = {"alipay": "success", "unionpay": "ok"}.get(
        provider, '{"code": "SUCCESS", "message": "成功"}'
    )
    assert answer["reply"]["body"] == expected_reply
    [event] = published("payment.succeeded")
    assert (event["provider"], event["amount"], event["trade_no"]) == (provider, intent["amount"], "T-1")
    # a replay is answered as the first was and records nothing more
    assert usecases.handle_notification(any_db, providers, provider, body, headers) == answer
    assert count(any_db, receipts) == 1
    assert count(any_db, ledger_entries) == 2
    assert len(published("payment.succeeded")) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "breakage, error, code",
    [
        ("tampered", InvalidSignature, "invalid_signature"),
        ("wrong key", InvalidSignature, "invalid_signature"),
        ("wrong amount", InvalidInput, "amount_mismatch"),
        ("unknown payment", NotFound, "not_found"),
    ],
)
def test_a_notification_that_is_not_genuine_or_not_right_changes_nothing(
    any_db, providers, open_intent, notification, snapshot, keys, provider, breakage, error, code
):
    intent = open_intent(method=provider)
    before = snapshot()
    if breakage == "tampered":
        body, headers = notification(provider, intent)
        body = tamper(provider, body)
    elif breakage == "wrong key":
        body, headers = notification(provider, intent, signer=keys.stranger)
    elif breakage == "wrong amount":
        body, headers = notification(provider, intent, amount=intent["amount"] - 1)
    else:
        body, headers = notification(provider, {**intent, "payment_id": str(uuid.uuid4())})

    with pytest.raises(error) as refused:
        usecases.handle_notification(any_db, providers, provider, body, headers)

    assert refused.value.code == code
    assert snapshot() == before


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_transaction_id_seen_with_another_payment_is_refused(
    any_db, providers, open_intent, notification, snapshot, provider
):
    first, second = open_intent(method=provider), open_intent(method=provider)
    usecases.handle_notification(any_db, providers, provider, *notification(provider, first, trade_no="T-9"))
    before = snapshot()

    with pytest.raises(Conflict) as refused:
        usecases.handle_notification(
            any_db, providers, provider, *notification(provider, second, trade_no="T-9")
        )

    assert refused.value.code == "trade_no_reused"
    assert snapshot() == before


@pytest.mark.parametrize(
    "provider, status",
    [("alipay", "WAIT_BUYER_PAY"), ("alipay", "TRADE_CLOSED"), ("wechat", "NOTPAY"), ("unionpay", "03")],
)
def test_a_verified_notification_of_an_unpaid_trade_is_acknowledged_and_changes_nothing(
    any_db, providers, open_intent, notification, snapshot, provider, status
):
    intent = open_intent(method=provider)
    before = snapshot()
    answer = usecases.handle_notification(
        any_db, providers, provider, *notification(provider, intent, status=status)
    )
    assert answer["status"] == "ignored"
    assert answer["reply"]
    assert snapshot() == before


@pytest.mark.parametrize("age", [-301, 301, 100000])
def test_a_wechat_notification_outside_the_timestamp_window_is_refused(
    any_db, providers, open_intent, notification, snapshot, age
):
    intent = open_intent(method="wechat")
    before = snapshot()
    body, headers = notification("wechat", intent, timestamp=int(time.time()) - age)
    with pytest.raises(InvalidSignature):
        usecases.handle_notification(any_db, providers, "wechat", body, headers)
    assert snapshot() == before


def test_a_wechat_resource_sealed_with_another_api_v3_key_is_refused(
    any_db, providers, open_intent, notification, snapshot
):
    intent = open_intent(method="wechat")
    before = snapshot()
    body, headers = notification("wechat", intent, api_v3_key=b"another-32-byte-key-0123456789ab")
    with pytest.raises(InvalidInput) as refused:
        usecases.handle_notification(any_db, providers, "wechat", body, headers)
    assert refused.value.code == "invalid_notification"
    assert snapshot() == before


def test_an_alipay_notification_for_another_app_is_refused(
    any_db, providers, open_intent, notification, snapshot
):
    intent = open_intent(method="alipay")
    before = snapshot()
    with pytest.raises(InvalidInput):
        usecases.handle_notification(
            any_db, providers, "alipay", *notification("alipay", intent, app_id="2021999")
        )
    assert snapshot() == before


def test_a_unionpay_signer_certificate_not_issued_by_unionpays_authority_is_refused(
    any_db, providers, open_intent, notification, snapshot, keys, provider_kit
):
    # a certificate naming UnionPay, but issued by whoever made it
    forged = provider_kit.certificate(keys.stranger, "041@Z12@00040000:SIGN@中国银联股份有限公司@00000001")
    intent = open_intent(method="unionpay")
    before = snapshot()
    body, headers = notification(
        "unionpay", intent, signer=keys.stranger, cert=provider_kit.pem_cert(forged).decode()
    )
    with pytest.raises(InvalidSignature):
        usecases.handle_notification(any_db, providers, "unionpay", body, headers)
    assert snapshot() == before


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "body, headers",
    [
        ("", {}),
        ("not a form & not json", {}),
        ("a=1&a=2", {}),
        ('{"event_type": "TRANSACTION.SUCCESS"}', {}),
        ("sign=%%%", {}),
        ("\x00", {}),
    ],
)
def test_any_malformed_notification_is_a_4xx_and_changes_nothing(
    any_db, providers, snapshot, provider, body, headers
):
    before = snapshot()
    with pytest.raises((InvalidInput, InvalidSignature)):
        usecases.handle_notification(any_db, providers, provider, body, headers)
    assert snapshot() == before


# --- checkouts ---------------------------------------------------------------


def test_an_alipay_intent_answers_a_signed_page_pay_url(open_intent, keys, provider_kit):
    intent = open_intent(method="alipay", amount=1234)
    url = urllib.parse.urlsplit(intent["pay_url"])
    params = dict(urllib.parse.parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://openapi.alipaydev.com/gateway.do"
    assert params["method"] == "alipay.trade.page.pay" and params["sign_type"] == "RSA2"
    assert params["notify_url"] == "https://shop.example/api/v1/payments/notify/alipay"
    biz = json.loads(params["biz_content"])
    assert biz["out_trade_no"] == uuid.UUID(intent["payment_id"]).hex
    assert biz["total_amount"] == "12.34" and biz["product_code"] == "FAST_INSTANT_TRADE_PAY"
    message = provider_kit.sorted_string(params, exclude=("sign",)).encode()
    provider_kit.verify(keys.merchant, message, params["sign"])


def test_a_wechat_intent_answers_the_native_code_url(open_intent, wechat_api):
    intent = open_intent(method="wechat", amount=1234)
    assert intent["code_url"] == "weixin://wxpay/bizpayurl?pr=test"
    [(url, body, _headers)] = wechat_api.requests
    assert url.endswith("/v3/pay/transactions/native")
    assert body["amount"] == {"total": 1234, "currency": "CNY"}
    assert body["out_trade_no"] == uuid.UUID(intent["payment_id"]).hex
    # asked again, the stored code_url is answered without a second order
    assert open_intent(method="wechat", amount=1234, order_id=None)["code_url"]


def test_a_unionpay_intent_answers_the_gateways_checkout_page_and_its_signed_form(
    any_db, open_intent, keys, provider_kit
):
    intent = open_intent(method="unionpay", amount=1234)
    assert intent["pay_url"] == f"https://shop.example/api/v1/payments/{intent['payment_id']}/checkout"
    checkout = usecases.get_checkout(any_db, intent["payment_id"])
    form = checkout["form"]
    assert form["action"].endswith("/gateway/api/frontTransReq.do")
    fields = form["fields"]
    assert (fields["txnAmt"], fields["currencyCode"], fields["txnType"]) == ("1234", "156", "01")
    assert fields["certId"] == "68759526131"
    digest = hashlib.sha256(provider_kit.sorted_string(fields, exclude=("signature",)).encode())
    provider_kit.verify(keys.merchant, digest.hexdigest().encode(), fields["signature"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_real_providers_take_cny_only_and_open_no_intent_otherwise(open_intent, snapshot, provider):
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        open_intent(method=provider, currency="USD")
    assert refused.value.code == "currency_unsupported"
    assert snapshot() == before
