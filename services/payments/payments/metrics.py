"""The business metrics of payments."""

import sqlalchemy as sa
from prometheus_client import Counter

from kameng_common.extensions import ServiceDatabase
from kameng_common.metrics import callback_gauge
from payments import domain
from payments.db import order_refunds, payment_intents, wallets

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


class PaymentsDatabase(ServiceDatabase):
    """The service's database, which also feeds the scrape-time business gauges."""

    def setup(self):
        super().setup()
        callback_gauge(
            "kameng_wallet_balance_fen",
            "What the wallets hold for customers, by currency",
            ["currency"],
            lambda: wallet_totals(self.database),
        )
        callback_gauge(
            "kameng_staff_refunds",
            "Staff refunds by status (failed ones wait for finance)",
            ["status"],
            lambda: refund_counts(self.database),
        )
        callback_gauge(
            "kameng_payment_intents",
            "Payment intents by method and status",
            ["method", "status"],
            lambda: intent_counts(self.database),
        )


def wallet_totals(database):
    with database.reading() as session:
        rows = session.execute(
            sa.select(wallets.c.currency, sa.func.sum(wallets.c.balance)).group_by(wallets.c.currency)
        )
        return {(currency,): total for currency, total in rows}


def intent_counts(database):
    with database.reading() as session:
        rows = session.execute(
            sa.select(payment_intents.c.method, payment_intents.c.status, sa.func.count()).group_by(
                payment_intents.c.method, payment_intents.c.status
            )
        )
        return {(method, status): count for method, status, count in rows}


def refund_counts(database):
    with database.reading() as session:
        rows = session.execute(
            sa.select(order_refunds.c.status, sa.func.count()).group_by(order_refunds.c.status)
        )
        return {(status,): count for status, count in rows}
