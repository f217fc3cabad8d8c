from nameko.dependency_providers import Config

from customers import agents, coupons, credentials, levels, schemas, segments, shops, usecases
from customers.db import metadata
from customers.dependencies import FirstAdmin, PasswordHashing
from kameng_common.errors import Unavailable
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
from kameng_common.validation import load_or_invalid


class CustomersService:
    name = "customers"

    db = ServiceDatabase(metadata)
    passwords = PasswordHashing()
    instrumentation = Instrumentation()
    customers_by_level = BusinessGauge(
        "kameng_customers_by_level", "Customers by membership level", ["level"], usecases.customers_by_level
    )
    agents_count = BusinessGauge("kameng_agents", "Agents", [], agents.count_agents)
    agent_money = BusinessGauge(
        "kameng_agent_money",
        "Agents' money by state (pending, available, requested, withdrawn), minor units",
        ["state", "currency"],
        agents.money_by_state,
    )
    agent_earnings_by_kind = BusinessGauge(
        "kameng_agent_earnings",
        "What agents earned, less what refunds took back, by kind (commission, markup: a sale through "
        "their shop), minor units",
        ["kind", "currency"],
        agents.earnings_by_kind,
    )
    customers_by_tag = BusinessGauge(
        "kameng_customers_by_tag",
        "Customers by tag, computed or given by staff",
        ["tag"],
        segments.customers_by_tag,
    )
    coupon_uses = BusinessGauge(
        "kameng_coupon_uses",
        "Coupon uses by status (held, spent, released)",
        ["status"],
        coupons.uses_by_status,
    )
    shops_count = BusinessGauge("kameng_agent_shops", "Agents' shops", [], shops.count_shops)
    first_admin = FirstAdmin()
    config = Config()
    orders = RemoteService("orders")

    @rpc
    def health(self):
        if not self.first_admin.ready():
            raise Unavailable("customers is still creating its first admin")
        return check_health(self.name, self.db)

    @rpc
    def audit_snapshot(self):
        return usecases.audit_snapshot(self.db)

    @rpc
    def register(self, username, password, invite_code=None, region=None):
        data = load_or_invalid(
            schemas.Registration,
            {"username": username, "password": password, "invite_code": invite_code, "region": region},
        )
        return usecases.register(self.db, self.passwords, **data)

    @rpc
    def authenticate(self, username, password, client_ip=None):
        data = load_or_invalid(
            schemas.Credentials, {"username": username, "password": password, "client_ip": client_ip}
        )
        return usecases.authenticate(self.db, self.passwords, **data)

    @rpc
    def create_staff(self, username, password, role):
        data = load_or_invalid(schemas.NewStaff, {"username": username, "password": password, "role": role})
        return usecases.create_staff(self.db, self.passwords, **data)

    @rpc
    def ensure_admin(self, username, password):
        data = load_or_invalid(schemas.NewAccount, {"username": username, "password": password})
        return usecases.ensure_admin(self.db, self.passwords, **data)

    @rpc
    def get_profile(self, account_id):
        data = load_or_invalid(schemas.AccountRef, {"account_id": account_id})
        return credentials.profile(self.db, data["account_id"])

    @rpc
    def change_password(self, account_id, current_password, new_password):
        data = load_or_invalid(
            schemas.PasswordChange,
            {"account_id": account_id, "current_password": current_password, "new_password": new_password},
        )
        return credentials.change_password(self.db, self.passwords, **data)

    @rpc
    def list_staff(self, limit=50, cursor=None):
        data = load_or_invalid(schemas.StaffQuery, {"limit": limit, "cursor": cursor})
        return credentials.list_staff(self.db, **data)

    @rpc
    def set_staff_role(self, account_id, role, actor_id):
        data = load_or_invalid(
            schemas.RoleChange, {"account_id": account_id, "role": role, "actor_id": actor_id}
        )
        return credentials.set_role(self.db, **data)

    @rpc
    def set_account_disabled(self, account_id, disabled, actor_id):
        data = load_or_invalid(
            schemas.AccountDisabled, {"account_id": account_id, "disabled": disabled, "actor_id": actor_id}
        )
        return credentials.set_disabled(self.db, **data)

    @rpc
    def get_customer(self, customer_id):
        data = load_or_invalid(schemas.CustomerRef, {"customer_id": customer_id})
        return usecases.get_customer(self.db, data["customer_id"])

    @rpc
    def list_customers(self, tag=None, level=None, username=None, region=None, limit=50, cursor=None):
        data = load_or_invalid(
            schemas.CustomerQuery,
            {
                "tag": tag,
                "level": level,
                "username": username,
                "region": region,
                "limit": limit,
                "cursor": cursor,
            },
        )
        return segments.list_customers(self.db, **data)

    @rpc
    def customer_detail(self, customer_id):
        data = load_or_invalid(schemas.CustomerRef, {"customer_id": customer_id})
        return segments.customer_detail(self.db, data["customer_id"])

    @rpc
    def add_customer_tag(self, customer_id, tag, staff_id):
        data = load_or_invalid(
            schemas.NewCustomerTag, {"customer_id": customer_id, "tag": tag, "staff_id": staff_id}
        )
        return segments.add_tag(self.db, **data)

    @rpc
    def remove_customer_tag(self, customer_id, tag):
        data = load_or_invalid(schemas.CustomerTag, {"customer_id": customer_id, "tag": tag})
        return segments.remove_tag(self.db, **data)

    @rpc
    def customer_tags(self):
        return segments.tag_counts(self.db)

    @rpc
    def get_levels(self):
        return levels.get_levels(self.db)

    @rpc
    def set_levels(self, levels_):
        data = load_or_invalid(schemas.Levels, {"levels": levels_})
        return levels.set_levels(self.db, data["levels"])

    @rpc
    def make_agent(self, customer_id, parent_agent_id=None):
        data = load_or_invalid(
            schemas.NewAgent, {"customer_id": customer_id, "parent_agent_id": parent_agent_id}
        )
        return agents.make_agent(self.db, **data)

    @rpc
    def get_commission_plan(self):
        return agents.get_commission_plan(self.db)

    @rpc
    def set_commission_plan(self, rates_bp):
        data = load_or_invalid(schemas.CommissionPlan, {"rates_bp": rates_bp})
        return agents.set_commission_plan(self.db, data["rates_bp"])

    @rpc
    def agent_downline(self, customer_id, limit=50, cursor=None):
        data = load_or_invalid(
            schemas.DownlineQuery, {"customer_id": customer_id, "limit": limit, "cursor": cursor}
        )
        return agents.downline(self.db, **data)

    @rpc
    def agent_earnings(self, customer_id):
        data = load_or_invalid(schemas.CustomerRef, {"customer_id": customer_id})
        return agents.earnings(self.db, data["customer_id"])

    @rpc
    def request_withdrawal(self, customer_id, amount, account):
        data = load_or_invalid(
            schemas.NewWithdrawal, {"customer_id": customer_id, "amount": amount, "account": account}
        )
        return agents.request_withdrawal(self.db, **data)

    @rpc
    def list_withdrawals(self, status=None, limit=50, cursor=None):
        data = load_or_invalid(schemas.WithdrawalQuery, {"status": status, "limit": limit, "cursor": cursor})
        return agents.list_withdrawals(self.db, **data)

    @rpc
    def decide_withdrawal(self, withdrawal_id, decision, reason, staff_id):
        data = load_or_invalid(
            schemas.WithdrawalDecision,
            {"withdrawal_id": withdrawal_id, "decision": decision, "reason": reason, "staff_id": staff_id},
        )
        return agents.decide_withdrawal(self.db, **data)

    @rpc
    def create_coupon(self, coupon):
        data = load_or_invalid(schemas.NewCoupon, coupon)
        created_by = data.pop("created_by")
        return coupons.create_coupon(self.db, data, created_by)

    @rpc
    def get_coupon(self, coupon_id, tag=None):
        data = load_or_invalid(schemas.CouponReport, {"coupon_id": coupon_id, "tag": tag})
        return coupons.get_coupon(self.db, **data)

    @rpc
    def list_coupons(self, limit=50, cursor=None):
        data = load_or_invalid(schemas.CouponPage, {"limit": limit, "cursor": cursor})
        return coupons.list_coupons(self.db, **data)

    @rpc
    def issue_coupon(self, coupon_id, customer_ids=None, tag=None):
        data = load_or_invalid(
            schemas.CouponIssue, {"coupon_id": coupon_id, "customer_ids": customer_ids, "tag": tag}
        )
        return coupons.issue_coupon(self.db, **data)

    @rpc
    def my_coupons(self, customer_id):
        data = load_or_invalid(schemas.CustomerRef, {"customer_id": customer_id})
        return coupons.my_coupons(self.db, data["customer_id"])

    @rpc
    def hold_coupon(self, order_id, customer_id, code, lines, currency):
        data = load_or_invalid(
            schemas.CouponHold,
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "code": code,
                "lines": lines,
                "currency": currency,
            },
        )
        return coupons.hold_coupon(self.db, **data)

    @rpc
    def release_coupon(self, order_id):
        data = load_or_invalid(schemas.OrderRef, {"order_id": order_id})
        return coupons.release_coupon(self.db, data["order_id"])

    @configured_timer("COUPON_HOLD_SWEEP_INTERVAL")
    def release_orphaned_coupon_holds(self):
        coupons.release_orphaned_holds(
            self.db, self.orders.order_statuses, float(self.config["COUPON_HOLD_GRACE_SECONDS"])
        )

    @event_handler("orders", "order.paid")
    def on_order_paid(self, uow, event):
        coupons.on_order_paid(uow, event)

    @event_handler("orders", "order.cancelled")
    def on_order_cancelled(self, uow, event):
        coupons.on_order_closed(uow, event)

    @event_handler("orders", "order.expired")
    def on_order_expired(self, uow, event):
        coupons.on_order_closed(uow, event)

    @rpc
    def get_shop(self, customer_id):
        data = load_or_invalid(schemas.CustomerRef, {"customer_id": customer_id})
        return shops.get_shop(self.db, data["customer_id"])

    @rpc
    def set_shop(self, customer_id, slug, name, markup_bp):
        data = load_or_invalid(
            schemas.ShopSettings,
            {"customer_id": customer_id, "slug": slug, "name": name, "markup_bp": markup_bp},
        )
        return shops.set_shop(self.db, **data)

    @rpc
    def shop_by_slug(self, slug):
        data = load_or_invalid(schemas.ShopRef, {"slug": slug})
        return shops.shop_by_slug(self.db, data["slug"])

    @rpc
    def shop_for_order(self, slug):
        data = load_or_invalid(schemas.ShopRef, {"slug": slug})
        return shops.shop_for_order(self.db, data["slug"])

    @event_handler("orders", "order.delivered")
    def on_order_delivered(self, uow, event):
        usecases.on_order_delivered(uow, event, int(self.config["COMMISSION_HOLD_SECONDS"]))

    @event_handler("payments", "payment.refunded")
    def on_payment_refunded(self, uow, event):
        usecases.on_payment_refunded(uow, event)

    @configured_timer("COMMISSION_SETTLE_INTERVAL")
    def settle_commissions(self):
        agents.settle_matured(self.db)
