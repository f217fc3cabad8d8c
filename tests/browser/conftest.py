"""One suite on SQLite for the browser tests, in a pytest process of its own.

Playwright's sync API hangs under eventlet's monkey patch, which the other tests need, so
scripts/run-tests.sh runs these with ``-p no:kameng --confcutdir=tests/browser`` (neither
kameng-common's pytest plugin, which patches, nor the root conftest is loaded).
"""

import uuid

import pytest
from playwright.sync_api import sync_playwright

from kameng_cli import shop
from kameng_cli.secrets import admin_credentials, local_secrets
from kameng_cli.suite import SERVICES, Suite, SuiteSettings
from kameng_common.testing import create_vhost, delete_vhost, free_port
from tests.api_steps import new_card_product, new_customer, notify_mockpay
from tests.browser.browsing import CHROMIUM, DESKTOP, PHONE, place_order, strong_password


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("suite-browser")
    vhost, amqp_uri = create_vhost("kameng-browser")
    settings = SuiteSettings(
        data_dir=data_dir,
        amqp_uri=amqp_uri,
        gateway_port=free_port(),
        paysim_port=free_port(),
        metrics_ports={service: free_port() for service in SERVICES},
        extra_env={"KAMENG_RATE_LIMITS": "off"},
    )
    running = Suite(settings)
    running.start()
    try:
        running.wait_ready()
        running.admin = admin_credentials(data_dir)
        running.mockpay_secret = local_secrets(data_dir)["KAMENG_MOCKPAY_SECRET"]
        yield running
    finally:
        running.stop()
        delete_vhost(vhost)


@pytest.fixture
def staff(suite):
    return shop.Gateway(suite.settings.gateway_url).log_in(*suite.admin)


@pytest.fixture
def staff_member(staff):
    """A factory: a new staff account of ``role``; returns (username, password)."""

    def make(role):
        username, password = f"{role}_{uuid.uuid4().hex[:8]}", f"Kameng-{uuid.uuid4().hex[:12]}-Pw!"
        staff.request(
            "POST", "/api/v1/admin/staff", json={"username": username, "password": password, "role": role}
        )
        return username, password

    return make


@pytest.fixture
def card_product(staff):
    """A factory: a new card product with ``count`` fresh cards; returns (product, cards)."""
    return lambda count, price=1000: new_card_product(staff, count, price)


@pytest.fixture
def pay_with_mockpay(suite):
    """What mockpay does once the buyer has paid: notify the gateway; returns its response."""
    return lambda payment: notify_mockpay(suite.settings.gateway_url, suite.mockpay_secret, payment)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        playwright.selectors.set_test_id_attribute("data-test")
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser, suite):
    """A factory of pages on the suite's gateway, each in its own context (its own storage)."""
    contexts, problems = [], []

    def make(viewport=DESKTOP):
        context = browser.new_context(
            viewport=viewport,
            locale="zh-CN",
            base_url=suite.settings.gateway_url,
            is_mobile=viewport is PHONE,
            has_touch=viewport is PHONE,
        )
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        # a refused request is logged by the browser as "Failed to load resource"; the app
        # shows those to the user, so only script errors count here
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and not message.text.startswith("Failed to load resource")
                and problems.append(f"console: {message.text}")
            ),
        )
        page.on(
            "response",
            lambda answer: answer.status >= 500 and problems.append(f"{answer.status} {answer.url}"),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert problems == []


@pytest.fixture
def api_buyer(suite):
    """A factory: a new customer, signed in through the API only; returns their client."""

    return lambda prefix="buyer": new_customer(suite.settings.gateway_url, strong_password(), prefix)


@pytest.fixture
def delivered_order(pay_with_mockpay):
    """A factory: ``buyer`` orders one of ``product``, pays with mockpay; returns the delivered order."""

    def buy(buyer, product):
        order = shop.wait_for_status(buyer, place_order(buyer, product)["id"], {"awaiting_payment"})
        payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
        assert pay_with_mockpay(payment).status_code == 200
        order = shop.wait_for_status(buyer, order["id"], {"delivered"})
        assert order["status"] == "delivered"
        return order

    return buy
