"""wait_for_status: long-polling an order through the gateway (on a fake gateway)."""

import pytest

from kameng_cli import shop


class FakeBuyer:
    """Answers each GET of the order with the next of ``statuses``; records the query of each."""

    def __init__(self, *statuses):
        self.statuses = iter(statuses)
        self.queries = []

    def request(self, method, path, params=None):
        assert (method, path) == ("GET", "/api/v1/orders/order-1")
        self.queries.append(params)
        return {"id": "order-1", "status": next(self.statuses)}


def test_long_polls_from_the_last_status_seen():
    buyer = FakeBuyer("pending", "on_hold", "awaiting_payment")

    order = shop.wait_for_status(buyer, "order-1", {"awaiting_payment"})

    assert order["status"] == "awaiting_payment"
    first, *long_polls = buyer.queries
    assert first is None
    assert [query["changed_from"] for query in long_polls] == ["pending", "on_hold"]
    assert all(0 < query["wait"] <= shop.LONG_POLL_SECONDS for query in long_polls)


def test_a_final_status_ends_the_wait():
    buyer = FakeBuyer("pending", "cancelled")

    assert shop.wait_for_status(buyer, "order-1", {"delivered"})["status"] == "cancelled"


def test_gives_up_at_the_timeout():
    buyer = FakeBuyer("pending")

    with pytest.raises(shop.ApiError, match="still pending"):
        shop.wait_for_status(buyer, "order-1", {"delivered"}, timeout=0)
