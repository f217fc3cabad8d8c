from pathlib import Path
from types import SimpleNamespace

import pytest

import risk
from kameng_common.config import load_config
from risk.dependencies import RiskThresholds
from risk.domain import Thresholds

CONFIG = Path(risk.__file__).resolve().parent.parent / "config.yaml"
THRESHOLD_VARIABLES = (
    "KAMENG_RISK_REVIEW_AMOUNT",
    "KAMENG_RISK_REJECT_AMOUNT",
    "KAMENG_RISK_VELOCITY_REVIEW",
    "KAMENG_RISK_VELOCITY_REJECT",
    "KAMENG_RISK_VELOCITY_WINDOW_SECONDS",
)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("KAMENG_DATA_DIR", str(tmp_path))
    for name in (
        "KAMENG_AMQP_URI",
        "KAMENG_RISK_DATABASE_URL",
        "KAMENG_RISK_METRICS_PORT",
        *THRESHOLD_VARIABLES,
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
    for value, name in enumerate(THRESHOLD_VARIABLES, start=1):
        clean_env.setenv(name, str(value * 1000))

    assert thresholds_of(load_config(CONFIG)) == Thresholds(
        review_amount=1000,
        reject_amount=2000,
        velocity_review=3000,
        velocity_reject=4000,
        velocity_window_seconds=5000,
    )


def test_nonsense_thresholds_stop_the_service_at_start(clean_env):
    clean_env.setenv("KAMENG_RISK_VELOCITY_REVIEW", "100")
    clean_env.setenv("KAMENG_RISK_VELOCITY_REJECT", "10")

    with pytest.raises(ValueError):
        thresholds_of(load_config(CONFIG))
