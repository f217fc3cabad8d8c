"""The business metrics of payments: counters here, gauges declared beside the service's dependencies."""

from prometheus_client import Counter, Gauge

from payments import domain

PAYMENTS = Counter(
    "kameng_payments_total", "Payment attempts by provider and outcome", ["provider", "outcome"]
)
REFUNDS = Counter("kameng_refunds_total", "Refund requests by outcome", ["outcome"])
REFUND_REQUESTS = Counter(
    "kameng_refund_request_steps_total",
    "After-sales tickets' steps by outcome (opened, approved, rejected, commented, refused_…)",
    ["outcome"],
)


RECONCILIATION_ROWS = Counter(
    "kameng_reconciliation_rows_total",
    "Statement rows reconciled, by provider and outcome (matched, missing_here, …)",
    ["provider", "outcome"],
)
RECONCILIATION_MISMATCHES = Gauge(
    "kameng_reconciliation_mismatches",
    "Rows of the last statement reconciled that did not match (missing on either side, other amount)",
    ["provider"],
)


def count_reconciliation(provider, counts):
    for outcome, count in counts.items():
        RECONCILIATION_ROWS.labels(provider, outcome).inc(count)
    RECONCILIATION_MISMATCHES.labels(provider).set(
        counts["missing_here"] + counts["missing_at_provider"] + counts["amount_mismatch"]
    )


def provider_label(provider):
    # the provider comes from a URL: an unknown name must not mint a new time series
    return provider if provider in domain.METHODS else "unknown"


def count_payment(provider, outcome):
    PAYMENTS.labels(provider_label(provider), outcome).inc()


def count_refund(outcome):
    REFUNDS.labels(outcome).inc()


def count_refund_request(outcome):
    REFUND_REQUESTS.labels(outcome).inc()
