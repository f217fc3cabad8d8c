import contextlib
import uuid

import pytest

from kameng_gateway import waits

ORDER_ID = "0dde0000-0000-4000-8000-000000000001"
ITEMS = [{"product_id": 1, "quantity": 2}]
PAYMENT = {
    "payment_id": "pay-1",
    "amount": 19000,
    "currency": "CNY",
    "method": "mockpay",
    "status": "pending",
    "pay_url": "http://pay.test/1",
    "code_url": None,
}


@pytest.fixture(autouse=True)
def orders_service(rpc, make_order):
    rpc.answer(
        "orders",
        "create_order",
        lambda customer_id, items, key, coupon_code=None, client_ip=None, device_id=None, payment_method=None, shop=None: (
            make_order() if payment_method is None else {**make_order(), "payment": PAYMENT}
        ),
    )
    rpc.answer("orders", "list_orders", {"items": [make_order()], "next_cursor": "next-page"})


def test_create_order_forwards_the_idempotency_key(client, callers, rpc):
    response = client.post(
        "/api/v1/orders",
        json={"items": ITEMS},
        headers={**callers.customer(), "Idempotency-Key": "retry-me-42"},
    )

    assert response.status_code == 201
    call = rpc.calls_to("orders", "create_order")[0]
    assert call.args == (callers.customer_id, ITEMS, "retry-me-42")
    # the level is orders' own: the gateway neither asks customers nor passes one
    assert rpc.calls_to("customers", "get_customer") == []
    assert call.kwargs == {
        "coupon_code": None,
        "client_ip": "127.0.0.1",
        "device_id": None,
        "payment_method": None,
        "shop": None,
    }


def test_the_same_key_is_sent_each_time(client, callers, rpc):
    headers = {**callers.customer(), "Idempotency-Key": "same"}
    for _ in range(2):
        client.post("/api/v1/orders", json={"items": ITEMS}, headers=headers)

    keys = {call.args[2] for call in rpc.calls_to("orders", "create_order")}
    assert keys == {"same"}


def test_without_a_key_each_order_gets_a_fresh_one(client, callers, rpc):
    for _ in range(2):
        client.post("/api/v1/orders", json={"items": ITEMS}, headers=callers.customer())

    keys = [call.args[2] for call in rpc.calls_to("orders", "create_order")]
    assert len(set(keys)) == 2
    assert all(uuid.UUID(key) for key in keys)


def test_an_overlong_key_is_invalid_input(client, callers, rpc):
    response = client.post(
        "/api/v1/orders", json={"items": ITEMS}, headers={**callers.customer(), "Idempotency-Key": "k" * 300}
    )

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["error"]["details"]
    assert rpc.calls_to("orders", "create_order") == []


def test_create_order_answers_the_order(client, callers, rpc):
    response = client.post(
        "/api/v1/orders", json={"items": ITEMS, "coupon_code": "SPRING"}, headers=callers.customer()
    )

    body = response.json
    assert (body["id"], body["status"], body["total"], body["currency"]) == (
        ORDER_ID,
        "pending",
        19000,
        "CNY",
    )
    assert body["items"][0]["product_id"] == 1
    assert response.headers["Location"] == f"/api/v1/orders/{ORDER_ID}"
    assert rpc.calls_to("orders", "create_order")[0].kwargs["coupon_code"] == "SPRING"


def test_an_order_through_an_agents_shop_names_the_shop_and_nothing_of_its_price(client, callers, rpc):
    response = client.post(
        "/api/v1/orders", json={"items": ITEMS, "shop": "lucky-cards"}, headers=callers.customer()
    )

    assert response.status_code == 201
    call = rpc.calls_to("orders", "create_order")[0]
    # orders asks customers for the shop's markup and prices the order itself
    assert call.kwargs["shop"] == "lucky-cards"
    assert rpc.calls_to("customers", "shop_for_order") == []


