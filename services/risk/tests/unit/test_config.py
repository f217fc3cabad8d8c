import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

import risk
from kameng_common.config import load_config
from risk.dependencies import RiskThresholds
from risk.domain import Thresholds

CONFIG = Path(risk.__file__).resolve().parent.parent / "config.yaml"
# Thresholds field → its environment variable, in the order of the fields
THRESHOLD_VARIABLES = {
    "review_amount": "KAMENG_RISK_REVIEW_AMOUNT",
    "reject_amount": "KAMENG_RISK_REJECT_AMOUNT",
    "velocity_review": "KAMENG_RISK_VELOCITY_REVIEW",
    "velocity_reject": "KAMENG_RISK_VELOCITY_REJECT",
    "velocity_window_seconds": "KAMENG_RISK_VELOCITY_WINDOW_SECONDS",
    "max_unpaid_orders": "KAMENG_MAX_UNPAID_ORDERS",
    "max_unpaid_units_per_product": "KAMENG_RISK_MAX_UNPAID_UNITS_PER_PRODUCT",
    "new_account_seconds": "KAMENG_RISK_NEW_ACCOUNT_SECONDS",
    "new_account_review_amount": "KAMENG_RISK_NEW_ACCOUNT_REVIEW_AMOUNT",
    "card_testing_review": "KAMENG_RISK_CARD_TESTING_REVIEW",
    "card_testing_reject": "KAMENG_RISK_CARD_TESTING_REJECT",
    "card_testing_window_seconds": "KAMENG_RISK_CARD_TESTING_WINDOW_SECONDS",
    "refund_review": "KAMENG_RISK_REFUND_REVIEW",
    "refund_reject": "KAMENG_RISK_REFUND_REJECT",
    "refund_window_seconds": "KAMENG_RISK_REFUND_WINDOW_SECONDS",
    "signin_window_seconds": "KAMENG_RISK_SIGNIN_WINDOW_SECONDS",
    "signin_review_amount": "KAMENG_RISK_SIGNIN_REVIEW_AMOUNT",
}


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("KAMENG_DATA_DIR", str(tmp_path))
    for name in (
        "KAMENG_AMQP_URI",
        "KAMENG_RISK_DATABASE_URL",
        "KAMENG_RISK_METRICS_PORT",
        *THRESHOLD_VARIABLES.values(),
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def thresholds_of(config):
    provider = RiskThresholds()
    provider.container = SimpleNamespace(config=config)
    provider.setup()
    return provider.get_dependency(None)


def test_defaults(clean_env, tmp_path):
    config = load_config(CONFIG)

    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path}/risk.db"
    assert config["METRICS_PORT"] == 9105
    assert thresholds_of(config) == Thresholds()


def test_every_threshold_follows_its_environment_variable(clean_env):
    for value, name in enumerate(THRESHOLD_VARIABLES.values(), start=1):
        clean_env.setenv(name, str(value * 1000))

    assert thresholds_of(load_config(CONFIG)) == Thresholds(
        **{field: value * 1000 for value, field in enumerate(THRESHOLD_VARIABLES, start=1)}
    )


def test_every_threshold_has_a_setting():
    assert list(THRESHOLD_VARIABLES) == [field.name for field in dataclasses.fields(Thresholds)]


def test_nonsense_thresholds_stop_the_service_at_start(clean_env):
    clean_env.setenv("KAMENG_RISK_VELOCITY_REVIEW", "100")
    clean_env.setenv("KAMENG_RISK_VELOCITY_REJECT", "10")

    with pytest.raises(ValueError):
        thresholds_of(load_config(CONFIG))
