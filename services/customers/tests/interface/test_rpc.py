import datetime

import nameko.exceptions
import pytest
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, replace_dependencies, worker_factory

from customers.service import CustomersService
from kameng_common.errors import Conflict, InvalidInput, NotFound, Unauthorized

PASSWORD = "s3cret-pass-phrase"


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as entrypoint:
        return entrypoint(*args, **kwargs)


def test_health(container):
    assert call(container, "health") == {"service": "customers", "database": "ok"}


def test_register_authenticate_and_read_a_customer(container):
    customer = call(container, "register", "Alice", PASSWORD)

    assert customer == {"id": customer["id"], "username": "Alice", "kind": "customer", "level": "regular"}
    assert call(container, "authenticate", "alice", PASSWORD) == {
        "id": customer["id"],
        "username": "Alice",
        "kind": "customer",
        "role": None,
        "level": "regular",
        "token_version": 0,
    }
    assert call(container, "get_customer", customer["id"]) == {
        "id": customer["id"],
        "username": "Alice",
        "level": "regular",
        "orders_count": 0,
        "total_spent": 0,
    }


def test_staff_and_the_first_admin(container):
    assert call(container, "ensure_admin", "root", PASSWORD) == {"created": True}
    assert call(container, "ensure_admin", "root", PASSWORD) == {"created": False}
    staff = call(container, "create_staff", "Aud", PASSWORD, "auditor")

    assert staff == {"id": staff["id"], "username": "Aud", "kind": "staff", "role": "auditor"}
    assert call(container, "authenticate", "ROOT", PASSWORD)["role"] == "admin"


@pytest.mark.parametrize(
    "method, args, field",
    [
        ("register", ("ab", PASSWORD), "username"),
        ("register", ("alice", "short"), "password"),
        ("register", ("alice", None), "password"),
        ("register", ("has space", PASSWORD), "username"),
        ("create_staff", ("carol", PASSWORD, "superuser"), "role"),
        ("ensure_admin", ("root", "short"), "password"),
        ("authenticate", ("alice", 12345678), "password"),
        ("get_customer", (42,), "customer_id"),
    ],
)
def test_bad_input_is_refused_naming_the_field(container, method, args, field):
    with pytest.raises(InvalidInput) as refused:
        call(container, method, *args)
    assert field in refused.value.message
    assert "short" not in refused.value.message  # a value, possibly a password, is never echoed


def test_refusals_travel_with_their_code(container):
    call(container, "register", "alice", PASSWORD)

    with pytest.raises(Conflict) as taken:
        call(container, "register", "ALICE", PASSWORD)
    assert taken.value.code == "username_taken"
    with pytest.raises(Unauthorized) as refused:
        call(container, "authenticate", "alice", "not-the-password")
    assert refused.value.code == "invalid_credentials"
    with pytest.raises(NotFound):
        call(container, "get_customer", "00000000-0000-4000-8000-000000000000")


def test_an_error_over_the_wire_keeps_its_class_and_code_but_no_password(
    container, rabbit_config, monkeypatch
):
    # as the gateway does: map a remote exc_path back to the local class, rebuilt from exc_args
    for error in (Conflict, Unauthorized):
        monkeypatch.setitem(nameko.exceptions.registry, f"{error.__module__}.{error.__name__}", error)

    with ServiceRpcProxy("customers", rabbit_config) as customers:
        customers.register("alice", PASSWORD)
        with pytest.raises(Conflict) as taken:
            customers.register("Alice", PASSWORD)
        with pytest.raises(Unauthorized) as refused:
            customers.authenticate("alice", "wrong-" + PASSWORD)

    assert taken.value.code == "username_taken"
    assert refused.value.code == "invalid_credentials"
    assert PASSWORD not in repr(taken.value.args) + repr(refused.value.args)


def test_bad_input_never_reaches_the_use_cases():
    service = worker_factory(CustomersService)

    with pytest.raises(InvalidInput):
        service.register("alice", "short")
    assert not service.passwords.hash.called
    assert not service.db.unit_of_work.called


def test_the_configured_first_admin_is_created_at_start_up_once(container_factory, config):
    configured = {**config, "ADMIN_USERNAME": "boss", "ADMIN_PASSWORD": PASSWORD}
    first = container_factory(CustomersService, configured)
    first.start()
    assert call(first, "authenticate", "boss", PASSWORD)["role"] == "admin"
    first.stop()

    again = container_factory(CustomersService, {**configured, "ADMIN_PASSWORD": "another-password"})
    again.start()
    with pytest.raises(Unauthorized):
        call(again, "authenticate", "boss", "another-password")


def test_no_admin_without_a_configured_password(container):
    with pytest.raises(Unauthorized):
        call(container, "authenticate", "admin", PASSWORD)


def test_an_agent_sets_up_a_shop_and_anyone_finds_it(container):
    customer = call(container, "register", "shopkeeper", PASSWORD)
    agent = call(container, "make_agent", customer["id"])
    with pytest.raises(NotFound):
        call(container, "get_shop", customer["id"])

    shop = call(container, "set_shop", customer["id"], "night-market", "Night market", 1250)

    assert (shop["slug"], shop["markup_bp"], shop["invite_code"]) == (
        "night-market",
        1250,
        agent["invite_code"],
    )
    assert call(container, "get_shop", customer["id"]) == shop
    assert call(container, "shop_by_slug", "night-market") == shop


def test_staff_read_and_tag_customers(container):
    customer = call(container, "register", "tagged", PASSWORD)

    detail = call(container, "add_customer_tag", customer["id"], "reseller", "staff-1")

    assert detail["tags"] == ["new", "reseller"]
    assert call(container, "list_customers", tag="reseller")["items"][0]["id"] == customer["id"]
    assert call(container, "customer_detail", customer["id"])["staff_tags"][0]["added_by"] == "staff-1"
    assert call(container, "remove_customer_tag", customer["id"], "reseller")["tags"] == ["new"]
    assert {"tag": "new", "customers": 1} in [
        {"tag": item["tag"], "customers": item["customers"]}
        for item in call(container, "customer_tags")["items"]
    ]


def test_the_sweep_asks_orders_and_gives_back_a_hold_whose_order_was_never_stored(container_factory, config):
    container = container_factory(CustomersService, config)
    orders = replace_dependencies(container, "orders")
    orders.order_statuses.return_value = {"orders": {}}
    container.start()
    now = datetime.datetime.now(datetime.UTC)
    coupon = call(
        container,
        "create_coupon",
        {
            "code": "SWEPT",
            "kind": "amount_off",
            "value": 100,
            "starts_at": (now - datetime.timedelta(days=1)).isoformat(),
            "ends_at": (now + datetime.timedelta(days=1)).isoformat(),
            "created_by": "ops-1",
        },
    )
    lines = [{"product_id": 1, "category_id": 1, "quantity": 1, "unit_price": 1_000}]
    call(container, "hold_coupon", "never-stored", "buyer-1", "SWEPT", lines, "CNY")

    call(container, "release_orphaned_coupon_holds")

    orders.order_statuses.assert_called_once_with(["never-stored"])
    assert call(container, "get_coupon", coupon["id"])["used"] == 0


def test_every_public_method_of_the_service_is_an_entrypoint():
    # a method that lost its decorator answers the gateway MethodNotFound, a 500
    public = [
        name
        for name, member in vars(CustomersService).items()
        if callable(member) and not name.startswith("_")
    ]

    assert [
        name
        for name in public
        if not getattr(getattr(CustomersService, name), ENTRYPOINT_EXTENSIONS_ATTR, None)
    ] == []
