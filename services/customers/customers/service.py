from customers import schemas, usecases
from customers.db import metadata
from customers.dependencies import FirstAdmin, PasswordHashing
from kameng_common.errors import Unavailable
from kameng_common.extensions import (
    BusinessGauge,
    Instrumentation,
    ServiceDatabase,
    check_health,
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
    first_admin = FirstAdmin()

    @rpc
    def health(self):
        if not self.first_admin.ready():
            raise Unavailable("customers is still creating its first admin")
        return check_health(self.name, self.db)

    @rpc
    def audit_snapshot(self):
        return usecases.audit_snapshot(self.db)

    @rpc
    def register(self, username, password):
        data = load_or_invalid(schemas.NewAccount(), {"username": username, "password": password})
        return usecases.register(self.db, self.passwords, **data)

    @rpc
    def authenticate(self, username, password):
        data = load_or_invalid(schemas.Credentials(), {"username": username, "password": password})
        return usecases.authenticate(self.db, self.passwords, **data)

    @rpc
    def create_staff(self, username, password, role):
        data = load_or_invalid(schemas.NewStaff(), {"username": username, "password": password, "role": role})
        return usecases.create_staff(self.db, self.passwords, **data)

    @rpc
    def ensure_admin(self, username, password):
        data = load_or_invalid(schemas.NewAccount(), {"username": username, "password": password})
        return usecases.ensure_admin(self.db, self.passwords, **data)

    @rpc
    def get_customer(self, customer_id):
        data = load_or_invalid(schemas.CustomerRef(), {"customer_id": customer_id})
        return usecases.get_customer(self.db, data["customer_id"])

    @event_handler("orders", "order.delivered")
    def on_order_delivered(self, uow, event):
        usecases.on_order_delivered(uow, event)
