"""The development provider (API.md): a JSON body signed with HMAC-SHA256."""

import hashlib
import hmac
import json

from kameng_common.errors import InvalidInput, InvalidSignature
from kameng_common.validation import load_or_invalid
from payments import domain, schemas
from payments.providers.base import Checkout, RefundFailed, header


class Mockpay:
    name = domain.MOCKPAY
    SIGNATURE_HEADER = "X-Mockpay-Signature"
    # mockpay's answer is the gateway's JSON, not a provider format
    reply = None

    def __init__(self, secret):
        self._key = secret.encode("utf-8")

    def sign(self, body):
        return hmac.new(self._key, body.encode("utf-8"), hashlib.sha256).hexdigest()

    def checkout(self, intent):
        # the payer signs its own notification: there is no page to go to
        return Checkout()

    def verify(self, body, headers):
        given = header(headers, self.SIGNATURE_HEADER)
        if not given:
            raise InvalidSignature(f"missing {self.SIGNATURE_HEADER} header")
        # constant time, so that the signature cannot be guessed byte by byte
        if not hmac.compare_digest(self.sign(body).encode("ascii"), given.strip().lower().encode("utf-8")):
            raise InvalidSignature("mockpay signature does not match the body")

    def read(self, body):
        """The notice in a verified body."""
        try:
            document = json.loads(body)
        except ValueError:
            raise InvalidInput("mockpay notification is not JSON") from None
        if not isinstance(document, dict):
            raise InvalidInput("mockpay notification is not a JSON object")
        fields = load_or_invalid(schemas.MockpayNotification, document)
        if fields["status"] != "SUCCESS":
            raise InvalidInput(f"mockpay status {fields['status']!r} is not SUCCESS", "unsupported_status")
        return domain.Notice(
            self.name, fields["payment_id"], fields["trade_no"], fields["amount"], fields["currency"]
        )

    def refund(self, refund):
        # mockpay holds no money of its own: its payments are refunded to the wallet
        raise RefundFailed("mockpay cannot refund to the original channel", retryable=False)
