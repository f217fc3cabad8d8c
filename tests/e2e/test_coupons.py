"""Coupons through the HTTP API: made, issued, used on an order paid and delivered at the
discounted price, given back when an order expires, limits that hold under racing orders, and
the audit agreeing."""

import concurrent.futures
import datetime
import time
import uuid

from kameng_cli import audit, shop

GRACE_SECONDS = 5
BUYERS, USES = 50, 10


def _customer(suite):
    username, password = f"cpn_{uuid.uuid4().hex[:10]}", "correct-horse-battery"
    api = shop.Gateway(suite.settings.gateway_url)
    customer = api.register(username, password)
    return customer["id"], api.log_in(username, password)


def _coupon(staff, **terms):
    now = datetime.datetime.now(datetime.UTC)
    return staff.request(
        "POST",
        "/api/v1/admin/coupons",
        json={
            "code": f"C{uuid.uuid4().hex[:10]}",
            "kind": "amount_off",
            "value": 1_500,
            "starts_at": (now - datetime.timedelta(minutes=1)).isoformat(),
            "ends_at": (now + datetime.timedelta(hours=1)).isoformat(),
            **terms,
        },
        expected=(201,),
    )


def _order(buyer, product, coupon_code, expected=(201,)):
    return buyer.request(
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"items": [{"product_id": product["id"], "quantity": 1}], "coupon_code": coupon_code},
        expected=expected,
    )


def _used(staff, coupon, wanted, timeout=60):
    """The coupon's count of uses, once it is ``wanted`` (or the time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        used = staff.request("GET", f"/api/v1/admin/coupons/{coupon['id']}")["used"]
        if used == wanted or time.monotonic() > deadline:
            return used
        time.sleep(0.5)


def _audit(suite):
    time.sleep(GRACE_SECONDS + 1)  # the last events on their way
    return audit.audit(
        suite.settings.amqp_uri,
        audit.Timeouts(order_ttl=suite.order_ttl, expiry_interval=1, grace=GRACE_SECONDS),
    )


def test_an_issued_coupon_discounts_a_paid_order_and_an_expired_one_gives_its_use_back(
    suite, staff, product_with_cards, notify
):
    product, _cards = product_with_cards(2, price=10_000)
    other_product, _ = product_with_cards(1, price=10_000)
    buyer_id, buyer = _customer(suite)
    _stranger_id, stranger = _customer(suite)
    coupon = _coupon(
        staff, min_total=5_000, total_limit=5, per_customer_limit=2, product_ids=[product["id"]], public=False
    )
    issued = staff.request(
        "POST", f"/api/v1/admin/coupons/{coupon['id']}/issue", json={"customer_ids": [buyer_id]}
    )
    assert issued["newly_issued"] == 1
    assert [item["code"] for item in buyer.request("GET", "/api/v1/me/coupons")["items"]] == [coupon["code"]]
    assert stranger.request("GET", "/api/v1/me/coupons")["items"] == []

    refusals = {
        "coupon_not_issued": _order(stranger, product, coupon["code"], expected=(403,)),
        "coupon_unknown": _order(buyer, product, "NO-SUCH-COUPON", expected=(422,)),
        "coupon_out_of_scope": _order(buyer, other_product, coupon["code"], expected=(422,)),
    }
    assert {code: body["error"]["code"] for code, body in refusals.items()} == {
        code: code for code in refusals
    }

    order = _order(buyer, product, coupon["code"].lower())
    assert (order["total"], order["discount"], order["coupon_code"]) == (8_500, 1_500, coupon["code"])
    order = shop.wait_for_status(buyer, order["id"], {"awaiting_payment"})
    payment = buyer.request("POST", f"/api/v1/orders/{order['id']}/payments", json={"method": "mockpay"})
    assert payment["amount"] == 8_500
    assert notify(payment).status_code == 200
    assert shop.wait_for_status(buyer, order["id"], {"delivered"})["status"] == "delivered"
    assert len(buyer.request("GET", f"/api/v1/orders/{order['id']}/cards")) == 1

    unpaid = _order(buyer, product, coupon["code"])
    assert _used(staff, coupon, 2) == 2
    expired = shop.wait_for_status(buyer, unpaid["id"], {"expired"}, timeout=suite.order_ttl + 30)
    assert expired["status"] == "expired"
    assert _used(staff, coupon, 1) == 1  # the expired order's use went back; the paid one's stays
    assert [item["uses_left"] for item in buyer.request("GET", "/api/v1/me/coupons")["items"]] == [1]
    report = staff.request("GET", f"/api/v1/admin/coupons/{coupon['id']}?tag=new")
    assert [report[key] for key in ("issued", "customers_paid", "tagged_issued", "tagged_paid")] == [
        1,
        1,
        1,
        1,
    ]

    report = _audit(suite)
    assert report.ok, report.render()


def test_racing_orders_never_take_a_coupon_past_its_limits(suite, staff, product_with_cards):
    product, _cards = product_with_cards(BUYERS + 5, price=10_000)
    shared = _coupon(staff, total_limit=USES, per_customer_limit=1)
    buyers = [_customer(suite)[1] for _ in range(BUYERS)]

    def order_with(args):
        buyer, coupon = args
        answer = _order(buyer, product, coupon["code"], expected=(201, 409))
        return answer.get("error", {}).get("code", "placed")

    with concurrent.futures.ThreadPoolExecutor(BUYERS) as pool:
        outcomes = list(pool.map(order_with, [(buyer, shared) for buyer in buyers]))
    assert sorted(outcomes) == ["coupon_limit_reached"] * (BUYERS - USES) + ["placed"] * USES
    assert _used(staff, shared, USES) == USES

    mine = _coupon(staff, per_customer_limit=1)
    one_buyer = buyers[0]
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(order_with, [(one_buyer, mine)] * 5))
    assert sorted(outcomes) == ["coupon_customer_limit_reached"] * 4 + ["placed"]

    report = _audit(suite)
    assert report.ok, report.render()


def test_a_segment_coupon_serves_the_customers_in_it_alone(suite, staff, product_with_cards):
    product, _cards = product_with_cards(2, price=10_000)
    member_id, member = _customer(suite)
    _outsider_id, outsider = _customer(suite)
    tag = f"seg-{uuid.uuid4().hex[:8]}"
    coupon = _coupon(staff, segment=tag)

    refused = _order(member, product, coupon["code"], expected=(403,))
    assert refused["error"]["code"] == "coupon_out_of_segment"
    staff.request("POST", f"/api/v1/admin/customers/{member_id}/tags", json={"tag": tag})
    order = _order(member, product, coupon["code"])
    assert (order["discount"], order["coupon_code"]) == (1_500, coupon["code"])
    refused = _order(outsider, product, coupon["code"], expected=(403,))
    assert refused["error"]["code"] == "coupon_out_of_segment"

    report = staff.request("GET", f"/api/v1/admin/coupons/{coupon['id']}")
    assert (report["segment"], report["segment_customers"], report["used"]) == (tag, 1, 1)
