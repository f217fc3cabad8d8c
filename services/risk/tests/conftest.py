import datetime

import pytest

from risk.db import metadata as service_metadata

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def metadata():
    """The tables of the shared ``db``, ``any_db`` and ``postgres_db`` fixtures (kameng_common.testing)."""
    return service_metadata


def order_to_assess(
    order_id, customer_id="c1", total=10_000, at=NOW, product_id=1, quantity=1, client_ip=None, device_id=None
):
    """What orders sends ``assess_order`` for an order it created at ``at``."""
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "items": [{"product_id": product_id, "quantity": quantity, "unit_price": total // quantity}],
        "total": total,
        "currency": "CNY",
        "created_at": at.isoformat(),
        "client_ip": client_ip,
        "device_id": device_id,
    }


@pytest.fixture
def make_order():
    """Test modules can't import this conftest: they reach ``order_to_assess`` through this fixture."""
    return order_to_assess
