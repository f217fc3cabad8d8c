"""Signing out, password changes, GET /me and admins' management of accounts: revoked tokens stop at once."""

import uuid

import jwt
import pytest

from kameng_common.errors import Conflict, Forbidden
from kameng_gateway.app import create_app
from kameng_gateway.revocations import REVOCATIONS_EXTENSION

ACCOUNT_ID = "5ca1ab1e-0000-4000-8000-000000000001"


def subject(version, **overrides):
    return {
        "id": overrides.pop("id", "c0ffee00-0000-4000-8000-000000000001"),
        "username": "alice",
        "kind": "customer",
        "role": None,
        "level": "regular",
        "token_version": version,
        **overrides,
    }


def state(version, disabled=False, **overrides):
    return {
        "id": ACCOUNT_ID,
        "username": "sam",
        "kind": "staff",
        "role": "support",
        "disabled": disabled,
        "token_version": version,
        **overrides,
    }


@pytest.fixture
def rpc(rpc):
    rpc.answer(
        "customers",
        "get_profile",
        lambda account_id: {
            "id": account_id,
            "username": "alice",
            "kind": "customer",
            "role": None,
            "level": "regular",
            "agent": None,
        },
    )
    rpc.answer(
        "payments",
        "get_wallet",
        lambda customer_id: {"customer_id": customer_id, "balance": 1200, "currency": "CNY"},
    )
    return rpc


def test_logout_stops_that_token_alone(client, callers):
    token, other = callers.token("customer"), callers.token("customer")

    assert client.post("/api/v1/auth/logout", headers=callers.bearer(token)).status_code == 204

    refused = client.get("/api/v1/me", headers=callers.bearer(token))
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "token_revoked"
    assert client.get("/api/v1/me", headers=callers.bearer(other)).status_code == 200


def test_logout_is_refused_on_every_worker(app, settings, rpc, redis_client, callers):
    token = callers.token("customer")
    app.test_client().post("/api/v1/auth/logout", headers=callers.bearer(token))

    other_worker = create_app(settings=settings, rpc=rpc, redis_client=redis_client).test_client()
    assert other_worker.get("/api/v1/me", headers=callers.bearer(token)).status_code == 401


def test_a_password_change_answers_a_fresh_token_and_ends_every_older_one(client, rpc, callers, settings):
    rpc.answer("customers", "change_password", lambda account_id, current, new: subject(1, id=account_id))
    older, current = callers.token("customer"), callers.token("customer")

    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": "the old one", "new_password": "a-new-long-phrase"},
        headers=callers.bearer(current),
    )

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    fresh = response.json["access_token"]
    assert jwt.decode(fresh, settings.jwt_secret, algorithms=["HS256"])["ver"] == 1
    for token in (older, current):
        assert client.get("/api/v1/me", headers=callers.bearer(token)).status_code == 401
    assert client.get("/api/v1/me", headers=callers.bearer(fresh)).status_code == 200
    call = rpc.calls_to("customers", "change_password")[0]
    assert call.args == (callers.customer_id, "the old one", "a-new-long-phrase")


def test_a_wrong_current_password_changes_nothing(client, rpc, callers):
    rpc.answer(
        "customers", "change_password", Forbidden("the current password is not right", "wrong_password")
    )
    token = callers.token("customer")

    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": "nope", "new_password": "a-new-long-phrase"},
        headers=callers.bearer(token),
    )

    assert response.status_code == 403
    assert response.json["error"]["code"] == "wrong_password"
    assert client.get("/api/v1/me", headers=callers.bearer(token)).status_code == 200


def test_a_staff_password_change_is_audited(client, rpc, callers):
    rpc.answer(
        "customers",
        "change_password",
        lambda account_id, current, new: subject(3, id=account_id, kind="staff", role="ops", level=None),
    )

    client.post(
        "/api/v1/auth/password",
        json={"current_password": "the old one", "new_password": "a-new-long-phrase"},
        headers=callers.staff("ops"),
    )

    actions = [call.args[3:5] for call in rpc.calls_to("risk", "record_audit")]
    assert actions == [("staff.password_changed", "account:staff-ops")]


def test_me_for_a_customer_carries_the_wallet(client, callers):
    response = client.get("/api/v1/me", headers=callers.customer())

    assert response.status_code == 200
    assert response.json == {
        "id": callers.customer_id,
        "username": "alice",
        "kind": "customer",
        "role": None,
        "level": "regular",
        "balance": 1200,
        "currency": "CNY",
        "agent": None,
    }


def test_me_for_staff_has_a_role_and_no_wallet(client, rpc, callers):
    rpc.answer(
        "customers",
        "get_profile",
        lambda account_id: {
            "id": account_id,
            "username": "olga",
            "kind": "staff",
            "role": "ops",
            "level": None,
            "agent": None,
        },
    )

    response = client.get("/api/v1/me", headers=callers.staff("ops"))

    assert response.json["role"] == "ops"
    assert response.json["balance"] is None
    assert rpc.calls_to("payments", "get_wallet") == []


def test_me_needs_a_token(client):
    assert client.get("/api/v1/me").status_code == 401


