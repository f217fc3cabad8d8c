"""A whole suite of real processes per database kind, on its own vhost, data folder and ports."""

import uuid
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from kameng_cli import shop
from kameng_cli.secrets import admin_credentials, local_secrets
from kameng_cli.suite import throwaway_suite
from kameng_cli.supplier_sim import Knobs, SimState, SupplierSim
from kameng_common.testing import free_port
from tests.api_steps import new_card_product, new_customer, notify_mockpay

ORDER_TTL_SECONDS = 15


def pytest_collection_modifyitems(items):
    # every test here runs a whole suite on RabbitMQ (and PostgreSQL)
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.servers)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def suite(request, tmp_path_factory):
    settings = {
        "KAMENG_ORDER_TTL_SECONDS": str(ORDER_TTL_SECONDS),
        "KAMENG_ORDER_EXPIRY_INTERVAL": "1",
        "KAMENG_RATE_LIMITS": "off",
        # every test signs in from 127.0.0.1, and the fuzzing fails many sign-ins
        "KAMENG_SIGN_IN_ADDRESS_MAX_FAILURES": "100000",
        # agents' commissions become available within the tests' patience
        "KAMENG_COMMISSION_HOLD_SECONDS": "2",
        "KAMENG_COMMISSION_SETTLE_INTERVAL": "1",
        # coupon holds whose order was never stored go back within the tests' patience
        "KAMENG_COUPON_HOLD_GRACE_SECONDS": "60",
        "KAMENG_COUPON_HOLD_SWEEP_INTERVAL": "1",
        # and so do reservations whose order was never stored
        "KAMENG_RESERVATION_GRACE_SECONDS": "60",
        "KAMENG_RESERVATION_SWEEP_INTERVAL": "1",
        "KAMENG_REDIS_PREFIX": f"kameng-e2e-{uuid.uuid4().hex[:8]}:",
    }
    # the data folder (logs included) is pytest's, kept after a failed run; a busy machine imports
    # five services slowly
    with throwaway_suite(
        request.param,
        f"kameng-e2e-{request.param}",
        extra_env=settings,
        ready_timeout=300,
        paysim=True,
        data_dir=tmp_path_factory.mktemp(f"suite-{request.param}"),
    ) as made:
        running = made.suite
        data_dir = running.settings.data_dir
        running.kind = request.param
        running.order_ttl = ORDER_TTL_SECONDS
        running.databases = made.databases
        running.admin = admin_credentials(data_dir)
        running.mockpay_secret = local_secrets(data_dir)["KAMENG_MOCKPAY_SECRET"]
        yield running


@pytest.fixture
def api(suite):
    return shop.Gateway(suite.settings.gateway_url)


@pytest.fixture
def staff(suite):
    return shop.Gateway(suite.settings.gateway_url).log_in(*suite.admin)


@pytest.fixture
def new_buyer(suite):
    """A factory of freshly registered, logged-in customers."""

    return lambda: new_customer(suite.settings.gateway_url, "correct-horse-battery")


@pytest.fixture
def product_with_cards(staff):
    """A factory: a new card product with ``count`` fresh cards; returns (product, cards)."""
    return lambda count, price=1000: new_card_product(staff, count, price)


@pytest.fixture
def notify(suite):
    """Send a mockpay notification (signed with the suite's secret unless told otherwise)."""

    def send(payment, trade_no=None, amount=None, currency=None, secret=None, payment_id=None):
        return notify_mockpay(
            suite.settings.gateway_url,
            secret or suite.mockpay_secret,
            payment,
            trade_no=trade_no,
            amount=amount,
            currency=currency,
            payment_id=payment_id,
        )

    return send


@pytest.fixture
def order_awaiting_payment(product_with_cards, new_buyer):
    """A factory: a buyer with an order for one new card, waiting for payment; returns (buyer, order, cards)."""

    def make(count=1, stock=None, price=1000):
        product, cards = product_with_cards(stock or count, price)
        buyer = new_buyer()
        order = buyer.request(
            "POST",
            "/api/v1/orders",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={"items": [{"product_id": product["id"], "quantity": count}]},
        )
        order = shop.wait_for_status(buyer, order["id"], {"awaiting_payment"})
        assert order["status"] == "awaiting_payment", order
        return buyer, order, product, cards

    return make


@pytest.fixture
def stock_of(api):
    """The catalogue's stock figure for a product, read through the public API."""

    def read(product_id):
        cursor = None
        while True:
            page = api.request("GET", "/api/v1/products", params={"limit": 100, "cursor": cursor})
            for item in page["items"]:
                if item["id"] == product_id:
                    return item["stock"]
            cursor = page.get("next_cursor")
            if not cursor:
                raise AssertionError(f"product {product_id} is not in the catalogue")

    return read


@pytest.fixture
def service_metrics(suite):
    """A reader of a service's Prometheus samples, scraped from its own metrics port."""

    def read(service):
        response = requests.get(
            f"http://127.0.0.1:{suite.settings.metrics_ports[service]}/metrics", timeout=30
        )
        response.raise_for_status()
        return [
            sample for family in text_string_to_metric_families(response.text) for sample in family.samples
        ]

    return read


SIM_KEY_ID, SIM_SECRET = "e2e-shop", "e2e-shop-secret-0123456789abcdef"


@pytest.fixture
def upstream():
    """A supplier simulator of this test's own, knobs and all."""
    sim = SupplierSim(
        SimState({SIM_KEY_ID: SIM_SECRET}, knobs=Knobs(fulfil_seconds=0.2)), free_port()
    ).start()
    yield sim
    sim.stop()


@pytest.fixture
def add_supplier(staff, upstream):
    """A factory: ``upstream`` added as a supplier of the suite (``deadline_seconds``: its own deadline)."""

    def add(deadline_seconds=None):
        return staff.request(
            "POST",
            "/api/v1/admin/suppliers",
            json={
                "name": f"sim-{uuid.uuid4().hex[:6]}",
                "base_url": upstream.base_url,
                "key_id": SIM_KEY_ID,
                "secret": SIM_SECRET,
                **({} if deadline_seconds is None else {"deadline_seconds": deadline_seconds}),
            },
        )

    return add


@pytest.fixture
def supplier(add_supplier):
    """``upstream`` added as a supplier of the suite."""
    return add_supplier()