@pytest.mark.parametrize("shop", ["", "s" * 33, 7, {"markup_bp": 0}])
def test_a_malformed_shop_is_refused(client, callers, rpc, shop):
    response = client.post("/api/v1/orders", json={"items": ITEMS, "shop": shop}, headers=callers.customer())

    assert response.status_code == 422
    assert rpc.calls_to("orders", "create_order") == []


def test_the_clients_address_and_device_go_to_risk_with_the_order(client, callers, rpc):
    response = client.post(
        "/api/v1/orders",
        json={"items": ITEMS},
        headers={**callers.customer(), "X-Device-Id": "phone-42"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )

    assert response.status_code == 201
    kwargs = rpc.calls_to("orders", "create_order")[0].kwargs
    assert (kwargs["client_ip"], kwargs["device_id"]) == ("203.0.113.9", "phone-42")


@pytest.mark.parametrize("device_id", ["", "has space", "x" * 129, "caf\u00e9"])
def test_a_bad_device_id_is_refused(client, callers, rpc, device_id):
    response = client.post(
        "/api/v1/orders", json={"items": ITEMS}, headers={**callers.customer(), "X-Device-Id": device_id}
    )

    assert response.status_code == 422
    assert rpc.calls_to("orders", "create_order") == []


def test_the_order_id_correlates_the_calls_and_the_response(client, callers, rpc):
    response = client.post("/api/v1/orders", json={"items": ITEMS}, headers=callers.customer())
    assert response.headers["X-Request-Id"] == ORDER_ID

    client.get(f"/api/v1/orders/{ORDER_ID}", headers=callers.customer())
    assert rpc.calls_to("orders", "get_order")[0].correlation_id == ORDER_ID


def test_get_order(client, callers):
    response = client.get(f"/api/v1/orders/{ORDER_ID}", headers=callers.customer())

    assert response.status_code == 200
    assert response.json["id"] == ORDER_ID
    assert response.json["history"][0]["status"] == "pending"


def test_get_order_without_changed_from_answers_at_once(client, callers, rpc):
    response = client.get(f"/api/v1/orders/{ORDER_ID}?wait=20", headers=callers.customer())

    assert response.status_code == 200
    [call] = rpc.calls_to("orders", "get_order")
    assert (call.args, call.kwargs, call.timeout) == ((ORDER_ID,), {}, None)


@pytest.mark.parametrize(
    "query, changed_from, wait",
    [
        ("changed_from=pending&wait=12.5", ["pending"], 12.5),
        ("wait=30&changed_from=pending", ["pending"], 30),
        ("changed_from=awaiting_payment,paid&wait=10", ["awaiting_payment", "paid"], 10),
    ],
)
def test_a_customers_long_poll_is_one_call_waiting_on_their_own_order_and_longer_for_its_answer(
    client, callers, rpc, settings, query, changed_from, wait
):
    response = client.get(f"/api/v1/orders/{ORDER_ID}?{query}", headers=callers.customer())

    assert response.status_code == 200
    [call] = rpc.calls_to("orders", "get_order")
    assert call.args == (ORDER_ID,)
    assert call.kwargs == {"changed_from": changed_from, "wait": wait, "for_customer": callers.customer_id}
    assert call.timeout == settings.rpc_timeout + wait


def test_staff_who_may_read_orders_wait_on_anyones(client, callers, rpc):
    response = client.get(
        f"/api/v1/orders/{ORDER_ID}?changed_from=pending&wait=5", headers=callers.as_("support")
    )

    assert response.status_code == 200
    [call] = rpc.calls_to("orders", "get_order")
    assert call.kwargs == {"changed_from": ["pending"], "wait": 5, "for_customer": None}


def test_a_long_poll_that_may_not_wait_reads_the_order_at_once(client, callers, rpc):
    response = client.get(
        f"/api/v1/orders/{ORDER_ID}?changed_from=pending&wait=0", headers=callers.customer()
    )

    assert response.status_code == 200
    assert [call.kwargs for call in rpc.calls_to("orders", "get_order")] == [{}]


def test_a_non_owners_long_poll_waits_on_nothing_and_is_refused(client, callers, rpc):
    response = client.get(
        f"/api/v1/orders/{ORDER_ID}?changed_from=pending&wait=30",
        headers=callers.customer(callers.other_customer_id),
    )

    assert response.status_code == 403
    [call] = rpc.calls_to("orders", "get_order")
    assert call.kwargs["for_customer"] == callers.other_customer_id


def test_a_delivered_order_read_with_its_cards_reveals_them_to_its_owner(client, callers, rpc, make_order):
    rpc.answer("orders", "get_order", lambda order_id, **_wait: make_order(status="delivered"))
    rpc.answer("inventory", "reveal_cards", [{"number": "N-1", "secret": "S-1"}])

    response = client.get(
        f"/api/v1/orders/{ORDER_ID}?changed_from=paid&wait=5&include=cards", headers=callers.customer()
    )

    assert response.status_code == 200
    assert response.json["status"] == "delivered"
    assert response.json["cards"] == [{"number": "N-1", "secret": "S-1"}]
    assert response.headers["Cache-Control"] == "no-store"
    [reveal] = rpc.calls_to("inventory", "reveal_cards")
    assert reveal.args == (ORDER_ID, callers.customer_id)


def test_an_undelivered_order_read_with_its_cards_has_none_and_reveals_nothing(client, callers, rpc):
    response = client.get(f"/api/v1/orders/{ORDER_ID}?include=cards", headers=callers.customer())

    assert response.status_code == 200
    assert "cards" not in response.json
    assert rpc.calls_to("inventory", "reveal_cards") == []


@pytest.mark.parametrize("caller", ["other_customer", "support", "admin"])
def test_only_the_owner_may_read_an_order_with_its_cards_and_before_any_wait(
    client, callers, rpc, make_order, caller
):
    rpc.answer("orders", "get_order", lambda order_id, **_wait: make_order(status="delivered"))

    response = client.get(
        f"/api/v1/orders/{ORDER_ID}?changed_from=paid&wait=5&include=cards", headers=callers.as_(caller)
    )

    assert response.status_code == 403
    assert all(call.kwargs.get("for_customer") is not None for call in rpc.calls_to("orders", "get_order"))
    assert rpc.calls_to("inventory", "reveal_cards") == []


def test_a_caller_past_their_concurrent_waits_is_told_to_retry(app, callers):
    slots = app.extensions[waits.WAIT_SLOTS_EXTENSION]
    caller = f"customer:{callers.customer_id}"
    with contextlib.ExitStack() as held:
        for _ in range(slots.per_caller):
            held.enter_context(slots.slot(caller))
        response = app.test_client().get(
            f"/api/v1/orders/{ORDER_ID}?changed_from=pending&wait=5", headers=callers.customer()
        )
        # another caller still gets a slot
        with slots.slot("customer:someone-else"):
            pass

    assert response.status_code == 429
    assert response.json["error"]["code"] == "too_many_waits"
    assert response.headers["Retry-After"] == "1"


def test_the_process_wide_bound_on_waits_holds_whoever_asks():
    slots = waits.WaitSlots(per_process=2, per_caller=2)
    with slots.slot("a"), slots.slot("b"), pytest.raises(waits.TooManyWaits), slots.slot("c"):
        pass
    with slots.slot("c"):
        assert slots._total == 1


@pytest.mark.parametrize(
    "query",
    [
        "changed_from=shipped",
        "changed_from=",
        "changed_from=pending&wait=30.5",
        "changed_from=pending&wait=-1",
        "changed_from=pending&wait=soon",
        "changed_from=pending&wait=nan",
        "wait=inf",
        "changed_from=pending&colour=blue",
        "changed_from=pending,",
        "changed_from=pending,shipped",
        "changed_from=,pending",
        "include=secrets",
    ],
)
def test_a_bad_long_poll_is_invalid_input(client, callers, rpc, query):
    response = client.get(f"/api/v1/orders/{ORDER_ID}?{query}", headers=callers.customer())

    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_input"
    assert rpc.calls_to("orders", "get_order") == []


def test_a_long_poll_of_another_customers_order_is_forbidden(client, callers):
    response = client.get(
        f"/api/v1/orders/{ORDER_ID}?changed_from=pending&wait=1",
        headers=callers.customer(callers.other_customer_id),
    )

    assert response.status_code == 403


def test_a_customer_lists_only_their_own_orders(client, callers, rpc):
    response = client.get("/api/v1/orders?limit=10&cursor=abc", headers=callers.customer())

    assert response.status_code == 200
    assert response.json["next_cursor"] == "next-page"
    assert rpc.calls_to("orders", "list_orders")[0].kwargs == {
        "customer_id": callers.customer_id,
        "limit": 10,
        "cursor": "abc",
    }


def test_a_customer_may_not_list_another_customers_orders(client, callers, rpc):
    response = client.get(
        f"/api/v1/orders?customer_id={callers.other_customer_id}", headers=callers.customer()
    )

    assert response.status_code == 403
    assert rpc.calls_to("orders", "list_orders") == []


def test_support_lists_everyone_or_one_customer(client, callers, rpc):
    client.get("/api/v1/orders", headers=callers.staff("support"))
    client.get(f"/api/v1/orders?customer_id={callers.customer_id}", headers=callers.staff("support"))

    calls = rpc.calls_to("orders", "list_orders")
    assert calls[0].kwargs == {"customer_id": None, "limit": 50, "cursor": None}
    assert calls[1].kwargs["customer_id"] == callers.customer_id


def test_payment_request_is_forwarded_for_the_caller(client, callers, rpc):
    rpc.answer(
        "orders",
        "request_payment",
        {
            "payment_id": "p1",
            "amount": 19000,
            "currency": "CNY",
            "method": "mockpay",
            "status": "pending",
            "pay_url": "http://127.0.0.1:8000/mockpay/p1",
        },
    )

    response = client.post(
        f"/api/v1/orders/{ORDER_ID}/payments", json={"method": "mockpay"}, headers=callers.customer()
    )

    assert response.status_code == 201
    assert response.json["payment_id"] == "p1"
    assert response.json["amount"] == 19000
    assert rpc.calls_to("orders", "request_payment")[0].args == (ORDER_ID, callers.customer_id, "mockpay")


def test_an_unknown_payment_method_is_invalid_input(client, callers, rpc):
    response = client.post(
        f"/api/v1/orders/{ORDER_ID}/payments", json={"method": "cash"}, headers=callers.customer()
    )

    assert response.status_code == 422
    assert rpc.calls_to("orders", "request_payment") == []


def test_a_payment_method_opens_the_payment_with_the_order(client, callers, rpc):
    response = client.post(
        "/api/v1/orders", json={"items": ITEMS, "payment_method": "mockpay"}, headers=callers.customer()
    )
    assert response.status_code == 201
    assert rpc.calls_to("orders", "create_order")[0].kwargs["payment_method"] == "mockpay"
    assert response.json["payment"] == PAYMENT
    assert rpc.calls_to("orders", "request_payment") == []  # one call placed and opened it


def test_an_unknown_payment_method_is_refused_before_anything_is_placed(client, callers, rpc):
    response = client.post(
        "/api/v1/orders", json={"items": ITEMS, "payment_method": "cash"}, headers=callers.customer()
    )
    assert response.status_code == 422
    assert "payment_method" in response.json["error"]["details"]
    assert rpc.calls_to("orders", "create_order") == []


def test_staff_who_read_orders_count_them_by_status_and_customers_may_not(client, callers, rpc):
    rpc.answer("orders", "order_counts", {"by_status": {"delivered": 7, "expired": 2}})

    response = client.get("/api/v1/orders/counts", headers=callers.staff("support"))

    assert response.status_code == 200
    assert response.json == {"by_status": {"delivered": 7, "expired": 2}}
    assert client.get("/api/v1/orders/counts", headers=callers.customer()).status_code == 403
    assert client.get("/api/v1/orders/counts", headers=callers.staff("ops")).status_code == 403
    assert len(rpc.calls_to("orders", "order_counts")) == 1
