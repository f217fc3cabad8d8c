"""What a service holds for an order that orders may never have stored, and the sweep that gives it back.

Orders stores a new order only after customers has held its coupon and inventory
has reserved its stock (each asked with the order's id, which follows from the
buyer and the Idempotency-Key). Should orders stop, or lose an answer, between
asking and storing, and the buyer never retry, the hold would be kept forever.
So the holder sweeps: every hold older than a grace period is asked about with
orders' ``order_statuses`` (a batch of ids at a time), and the one whose order
orders does not know goes back. Orders, for its part, stores no order once half
that grace period has passed since it asked (``check_asked_within``), so the sweep
cannot give back the hold of an order that commits later.
"""

import time
from collections.abc import Callable, Mapping
from typing import Any

from kameng_common.errors import Unavailable

# orders' ``order_statuses(order_ids)``: {"orders": {order_id: status}} for the ids it knows
OrderStatuses = Callable[[list[str]], Mapping[str, Any]]

# the holds a sweep asks orders about at once (orders answers up to 200 ids)
SWEEP_PAGE = 100

# what a sweep says of an order orders does not know: it was never stored
UNKNOWN = "unknown"


def statuses_of(order_statuses: OrderStatuses, order_ids: list[str]) -> dict[str, str]:
    """orders' statuses of those of ``order_ids`` it knows; Unavailable for no answer or a malformed one."""
    answer = order_statuses(order_ids)
    known = answer.get("orders") if isinstance(answer, Mapping) else None
    if not isinstance(known, Mapping) or not all(
        isinstance(order_id, str) and isinstance(status, str) for order_id, status in known.items()
    ):
        raise Unavailable("orders answered malformed order statuses")
    return dict(known)


def check_asked_within(asked_at: float, grace_seconds: float, what: str) -> None:
    """Unavailable (the order is not stored) once ``what`` (a coupon's hold, the stock's reservation),
    asked at ``asked_at`` (monotonic), is half as old as its holder's sweep lets a hold for an order it
    does not see stored live: the sweep could give it back while the order is stored counting on it.
    A retry with the key asks again (renewed, or anew)."""
    if time.monotonic() - asked_at >= grace_seconds / 2:
        raise Unavailable(f"the order took too long to place to keep its {what}; place it again")
