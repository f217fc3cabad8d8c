"""Inventory's nameko entrypoints: each translates and calls a use case."""

from nameko.dependency_providers import Config

from inventory import catalogue, fulfilment, refunds, restock, suppliers, usecases
from inventory.db import metadata
from inventory.dependencies import CardKeys, SupplierSecrets
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


class InventoryService:
    name = "inventory"

    @staticmethod
    def check_settings():
        refunds.card_policy()
        fulfilment.late_collect_seconds()

    db = ServiceDatabase(metadata)
    cards_in_stock = BusinessGauge(
        "kameng_cards_in_stock", "Available cards per product", ["product_id"], usecases.stock_levels
    )
    stock_low = BusinessGauge(
        "kameng_stock_low",
        "1 for each product under its low-stock threshold",
        ["product_id"],
        restock.low_products,
    )
    keyring = CardKeys()
    config = Config()
    supplier_secrets = SupplierSecrets()
    instrumentation = Instrumentation()
    orders = RemoteService("orders")

    @rpc
    def health(self):
        return check_health(self.name, self.db)

    @rpc
    def create_category(self, name, parent_id=None):
        return usecases.create_category(self.db, name, parent_id)

    @rpc
    def create_supplier(self, name, base_url, key_id, secret, deadline_seconds=None):
        return suppliers.create_supplier(
            self.db, self.supplier_secrets, name, base_url, key_id, secret, deadline_seconds
        )

    @rpc
    def list_suppliers(self):
        return suppliers.list_suppliers(self.db)

    @rpc
    def sync_supplier(self, supplier_id):
        return suppliers.sync_supplier(self.db, self.supplier_secrets, supplier_id)

    @configured_timer("SUPPLIER_SYNC_SECONDS")
    def sync_suppliers(self):
        suppliers.sync_all(self.db, self.supplier_secrets)

    @rpc
    def order_fulfilments(self, order_id):
        return fulfilment.order_fulfilments(self.db, order_id)

    @rpc
    def supplier_callback(self, supplier_id, key_id, message, signature, supplier_order_id):
        return fulfilment.accept_callback(
            self.db, self.supplier_secrets, supplier_id, key_id, message, signature, supplier_order_id
        )

    @configured_timer("FULFILMENT_INTERVAL_SECONDS")
    def advance_fulfilments(self):
        fulfilment.advance_fulfilments(
            self.db, self.supplier_secrets, self.keyring, self.config.get("SUPPLIER_CALLBACK_URL") or None
        )

    @configured_timer("STOCK_ALERT_SWEEP_SECONDS", eager=True)
    def sweep_stock_alerts(self):
        restock.sweep(self.db)

    @rpc
    def list_categories(self, limit=1000, cursor=None):
        return catalogue.list_categories(self.db, limit, cursor)

    @rpc
    def update_category(self, category_id, changes):
        return catalogue.update_category(self.db, category_id, changes)

    @rpc
    def create_product(
        self,
        name,
        category_id,
        kind,
        price,
        currency="CNY",
        level_prices=None,
        supplier_id=None,
        supplier_sku=None,
        stock_limit=None,
        actor=None,
    ):
        return usecases.create_product(
            self.db,
            name,
            category_id,
            kind,
            price,
            currency,
            level_prices,
            supplier_id,
            supplier_sku,
            stock_limit,
            actor,
        )

    @rpc
    def list_products(self, level="regular", limit=50, cursor=None, include_off_sale=False, markup_bp=0):
        return usecases.list_products(self.db, level, limit, cursor, include_off_sale, markup_bp)

    @rpc
    def get_product(self, product_id, level="regular"):
        return usecases.get_product(self.db, product_id, level)

    @rpc
    def get_product_for_staff(self, product_id):
        return catalogue.get_product_for_staff(self.db, product_id)

    @rpc
    def update_product(self, product_id, changes, actor=None):
        return catalogue.update_product(self.db, product_id, changes, actor)

    @rpc
    def price_history(self, product_id, limit=50, cursor=None):
        return catalogue.price_history_of(self.db, product_id, limit, cursor)

    @rpc
    def list_cards(self, product_id, state=None, limit=50, cursor=None):
        return catalogue.list_cards(self.db, product_id, state, limit, cursor)

    @rpc
    def void_card(self, card_id):
        return catalogue.void_card(self.db, card_id)

    @rpc
    def quote(self, items, level="regular"):
        return usecases.quote(self.db, items, level)

    @rpc
    def import_cards(self, product_id, cards):
        return usecases.import_cards(self.db, self.keyring, product_id, cards)

    @rpc
    def reveal_cards(self, order_id, customer_id):
        return usecases.reveal_cards(self.db, self.keyring, order_id, customer_id)

    @rpc
    def stock_levels(self):
        return usecases.stock_levels(self.db)

    @rpc
    def restock_list(self, limit=50, cursor=None):
        return restock.restock_list(self.db, limit, cursor)

    @rpc
    def audit_snapshot(self):
        return usecases.audit_snapshot(self.db)

    @rpc
    def reserve(self, order_id, customer_id, items, level=None, markup_bp=0):
        return usecases.reserve(self.db, order_id, customer_id, items, level, markup_bp)

    @rpc
    def give_back_reservation(self, order_id):
        return usecases.give_back_reservation(self.db, order_id)

    @configured_timer("RESERVATION_SWEEP_SECONDS")
    def release_orphaned_reservations(self):
        usecases.release_orphaned_reservations(
            self.db, self.orders.order_statuses, float(self.config["RESERVATION_GRACE_SECONDS"])
        )

    @event_handler("orders", "order.cancelled")
    def on_order_cancelled(self, uow, event):
        usecases.on_order_cancelled(uow, event)

    @event_handler("orders", "order.expired")
    def on_order_expired(self, uow, event):
        usecases.on_order_expired(uow, event)

    @event_handler("orders", "order.paid")
    def on_order_paid(self, uow, event):
        usecases.on_order_paid(uow, event)

    @event_handler("payments", "payment.refunded")
    def on_payment_refunded(self, uow, event):
        usecases.on_payment_refunded(uow, event)
