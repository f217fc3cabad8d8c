"""get_order with ``changed_from`` and ``wait``: answering once the order's status changes."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from kameng_common.errors import InvalidInput, NotFound
from orders import usecases
from orders.db import orders

# how long a waiting get_order may take to answer before the test calls it hung
HUNG = 10


def in_background(call, *args):
    """``call(*args)`` in a thread of its own: its future."""
    executor = ThreadPoolExecutor(1)
    future = executor.submit(call, *args)
    executor.shutdown(wait=False)
    return future


def waiting_get_order(db, order_id, changed_from="pending", wait=30):
    """A get_order waiting on ``order_id``, given the time to read its status and wait."""
    future = in_background(usecases.get_order, db, order_id, changed_from, wait)
    time.sleep(0.2)
    return future


def test_answers_at_once_when_the_status_is_already_another(saga):
    order = saga.create()
    answer = in_background(usecases.get_order, saga.db, order["id"], "awaiting_payment", 30)
    assert answer.result(timeout=HUNG) == saga.order(order["id"])


def test_answers_as_soon_as_the_saga_moves_the_order(any_saga):
    order = any_saga.create()
    answer = waiting_get_order(any_saga.db, order["id"])
    assert not answer.done()
    any_saga.answer(order["id"])
    assert answer.result(timeout=HUNG) == any_saga.order(order["id"])
    assert answer.result()["status"] == "awaiting_payment"


def test_a_change_committed_elsewhere_is_found_by_the_recheck(any_saga):
    """As when another replica of orders moved the order: nothing here is notified."""
    order = any_saga.create()
    answer = waiting_get_order(any_saga.db, order["id"])
    with any_saga.db.unit_of_work() as uow:
        uow.execute(orders.update().where(orders.c.id == order["id"]).values(status="cancelled"))
    time.sleep(0.2)
    assert not answer.done()
    usecases.recheck_waiting_orders(any_saga.db)
    assert answer.result(timeout=HUNG)["status"] == "cancelled"


def test_waiting_holds_no_database_connection(any_saga):
    order = any_saga.create()
    answer = waiting_get_order(any_saga.db, order["id"])
    assert not answer.done()
    assert any_saga.db.engine.pool.checkedout() == 0
    any_saga.answer(order["id"], stock="rejected")
    assert answer.result(timeout=HUNG)["status"] == "cancelled"


def test_answers_the_order_as_it_is_once_the_wait_is_over(saga):
    order = saga.create()
    assert usecases.get_order(saga.db, order["id"], "pending", 0.2) == saga.order(order["id"])


def test_without_changed_from_the_wait_is_ignored(saga):
    order = saga.create()
    answer = in_background(usecases.get_order, saga.db, order["id"], None, 30)
    assert answer.result(timeout=HUNG)["status"] == "pending"


def test_an_unknown_order_is_not_found_without_waiting(saga):
    answer = in_background(usecases.get_order, saga.db, str(uuid.uuid4()), "pending", 30)
    with pytest.raises(NotFound):
        answer.result(timeout=HUNG)


@pytest.mark.parametrize(
    "changed_from, wait",
    [
        ("shipped", 1),
        ("", 1),
        (42, 1),
        ("pending", -1),
        ("pending", 30.5),
        ("pending", "soon"),
        ("pending", True),
        ("pending", None),
        ("pending", float("nan")),
    ],
)
def test_refuses_what_is_not_a_status_or_a_wait(saga, changed_from, wait):
    order = saga.create()
    with pytest.raises(InvalidInput):
        usecases.get_order(saga.db, order["id"], changed_from, wait)


def test_waits_through_every_status_it_is_given(saga):
    order = saga.create()
    answer = in_background(usecases.get_order, saga.db, order["id"], ["pending", "awaiting_payment"], 30)
    time.sleep(0.2)
    saga.answer(order["id"])
    time.sleep(0.2)
    assert not answer.done()
    saga.pay(saga.order(order["id"]))
    assert answer.result(timeout=HUNG)["status"] == "paid"


def test_waits_for_the_customer_who_owns_the_order(saga):
    order = saga.create(customer_id="customer-1")
    answer = in_background(usecases.get_order, saga.db, order["id"], "pending", 30, "customer-1")
    time.sleep(0.2)
    assert not answer.done()
    saga.answer(order["id"])
    assert answer.result(timeout=HUNG)["status"] == "awaiting_payment"


def test_answers_another_customer_at_once_without_waiting(saga):
    """The caller refuses it: nobody learns by waiting when someone else's order moves."""
    order = saga.create(customer_id="customer-1")
    answer = in_background(usecases.get_order, saga.db, order["id"], "pending", 30, "customer-2")
    assert answer.result(timeout=HUNG)["status"] == "pending"


def test_an_empty_list_of_statuses_is_refused(saga):
    order = saga.create()
    with pytest.raises(InvalidInput):
        usecases.get_order(saga.db, order["id"], [], 1)
