"""The orders service's nameko entrypoints: each translates and calls a use case."""

from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider

from kameng_common.extensions import (
    BusinessGauge,
    Instrumentation,
    RemoteService,
    ServiceDatabase,
    check_health,
    configured_timer,
    event_handler,
    rpc,
)
from kameng_common.sealing import Sealer
from orders import aftersales, channel, domain, usecases
from orders.db import metadata


class ApiKeySealer(DependencyProvider):
    """Seals and opens API key secrets; a malformed key ring stops the service at start."""

    def setup(self):
        self.sealer = Sealer.from_env("api-key")

    def get_dependency(self, worker_ctx):
        return self.sealer


class OrdersService:
    name = "orders"

    db = ServiceDatabase(metadata)
    orders_by_status = BusinessGauge(
        "kameng_orders_by_status", "Orders by status", ["status"], usecases.count_by_status
    )
    channel_callbacks = BusinessGauge(
        "kameng_channel_callbacks",
        "Channel delivery callbacks, waiting to be answered 2xx and delivered",
        ["state"],
        channel.callback_backlog,
    )
    instrumentation = Instrumentation()
    config = Config()
    inventory = RemoteService("inventory")
    payments = RemoteService("payments")
    customers = RemoteService("customers")
    risk = RemoteService("risk")
    api_key_sealer = ApiKeySealer()

    @rpc
    def health(self):
        return check_health(self.name, self.db)

    @rpc
    def create_order(
        self,
        customer_id,
        items,
        idempotency_key,
        coupon_code=None,
        client_ip=None,
        device_id=None,
        payment_method=None,
        shop=None,
    ):
        return usecases.create_order(
            self.db,
            self._placing(),
            self._deadlines(),
            customer_id,
            items,
            idempotency_key,
            coupon_code,
            client_ip=client_ip,
            device_id=device_id,
            hold_coupon=self.customers.hold_coupon,
            payment_method=payment_method,
            create_intent=self.payments.create_intent,
            shop=shop,
            find_shop=self.customers.shop_for_order,
        )

    @rpc
    def get_order(self, order_id, changed_from=None, wait=0, for_customer=None):
        return usecases.get_order(self.db, order_id, changed_from, wait, for_customer)

    @rpc
    def order_statuses(self, order_ids):
        return usecases.order_statuses(self.db, order_ids)

    @rpc
    def list_orders(self, customer_id=None, limit=50, cursor=None):
        return usecases.list_orders(self.db, customer_id, limit, cursor)

    @rpc
    def order_counts(self):
        return usecases.order_counts(self.db)

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

    @rpc
    def create_api_key(self, customer_id, name, scopes):
        return channel.create_api_key(self.db, self.api_key_sealer, customer_id, name, scopes)

    @rpc
    def revoke_api_key(self, key_id):
        return channel.revoke_api_key(self.db, key_id)

    @rpc
    def verify_channel_request(self, key_id, message, signature):
        return channel.verify_request(self.db, self.api_key_sealer, key_id, message, signature)

    @rpc
    def create_channel_order(self, key_id, customer_id, items, client_order_id, callback_url=None):
        return channel.create_channel_order(
            self.db,
            self._placing(),
            self._deadlines(),
            self.payments.create_intent,
            key_id,
            customer_id,
            items,
            client_order_id,
            callback_url,
        )

    @rpc
    def get_channel_order(self, order_id, customer_id):
        return channel.get_channel_order(self.db, order_id, customer_id)

    @event_handler("customers", "customer.level_changed")
    def on_customer_level_changed(self, uow, event):
        usecases.on_customer_level_changed(uow, event)

    @event_handler("payments", "payment.succeeded")
    def on_payment_succeeded(self, uow, event):
        usecases.on_payment_succeeded(uow, event)

    @event_handler("inventory", "cards.delivered")
    def on_cards_delivered(self, uow, event):
        usecases.on_cards_delivered(uow, event)

    @event_handler("inventory", "stock.sale_failed")
    def on_sale_failed(self, uow, event):
        usecases.on_sale_failed(uow, event)

    @event_handler("payments", "payment.refunded")
    def on_payment_refunded(self, uow, event):
        usecases.on_payment_refunded(uow, event)

    @event_handler("payments", "refund_request.opened")
    def on_refund_request_opened(self, uow, event):
        aftersales.on_refund_request_opened(uow, event)

    @event_handler("payments", "refund_request.decided")
    def on_refund_request_decided(self, uow, event):
        aftersales.on_refund_request_decided(uow, event)

    @event_handler("payments", "refund.issued")
    def on_refund_issued(self, uow, event):
        aftersales.on_refund_issued(uow, event)

    @event_handler("payments", "refund.failed")
    def on_refund_failed(self, uow, event):
        aftersales.on_refund_failed(uow, event)

    @event_handler("inventory", "cards.refunded")
    def on_cards_refunded(self, uow, event):
        aftersales.on_cards_refunded(uow, event)

    @configured_timer("STATUS_RECHECK_SECONDS")
    def recheck_waiting_orders(self):
        usecases.recheck_waiting_orders(self.db)

    @configured_timer("EXPIRY_INTERVAL_SECONDS")
    def complete_pending_orders(self):
        usecases.complete_pending_orders(self.db, self._ask, self._deadlines())

    @configured_timer("EXPIRY_INTERVAL_SECONDS")
    def expire_orders(self):
        usecases.expire_orders(self.db, self._deadlines())

    @configured_timer("CALLBACK_INTERVAL_SECONDS")
    def send_channel_callbacks(self):
        channel.send_due_callbacks(self.db, self.api_key_sealer)

    def _placing(self):
        return usecases.Placing(
            reserve=self.inventory.reserve,
            give_back=self.inventory.give_back_reservation,
            assess=self.risk.assess_order,
            ask=self._ask,
        )

    def _ask(self, reservation, assessment):
        """inventory's reservation and risk's verdict on a pending order, asked at once (the lines come
        priced as stored: inventory reserved them already, or, for an order an older orders stored, learns
        them)."""
        reserving = self.inventory.reserve.call_async(
            reservation["order_id"], reservation["customer_id"], reservation["items"]
        )
        assessing = self.risk.assess_order.call_async(assessment)
        return reserving.result(), assessing.result()

    def _deadlines(self):
        return domain.Deadlines(
            payment_seconds=int(self.config["ORDER_TTL_SECONDS"]),
            review_seconds=int(self.config["REVIEW_TTL_SECONDS"]),
            coupon_hold_seconds=float(self.config["COUPON_HOLD_GRACE_SECONDS"]),
            reservation_seconds=float(self.config["RESERVATION_GRACE_SECONDS"]),
        )
