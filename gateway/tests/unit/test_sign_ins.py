"""Failed sign-ins lock the account and the client address, whatever comes next."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import redis

from kameng_common.errors import Forbidden, Unauthorized
from kameng_gateway.app import create_app
from kameng_gateway.signins import ACCOUNT, ADDRESS, Limits, SignInGuard, account_key

ALICE = {
    "id": "u1",
    "username": "alice",
    "kind": "customer",
    "role": None,
    "level": "regular",
    "token_version": 0,
}


def wrong_password(username, password, client_ip=None):
    if password != "right password":
        raise Unauthorized("invalid username or password", code="invalid_credentials")
    return {**ALICE, "username": username}


@pytest.fixture
def rpc(rpc):
    rpc.answer("customers", "authenticate", wrong_password)
    return rpc


def sign_in(client, username="alice", password="wrong password", address="10.0.0.1"):
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_overrides={"REMOTE_ADDR": address},
    )


def audit_entries(rpc):
    return [call.args for call in rpc.calls_to("risk", "record_audit")]


def test_the_fifth_failure_locks_the_account_even_against_the_right_password(client, rpc):
    statuses = [sign_in(client).status_code for _ in range(5)]

    assert statuses == [401] * 5
    response = sign_in(client, password="right password", address="10.9.9.9")
    assert response.status_code == 429
    error = response.json["error"]
    assert error["code"] == "account_locked"
    assert 0 < error["details"]["retry_after"] <= 900
    assert response.headers["Retry-After"] == str(error["details"]["retry_after"])
    # refused before customers is asked: a locked account costs no password hashing
    assert len(rpc.calls_to("customers", "authenticate")) == 5


def test_the_lock_holds_whatever_the_case_of_the_name(client):
    for _ in range(5):
        sign_in(client, username="Alice")

    assert sign_in(client, username="ALICE", password="right password").json["error"]["code"] == (
        "account_locked"
    )


def test_an_unknown_username_locks_the_same_way(client, rpc):
    rpc.answer(
        "customers",
        "authenticate",
        Unauthorized("invalid username or password", code="invalid_credentials"),
    )

    statuses = [sign_in(client, username="nobody").status_code for _ in range(6)]

    # the same answers as for a real account: a lock tells nothing about which names exist
    assert statuses == [401] * 5 + [429]


def test_a_lock_is_written_to_the_audit_log_once(client, rpc):
    for _ in range(7):
        sign_in(client)

    locks = [entry for entry in audit_entries(rpc) if entry[3] == "sign_in.locked"]
    assert len(locks) == 1
    _entry_id, _at, actor, _action, target, detail = locks[0]
    assert (actor, target, detail) == (
        "address:10.0.0.1",
        "username:alice",
        {"scope": "account", "seconds": 900},
    )


def test_a_right_password_before_the_lock_forgets_the_failures(client):
    for _ in range(4):
        sign_in(client)
    assert sign_in(client, password="right password").status_code == 200

    statuses = [sign_in(client).status_code for _ in range(4)]

    assert statuses == [401] * 4
    assert sign_in(client, password="right password").status_code == 200


def test_failures_from_one_address_across_accounts_lock_the_address(settings, rpc, redis_client):
    limited = replace(settings, sign_in_address_max_failures=3)
    client = create_app(settings=limited, rpc=rpc, redis_client=redis_client).test_client()

    statuses = [sign_in(client, username=f"user{n}").status_code for n in range(3)]

    assert statuses == [401] * 3
    refused = sign_in(client, username="alice", password="right password")
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "address_locked"
    # another address is not locked
    assert sign_in(client, username="alice", password="right password", address="10.0.0.2").status_code == 200


def test_the_lock_is_shared_by_every_gateway_process(settings, rpc, redis_client):
    workers = [
        create_app(settings=settings, rpc=rpc, redis_client=redis_client).test_client() for _ in range(3)
    ]

    for attempt in range(5):
        sign_in(workers[attempt % 3], address=f"10.0.0.{attempt}")

    assert sign_in(workers[0], password="right password").status_code == 429


def test_concurrent_failures_lock_exactly_once(redis_client):
    guard = SignInGuard(redis_client, Limits(account_failures=5, address_failures=1000))

    with ThreadPoolExecutor(max_workers=8) as pool:
        locked = list(pool.map(lambda n: guard.failed("alice", f"10.0.0.{n}"), range(40)))

    assert sum(scopes.count(ACCOUNT) for scopes in locked) == 1
    assert not any(ADDRESS in scopes for scopes in locked)


def test_the_failure_count_expires_with_the_window(redis_client):
    guard = SignInGuard(redis_client, Limits(lock_seconds=60))

    guard.failed("alice", "10.0.0.1")

    ttl = redis_client.ttl(f"kameng:sign-in-failures:account:{account_key('alice')}")
    assert 0 < ttl <= 60


def test_sign_ins_are_counted_by_outcome(client):
    sign_in(client)
    sign_in(client, password="right password")

    metrics = client.get("/metrics", headers={"Authorization": "Bearer scrape-token"}).text
    assert 'kameng_sign_ins_total{outcome="failed"}' in metrics
    assert 'kameng_sign_ins_total{outcome="succeeded"}' in metrics


def test_a_store_that_is_down_answers_503_not_500(settings, rpc):
    client = create_app(
        settings=settings, rpc=rpc, redis_client=redis.Redis(port=1, socket_connect_timeout=0.2)
    ).test_client()

    response = sign_in(client)

    assert response.status_code == 503
    assert response.json["error"]["code"] == "unavailable"


def test_a_disabled_accounts_sign_in_is_counted(client, rpc):
    rpc.answer("customers", "authenticate", Forbidden("this account is disabled", "account_disabled"))

    assert sign_in(client, password="right password").status_code == 403

    metrics = client.get("/metrics", headers={"Authorization": "Bearer scrape-token"}).text
    assert 'kameng_sign_ins_total{outcome="refused_disabled"}' in metrics


def change_password(client, callers, token, current="wrong password", address="10.0.0.1"):
    return client.post(
        "/api/v1/auth/password",
        json={"current_password": current, "new_password": "a-new-long-phrase"},
        headers=callers.bearer(token),
        environ_overrides={"REMOTE_ADDR": address},
    )


@pytest.fixture
def password_changes(rpc):
    rpc.answer(
        "customers",
        "get_profile",
        lambda account_id: {**ALICE, "id": account_id, "agent": None},
    )

    def change(account_id, current, new):
        if current != "right password":
            raise Forbidden("the current password is not right", "wrong_password")
        return {**ALICE, "id": account_id, "token_version": 1}

    rpc.answer("customers", "change_password", change)
    return rpc


def test_wrong_current_passwords_on_a_password_change_lock_the_account(client, password_changes, callers):
    token = callers.token("customer")
    statuses = [change_password(client, callers, token).status_code for _ in range(5)]

    assert statuses == [403] * 5
    # the owner's own sign-in is refused too, from anywhere, and so is the right password here
    locked = sign_in(client, password="right password", address="10.9.9.9")
    assert locked.status_code == 429 and locked.json["error"]["code"] == "account_locked"
    refused = change_password(client, callers, token, current="right password", address="10.8.8.8")
    assert refused.status_code == 429 and refused.json["error"]["code"] == "account_locked"
    assert len(password_changes.calls_to("customers", "change_password")) == 5
    assert ("sign_in.locked", "username:alice") in [args[3:5] for args in audit_entries(password_changes)]


def test_sign_in_failures_and_wrong_current_passwords_add_up(client, password_changes, callers):
    for _ in range(3):
        sign_in(client)
    for _ in range(2):
        change_password(client, callers, callers.token("customer"))

    assert sign_in(client, password="right password").status_code == 429
