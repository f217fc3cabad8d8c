"""StatusWatch: waiting for an order's status to change, woken by notifications or by a recheck."""

import threading
import time

import pytest

from orders.status_watch import StatusWatch

# how long a waiter may take to come back before the test calls it hung
HUNG = 10


class Status:
    """An order's status as the waiter reads it, counting the reads."""

    def __init__(self, current):
        self.current = current
        self.reads = 0
        self.read_once = threading.Event()

    def read(self):
        self.reads += 1
        self.read_once.set()
        return self.current


def waiting(watch, status, changed_from=("pending",), timeout=30, order_id="order-1"):
    """A thread waiting on ``watch``, once it has read the status a first time."""
    waiter = threading.Thread(
        target=watch.wait_for_change, args=(order_id, status.read, changed_from, timeout)
    )
    waiter.start()
    assert status.read_once.wait(HUNG)
    return waiter


def finished(waiter):
    waiter.join(HUNG)
    return not waiter.is_alive()


def test_returns_at_once_when_the_status_already_changed():
    status = Status("awaiting_payment")
    StatusWatch().wait_for_change("order-1", status.read, ("pending",), 30)
    assert status.reads == 1


def test_a_notification_wakes_the_waiter():
    watch = StatusWatch()
    status = Status("pending")
    waiter = waiting(watch, status)
    status.current = "awaiting_payment"
    watch.notify("order-1")
    assert finished(waiter)
    assert status.reads == 2


def test_one_notification_wakes_every_waiter_on_that_order():
    watch = StatusWatch()
    first, second = Status("pending"), Status("pending")
    waiters = [waiting(watch, first), waiting(watch, second)]
    first.current = second.current = "cancelled"
    watch.notify("order-1")
    assert all(finished(waiter) for waiter in waiters)


def test_a_notification_for_another_order_does_not_end_the_wait():
    watch = StatusWatch()
    status = Status("pending")
    waiter = waiting(watch, status)
    watch.notify("order-2")
    time.sleep(0.2)
    assert waiter.is_alive() and status.reads == 1
    status.current = "expired"
    watch.notify("order-1")
    assert finished(waiter)


def test_a_waiter_woken_for_a_status_it_still_sees_waits_on():
    watch = StatusWatch()
    status = Status("pending")
    waiter = waiting(watch, status)
    watch.notify("order-1")
    deadline = time.monotonic() + HUNG
    while status.reads < 2:
        assert time.monotonic() < deadline, "the notification never woke the waiter"
        time.sleep(0.01)
    assert waiter.is_alive()
    status.current = "awaiting_payment"
    watch.notify("order-1")
    assert finished(waiter)


def test_a_recheck_wakes_the_waiters_whose_order_changed_though_nobody_notified():
    """As when another replica of orders committed the change."""
    watch = StatusWatch()
    moved, unmoved = Status("pending"), Status("pending")
    waiters = [waiting(watch, moved, order_id="order-1"), waiting(watch, unmoved, order_id="order-2")]
    moved.current = "awaiting_payment"
    asked = []

    def read_statuses(order_ids):
        asked.append(sorted(order_ids))
        return {"order-1": "awaiting_payment", "order-2": "pending"}

    watch.recheck(read_statuses)
    assert asked == [["order-1", "order-2"]]
    assert finished(waiters[0])
    time.sleep(0.2)
    assert waiters[1].is_alive() and unmoved.reads == 1
    unmoved.current = "cancelled"
    watch.notify("order-2")
    assert finished(waiters[1])


def test_a_recheck_with_nobody_waiting_reads_nothing():
    StatusWatch().recheck(lambda order_ids: pytest.fail(f"read {order_ids}"))


def test_gives_up_after_the_timeout():
    watch = StatusWatch()
    status = Status("pending")
    waiter = waiting(watch, status, timeout=0.3)
    assert finished(waiter)
    assert status.reads == 1


def test_a_notification_nobody_waited_for_is_not_kept_for_a_later_waiter():
    watch = StatusWatch()
    status = Status("delivered")
    watch.wait_for_change("order-1", status.read, ("pending",), 30)
    watch.notify("order-1")
    later = Status("pending")
    waiter = waiting(watch, later, changed_from=("pending",))
    time.sleep(0.2)
    assert waiter.is_alive() and later.reads == 1
    later.current = "paid"
    watch.notify("order-1")
    assert finished(waiter)


def test_waits_through_every_status_it_was_given():
    watch = StatusWatch()
    status = Status("awaiting_payment")
    waiter = waiting(watch, status, changed_from=("awaiting_payment", "paid"))
    status.current = "paid"
    watch.notify("order-1")
    time.sleep(0.2)
    assert waiter.is_alive() and status.reads == 2
    status.current = "delivered"
    watch.notify("order-1")
    assert finished(waiter)


def test_a_recheck_wakes_a_waiter_only_past_every_status_it_waits_through():
    watch = StatusWatch()
    status = Status("awaiting_payment")
    waiter = waiting(watch, status, changed_from=("awaiting_payment", "paid"))
    watch.recheck(lambda order_ids: {"order-1": "paid"})
    time.sleep(0.2)
    assert waiter.is_alive() and status.reads == 1
    status.current = "delivered"
    watch.recheck(lambda order_ids: {"order-1": "delivered"})
    assert finished(waiter)
