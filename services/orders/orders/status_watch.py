"""Waiting for an order's status to change, for the long-polling ``get_order``."""
import threading
import time
from contextlib import contextmanager

RECHECK_SECONDS = 0.5


class StatusWatch:
    """Lets a caller wait until an order's status is no longer the one it saw.

    ``notify(order_id)`` wakes that order's waiters at once, but only for the
    changes committed in this process: a waiter also re-reads the status every
    ``recheck_seconds`` to see those committed by another replica. The lock and
    events are ``threading``'s, green where eventlet has patched it.
    """

    def __init__(self, recheck_seconds=RECHECK_SECONDS):
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._waiters = {}  # order id -> the events of the callers waiting on it

    def notify(self, order_id):
        """The order's status has changed, committed: wake whoever waits on it."""
        with self._lock:
            for woken in self._waiters.get(order_id, ()):
                woken.set()

    def wait_for_change(self, order_id, read_status, changed_from, timeout):
        """Return once ``read_status()`` is no longer ``changed_from``, or ``timeout`` seconds from now."""
        deadline = time.monotonic() + timeout
        with self._waiting_on(order_id) as woken:
            # registered before the first read: a change committed after that read wakes it
            while read_status() == changed_from:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                woken.wait(min(self.recheck_seconds, remaining))
                # cleared before the next read, which sees any change notified until then
                woken.clear()

    @contextmanager
    def _waiting_on(self, order_id):
        woken = threading.Event()
        with self._lock:
            self._waiters.setdefault(order_id, set()).add(woken)
        try:
            yield woken
        finally:
            with self._lock:
                waiters = self._waiters[order_id]
                waiters.discard(woken)
                if not waiters:
                    del self._waiters[order_id]
