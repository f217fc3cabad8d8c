"""The signed-in account (``/api/v1/me``), and admins' management of staff and accounts."""

import uuid
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue

from kameng_gateway import audit, remote
from kameng_gateway.account_schemas import (
    AccountStateSchema,
    MeSchema,
    RoleChangeSchema,
    StaffListQuerySchema,
    StaffPageSchema,
)
from kameng_gateway.auth import ADMIN, login_required, roles_required, signed_in
from kameng_gateway.blueprints import load_json, load_query
from kameng_gateway.openapi import operation
from kameng_gateway.revocations import REVOCATIONS_EXTENSION

blueprint = Blueprint("accounts", __name__, url_prefix="/api/v1")

_ME_SCHEMA = MeSchema()
_STAFF_LIST_QUERY_SCHEMA = StaffListQuerySchema()
_STAFF_PAGE_SCHEMA = StaffPageSchema()
_ROLE_CHANGE_SCHEMA = RoleChangeSchema()
_ACCOUNT_STATE_SCHEMA = AccountStateSchema()


@blueprint.get("/me")
@operation("Who I am", responses={200: MeSchema}, auth="required")
@login_required
def me() -> ResponseReturnValue:
    """A customer: ``{id, username, kind, level, balance, currency, agent}`` (``agent``
    their agent id and invite code when they are an agent). A staff member: their
    ``role``, with no level or balance."""
    identity = signed_in()
    profile = remote.call("customers", "get_profile", identity.user_id)
    wallet = {"balance": None, "currency": None}
    if identity.is_customer:
        wallet = remote.call("payments", "get_wallet", identity.user_id)
    return _ME_SCHEMA.dump({**profile, "balance": wallet["balance"], "currency": wallet["currency"]})


@blueprint.get("/admin/staff")
@operation(
    "List staff accounts", query=StaffListQuerySchema, responses={200: StaffPageSchema}, auth="required"
)
@roles_required(ADMIN)
def list_staff() -> ResponseReturnValue:
    """By username, disabled accounts too, paginated with ``?limit=&cursor=``."""
    query = load_query(_STAFF_LIST_QUERY_SCHEMA)
    return _STAFF_PAGE_SCHEMA.dump(
        remote.call("customers", "list_staff", limit=query["limit"], cursor=query["cursor"])
    )


@blueprint.patch("/admin/staff/<uuid:account_id>")
@operation(
    "Change a staff member's role",
    body=RoleChangeSchema,
    responses={200: AccountStateSchema},
    auth="required",
)
@roles_required(ADMIN)
def change_role(account_id: uuid.UUID) -> ResponseReturnValue:
    """Their tokens, which carry the old role, stop working at once: they sign in
    again under the new one. No one changes their own role, and the last enabled
    admin stays an admin (409 ``own_account``, ``last_admin``)."""
    data = load_json(_ROLE_CHANGE_SCHEMA)
    state = remote.call("customers", "set_staff_role", str(account_id), data["role"], signed_in().user_id)
    _supersede(state)
    audit.record("staff.role_changed", f"account:{account_id}", {"role": state["role"]})
    return _ACCOUNT_STATE_SCHEMA.dump(state)


@blueprint.post("/admin/accounts/<uuid:account_id>/disable")
@operation("Disable an account", responses={200: AccountStateSchema}, auth="required")
@roles_required(ADMIN)
def disable_account(account_id: uuid.UUID) -> ResponseReturnValue:
    """A customer's or a staff member's: its tokens stop working at once and it
    cannot sign in (403 ``account_disabled``, told only to whoever gives the right
    password). Disabling a disabled account answers the same. No one disables
    themselves, and the last enabled admin stays enabled (409)."""
    return _set_disabled(account_id, True)


@blueprint.post("/admin/accounts/<uuid:account_id>/enable")
@operation("Enable a disabled account", responses={200: AccountStateSchema}, auth="required")
@roles_required(ADMIN)
def enable_account(account_id: uuid.UUID) -> ResponseReturnValue:
    """It may sign in again; tokens issued before it was disabled stay refused."""
    return _set_disabled(account_id, False)


def _set_disabled(account_id: uuid.UUID, disabled: bool) -> dict[str, Any]:
    state = remote.call("customers", "set_account_disabled", str(account_id), disabled, signed_in().user_id)
    _supersede(state)
    audit.record(
        "account.disabled" if disabled else "account.enabled",
        f"account:{account_id}",
        {"kind": state["kind"], "role": state["role"]},
    )
    return _ACCOUNT_STATE_SCHEMA.dump(state)


def _supersede(state: Mapping[str, Any]) -> None:
    current_app.extensions[REVOCATIONS_EXTENSION].supersede(state["id"], state["token_version"])
