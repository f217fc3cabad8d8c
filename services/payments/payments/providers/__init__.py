"""The payment providers this deployment has enabled, each behind the same adapter interface.

A provider is enabled when all its settings are present (``KAMENG_ALIPAY_*``,
``KAMENG_WECHAT_*``, ``KAMENG_UNIONPAY_*``, ``KAMENG_MOCKPAY_SECRET``); a
method whose provider is not is refused with 422 ``provider_unavailable``.
"""

import functools
import logging

from kameng_common.errors import InvalidInput
from payments import domain
from payments.providers import alipay, unionpay, wechat
from payments.providers.base import Adapter, AdapterClass, Checkout, Ignored, RefundFailed, Reply, header
from payments.providers.mockpay import Mockpay
from payments.providers.signing import ProviderMisconfigured

_log = logging.getLogger(__name__)

NOTIFY_PATH = "/api/v1/payments/notify/{provider}"
CHECKOUT_PATH = "/api/v1/payments/{payment_id}/checkout"

# provider → (its adapter class, the config prefix of its settings, the settings it requires)
REAL_PROVIDERS: dict[str, tuple[AdapterClass, str, tuple[str, ...]]] = {
    domain.ALIPAY: (alipay.Alipay, "ALIPAY", alipay.SETTINGS),
    domain.WECHAT: (wechat.Wechat, "WECHAT", wechat.SETTINGS),
    domain.UNIONPAY: (unionpay.Unionpay, "UNIONPAY", unionpay.SETTINGS),
}

__all__ = ["Adapter", "Checkout", "Ignored", "Mockpay", "Providers", "RefundFailed", "Reply", "header"]


class Providers:
    """The enabled adapters, by provider name."""

    def __init__(self, mockpay_secret=None, adapters=(), public_url=""):
        self._adapters = {adapter.name: adapter for adapter in adapters}
        if mockpay_secret:
            self._adapters[domain.MOCKPAY] = Mockpay(mockpay_secret)
        self.public_url = public_url.rstrip("/")

    @classmethod
    def from_config(cls, config):
        """The providers of a nameko config, built once per distinct configuration."""
        settings = tuple(
            sorted(
                (key, str(value))
                for key, value in config.items()
                if key.startswith(("ALIPAY_", "WECHAT_", "UNIONPAY_")) and value not in (None, "")
            )
        )
        secret = config.get("MOCKPAY_SECRET")
        return _built(settings, str(secret) if secret else None, str(config.get("PUBLIC_URL") or ""))

    @property
    def enabled(self):
        return sorted(self._adapters)

    def check_method(self, method, currency=None):
        """Refuse to open an intent with a method that cannot take this money here."""
        if method == domain.BALANCE:
            return
        adapter = self.adapter(method)
        currencies = getattr(adapter, "currencies", None)
        if currency and currencies and currency not in currencies:
            raise InvalidInput(
                f"{method} takes {', '.join(currencies)}, not {currency}", "currency_unsupported"
            )

    def for_notification(self, provider):
        if provider == domain.BALANCE or provider not in domain.METHODS:
            raise InvalidInput(f"there are no notifications from {provider!r}", "unknown_provider")
        return self.adapter(provider)

    def adapter(self, provider):
        adapter = self._adapters.get(provider)
        if adapter is None:
            raise InvalidInput(f"payment provider {provider} is not enabled", "provider_unavailable")
        return adapter

    def checkout(self, intent):
        """Where the buyer pays ``intent``; a form is served by the gateway's checkout page."""
        checkout = self.adapter(intent.method).checkout(intent)
        if checkout.form and not checkout.pay_url:
            pay_url = self.public_url + CHECKOUT_PATH.format(payment_id=intent.id)
            checkout = Checkout(pay_url=pay_url, code_url=checkout.code_url, form=checkout.form)
        return checkout


@functools.lru_cache(maxsize=8)
def _built(settings, mockpay_secret, public_url):
    values = dict(settings)
    adapters = []
    for provider, (adapter_class, prefix, required) in REAL_PROVIDERS.items():
        own = {
            key.removeprefix(f"{prefix}_"): value
            for key, value in values.items()
            if key.startswith(f"{prefix}_")
        }
        if not own:
            continue
        missing = [f"KAMENG_{prefix}_{name}" for name in required if not own.get(name)]
        if missing:
            _log.warning("%s is not enabled: %s not set", provider, ", ".join(missing))
            continue
        notify_url = public_url.rstrip("/") + NOTIFY_PATH.format(provider=provider)
        try:
            adapters.append(adapter_class.from_settings(own, notify_url))
        except ProviderMisconfigured as exc:
            # names the setting, never its value
            _log.error("%s is not enabled: %s", provider, exc)
    return Providers(mockpay_secret=mockpay_secret, adapters=adapters, public_url=public_url)
