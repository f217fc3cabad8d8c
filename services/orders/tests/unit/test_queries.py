"""get_order, list_orders, request_payment and the orders-by-status count."""

import datetime

import pytest

from kameng_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from orders import usecases


def test_get_order_of_an_unknown_order(saga):
    with pytest.raises(NotFound):
        saga.order("00000000-0000-4000-8000-000000000000")


@pytest.mark.parametrize("order_id", [None, 42, ""])
def test_get_order_refuses_what_is_not_an_order_id(saga, order_id):
    with pytest.raises(InvalidInput):
        saga.order(order_id)


def test_get_order_tells_the_whole_story(saga):
    order = saga.approved()
    payment_id = saga.pay(order)
    saga.cards_delivered(order["id"])
    told = saga.order(order["id"])
    assert told["status"] == "delivered"
    assert told["payment_id"] == payment_id
    assert told["expires_at"] == "2026-03-01T12:15:00+00:00"
    assert [(entry["status"], entry["reason"]) for entry in told["history"]] == [
        ("pending", "created"),
        ("awaiting_payment", "stock reserved, risk approve"),
        ("paid", "paid"),
        ("delivered", "2 cards delivered"),
    ]


def test_get_order_reads_the_order_with_its_lines_then_its_history(any_saga):
    order = any_saga.approved(items=[{"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": 2}])
    with any_saga.selects() as selects:
        told = any_saga.order(order["id"])
    assert len(selects) == 2
    assert [line["product_id"] for line in told["items"]] == [1, 2]
    assert [entry["status"] for entry in told["history"]] == ["pending", "awaiting_payment"]


def test_list_orders_pages_newest_first(any_saga):
    start = any_saga.NOW
    created = [any_saga.create(now=start + datetime.timedelta(seconds=n // 2))["id"] for n in range(7)]
    seen, cursor = [], None
    while True:
        page = usecases.list_orders(any_saga.db, limit=3, cursor=cursor)
        assert len(page["items"]) <= 3
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(created) and len(seen) == 7
    created_at = [usecases.get_order(any_saga.db, order_id)["created_at"] for order_id in seen]
    assert created_at == sorted(created_at, reverse=True)


def test_list_orders_of_one_customer(saga):
    mine = saga.create(customer_id="customer-1")
    saga.create(customer_id="customer-2")
    page = usecases.list_orders(saga.db, customer_id="customer-1")
    assert [item["id"] for item in page["items"]] == [mine["id"]]
    assert page["items"][0]["items"] == mine["items"]
    assert "history" not in page["items"][0]
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    "arguments",
    [
        {"cursor": "not a cursor"},
        {"cursor": "WzEsIDJd"},
        {"limit": 0},
        {"limit": 201},
        {"limit": "10"},
    ],
)
def test_list_orders_refuses_bad_paging(saga, arguments):
    with pytest.raises(InvalidInput):
        usecases.list_orders(saga.db, **arguments)


def test_order_statuses_answers_the_orders_it_knows_and_leaves_out_the_rest(saga):
    pending = saga.create(key="key-1")
    approved = saga.approved(key="key-2")
    never_stored = "00000000-0000-4000-8000-000000000000"

    answer = usecases.order_statuses(saga.db, [pending["id"], approved["id"], never_stored])

    assert answer == {"orders": {pending["id"]: "pending", approved["id"]: "awaiting_payment"}}
    assert usecases.order_statuses(saga.db, []) == {"orders": {}}


@pytest.mark.parametrize("order_ids", [None, "one-id", [""], ["x" * 65], ["id"] * 201])
def test_order_statuses_refuses_what_is_not_a_list_of_order_ids(saga, order_ids):
    with pytest.raises(InvalidInput):
        usecases.order_statuses(saga.db, order_ids)


class Payments:
    def __init__(self):
        self.intents = []

    def create_intent(self, order_id, customer_id, amount, currency, method):
        self.intents.append((order_id, customer_id, amount, currency, method))
        return {
            "payment_id": "payment-1",
            "amount": amount,
            "currency": currency,
            "method": method,
            "status": "pending",
            "pay_url": "https://pay.example/1",
        }


def request_payment(saga, order, customer_id="customer-1", now=None, payments=None):
    payments = payments or Payments()
    return usecases.request_payment(
        saga.db, payments.create_intent, order["id"], customer_id, "mockpay", now=now or saga.NOW
    )


def test_request_payment_asks_payments_for_the_order_total(saga):
    order = saga.approved()
    payments = Payments()
    answer = request_payment(saga, order, payments=payments)
    assert payments.intents == [(order["id"], "customer-1", 20000, "CNY", "mockpay")]
    assert answer["payment_id"] == "payment-1"


def test_request_payment_for_an_unknown_order(saga):
    with pytest.raises(NotFound):
        request_payment(saga, {"id": "00000000-0000-4000-8000-000000000000"})


def test_request_payment_only_by_the_buyer(saga):
    order = saga.approved()
    with pytest.raises(Forbidden):
        request_payment(saga, order, customer_id="customer-2")


def test_request_payment_only_while_awaiting_payment(saga):
    order = saga.create()
    payments = Payments()
    with pytest.raises(Conflict) as refused:
        request_payment(saga, order, payments=payments)
    assert refused.value.code == "order_not_payable"
    assert payments.intents == []


def test_request_payment_not_past_the_deadline(saga):
    order = saga.approved()
    with pytest.raises(Conflict) as refused:
        request_payment(saga, order, now=saga.NOW + datetime.timedelta(seconds=saga.TTL))
    assert refused.value.code == "order_expired"


@pytest.mark.parametrize("method", [None, "", 5])
def test_request_payment_needs_a_method(saga, method):
    order = saga.approved()
    with pytest.raises(InvalidInput):
        usecases.request_payment(saga.db, Payments().create_intent, order["id"], "customer-1", method)


def test_count_by_status_names_every_status(saga):
    saga.create()
    saga.approved()
    counts = usecases.count_by_status(saga.db)
    assert counts[("pending",)] == 1 and counts[("awaiting_payment",)] == 1
    assert len(counts) == 9 and sum(counts.values()) == 2


def test_order_counts_answer_staff_every_status_by_name(saga):
    saga.create()
    saga.approved()
    by_status = usecases.order_counts(saga.db)["by_status"]
    assert by_status["pending"] == 1 and by_status["awaiting_payment"] == 1 and by_status["delivered"] == 0
    assert sum(by_status.values()) == 2
