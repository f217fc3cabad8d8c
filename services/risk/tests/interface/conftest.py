import pytest

from kameng_common.migrations import upgrade
from risk.service import RiskService


@pytest.fixture
def config(rabbit_config, database_url):
    upgrade("risk", database_url)
    return {
        **rabbit_config,
        "DATABASE_URL": database_url,
        "REVIEW_AMOUNT": 1_000,
        "REJECT_AMOUNT": 10_000,
        "VELOCITY_REVIEW": 20,
        "VELOCITY_REJECT": 60,
        "VELOCITY_WINDOW_SECONDS": 60,
        "SIGNIN_REVIEW_AMOUNT": 500,
    }


@pytest.fixture
def container(container_factory, config):
    container = container_factory(RiskService, config)
    container.start()
    return container