def test_disabling_an_account_stops_its_tokens_at_once_and_is_audited(client, rpc, callers):
    rpc.answer(
        "customers", "set_account_disabled", lambda account_id, disabled, actor: state(1, disabled=True)
    )
    sams_token = callers.token("staff", role="support", user_id=ACCOUNT_ID)
    assert client.get("/api/v1/me", headers=callers.bearer(sams_token)).status_code == 200

    response = client.post(f"/api/v1/admin/accounts/{ACCOUNT_ID}/disable", headers=callers.staff("admin"))

    assert response.status_code == 200
    assert response.json == {
        "id": ACCOUNT_ID,
        "username": "sam",
        "kind": "staff",
        "role": "support",
        "disabled": True,
    }
    assert client.get("/api/v1/me", headers=callers.bearer(sams_token)).status_code == 401
    assert rpc.calls_to("customers", "set_account_disabled")[0].args == (ACCOUNT_ID, True, "staff-admin")
    entries = [call.args[2:] for call in rpc.calls_to("risk", "record_audit")]
    assert entries == [
        ("staff-admin", "account.disabled", f"account:{ACCOUNT_ID}", {"kind": "staff", "role": "support"})
    ]


def test_enabling_leaves_tokens_from_before_the_disable_refused(client, rpc, callers):
    rpc.answer(
        "customers", "set_account_disabled", lambda account_id, disabled, actor: state(1, disabled=disabled)
    )
    old_token = callers.token("staff", role="support", user_id=ACCOUNT_ID)
    client.post(f"/api/v1/admin/accounts/{ACCOUNT_ID}/disable", headers=callers.staff("admin"))

    enabled = client.post(f"/api/v1/admin/accounts/{ACCOUNT_ID}/enable", headers=callers.staff("admin"))

    assert enabled.json["disabled"] is False
    assert client.get("/api/v1/me", headers=callers.bearer(old_token)).status_code == 401
    new_token = callers.token("staff", role="support", user_id=ACCOUNT_ID, version=1)
    assert client.get("/api/v1/me", headers=callers.bearer(new_token)).status_code == 200


def test_a_late_lower_version_never_revives_tokens(app, callers):
    revocations = app.extensions[REVOCATIONS_EXTENSION]
    revocations.supersede(ACCOUNT_ID, 3)
    revocations.supersede(ACCOUNT_ID, 2)

    assert revocations.refusal(uuid.uuid4().hex, ACCOUNT_ID, 2) == "superseded"
    assert revocations.refusal(uuid.uuid4().hex, ACCOUNT_ID, 3) is None


def test_a_role_change_ends_the_tokens_carrying_the_old_role(client, rpc, callers):
    rpc.answer("customers", "set_staff_role", lambda account_id, role, actor: state(2, role=role))
    old_token = callers.token("staff", role="support", user_id=ACCOUNT_ID, version=1)

    response = client.patch(
        f"/api/v1/admin/staff/{ACCOUNT_ID}", json={"role": "finance"}, headers=callers.staff("admin")
    )

    assert response.status_code == 200
    assert response.json["role"] == "finance"
    assert client.get("/api/v1/me", headers=callers.bearer(old_token)).status_code == 401
    entries = [call.args[3:] for call in rpc.calls_to("risk", "record_audit")]
    assert entries == [("staff.role_changed", f"account:{ACCOUNT_ID}", {"role": "finance"})]


def test_the_last_admin_is_refused_as_a_conflict(client, rpc, callers):
    rpc.answer("customers", "set_staff_role", Conflict("the last enabled admin keeps the role", "last_admin"))

    response = client.patch(
        f"/api/v1/admin/staff/{ACCOUNT_ID}", json={"role": "ops"}, headers=callers.staff("admin")
    )

    assert response.status_code == 409
    assert response.json["error"]["code"] == "last_admin"
    assert rpc.calls_to("risk", "record_audit") == []


def test_the_staff_list(client, rpc, callers):
    page = {
        "items": [
            {
                "id": ACCOUNT_ID,
                "username": "sam",
                "role": "support",
                "disabled": False,
                "created_at": "2026-01-01T00:00:00+00:00",
            }
        ],
        "next_cursor": "sam",
    }
    rpc.answer("customers", "list_staff", lambda limit, cursor: page)

    response = client.get("/api/v1/admin/staff?limit=1", headers=callers.staff("admin"))

    assert response.json == page
    assert rpc.calls_to("customers", "list_staff")[0].kwargs == {"limit": 1, "cursor": None}


@pytest.mark.parametrize("role", ["ops", "support", "finance", "auditor"])
@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/admin/staff"),
        ("patch", f"/api/v1/admin/staff/{ACCOUNT_ID}"),
        ("post", f"/api/v1/admin/accounts/{ACCOUNT_ID}/disable"),
        ("post", f"/api/v1/admin/accounts/{ACCOUNT_ID}/enable"),
    ],
)
def test_only_admins_manage_accounts(client, rpc, callers, role, method, path):
    response = getattr(client, method)(path, json={"role": "ops"}, headers=callers.staff(role))

    assert response.status_code == 403
    assert not [call for call in rpc.calls if call.service == "customers"]


def test_a_token_without_its_id_or_version_is_not_valid(client, settings):
    claims = {"sub": "u1", "kind": "customer", "role": None, "exp": 4_000_000_000}
    token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")

    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_token"


def test_refused_tokens_are_counted(client, callers):
    token = callers.token("customer")
    client.post("/api/v1/auth/logout", headers=callers.bearer(token))
    client.get("/api/v1/me", headers=callers.bearer(token))

    metrics = client.get("/metrics", headers={"Authorization": "Bearer scrape-token"}).text
    assert 'kameng_tokens_refused_total{reason="logged_out"}' in metrics
