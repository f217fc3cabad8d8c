"""WeChat Pay API v3: Native orders, notifications, refunds.

A request carries ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,
nonce_str=.., signature=.., timestamp=.., serial_no=..``, the signature being
SHA256withRSA with the merchant key over
``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n``. Answers and notifications are
signed by the platform key over ``TIMESTAMP\\nNONCE\\nBODY\\n`` (headers
``Wechatpay-Timestamp``, ``-Nonce``, ``-Signature``, ``-Serial``). A
notification's ``resource`` is encrypted with AEAD_AES_256_GCM under the
API v3 key, with its ``associated_data`` and ``nonce``.
"""

import base64
import binascii
import json
import secrets
import time
import urllib.parse

import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kameng_common.errors import InvalidInput, InvalidSignature, Unavailable
from payments import domain
from payments.providers import signing
from payments.providers.base import (
    Checkout,
    Ignored,
    RefundFailed,
    Reply,
    header,
    merchant_order_no,
    payment_id_of,
    post,
)

DEFAULT_API = "https://api.mch.weixin.qq.com"
NATIVE_PATH = "/v3/pay/transactions/native"
REFUND_PATH = "/v3/refund/domestic/refunds"
# a notification or answer signed longer ago (or further ahead) than this is refused
TIMESTAMP_WINDOW = 300
SETTINGS = ("MCH_ID", "APP_ID", "PRIVATE_KEY_FILE", "CERT_SERIAL", "API_V3_KEY_FILE", "PLATFORM_CERT_FILE")
REFUND_TAKEN = ("SUCCESS", "PROCESSING")


