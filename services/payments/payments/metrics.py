"""The business metrics of payments: counters here, gauges declared beside the service's dependencies."""

from prometheus_client import Counter

from payments import domain

PAYMENTS = Counter(
    "kameng_payments_total", "Payment attempts by provider and outcome", ["provider", "outcome"]
)
REFUNDS = Counter("kameng_refunds_total", "Refund requests by outcome", ["outcome"])


def provider_label(provider):
    # the provider comes from a URL: an unknown name must not mint a new time series
    return provider if provider in domain.METHODS else "unknown"


def count_payment(provider, outcome):
    PAYMENTS.labels(provider_label(provider), outcome).inc()


def count_refund(outcome):
    REFUNDS.labels(outcome).inc()
