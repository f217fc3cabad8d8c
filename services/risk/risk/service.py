from kameng_common.extensions import Instrumentation, ServiceDatabase, check_health, event_handler, rpc
from risk import schemas, usecases
from risk.db import metadata
from risk.dependencies import ReviewQueueGauge, RiskThresholds


class RiskService:
    name = "risk"

    db = ServiceDatabase(metadata)
    thresholds = RiskThresholds()
    instrumentation = Instrumentation()
    review_queue_gauge = ReviewQueueGauge()

    @rpc
    def health(self):
        return check_health(self.name, self.db)

    @rpc
    def audit_snapshot(self):
        return usecases.audit_snapshot(self.db)

    @rpc
    def add_to_blacklist(self, customer_id, reason):
        data = schemas.load(schemas.BlacklistEntry(), {"customer_id": customer_id, "reason": reason})
        return usecases.add_to_blacklist(self.db, **data)

    @event_handler("orders", "order.created")
    def on_order_created(self, event):
        usecases.on_order_created(self.db, self.thresholds, event)

    @event_handler("orders", "order.reviewed")
    def on_order_reviewed(self, event):
        usecases.on_order_reviewed(self.db, event)

    @event_handler("orders", "order.cancelled")
    def on_order_cancelled(self, event):
        usecases.on_order_cancelled(self.db, event)
