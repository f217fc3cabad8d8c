"""The payments service's nameko entrypoints: each translates and calls a use case."""

from nameko.dependency_providers import Config

from kameng_common.extensions import (
    BusinessGauge,
    Instrumentation,
    ServiceDatabase,
    check_health,
    event_handler,
    rpc,
    timer,
)
from kameng_common.money import DEFAULT_CURRENCY
from payments import aftersales, agent_ledger, finance, sales, usecases
from payments.db import metadata
from payments.providers import Providers


class PaymentsService:
    name = "payments"

    db = ServiceDatabase(metadata)
    instrumentation = Instrumentation()
    config = Config()
    wallet_balance = BusinessGauge(
        "kameng_wallet_balance_fen",
        "What the wallets hold for customers, by currency",
        ["currency"],
        usecases.wallet_totals,
    )
    staff_refunds = BusinessGauge(
        "kameng_staff_refunds",
        "Staff refunds by status (failed ones wait for finance)",
        ["status"],
        usecases.refund_counts,
    )
    refund_requests = BusinessGauge(
        "kameng_refund_requests",
        "After-sales tickets by status (open ones wait for finance)",
        ["status"],
        aftersales.request_counts,
    )
    payment_intents = BusinessGauge(
        "kameng_payment_intents",
        "Payment intents by method and status",
        ["method", "status"],
        usecases.intent_counts,
    )

    @rpc
    def health(self):
        return check_health(self.name, self.db)

    @rpc
    def create_intent(self, order_id, customer_id, amount, currency, method):
        return usecases.create_intent(
            self.db, Providers.from_config(self.config), order_id, customer_id, amount, currency, method
        )

    @rpc
    def handle_notification(self, provider, body, headers):
        return usecases.handle_notification(
            self.db, Providers.from_config(self.config), provider, body, headers
        )

    @rpc
    def get_checkout(self, payment_id):
        return usecases.get_checkout(self.db, payment_id)

    @rpc
    def create_topup(self, customer_id, amount, currency, method, idempotency_key):
        return usecases.create_topup(
            self.db,
            Providers.from_config(self.config),
            customer_id,
            amount,
            currency,
            method,
            idempotency_key,
        )

    @rpc
    def wallet_statement(self, customer_id, currency=DEFAULT_CURRENCY, limit=50, cursor=None):
        return usecases.wallet_statement(self.db, customer_id, currency, limit, cursor)

    @rpc
    def get_wallet(self, customer_id, currency=DEFAULT_CURRENCY):
        return usecases.get_wallet(self.db, customer_id, currency)

    @rpc
    def refund_order(self, order_id, amount, to, reason, idempotency_key, actor):
        return usecases.refund_order(
            self.db, Providers.from_config(self.config), order_id, amount, to, reason, idempotency_key, actor
        )

    @rpc
    def list_refunds(self, status=None, order_id=None, limit=50, cursor=None):
        return usecases.list_refunds(self.db, status, order_id, limit, cursor)

    @rpc
    def open_refund_request(self, order_id, customer_id, reason):
        ticket, created = aftersales.open_refund_request(self.db, order_id, customer_id, reason)
        return {"request": ticket, "created": created}

    @rpc
    def list_refund_requests(self, status=None, order_id=None, limit=50, cursor=None):
        return aftersales.list_refund_requests(self.db, status, order_id, limit, cursor)

    @rpc
    def decide_refund_request(self, request_id, decision, reason, actor, amount=None, to="original"):
        return aftersales.decide_refund_request(
            self.db, Providers.from_config(self.config), request_id, decision, reason, actor, amount, to
        )

    @rpc
    def comment_refund_request(self, request_id, author, text):
        return aftersales.comment_refund_request(self.db, request_id, author, text)

    @rpc
    def ledger_page(self, account=None, since=None, until=None, limit=50, cursor=None):
        return usecases.ledger_page(self.db, account, since, until, limit, cursor)

    @rpc
    def finance_summary(self, since=None, until=None, group_by="day"):
        return finance.summary(self.db, since, until, group_by)

    @rpc
    def reconcile(self, provider, statement, actor):
        return usecases.reconcile(self.db, provider, statement, actor)

    @timer(interval=2)
    def retry_refunds(self):
        usecases.retry_refunds(self.db, Providers.from_config(self.config))

    @rpc
    def audit_snapshot(self):
        return usecases.audit_snapshot(self.db)

    @event_handler("orders", "order.refund_requested")
    def on_refund_requested(self, uow, event):
        usecases.on_refund_requested(uow, event)

    @event_handler("customers", "commission.earned")
    def on_commission_earned(self, uow, event):
        agent_ledger.on_commission_earned(uow, event)

    @event_handler("customers", "commission.reversed")
    def on_commission_reversed(self, uow, event):
        agent_ledger.on_commission_reversed(uow, event)

    @event_handler("customers", "withdrawal.paid")
    def on_withdrawal_paid(self, uow, event):
        agent_ledger.on_withdrawal_paid(uow, event)

    @event_handler("inventory", "cards.delivered")
    def on_cards_delivered(self, uow, event):
        sales.on_cards_delivered(uow, event)
