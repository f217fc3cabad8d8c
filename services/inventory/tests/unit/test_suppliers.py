"""Suppliers: their secrets sealed, their catalogue synced, direct products' stock and cost from it."""

import pytest
import sqlalchemy as sa

from inventory import suppliers, usecases
from inventory.db import products
from inventory.db import suppliers as suppliers_table
from inventory.upstream import SupplierUnreachable, UpstreamProduct
from kameng_common.errors import Conflict, InvalidInput, NotFound, Unavailable
from kameng_common.sealing import Sealer, generate_keys_line, parse_keys

SECRET = "upstream-secret-0123456789"


@pytest.fixture
def sealer():
    return Sealer(parse_keys(generate_keys_line("k1")), "supplier")


class FakeUpstream:
    """What a supplier's channel API lists; ``down`` makes it unreachable."""

    def __init__(self, *listed, down=False):
        self.listed = list(listed)
        self.down = down
        self.opened_with = []

    def connect(self, sealer, row):
        self.opened_with.append(suppliers.upstream_for(sealer, row).client.secret)
        return self

    def products(self):
        if self.down:
            raise SupplierUnreachable("GET /api/channel/v1/products: no answer (ConnectionError)")
        return self.listed


def listed(sku, cost_price=4850, stock=None, name=None):
    return UpstreamProduct(sku, name or f"Top-up {sku}", "direct", cost_price, "CNY", stock)


def add_supplier(db, sealer, name="Upstream"):
    return suppliers.create_supplier(db, sealer, name, "http://127.0.0.1:8100/", "key-1", SECRET)


def direct_product(shop, supplier_id, sku, price=5000):
    return shop.product(kind="direct", price=price, supplier_id=supplier_id, supplier_sku=sku)


def stock_of(db, product_id):
    [item] = [item for item in usecases.list_products(db, limit=200)["items"] if item["id"] == product_id]
    return item["stock"]


def test_a_supplier_is_answered_without_its_secret_which_is_stored_sealed(db, sealer):
    supplier = add_supplier(db, sealer)
    assert supplier["base_url"] == "http://127.0.0.1:8100"
    assert "secret" not in supplier and SECRET not in str(supplier)
    with db.reading() as session:
        row = session.execute(sa.select(suppliers_table)).one()
    assert SECRET.encode() not in bytes(row.sealed_secret)
    assert suppliers.upstream_for(sealer, row).client.secret == SECRET


def test_the_same_supplier_again_is_the_same_and_a_different_one_by_that_name_a_conflict(db, sealer):
    first = add_supplier(db, sealer)
    assert add_supplier(db, sealer) == first
    with pytest.raises(Conflict):
        suppliers.create_supplier(db, sealer, "Upstream", "http://elsewhere.test", "key-1", SECRET)


@pytest.mark.parametrize(
    "field, value",
    [
        ("base_url", "ftp://x.test"),
        ("base_url", "not a url"),
        ("secret", "short"),
        ("name", " "),
        ("key_id", ""),
    ],
)
def test_bad_supplier_input_is_refused(db, sealer, field, value):
    arguments = {"name": "U", "base_url": "http://u.test", "key_id": "k", "secret": SECRET, field: value}
    with pytest.raises(InvalidInput):
        suppliers.create_supplier(db, sealer, **arguments)


def test_a_sync_brings_cost_prices_and_stock_to_the_products_made_from_them(shop, sealer):
    supplier = add_supplier(shop.db, sealer)
    unlimited = direct_product(shop, supplier["id"], "1")
    sold_out = direct_product(shop, supplier["id"], "3")
    upstream = FakeUpstream(listed("1", 4850, None), listed("3", 2900, 0))
    result = suppliers.sync_supplier(shop.db, sealer, supplier["id"], upstream.connect)
    assert result["products"] == 2 and upstream.opened_with == [SECRET]
    assert stock_of(shop.db, unlimited) is None
    assert stock_of(shop.db, sold_out) == 0
    with shop.db.reading() as session:
        costs = dict(session.execute(sa.select(products.c.id, products.c.cost_price)).all())
    assert (costs[unlimited], costs[sold_out]) == (4850, 2900)
    assert suppliers.list_suppliers(shop.db)["items"][0]["synced_at"] is not None


def test_a_product_the_supplier_no_longer_lists_shows_stock_0(shop, sealer):
    supplier = add_supplier(shop.db, sealer)
    product = direct_product(shop, supplier["id"], "1")
    suppliers.sync_supplier(shop.db, sealer, supplier["id"], FakeUpstream(listed("1", stock=7)).connect)
    assert stock_of(shop.db, product) == 7
    suppliers.sync_supplier(shop.db, sealer, supplier["id"], FakeUpstream().connect)
    assert stock_of(shop.db, product) == 0


def test_a_direct_product_never_synced_shows_stock_0_and_one_without_supplier_null(shop, sealer):
    supplier = add_supplier(shop.db, sealer)
    assert stock_of(shop.db, direct_product(shop, supplier["id"], "1")) == 0
    assert stock_of(shop.db, shop.product(kind="direct")) is None


def test_an_unreachable_supplier_changes_nothing_but_its_sync_error(shop, sealer):
    supplier = add_supplier(shop.db, sealer)
    product = direct_product(shop, supplier["id"], "1")
    suppliers.sync_supplier(shop.db, sealer, supplier["id"], FakeUpstream(listed("1", stock=5)).connect)
    with pytest.raises(Unavailable) as refused:
        suppliers.sync_supplier(shop.db, sealer, supplier["id"], FakeUpstream(down=True).connect)
    assert refused.value.code == "supplier_unavailable"
    assert stock_of(shop.db, product) == 5
    assert "no answer" in suppliers.list_suppliers(shop.db)["items"][0]["sync_error"]


def test_the_periodic_sync_goes_on_past_a_failing_supplier(shop, sealer):
    first = add_supplier(shop.db, sealer, "First")
    second = add_supplier(shop.db, sealer, "Second")
    answers = {first["id"]: FakeUpstream(down=True), second["id"]: FakeUpstream(listed("1"))}
    outcomes = suppliers.sync_all(shop.db, sealer, lambda sealer, row: answers[row.id])
    assert outcomes == {first["id"]: "supplier_unavailable", second["id"]: "ok"}


def test_an_unknown_supplier_is_not_found(db, sealer):
    with pytest.raises(NotFound) as refused:
        suppliers.sync_supplier(db, sealer, 99, FakeUpstream().connect)
    assert refused.value.code == "supplier_not_found"


@pytest.mark.parametrize(
    "kind, extra",
    [
        ("direct", {"supplier_id": 99, "supplier_sku": "1"}),
        ("loop", {"supplier_id": "known", "supplier_sku": "1"}),
        ("direct", {"supplier_id": "known"}),
        ("direct", {"supplier_sku": "1"}),
    ],
    ids=["unknown supplier", "loop with supplier", "no sku", "no supplier"],
)
def test_a_product_with_a_wrong_supplier_link_is_refused(shop, sealer, kind, extra):
    supplier = add_supplier(shop.db, sealer)
    if extra.get("supplier_id") == "known":
        extra["supplier_id"] = supplier["id"]
    with pytest.raises(InvalidInput):
        shop.product(kind=kind, **extra)