class Wechat:
    name = domain.WECHAT
    currencies = ("CNY",)
    reply = Reply("application/json", json.dumps({"code": "SUCCESS", "message": "成功"}, ensure_ascii=False))

    def __init__(
        self,
        mch_id,
        app_id,
        private_key,
        cert_serial,
        api_v3_key,
        platform_key,
        notify_url,
        api_url=DEFAULT_API,
        platform_serial=None,
        session=None,
        clock=time.time,
    ):
        if len(api_v3_key) != 32:
            raise signing.ProviderMisconfigured("KAMENG_WECHAT_API_V3_KEY_FILE: the key is not 32 bytes")
        self.mch_id = mch_id
        self.app_id = app_id
        self._private_key = private_key
        self.cert_serial = cert_serial
        self._aead = AESGCM(api_v3_key)
        self._platform_key = platform_key
        self.platform_serial = platform_serial
        self.notify_url = notify_url
        self.api_url = (api_url or DEFAULT_API).rstrip("/")
        self._session = session or requests.Session()
        self._clock = clock

    @classmethod
    def from_settings(cls, settings, notify_url):
        platform_path = settings["PLATFORM_CERT_FILE"]
        return cls(
            mch_id=settings["MCH_ID"],
            app_id=settings["APP_ID"],
            private_key=signing.load_private_key(
                "KAMENG_WECHAT_PRIVATE_KEY_FILE", settings["PRIVATE_KEY_FILE"]
            ),
            cert_serial=settings["CERT_SERIAL"],
            api_v3_key=signing.read_file(
                "KAMENG_WECHAT_API_V3_KEY_FILE", settings["API_V3_KEY_FILE"]
            ).strip(),
            platform_key=signing.load_public_key("KAMENG_WECHAT_PLATFORM_CERT_FILE", platform_path),
            platform_serial=settings.get("PLATFORM_SERIAL") or None,
            notify_url=notify_url,
            api_url=settings.get("API_URL"),
        )

    # --- requests ----------------------------------------------------------

    def authorization(self, method, path, body, timestamp=None, nonce=None):
        timestamp = str(int(self._clock()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(16)
        message = f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n".encode()
        signature = signing.sign_sha256_rsa(self._private_key, message)
        return (
            f'WECHATPAY2-SHA256-RSA2048 mchid="{self.mch_id}",nonce_str="{nonce}",'
            f'signature="{signature}",timestamp="{timestamp}",serial_no="{self.cert_serial}"'
        )

    def _call(self, path, document):
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        answer = post(
            self._session,
            self.name,
            self.api_url + path,
            data=body.encode("utf-8"),
            headers={
                "Authorization": self.authorization(
                    "POST", urllib.parse.urlsplit(self.api_url + path).path, body
                ),
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        if answer.status_code < 500:
            # an answer that is not signed by the platform is not WeChat's
            self.verify(answer.text, dict(answer.headers))
        return answer

    def checkout(self, intent):
        """A Native order: WeChat answers the ``code_url`` the buyer scans."""
        answer = self._call(
            NATIVE_PATH,
            {
                "appid": self.app_id,
                "mchid": self.mch_id,
                "description": domain.subject(intent),
                "out_trade_no": merchant_order_no(intent.id),
                "notify_url": self.notify_url,
                "amount": {"total": intent.amount, "currency": "CNY"},
            },
        )
        if answer.status_code != 200:
            raise Unavailable(f"wechat refused the order (HTTP {answer.status_code})", "provider_refused")
        try:
            code_url = answer.json()["code_url"]
        except (ValueError, KeyError, TypeError):
            raise Unavailable("wechat answered no code_url", "provider_refused") from None
        return Checkout(code_url=code_url)

    # --- notifications -----------------------------------------------------

    def verify(self, body, headers):
        timestamp = header(headers, "Wechatpay-Timestamp")
        nonce = header(headers, "Wechatpay-Nonce")
        signature = header(headers, "Wechatpay-Signature")
        if not (timestamp and nonce and signature):
            raise InvalidSignature("wechat notification lacks its Wechatpay-* headers")
        serial = header(headers, "Wechatpay-Serial")
        if self.platform_serial and serial != self.platform_serial:
            raise InvalidSignature("wechat notification is signed with an unknown platform certificate")
        if not timestamp.isdigit() or abs(self._clock() - int(timestamp)) > TIMESTAMP_WINDOW:
            raise InvalidSignature("wechat notification's timestamp is outside the accepted window")
        message = f"{timestamp}\n{nonce}\n{body}\n".encode()
        signing.verify_sha256_rsa(self._platform_key, message, signature, self.name)

    def decrypt(self, resource):
        try:
            plain = self._aead.decrypt(
                resource["nonce"].encode("utf-8"),
                base64.b64decode(resource["ciphertext"], validate=True),
                (resource.get("associated_data") or "").encode("utf-8"),
            )
            return json.loads(plain)
        except (InvalidTag, KeyError, TypeError, AttributeError, binascii.Error, ValueError):
            # the body was signed by the platform, so this is a key mismatch or a malformed resource
            raise InvalidInput("wechat resource does not decrypt", "invalid_notification") from None

    def read(self, body):
        try:
            document = json.loads(body)
            event_type = document["event_type"]
            resource = document["resource"]
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(
                "wechat notification is not an API v3 notification", "invalid_notification"
            ) from None
        if not isinstance(resource, dict) or resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise InvalidInput("wechat resource is not AEAD_AES_256_GCM", "invalid_notification")
        transaction = self.decrypt(resource)
        if not isinstance(transaction, dict):
            raise InvalidInput("wechat resource is not an object", "invalid_notification")
        if event_type != "TRANSACTION.SUCCESS":
            return Ignored(self.name, f"event_type {event_type}")
        try:
            mch_id = transaction["mchid"]
            trade_state = transaction["trade_state"]
            order_no = transaction["out_trade_no"]
            transaction_id = transaction["transaction_id"]
            amount = transaction["amount"]["total"]
            currency = transaction["amount"].get("currency", "CNY")
        except (KeyError, TypeError, AttributeError):
            raise InvalidInput(
                "wechat transaction lacks a field it must carry", "invalid_notification"
            ) from None
        if mch_id != self.mch_id:
            raise InvalidInput("wechat notification is for another merchant", "invalid_notification")
        if trade_state != "SUCCESS":
            return Ignored(self.name, f"trade_state {trade_state}")
        if type(amount) is not int or not isinstance(transaction_id, str) or not transaction_id:
            raise InvalidInput("wechat transaction's amount or id is malformed", "invalid_notification")
        return domain.Notice(self.name, payment_id_of(order_no, self.name), transaction_id, amount, currency)

    # --- refunds -----------------------------------------------------------

    def refund(self, refund):
        """``out_refund_no`` (the refund id) makes a repeated call refund once."""
        try:
            answer = self._call(
                REFUND_PATH,
                {
                    "transaction_id": refund.trade_no,
                    "out_refund_no": merchant_order_no(refund.refund_id),
                    "reason": refund.reason[:80],
                    "amount": {"refund": refund.amount, "total": refund.total, "currency": "CNY"},
                },
            )
        except (Unavailable, InvalidSignature) as exc:
            raise RefundFailed(str(exc), retryable=True) from None
        if answer.status_code >= 500 or answer.status_code == 429:
            raise RefundFailed(f"wechat answered HTTP {answer.status_code}", retryable=True)
        try:
            document = answer.json()
        except ValueError:
            raise RefundFailed("wechat answered something that is not JSON", retryable=True) from None
        if answer.status_code == 200 and document.get("status") in REFUND_TAKEN:
            return document.get("refund_id") or ""
        raise RefundFailed(
            f"wechat refused the refund: {document.get('code') or document.get('status')}", retryable=False
        )
