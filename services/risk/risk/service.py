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
    def add_to_blacklist(self, customer_id, reason):
        data = load_or_invalid(schemas.BlacklistEntry(), {"customer_id": customer_id, "reason": reason})
        return usecases.add_to_blacklist(self.db, **data)

    @rpc
    def record_audit(self, entry_id, at, actor, action, target, detail=None):
        data = load_or_invalid(
            schemas.AuditEntryInput(),
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
            schemas.AuditQuery(), {"limit": limit, "cursor": cursor, "action": action, "actor": actor}
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

    @event_handler("orders", "order.created")
    def on_order_created(self, uow, event):
        usecases.on_order_created(uow, event, self.thresholds)

    @event_handler("orders", "order.reviewed")
    def on_order_reviewed(self, uow, event):
        usecases.on_order_reviewed(uow, event)

    @event_handler("orders", "order.cancelled")
    def on_order_cancelled(self, uow, event):
        usecases.on_order_cancelled(uow, event)
