"""Accounts across the real suite: sign-in locks, signing out, password changes, disabling and roles."""

import uuid

import pytest

from kameng_cli import shop

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "another-long-phrase-42"


def _account(suite, api, staff=None, role=None):
    username = f"acct_{uuid.uuid4().hex[:10]}"
    if role is None:
        created = api.register(username, PASSWORD)
    else:
        created = staff.request(
            "POST", "/api/v1/admin/staff", json={"username": username, "password": PASSWORD, "role": role}
        )
    return created["id"], username


def _status(gateway, method, path, **kwargs):
    with pytest.raises(shop.ApiError) as refused:
        gateway.request(method, path, expected=(), **kwargs)
    return refused.value.status


def test_sign_out_and_password_change_end_tokens_at_once(suite, api):
    account_id, username = _account(suite, api)
    first = shop.Gateway(suite.settings.gateway_url).log_in(username, PASSWORD)
    second = shop.Gateway(suite.settings.gateway_url).log_in(username, PASSWORD)
    me = first.request("GET", "/api/v1/me")
    assert (me["id"], me["kind"], me["level"], me["balance"], me["agent"]) == (
        account_id,
        "customer",
        "regular",
        0,
        None,
    )

    first.request("POST", "/api/v1/auth/logout", expected=(204,))
    assert _status(first, "GET", "/api/v1/me") == 401
    assert second.request("GET", "/api/v1/me")["id"] == account_id

    weak = _status(
        second,
        "POST",
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "password1"},
    )
    assert weak == 422
    fresh = second.request(
        "POST", "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert _status(second, "GET", "/api/v1/me") == 401
    assert (
        shop.Gateway(suite.settings.gateway_url, fresh["access_token"]).request("GET", "/api/v1/me")["id"]
        == account_id
    )
    assert (
        _status(api, "POST", "/api/v1/auth/token", json={"username": username, "password": PASSWORD}) == 401
    )
    shop.Gateway(suite.settings.gateway_url).log_in(username, NEW_PASSWORD)


def test_a_disabled_staff_member_is_out_at_once_and_every_change_is_audited(suite, api, staff):
    account_id, username = _account(suite, api, staff, role="support")
    support = shop.Gateway(suite.settings.gateway_url).log_in(username, PASSWORD)
    assert support.request("GET", "/api/v1/me")["role"] == "support"

    changed = staff.request("PATCH", f"/api/v1/admin/staff/{account_id}", json={"role": "finance"})
    assert changed["role"] == "finance"
    assert _status(support, "GET", "/api/v1/me") == 401
    support.log_in(username, PASSWORD)
    assert support.request("GET", "/api/v1/me")["role"] == "finance"

    staff.request("POST", f"/api/v1/admin/accounts/{account_id}/disable")
    assert _status(support, "GET", "/api/v1/me") == 401
    assert (
        _status(api, "POST", "/api/v1/auth/token", json={"username": username, "password": PASSWORD}) == 403
    )
    listed = {item["id"]: item for item in staff.request("GET", "/api/v1/admin/staff?limit=100")["items"]}
    assert listed[account_id]["disabled"] is True

    staff.request("POST", f"/api/v1/admin/accounts/{account_id}/enable")
    support.log_in(username, PASSWORD)
    assert support.request("GET", "/api/v1/me")["id"] == account_id

    actions = {
        entry["action"]
        for entry in staff.request("GET", "/api/v1/admin/audit-log?limit=100")["items"]
        if entry["target"] == f"account:{account_id}"
    }
    assert {"staff.created", "staff.role_changed", "account.disabled", "account.enabled"} <= actions
    admin_id = staff.request("GET", "/api/v1/me")["id"]
    assert _status(staff, "POST", f"/api/v1/admin/accounts/{admin_id}/disable") == 409


def test_failed_sign_ins_lock_the_account_whoever_asks(suite, api):
    _account_id, username = _account(suite, api)
    for _ in range(5):
        assert (
            _status(api, "POST", "/api/v1/auth/token", json={"username": username, "password": "wrong guess"})
            == 401
        )

    with pytest.raises(shop.ApiError) as locked:
        api.request(
            "POST", "/api/v1/auth/token", expected=(), json={"username": username, "password": PASSWORD}
        )
    assert locked.value.status == 429
    assert "account_locked" in str(locked.value)
