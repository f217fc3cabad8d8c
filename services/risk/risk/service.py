from kameng_common.extensions import (
    BusinessGauge,
    Instrumentation,
    ServiceDatabase,
    check_health,
    event_handler,
    rpc,
)
from kameng_common.validation import load_or_invalid
from risk import audit_log, schemas, usecases
from risk.db import metadata
from risk.dependencies import RiskThresholds


class RiskService:
    name = "risk"

    db = ServiceDatabase(metadata)
    thresholds = RiskThresholds()
    instrumentation = Instrumentation()
    reviews_waiting = BusinessGauge(
        "kameng_risk_reviews_waiting", "Orders waiting for a human review", [], usecases.count_waiting_reviews
    )

    @rpc
    def health(self):
        return check_health(self.name, self.db)

    @rpc
    def audit_snapshot(self):
        return usecases.audit_snapshot(self.db)

    @rpc
    def add_blacklist_entry(self, kind, value, reason, created_by=None):
        data = load_or_invalid(
            schemas.BlacklistEntry,
            {"kind": kind, "value": value, "reason": reason, "created_by": created_by},
        )
        return usecases.add_blacklist_entry(self.db, **data)

    @rpc
    def list_blacklist(self, kind=None, limit=50, cursor=None):
        data = load_or_invalid(schemas.BlacklistQuery, {"kind": kind, "limit": limit, "cursor": cursor})
        return usecases.list_blacklist(self.db, **data)

    @rpc
    def remove_blacklist_entry(self, entry_id, removed_by=None):
        data = load_or_invalid(schemas.BlacklistEntryRef, {"entry_id": entry_id, "removed_by": removed_by})
        return usecases.remove_blacklist_entry(self.db, **data)

    @rpc
    def record_audit(self, entry_id, at, actor, action, target, detail=None):
        data = load_or_invalid(
            schemas.AuditEntryInput,
            {
                "entry_id": entry_id,
                "at": at,
                "actor": actor,
                "action": action,
                "target": target,
                "detail": detail or {},
            },
        )
        return audit_log.append(self.db, **data)

    @rpc
    def list_audit_log(self, limit=50, cursor=None, action=None, actor=None):
        data = load_or_invalid(
            schemas.AuditQuery, {"limit": limit, "cursor": cursor, "action": action, "actor": actor}
        )
        return audit_log.list_entries(self.db, **data)

    @rpc
    def verify_audit_log(self):
        return audit_log.verify(self.db)

    @event_handler("inventory", "audit.recorded.inventory")
    def on_inventory_audit(self, uow, event):
        audit_log.on_audit_recorded(uow, event)

    @event_handler("orders", "audit.recorded.orders")
    def on_orders_audit(self, uow, event):
        audit_log.on_audit_recorded(uow, event)

    @event_handler("payments", "audit.recorded.payments")
    def on_payments_audit(self, uow, event):
        audit_log.on_audit_recorded(uow, event)

    @event_handler("customers", "audit.recorded.customers")
    def on_customers_audit(self, uow, event):
        audit_log.on_audit_recorded(uow, event)

    @event_handler("inventory", "stock.low")
    def on_stock_low(self, uow, event):
        audit_log.on_stock_low(uow, event)

    @rpc
    def assess_order(self, order):
        return usecases.assess_order(self.db, self.thresholds, order)

    @event_handler("orders", "order.reviewed")
    def on_order_reviewed(self, uow, event):
        usecases.on_order_reviewed(uow, event)

    @event_handler("orders", "order.cancelled")
    def on_order_cancelled(self, uow, event):
        usecases.on_order_cancelled(uow, event)

    @event_handler("orders", "order.expired")
    def on_order_expired(self, uow, event):
        usecases.on_order_expired(uow, event)

    @event_handler("orders", "order.refund_requested")
    def on_refund_requested(self, uow, event):
        usecases.on_refund_requested(uow, event)

    @event_handler("payments", "refund_request.opened")
    def on_refund_request_opened(self, uow, event):
        usecases.on_refund_requested(uow, event)

    @event_handler("payments", "payment.succeeded")
    def on_payment_succeeded(self, uow, event):
        usecases.on_payment_succeeded(uow, event)

    @event_handler("customers", "customer.signed_in")
    def on_customer_signed_in(self, uow, event):
        usecases.on_customer_signed_in(uow, event)

    @event_handler("customers", "customer.password_changed")
    def on_customer_password_changed(self, uow, event):
        usecases.on_customer_password_changed(uow, event)
