"""mockpay's signature and body, and which providers are enabled."""

import hashlib
import hmac
import json

import pytest

from kameng_common.errors import InvalidInput, InvalidSignature
from payments.domain import Notice
from payments.providers import Mockpay, Providers, header
from payments.providers import mockpay as mockpay_module

BODY = json.dumps(
    {"payment_id": "pay-1", "trade_no": "MP-1", "amount": 1500, "currency": "CNY", "status": "SUCCESS"}
)


def test_the_signature_is_the_hex_hmac_sha256_of_the_raw_body(mockpay, mockpay_secret):
    expected = hmac.new(mockpay_secret.encode(), BODY.encode(), hashlib.sha256).hexdigest()
    assert mockpay.sign(BODY) == expected


@pytest.mark.parametrize("name", ["X-Mockpay-Signature", "x-mockpay-signature", "X-MOCKPAY-SIGNATURE"])
def test_the_signature_header_is_found_whatever_its_case(mockpay, name):
    mockpay.verify(BODY, {"Content-Type": "application/json", name: mockpay.sign(BODY)})


def test_header_lookup_ignores_case_and_misses_cleanly():
    assert header({"X-A": "1"}, "x-a") == "1"
    assert header({"X-A": "1"}, "x-b") is None


@pytest.mark.parametrize(
    "body",
    [
        BODY.replace("1500", "1"),
        BODY.replace("CNY", "USD"),
        BODY.replace("pay-1", "pay-2"),
        BODY + " ",
    ],
)
def test_a_tampered_body_is_refused(mockpay, body):
    with pytest.raises(InvalidSignature) as refused:
        mockpay.verify(body, {"X-Mockpay-Signature": mockpay.sign(BODY)})
    assert refused.value.code == "invalid_signature"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Mockpay-Signature": ""},
        {"X-Mockpay-Signature": "not-hex-at-all"},
        {"X-Mockpay-Signature": "签名"},
        {"X-Mockpay-Signature": Mockpay("another secret").sign(BODY)},
    ],
)
def test_a_missing_or_wrong_signature_is_refused(mockpay, headers):
    with pytest.raises(InvalidSignature):
        mockpay.verify(BODY, headers)


def test_signatures_are_compared_in_constant_time(mockpay, monkeypatch):
    compared = []

    def compare_digest(a, b):
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(mockpay_module.hmac, "compare_digest", compare_digest)
    mockpay.verify(BODY, {"X-Mockpay-Signature": mockpay.sign(BODY).upper()})
    assert compared == [(mockpay.sign(BODY).encode(),) * 2]


def test_a_verified_body_reads_as_a_notice(mockpay):
    assert mockpay.read(BODY) == Notice("mockpay", "pay-1", "MP-1", 1500, "CNY")


@pytest.mark.parametrize(
    "body, code",
    [
        ("not json", "invalid_input"),
        ("[1, 2]", "invalid_input"),
        (BODY.replace('"amount": 1500', '"amount": 15.5'), "invalid_input"),
        (BODY.replace('"amount": 1500', '"amount": "1500"'), "invalid_input"),
        (BODY.replace('"amount": 1500', '"amount": -1'), "invalid_input"),
        (BODY.replace('"CNY"', '"cny"'), "invalid_input"),
        (BODY.replace('"trade_no": "MP-1", ', ""), "invalid_input"),
        (BODY.replace("SUCCESS", "CLOSED"), "unsupported_status"),
    ],
)
def test_a_body_that_is_not_a_paid_notice_is_refused(mockpay, body, code):
    with pytest.raises(InvalidInput) as refused:
        mockpay.read(body)
    assert refused.value.code == code


@pytest.mark.parametrize("secret", [None, ""])
def test_mockpay_is_disabled_without_a_secret(secret):
    providers = Providers.from_config({"MOCKPAY_SECRET": secret})
    for check in (providers.check_method, providers.for_notification):
        with pytest.raises(InvalidInput) as refused:
            check("mockpay")
        assert refused.value.code == "provider_unavailable"


@pytest.mark.parametrize("provider", ["alipay", "wechat", "unionpay"])
def test_providers_without_settings_are_refused(provider):
    providers = Providers.from_config({"MOCKPAY_SECRET": "s"})
    for check in (providers.check_method, providers.for_notification):
        with pytest.raises(InvalidInput) as refused:
            check(provider)
        assert refused.value.code == "provider_unavailable"
        assert "not enabled" in str(refused.value)


def test_the_wallet_needs_no_provider_and_sends_no_notifications(providers):
    providers.check_method("balance")
    for provider in ("balance", "paypal"):
        with pytest.raises(InvalidInput) as refused:
            providers.for_notification(provider)
        assert refused.value.code == "unknown_provider"


def test_mockpay_is_enabled_by_a_secret(mockpay_secret):
    providers = Providers.from_config({"MOCKPAY_SECRET": mockpay_secret})
    providers.check_method("mockpay")
    assert isinstance(providers.for_notification("mockpay"), Mockpay)


def test_a_provider_is_enabled_by_all_its_settings_and_only_by_all(keys):
    folder = keys.folder
    settings = {
        "PUBLIC_URL": "https://shop.example",
        "ALIPAY_APP_ID": "2021000000000001",
        "ALIPAY_PRIVATE_KEY_FILE": str(folder / "merchant.pem"),
        "ALIPAY_PUBLIC_KEY_FILE": str(folder / "alipay_public.pem"),
        # WeChat without its platform certificate, UnionPay with a key file that is not there
        "WECHAT_MCH_ID": "1900000109",
        "WECHAT_APP_ID": "wx1",
        "WECHAT_PRIVATE_KEY_FILE": str(folder / "merchant.pem"),
        "WECHAT_CERT_SERIAL": "S",
        "WECHAT_API_V3_KEY_FILE": str(folder / "apiv3.key"),
        "UNIONPAY_MER_ID": "777290058110048",
        "UNIONPAY_SIGN_KEY_FILE": str(folder / "absent.pem"),
        "UNIONPAY_SIGN_CERT_FILE": str(folder / "merchant.crt"),
        "UNIONPAY_ROOT_CERT_FILE": str(folder / "unionpay_root.crt"),
    }
    providers = Providers.from_config(settings)
    assert providers.enabled == ["alipay"]
    assert providers.adapter("alipay").notify_url == "https://shop.example/api/v1/payments/notify/alipay"
    for provider in ("wechat", "unionpay"):
        with pytest.raises(InvalidInput) as refused:
            providers.check_method(provider)
        assert refused.value.code == "provider_unavailable"
