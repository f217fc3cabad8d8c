from pathlib import Path

import pytest

import customers
from kameng_common.config import load_config

CONFIG = Path(customers.__file__).resolve().parent.parent / "config.yaml"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("KAMENG_DATA_DIR", str(tmp_path))
    for name in (
        "KAMENG_AMQP_URI",
        "KAMENG_CUSTOMERS_DATABASE_URL",
        "KAMENG_CUSTOMERS_METRICS_PORT",
        "KAMENG_CUSTOMERS_ARGON2_TIME_COST",
        "KAMENG_CUSTOMERS_ARGON2_MEMORY_KIB",
        "KAMENG_CUSTOMERS_ARGON2_PARALLELISM",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(clean_env, tmp_path):
    config = load_config(CONFIG)

    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path}/customers.db"
    assert config["METRICS_PORT"] == 9104
    assert (config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_KIB"], config["ARGON2_PARALLELISM"]) == (
        3,
        65536,
        4,
    )


def test_every_setting_follows_its_environment_variable(clean_env):
    clean_env.setenv("KAMENG_CUSTOMERS_DATABASE_URL", "postgresql+psycopg2://db/customers")
    clean_env.setenv("KAMENG_CUSTOMERS_METRICS_PORT", "9999")
    clean_env.setenv("KAMENG_CUSTOMERS_ARGON2_TIME_COST", "4")

    config = load_config(CONFIG)

    assert config["DATABASE_URL"] == "postgresql+psycopg2://db/customers"
    assert config["METRICS_PORT"] == 9999
    assert config["ARGON2_TIME_COST"] == 4
