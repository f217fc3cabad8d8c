import datetime
import json

import pytest

from kameng_common import contracts
from risk.db import metadata as service_metadata

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def metadata():
    """The tables of the shared ``db``, ``any_db`` and ``postgres_db`` fixtures (kameng_common.testing)."""
    return service_metadata


def order_created(
    order_id, customer_id="c1", total=10_000, at=NOW, product_id=1, quantity=1, client_ip=None, device_id=None
):
    """An order.created envelope as the reliable handler passes it, created at ``at``."""
    envelope = contracts.new_event(
        "order.created",
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "items": [{"product_id": product_id, "quantity": quantity, "unit_price": total // quantity}],
            "total": total,
            "currency": "CNY",
            "client_ip": client_ip,
            "device_id": device_id,
        },
        order_id,
    )
    envelope["occurred_at"] = at.isoformat()
    return contracts.load_event(json.dumps(envelope))


@pytest.fixture
def make_order_created():
    """Test modules can't import this conftest: they reach ``order_created`` through this fixture."""
    return order_created
