"""The RPC entrypoints, through a running container: in-process hooks and over the broker."""

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook
from prometheus_client import REGISTRY

from inventory.crypto import generate_keys_line
from inventory.service import InventoryService
from kameng_common.errors import Forbidden, InvalidInput, NotFound
from kameng_common.migrations import upgrade


@pytest.fixture
def config(amqp_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("KAMENG_CARD_KEYS", generate_keys_line("k1"))
    url = f"sqlite:///{tmp_path / 'inventory.db'}"
    upgrade("inventory", url)
    return {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": url,
        "max_workers": 4,
        "SUPPLIER_SYNC_SECONDS": 3600,
        "FULFILMENT_INTERVAL_SECONDS": 3600,
        "FULFILMENT_DEADLINE_SECONDS": 600,
        "STOCK_ALERT_SWEEP_SECONDS": 3600,
        "RESERVATION_GRACE_SECONDS": 600,
        "RESERVATION_SWEEP_SECONDS": 3600,
    }


@pytest.fixture
def container(config, container_factory):
    # after config: the container stops before its vhost and database go
    container = container_factory(InventoryService, config)
    container.start()
    return container


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as hook:
        return hook(*args, **kwargs)


def test_health_reports_the_database(container):
    assert call(container, "health") == {"service": "inventory", "database": "ok"}


def test_the_catalogue_and_its_stock_through_the_entrypoints(container):
    category = call(container, "create_category", "Game cards")
    product = call(
        container, "create_product", "Steam 100", category["id"], "card", 10000, level_prices={"vip": 9500}
    )
    direct = call(container, "create_product", "Mobile 50", category["id"], "direct", 5000)
    imported = call(
        container,
        "import_cards",
        product["id"],
        [
            {"number": "N1", "secret": "S1"},
            {"number": "N2", "secret": "S2"},
            {"number": "N1", "secret": "S1"},
            {"number": "N3"},
        ],
    )
    assert imported == {
        "imported": 2,
        "duplicates": 1,
        "rejected": 1,
        "duplicate_positions": [2],
        "rejected_positions": [3],
    }

    listed = call(container, "list_products", level="vip", limit=1)
    assert listed["items"] == [
        {
            "id": product["id"],
            "name": "Steam 100",
            "category_id": category["id"],
            "kind": "card",
            "price": 9500,
            "currency": "CNY",
            "status": "on_sale",
            "stock": 2,
        }
    ]
    listed = call(container, "list_products", level="vip", cursor=listed["next_cursor"])
    assert [item["id"] for item in listed["items"]] == [direct["id"]]

    quote = call(container, "quote", [{"product_id": product["id"], "quantity": 2}], "vip")
    assert (quote["total"], quote["currency"]) == (19000, "CNY")
    assert call(container, "stock_levels") == {str(product["id"]): 2}
    assert REGISTRY.get_sample_value("kameng_cards_in_stock", {"product_id": str(product["id"])}) == 2


def test_staff_manage_the_catalogue_through_the_entrypoints(container):
    games = call(container, "create_category", "Games")
    steam = call(container, "create_category", "Steam", parent_id=games["id"])
    assert call(container, "update_category", steam["id"], {"name": "Steam wallet", "parent_id": None}) == {
        "id": steam["id"],
        "name": "Steam wallet",
        "parent_id": None,
    }
    assert call(container, "list_categories")["items"][1]["name"] == "Steam wallet"
    product = call(container, "create_product", "Shared", games["id"], "loop", 500, stock_limit=3, actor="s1")
    call(container, "import_cards", product["id"], [{"number": "LOGIN", "secret": "PASSWORD"}])
    changed = call(
        container, "update_product", product["id"], {"price": 450, "status": "off_sale"}, actor="s2"
    )
    assert (changed["price"], changed["status"], changed["stock"]) == (450, "off_sale", 3)
    with pytest.raises(NotFound):
        call(container, "get_product", product["id"])
    assert call(container, "get_product_for_staff", product["id"])["stock_limit"] == 3
    history = call(container, "price_history", product["id"])["items"]
    assert [(entry["price"], entry["changed_by"]) for entry in history] == [(450, "s2"), (500, "s1")]
    [card] = call(container, "list_cards", product["id"], state="available")["items"]
    assert call(container, "void_card", card["id"])["state"] == "void"


def test_caller_errors_are_raised_as_kameng_errors(container):
    with pytest.raises(InvalidInput, match="kind"):
        call(container, "create_product", "X", 1, "gift", 100)
    with pytest.raises(NotFound):
        call(container, "quote", [{"product_id": 42, "quantity": 1}], "regular")
    with pytest.raises(NotFound):
        call(container, "reveal_cards", "o-unknown", "c1")


def test_errors_cross_the_broker_as_expected_errors(container, config, caplog):
    with ServiceRpcProxy("inventory", config) as inventory:
        # kameng_common.errors registers its classes with nameko: they arrive as themselves
        with pytest.raises(InvalidInput) as raised:
            inventory.create_category("")
        assert "name" in raised.value.message
        assert inventory.create_category("Cards")["name"] == "Cards"
        with pytest.raises(NotFound):
            inventory.reveal_cards("o-unknown", "c1")
    # the caller's mistakes are not logged as crashes of the service
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def test_only_the_buyer_reads_the_cards(container, config, make_event):
    category = call(container, "create_category", "Cards")
    product = call(container, "create_product", "P", category["id"], "card", 100)
    call(container, "import_cards", product["id"], [{"number": "N1", "secret": "S1"}])
    paid = make_event(
        "order.paid",
        {
            "order_id": "o1",
            "customer_id": "alice",
            "payment_id": "p1",
            "amount": 100,
            "currency": "CNY",
            "items": [{"product_id": product["id"], "quantity": 1, "unit_price": 100}],
        },
    )
    call(container, "on_order_paid", paid)
    with pytest.raises(Forbidden):
        call(container, "reveal_cards", "o1", "mallory")
    assert call(container, "reveal_cards", "o1", "alice") == [{"number": "N1", "secret": "S1"}]
