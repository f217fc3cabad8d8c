"""Alipay (open platform, RSA2): page pay, the asynchronous notification, alipay.trade.refund.

A request is the common parameters plus ``biz_content`` (JSON), signed with
SHA256withRSA over every non-empty parameter but ``sign``, sorted by name and
joined as ``k=v&k=v`` with raw values. A notification is a form post signed
the same way (without ``sign`` and ``sign_type``) with Alipay's key; it is
answered with the text ``success``.
"""

import datetime
import json
import urllib.parse

import requests

from kameng_common.errors import InvalidInput, InvalidSignature, Unavailable
from payments import domain
from payments.providers import signing
from payments.providers.base import (
    Checkout,
    Ignored,
    RefundFailed,
    Reply,
    fen_from_yuan,
    merchant_order_no,
    payment_id_of,
    post,
    yuan,
)

DEFAULT_GATEWAY = "https://openapi.alipay.com/gateway.do"
# Alipay's timestamps are Beijing time
BEIJING = datetime.timezone(datetime.timedelta(hours=8))
PAID = ("TRADE_SUCCESS", "TRADE_FINISHED")
NOT_PAID = ("WAIT_BUYER_PAY", "TRADE_CLOSED")
SETTINGS = ("APP_ID", "PRIVATE_KEY_FILE", "PUBLIC_KEY_FILE")
REFUND_OK = "10000"
# Alipay answers 20000 when it is unavailable for a moment: worth another try
REFUND_RETRY_CODES = ("20000",)


class Alipay:
    name = domain.ALIPAY
    currencies = ("CNY",)
    reply = Reply("text/plain", "success")

    def __init__(
        self,
        app_id,
        private_key,
        alipay_public_key,
        notify_url,
        gateway_url=DEFAULT_GATEWAY,
        return_url=None,
        session=None,
    ):
        self.app_id = app_id
        self._private_key = private_key
        self._alipay_key = alipay_public_key
        self.notify_url = notify_url
        self.gateway_url = gateway_url or DEFAULT_GATEWAY
        self.return_url = return_url
        self._session = session or requests.Session()

    @classmethod
    def from_settings(cls, settings, notify_url):
        return cls(
            app_id=settings["APP_ID"],
            private_key=signing.load_private_key(
                "KAMENG_ALIPAY_PRIVATE_KEY_FILE", settings["PRIVATE_KEY_FILE"]
            ),
            alipay_public_key=signing.load_public_key(
                "KAMENG_ALIPAY_PUBLIC_KEY_FILE", settings["PUBLIC_KEY_FILE"]
            ),
            notify_url=notify_url,
            gateway_url=settings.get("GATEWAY_URL"),
            return_url=settings.get("RETURN_URL"),
        )

    # --- requests ----------------------------------------------------------

    def signed_request(self, method, biz_content, now=None, notify=False):
        """The common parameters of an open-platform request, signed."""
        moment = (now or datetime.datetime.now(datetime.UTC)).astimezone(BEIJING)
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": moment.strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(biz_content, ensure_ascii=False, separators=(",", ":")),
        }
        if notify:
            params["notify_url"] = self.notify_url
            if self.return_url:
                params["return_url"] = self.return_url
        params["sign"] = signing.sign_sha256_rsa(
            self._private_key, signing.sorted_parameters(params).encode("utf-8")
        )
        return params

    def checkout(self, intent):
        """alipay.trade.page.pay as a URL: the buyer's browser opens it (GET) on Alipay's cashier."""
        params = self.signed_request(
            "alipay.trade.page.pay",
            {
                "out_trade_no": merchant_order_no(intent.id),
                "product_code": "FAST_INSTANT_TRADE_PAY",
                "total_amount": yuan(intent.amount),
                "subject": domain.subject(intent),
            },
            notify=True,
        )
        return Checkout(pay_url=f"{self.gateway_url}?{urllib.parse.urlencode(params)}")

    # --- notifications -----------------------------------------------------

    def _form(self, body):
        try:
            pairs = urllib.parse.parse_qsl(
                body, keep_blank_values=True, strict_parsing=True, encoding="utf-8", errors="strict"
            )
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("alipay notification is not a form", "invalid_notification") from None
        form = dict(pairs)
        if len(form) != len(pairs):
            raise InvalidInput("alipay notification repeats a field", "invalid_notification")
        return form

    def verify(self, body, headers):
        form = self._form(body)
        if form.get("sign_type", "RSA2") != "RSA2":
            raise InvalidSignature("alipay notification is not signed RSA2")
        message = signing.sorted_parameters(form, exclude=("sign", "sign_type")).encode("utf-8")
        signing.verify_sha256_rsa(self._alipay_key, message, form.get("sign"), self.name)

    def read(self, body):
        form = self._form(body)
        for field in ("app_id", "out_trade_no", "trade_no", "trade_status", "total_amount"):
            if not form.get(field):
                raise InvalidInput(f"alipay notification has no {field}", "invalid_notification")
        if form["app_id"] != self.app_id:
            raise InvalidInput("alipay notification is for another app", "invalid_notification")
        status = form["trade_status"]
        if status in NOT_PAID:
            return Ignored(self.name, f"trade_status {status}")
        if status not in PAID:
            raise InvalidInput(f"alipay trade_status {status!r} is unknown", "unsupported_status")
        return domain.Notice(
            self.name,
            payment_id_of(form["out_trade_no"], self.name),
            form["trade_no"],
            fen_from_yuan(form["total_amount"], self.name),
            "CNY",
        )

    # --- refunds -----------------------------------------------------------

    def refund(self, refund):
        """alipay.trade.refund; ``out_request_no`` (the refund id) makes a repeated call refund once."""
        params = self.signed_request(
            "alipay.trade.refund",
            {
                "out_trade_no": merchant_order_no(refund.payment_id),
                "trade_no": refund.trade_no,
                "refund_amount": yuan(refund.amount),
                "refund_reason": refund.reason[:256],
                "out_request_no": merchant_order_no(refund.refund_id),
            },
        )
        try:
            answer = post(self._session, self.name, self.gateway_url, data=params)
        except Unavailable as exc:
            raise RefundFailed(str(exc), retryable=True) from None
        if answer.status_code >= 500:
            raise RefundFailed(f"alipay answered HTTP {answer.status_code}", retryable=True)
        response = self.verified_response(answer.text, "alipay_trade_refund_response")
        code = response.get("code")
        if code == REFUND_OK:
            return response.get("trade_no") or refund.trade_no
        raise RefundFailed(
            f"alipay refused the refund: {code} {response.get('sub_code', '')}".strip(),
            retryable=code in REFUND_RETRY_CODES,
        )

    def verified_response(self, text, response_key):
        """The response object of an API answer, once its ``sign`` (over its exact text) is verified."""
        try:
            document = json.loads(text)
            response = document[response_key]
        except (ValueError, KeyError, TypeError):
            raise RefundFailed(
                "alipay answered something that is not its API's answer", retryable=True
            ) from None
        signed = raw_member(text, response_key)
        try:
            signing.verify_sha256_rsa(
                self._alipay_key, signed.encode("utf-8"), document.get("sign"), self.name
            )
        except InvalidSignature:
            # an answer that is not Alipay's says nothing: try again
            raise RefundFailed("alipay's answer is not signed by alipay", retryable=True) from None
        return response


def raw_member(text, key):
    """The exact text of ``key``'s JSON object value in ``text``, as Alipay signs it."""
    marker = f'"{key}"'
    start = text.find("{", text.find(marker) + len(marker))
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
    return ""
