"""Bounds on long-polls, so that waiting clients cannot starve everyone else.

A long-poll holds one of the gateway process's threads for as long as it
waits. ``WaitSlots`` lets at most ``per_process`` of them wait at once (the
rest of the threads stay free for other requests) and at most ``per_caller``
for any one caller; a long-poll that finds no slot is refused at once with
429 ``too_many_waits`` and a ``Retry-After``, rather than queued.
"""

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app

from kameng_common.errors import KamengError
from kameng_gateway.settings import Settings

WAIT_SLOTS_EXTENSION = "kameng_wait_slots"
RETRY_AFTER_SECONDS = 1


class TooManyWaits(KamengError):
    status = 429
    code = "too_many_waits"
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class WaitSlots:
    def __init__(self, per_process: int, per_caller: int) -> None:
        self.per_process = per_process
        self.per_caller = per_caller
        self._lock = threading.Lock()
        self._by_caller: Counter[str] = Counter()
        self._total = 0

    @contextmanager
    def slot(self, caller: str) -> Iterator[None]:
        """A wait slot for ``caller`` for the duration of the block; TooManyWaits when none is free."""
        with self._lock:
            if self._by_caller[caller] >= self.per_caller:
                raise TooManyWaits(
                    f"At most {self.per_caller} long-polls may wait at once per caller; retry when one answers."
                )
            if self._total >= self.per_process:
                raise TooManyWaits("The gateway has as many long-polls waiting as it allows; retry shortly.")
            self._by_caller[caller] += 1
            self._total += 1
        try:
            yield
        finally:
            with self._lock:
                self._total -= 1
                self._by_caller[caller] -= 1
                if not self._by_caller[caller]:
                    del self._by_caller[caller]


def install(app: Flask, settings: Settings) -> None:
    app.extensions[WAIT_SLOTS_EXTENSION] = WaitSlots(settings.max_waits, settings.max_waits_per_caller)


def slots() -> WaitSlots:
    return current_app.extensions[WAIT_SLOTS_EXTENSION]
