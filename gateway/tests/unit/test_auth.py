import os
import stat
import time
from dataclasses import replace

import jwt
import pytest

from kameng_common.errors import Conflict, Unauthorized
from kameng_gateway import auth
from kameng_gateway.app import create_app
from kameng_gateway.settings import Settings

CREDENTIALS = {"username": "alice", "password": "correct horse battery"}


def test_register_creates_a_customer_without_echoing_the_password(client, rpc):
    rpc.answer(
        "customers", "register", {"id": "u1", "username": "alice", "kind": "customer", "level": "regular"}
    )

    response = client.post("/api/v1/auth/register", json=CREDENTIALS)

    assert response.status_code == 201
    assert response.json == {"id": "u1", "username": "alice"}
    assert rpc.calls_to("customers", "register")[0].args == ("alice", "correct horse battery")


def test_register_refuses_a_short_password_before_calling_customers(client, rpc):
    response = client.post("/api/v1/auth/register", json={"username": "alice", "password": "short"})

    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_input"
    assert "password" in response.json["error"]["details"]
    assert rpc.calls == []


def test_register_of_a_taken_username_is_a_conflict(client, rpc):
    rpc.answer("customers", "register", Conflict("That username is taken.", "username_taken"))

    response = client.post("/api/v1/auth/register", json=CREDENTIALS)

    assert response.status_code == 409
    assert response.json == {"error": {"code": "username_taken", "message": "That username is taken."}}


def test_token_for_a_customer(client, rpc, settings):
    rpc.answer(
        "customers",
        "authenticate",
        {
            "id": "u1",
            "username": "alice",
            "kind": "customer",
            "role": None,
            "level": "regular",
            "token_version": 0,
        },
    )

    response = client.post("/api/v1/auth/token", json=CREDENTIALS)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json["token_type"] == "bearer"
    assert response.json["expires_in"] == 3600
    claims = jwt.decode(response.json["access_token"], settings.jwt_secret, algorithms=["HS256"])
    assert claims["sub"] == "u1"
    assert claims["kind"] == "customer"
    assert claims["role"] is None
    assert claims["exp"] - claims["iat"] == 3600
    # where the sign-in came from goes to customers (for risk's sign-in rule)
    assert rpc.calls_to("customers", "authenticate")[0].kwargs == {"client_ip": "127.0.0.1"}


def test_token_for_staff_carries_the_role(client, rpc, settings):
    rpc.answer(
        "customers",
        "authenticate",
        {"id": "s1", "username": "olga", "kind": "staff", "role": "ops", "level": None, "token_version": 0},
    )

    response = client.post("/api/v1/auth/token", json=CREDENTIALS)

    claims = jwt.decode(response.json["access_token"], settings.jwt_secret, algorithms=["HS256"])
    assert (claims["kind"], claims["role"]) == ("staff", "ops")


def test_token_lifetime_follows_the_settings(settings, rpc):
    rpc.answer("customers", "authenticate", {"id": "u1", "kind": "customer", "token_version": 0})
    client = create_app(settings=replace(settings, token_ttl_seconds=60), rpc=rpc).test_client()

    assert client.post("/api/v1/auth/token", json=CREDENTIALS).json["expires_in"] == 60


def test_wrong_password_is_unauthorized(client, rpc):
    rpc.answer("customers", "authenticate", Unauthorized("Wrong username or password."))

    response = client.post("/api/v1/auth/token", json=CREDENTIALS)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json["error"] == {"code": "unauthorized", "message": "Wrong username or password."}


@pytest.mark.parametrize(
    "authorization, code",
    [
        ("Bearer not-a-jwt", "invalid_token"),
        ("Basic YWxpY2U6c2VjcmV0", "unauthorized"),
        ("Bearer ", "unauthorized"),
    ],
)
def test_malformed_credentials_are_unauthorized(client, authorization, code):
    response = client.get("/api/v1/orders", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response.json["error"]["code"] == code


def test_expired_token_is_unauthorized(client, callers):
    expired = callers.token("customer", expires_in=-10)

    response = client.get("/api/v1/orders", headers=callers.bearer(expired))

    assert response.status_code == 401
    assert response.json["error"]["code"] == "token_expired"


def test_a_token_verified_before_is_refused_once_it_expires(client, callers, monkeypatch):
    token = callers.token("customer", expires_in=60)
    assert client.get(f"/api/v1/orders/{callers.order_id}", headers=callers.bearer(token)).status_code == 200

    later = time.time() + 61
    monkeypatch.setattr(auth.time, "time", lambda: later)
    response = client.get(f"/api/v1/orders/{callers.order_id}", headers=callers.bearer(token))

    assert response.status_code == 401
    assert response.json["error"]["code"] == "token_expired"


def test_a_token_verified_under_one_secret_is_not_taken_under_another(client, callers, settings, rpc):
    token = callers.token("customer")
    assert client.get(f"/api/v1/orders/{callers.order_id}", headers=callers.bearer(token)).status_code == 200

    other = create_app(settings=replace(settings, jwt_secret="another-secret-long-enough-for-hs256"), rpc=rpc)
    response = other.test_client().get(f"/api/v1/orders/{callers.order_id}", headers=callers.bearer(token))

    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_token"


def test_token_signed_with_another_secret_is_unauthorized(client, callers):
    forged = callers.token("staff", role="admin", secret="someone-else's-secret-of-some-length")

    response = client.get("/api/v1/orders", headers=callers.bearer(forged))

    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_token"


def test_token_of_an_unknown_kind_is_unauthorized(client, callers):
    response = client.get("/api/v1/orders", headers=callers.bearer(callers.token("robot")))

    assert response.status_code == 401


def test_secret_is_generated_once_into_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("KAMENG_JWT_SECRET", raising=False)
    monkeypatch.setenv("KAMENG_DATA_DIR", str(tmp_path))

    first = Settings.from_env().jwt_secret
    second = Settings.from_env().jwt_secret

    secret_file = tmp_path / "jwt.secret"
    assert first == second == secret_file.read_text().strip()
    assert len(first) >= 32
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600


def test_secret_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("KAMENG_JWT_SECRET", "from-the-environment")
    monkeypatch.setenv("KAMENG_DATA_DIR", str(tmp_path))

    assert Settings.from_env().jwt_secret == "from-the-environment"
    assert not (tmp_path / "jwt.secret").exists()


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("KAMENG_JWT_SECRET", "s" * 40)
    monkeypatch.setenv("KAMENG_TOKEN_TTL_SECONDS", "120")
    monkeypatch.setenv("KAMENG_RPC_TIMEOUT", "2.5")
    monkeypatch.setenv("KAMENG_RATE_LIMITS", "off")
    monkeypatch.setenv("KAMENG_METRICS_TOKEN", "scrape")

    settings = Settings.from_env()

    assert settings.token_ttl_seconds == 120
    assert settings.rpc_timeout == 2.5
    assert settings.rate_limits_enabled is False
    assert settings.metrics_token == "scrape"
