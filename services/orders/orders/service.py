"""The orders service's nameko entrypoints: each translates and calls a use case."""

from nameko.dependency_providers import Config
from nameko.timer import Timer

from kameng_common.extensions import (
    Instrumentation,
    RemoteService,
    ServiceDatabase,
    check_health,
    event_handler,
    rpc,
)
from kameng_common.metrics import callback_gauge
from orders import domain, usecases
from orders.db import metadata


class OrdersDatabase(ServiceDatabase):
    """The service's database, and the orders-by-status gauge read from it at scrape time."""

    def setup(self):
        super().setup()
        database = self.database
        callback_gauge(
            "kameng_orders_by_status",
            "Orders by status",
            ["status"],
            lambda: usecases.count_by_status(database),
        )


class ConfiguredTimer(Timer):
    """A timer whose interval (seconds) is a config value, read when the container starts."""

    def __init__(self, interval_setting, **kwargs):
        super().__init__(interval=None, **kwargs)
        self.interval_setting = interval_setting

    def setup(self):
        self.interval = float(self.container.config[self.interval_setting])


class OrdersService:
    name = "orders"

    db = OrdersDatabase(metadata)
    instrumentation = Instrumentation()
    config = Config()
    inventory = RemoteService("inventory")
    payments = RemoteService("payments")

    @rpc
    def health(self):
        return check_health(self.name, self.db)

    @rpc
    def create_order(self, customer_id, level, items, idempotency_key, coupon_code=None):
        return usecases.create_order(
            self.db, self.inventory.quote, customer_id, level, items, idempotency_key, coupon_code
        )

    @rpc
    def get_order(self, order_id, changed_from=None, wait=0):
        return usecases.get_order(self.db, order_id, changed_from, wait)

    @rpc
    def list_orders(self, customer_id=None, limit=50, cursor=None):
        return usecases.list_orders(self.db, customer_id, limit, cursor)

    @rpc
    def audit_snapshot(self):
        return usecases.audit_snapshot(self.db)

    @rpc
    def request_payment(self, order_id, customer_id, method):
        return usecases.request_payment(self.db, self.payments.create_intent, order_id, customer_id, method)

    @rpc
    def list_reviews(self, limit=50, cursor=None):
        return usecases.list_reviews(self.db, limit, cursor)

    @rpc
    def decide_review(self, order_id, decision, reason, decided_by):
        return usecases.decide_review(self.db, order_id, decision, reason, decided_by, self._deadlines())

    @event_handler("inventory", "stock.reserved")
    def on_stock_reserved(self, event):
        usecases.on_stock_reserved(self.db, event, self._deadlines())

    @event_handler("inventory", "stock.rejected")
    def on_stock_rejected(self, event):
        usecases.on_stock_rejected(self.db, event, self._deadlines())

    @event_handler("risk", "risk.assessed")
    def on_risk_assessed(self, event):
        usecases.on_risk_assessed(self.db, event, self._deadlines())

    @event_handler("payments", "payment.succeeded")
    def on_payment_succeeded(self, event):
        usecases.on_payment_succeeded(self.db, event)

    @event_handler("inventory", "cards.delivered")
    def on_cards_delivered(self, event):
        usecases.on_cards_delivered(self.db, event)

    @event_handler("inventory", "stock.sale_failed")
    def on_sale_failed(self, event):
        usecases.on_sale_failed(self.db, event)

    @event_handler("payments", "payment.refunded")
    def on_payment_refunded(self, event):
        usecases.on_payment_refunded(self.db, event)

    @ConfiguredTimer.decorator("STATUS_RECHECK_SECONDS")
    def recheck_waiting_orders(self):
        usecases.recheck_waiting_orders(self.db)

    @ConfiguredTimer.decorator("EXPIRY_INTERVAL_SECONDS")
    def expire_orders(self):
        usecases.expire_orders(self.db, self._deadlines())

    def _deadlines(self):
        return domain.Deadlines(
            payment_seconds=int(self.config["ORDER_TTL_SECONDS"]),
            review_seconds=int(self.config["REVIEW_TTL_SECONDS"]),
        )
