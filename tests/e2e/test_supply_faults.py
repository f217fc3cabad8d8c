"""Supply under faults: the supplier down, too slow or answering 5xx during a sync and during direct
top-ups, its callbacks lost or sent twice, and inventory killed between placing an upstream order and
recording it. No top-up is bought twice, no paid line is left unserved, and the audit passes after each."""

import contextlib
import time
import uuid

import pytest

from kameng_cli import shop
from tests.e2e.test_suppliers import audit_passes, direct_product

pytestmark = pytest.mark.slow

# more than the 10 s inventory waits for a supplier's answer
BEYOND_THE_TIMEOUT = 12


@contextlib.contextmanager
def _failing(upstream, fault):
    """The supplier down, answering 503, or slower than inventory waits, until the block ends."""
    if fault == "down":
        upstream.stop()
    elif fault == "errors":
        upstream.state.knobs.error_rate = 1
    else:
        upstream.state.knobs.response_delay = BEYOND_THE_TIMEOUT
    try:
        yield
    finally:
        if fault == "down":
            upstream.start()
        upstream.state.knobs.error_rate = 0
        upstream.state.knobs.response_delay = 0


def _sync(staff, supplier, expected=(200,)):
    return staff.request("POST", f"/api/v1/admin/suppliers/{supplier['id']}/sync", expected=expected)


def _sync_error(staff, supplier):
    listed = {item["id"]: item for item in staff.request("GET", "/api/v1/admin/suppliers")["items"]}
    return listed[supplier["id"]]["sync_error"]


def _wait(condition, what, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s")


@pytest.mark.parametrize("fault", ["down", "errors", "slow"])
def test_a_sync_the_supplier_cannot_answer_is_503_and_keeps_the_last_stock(
    suite, staff, supplier, upstream, stock_of, fault
):
    unlimited = direct_product(staff, supplier, "1")
    sold_out = direct_product(staff, supplier, "3")
    _sync(staff, supplier)
    with _failing(upstream, fault):
        refused = _sync(staff, supplier, expected=(503,))
        # a supplier slower than the gateway's patience: the gateway gives up first ("unavailable")
        assert refused["error"]["code"] in ("supplier_unavailable", "unavailable")
        _wait(lambda: _sync_error(staff, supplier), "the failed sync recorded")
        assert (stock_of(unlimited["id"]), stock_of(sold_out["id"])) == (None, 0)
    _sync(staff, supplier)
    assert _sync_error(staff, supplier) is None
    audit_passes(suite)


def _pay_top_up(buyer, notify, product, account="13800000000"):
    order = buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product["id"], "quantity": 1, "recharge_account": account}]},
    )
    order = shop.wait_for_status(buyer, order["id"], {"awaiting_payment"})
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert notify(payment).status_code == 200
    return order


def _supplier_calls(service_metrics, outcome):
    return sum(
        sample.value
        for sample in service_metrics("inventory")
        if sample.name == "kameng_supplier_calls_total"
        and sample.labels["call"] == "place"
        and sample.labels["outcome"] == outcome
    )


def _served_once(suite, buyer, order, upstream):
    order = shop.wait_for_status(buyer, order["id"], {"delivered", "refunded"}, timeout=120)
    assert order["status"] == "delivered", order
    assert order["items"][0]["fulfilment"]["status"] == "succeeded"
    assert upstream.state.snapshot()["client_order_ids"].count(f"{order['id']}-1") == 1
    audit_passes(suite)


@pytest.mark.parametrize("fault", ["down", "errors", "slow"])
def test_a_top_up_paid_while_the_supplier_cannot_answer_is_bought_once_when_it_can(
    suite, staff, supplier, upstream, new_buyer, notify, service_metrics, fault
):
    product = direct_product(staff, supplier, "1")
    _sync(staff, supplier)
    failed_before = _supplier_calls(service_metrics, "unreachable")
    buyer = new_buyer()
    # slow: the supplier takes the order after inventory stopped waiting, and the retry must find it
    with _failing(upstream, fault):
        order = _pay_top_up(buyer, notify, product)
        _wait(
            lambda: _supplier_calls(service_metrics, "unreachable") > failed_before,
            "inventory tried the supplier and got no answer",
        )
    _served_once(suite, buyer, order, upstream)


@pytest.mark.parametrize("knob", ["lost_callbacks", "duplicate_callbacks"])
def test_lost_or_duplicated_callbacks_serve_a_top_up_once(
    suite, staff, supplier, upstream, new_buyer, notify, knob
):
    product = direct_product(staff, supplier, "1")
    setattr(upstream.state.knobs, knob, 1)
    buyer = new_buyer()
    try:
        order = _pay_top_up(buyer, notify, product)
        _served_once(suite, buyer, order, upstream)
    finally:
        setattr(upstream.state.knobs, knob, 0)
    assert upstream.state.snapshot()["top_ups"] == 1


def test_inventory_killed_between_placing_an_upstream_order_and_recording_it(
    suite, staff, supplier, upstream, new_buyer, notify
):
    product = direct_product(staff, supplier, "1")
    _sync(staff, supplier)
    received = upstream.state.snapshot()["requests"]
    upstream.state.knobs.response_delay = 3  # the order is placed upstream after inventory is gone
    buyer = new_buyer()
    try:
        order = _pay_top_up(buyer, notify, product)
        _wait(lambda: upstream.state.snapshot()["requests"] > received, "inventory placed the top-up")
        suite.kill("inventory")
        client_order_id = f"{order['id']}-1"
        _wait(
            lambda: client_order_id in upstream.state.snapshot()["client_order_ids"],
            "the supplier took the order",
        )
    finally:
        upstream.state.knobs.response_delay = 0
        if "inventory" not in suite.processes:
            suite.start_process("inventory")
    suite.wait_ready()
    # once its lease has run out the restarted inventory places it again, and finds the same order
    _served_once(suite, buyer, order, upstream)
    assert upstream.state.snapshot()["top_ups"] == 1
