"""Secrets the local run generates for itself, kept in the data folder with mode 0600."""

import base64
import os
import secrets

from kameng_common.config import secret_from_env_or_file


def _card_key():
    return f"k1:{base64.b64encode(os.urandom(32)).decode()}"


def local_secrets(data_dir):
    """Environment entries for every secret the suite needs, from the environment or the data folder."""
    return {
        "KAMENG_CARD_KEYS": secret_from_env_or_file("KAMENG_CARD_KEYS", "card.keys", _card_key, data_dir),
        "KAMENG_MOCKPAY_SECRET": secret_from_env_or_file(
            "KAMENG_MOCKPAY_SECRET", "mockpay.secret", lambda: secrets.token_hex(32), data_dir
        ),
        "KAMENG_JWT_SECRET": secret_from_env_or_file(
            "KAMENG_JWT_SECRET", "jwt.secret", lambda: secrets.token_urlsafe(48), data_dir
        ),
    }


def admin_credentials(data_dir):
    """The first admin: from the environment, else a generated password kept for the local run."""
    username = os.environ.get("KAMENG_ADMIN_USERNAME", "admin")
    password = secret_from_env_or_file(
        "KAMENG_ADMIN_PASSWORD", "admin.password", lambda: secrets.token_urlsafe(18), data_dir
    )
    return username, password


def demo_customer_credentials(data_dir):
    return "demo", secret_from_env_or_file(
        "KAMENG_DEMO_PASSWORD", "demo.password", lambda: secrets.token_urlsafe(12), data_dir
    )


SIM_KEY_ID = "sim-key"
SIM_SECRET_FILE = "supplier-sim.secret"


def supplier_sim_credentials(data_dir):
    """The API key the local supplier simulator accepts, and that the local shop uses to buy from it."""
    key_id = os.environ.get("KAMENG_SUPPLIER_SIM_KEY_ID", SIM_KEY_ID)
    return key_id, secret_from_env_or_file(
        "KAMENG_SUPPLIER_SIM_SECRET", SIM_SECRET_FILE, lambda: secrets.token_hex(32), data_dir
    )
