"""Waiting for an order's status to change, for the long-polling ``get_order``."""

import threading
import time
from contextlib import contextmanager


class StatusWatch:
    """Lets callers wait until an order's status is no longer the one they saw.

    ``notify(order_id)`` wakes that order's waiters at once, for the changes
    committed in this process. Those committed by another replica are found
    by ``recheck``, which the service runs every so often: one query for all
    the orders waited on, however many callers wait. The lock and events are
    ``threading``'s, green where eventlet has patched it.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._waiters = {}  # order id -> {a waiting caller's event: the statuses it waits through}

    def notify(self, order_id):
        """The order's status has changed, committed: wake whoever waits on it."""
        with self._lock:
            for woken in self._waiters.get(order_id, ()):
                woken.set()

    def recheck(self, read_statuses):
        """Wake the callers whose order's status, as ``read_statuses(order_ids)`` gives them, has changed."""
        with self._lock:
            waited_on = list(self._waiters)
        if not waited_on:
            return
        statuses = read_statuses(waited_on)
        with self._lock:
            for order_id, waiters in self._waiters.items():
                for woken, waited_through in waiters.items():
                    if statuses.get(order_id) not in waited_through:
                        woken.set()

    def wait_for_change(self, order_id, read_status, waited_through, timeout):
        """Return once ``read_status()`` is none of ``waited_through`` (statuses), or ``timeout`` seconds from now."""
        deadline = time.monotonic() + timeout
        waited_through = frozenset(waited_through)
        with self._waiting_on(order_id, waited_through) as woken:
            # registered before the first read: a change committed after that read wakes it
            while read_status() in waited_through:
                if not woken.wait(max(deadline - time.monotonic(), 0)):
                    return  # the time is up
                # cleared before the next read, which sees any change notified until then
                woken.clear()

    @contextmanager
    def _waiting_on(self, order_id, waited_through):
        woken = threading.Event()
        with self._lock:
            self._waiters.setdefault(order_id, {})[woken] = waited_through
        try:
            yield woken
        finally:
            with self._lock:
                waiters = self._waiters[order_id]
                del waiters[woken]
                if not waiters:
                    del self._waiters[order_id]
