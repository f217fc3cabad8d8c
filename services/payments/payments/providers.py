"""Provider adapters: each verifies and reads its own provider's notifications."""

import hashlib
import hmac
import json

from kameng_common.errors import InvalidInput, InvalidSignature
from payments import domain, schemas


def header(headers, name):
    """A header's value, whatever the case the gateway delivered its name in."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


class Mockpay:
    """The development provider (API.md): a JSON body signed with HMAC-SHA256."""

    name = domain.MOCKPAY
    SIGNATURE_HEADER = "X-Mockpay-Signature"

    def __init__(self, secret):
        self._key = secret.encode("utf-8")

    def sign(self, body):
        return hmac.new(self._key, body.encode("utf-8"), hashlib.sha256).hexdigest()

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
        fields = schemas.load(schemas.MockpayNotification(), document)
        if fields["status"] != "SUCCESS":
            raise InvalidInput(f"mockpay status {fields['status']!r} is not SUCCESS", "unsupported_status")
        return domain.Notice(
            self.name, fields["payment_id"], fields["trade_no"], fields["amount"], fields["currency"]
        )


class Providers:
    """The providers this deployment has enabled."""

    def __init__(self, mockpay_secret=None):
        self._adapters = {}
        if mockpay_secret:
            self._adapters[domain.MOCKPAY] = Mockpay(mockpay_secret)

    @classmethod
    def from_config(cls, config):
        secret = config.get("MOCKPAY_SECRET")
        return cls(mockpay_secret=str(secret) if secret else None)

    def check_method(self, method):
        """Refuse to open an intent with a method that cannot take money here."""
        if method != domain.BALANCE:
            self._adapter(method)

    def for_notification(self, provider):
        if provider == domain.BALANCE or provider not in domain.METHODS:
            raise InvalidInput(f"there are no notifications from {provider!r}", "unknown_provider")
        return self._adapter(provider)

    def _adapter(self, provider):
        adapter = self._adapters.get(provider)
        if adapter is None:
            raise InvalidInput(f"payment provider {provider} is not enabled", "provider_unavailable")
        return adapter
