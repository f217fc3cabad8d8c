"""What every provider adapter offers, and the few types they share."""

import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

import requests

from kameng_common.errors import InvalidInput, Unavailable
from payments import domain

# how long a call to a provider's API may take: connecting, then answering
HTTP_TIMEOUT = (5, 15)


@dataclass(frozen=True)
class Checkout:
    """Where the buyer goes to pay: a page (``pay_url``), a QR code's content (``code_url``), or a
    signed form their browser posts to the provider (``form``: ``{action, fields}``)."""

    pay_url: str | None = None
    code_url: str | None = None
    form: dict | None = None


@dataclass(frozen=True)
class Reply:
    """A notification's answer in the provider's own format (the body the gateway sends back)."""

    content_type: str
    body: str


@dataclass(frozen=True)
class Ignored:
    """A verified notification that records no money (a trade still waiting, closed, a refund's echo)."""

    provider: str
    reason: str


class RefundFailed(Exception):
    """The provider did not take a refund. ``retryable``: a timeout or an outage, worth another try."""

    def __init__(self, message, retryable):
        super().__init__(message)
        self.retryable = retryable


class Adapter(Protocol):
    name: str
    reply: Reply

    def checkout(self, intent: domain.Intent) -> Checkout: ...

    def verify(self, body: str, headers: dict) -> None: ...

    def read(self, body: str) -> domain.Notice | Ignored: ...

    def refund(self, refund: domain.ProviderRefund) -> str: ...


class AdapterClass(Protocol):
    """A real provider's adapter class: built from its settings (without their prefix)."""

    def from_settings(self, settings: dict[str, str], notify_url: str) -> Adapter: ...


def header(headers, name):
    """A header's value, whatever the case the gateway delivered its name in."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def merchant_order_no(payment_id):
    """A payment id as the providers take it: 32 letters and digits (WeChat allows 32, UnionPay no '-')."""
    return uuid.UUID(payment_id).hex


def payment_id_of(order_no, provider):
    try:
        return str(uuid.UUID(hex=order_no))
    except (TypeError, ValueError):
        raise InvalidInput(f"{provider} notification names no Kameng payment", "unknown_payment") from None


def yuan(fen):
    """Fen as the decimal yuan string Alipay takes: 1500 → '15.00'."""
    return f"{fen // 100}.{fen % 100:02d}"


def fen_from_yuan(text, provider):
    """Alipay's '15.00' as 1500 fen; anything but a plain amount with at most two decimals is refused."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise InvalidInput(f"{provider} amount is not a number", "invalid_amount") from None
    fen = value * 100
    if not value.is_finite() or value < 0 or fen != fen.to_integral_value() or "e" in str(text).lower():
        raise InvalidInput(f"{provider} amount is not a plain amount in yuan", "invalid_amount")
    return int(fen)


def post(session, provider, url, **kwargs):
    """A provider API call; an outage or timeout is Unavailable (the caller may retry)."""
    try:
        return session.post(url, timeout=HTTP_TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        # the exception's text may quote the URL, never a key: still, name only its kind
        raise Unavailable(
            f"{provider} did not answer ({type(exc).__name__})", "provider_unreachable"
        ) from None
