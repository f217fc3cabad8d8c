"""Sign-up, bearer tokens, signing out and password changes."""

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue

from kameng_common.errors import Forbidden, Unauthorized
from kameng_gateway import audit, metrics, proxies, remote, signins
from kameng_gateway.account_schemas import PasswordChangeSchema
from kameng_gateway.auth import issue_token, login_required, signed_in
from kameng_gateway.blueprints import load_json
from kameng_gateway.openapi import operation
from kameng_gateway.revocations import REVOCATIONS_EXTENSION
from kameng_gateway.schemas import (
    CredentialsSchema,
    CustomerSchema,
    ErrorSchema,
    RegistrationSchema,
    TokenSchema,
)

blueprint = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

_REGISTRATION_SCHEMA = RegistrationSchema()
_CREDENTIALS_SCHEMA = CredentialsSchema()
_CUSTOMER_SCHEMA = CustomerSchema()
_TOKEN_SCHEMA = TokenSchema()
_PASSWORD_CHANGE_SCHEMA = PasswordChangeSchema()


@blueprint.post("/register")
@operation("Create a customer account", body=RegistrationSchema, responses={201: CustomerSchema})
def register() -> ResponseReturnValue:
    """The customer's region is the one the trusted proxy in front names in `KAMENG_REGION_HEADER`
    (e.g. `CF-IPCountry`), if any: staff see it and coupons may be limited to it."""
    data = load_json(_REGISTRATION_SCHEMA)
    region = proxies.client_region(current_app.config["KAMENG_SETTINGS"])
    customer = remote.call(
        "customers",
        "register",
        data["username"],
        data["password"],
        invite_code=data.get("invite_code"),
        # named only when known: a customers service older than regions still registers the rest
        **({"region": region} if region else {}),
    )
    return _CUSTOMER_SCHEMA.dump(customer), 201


@blueprint.post("/token")
@operation(
    "Exchange a username and password for a bearer token",
    body=CredentialsSchema,
    responses={200: TokenSchema, 429: ErrorSchema},
)
def issue_access_token() -> ResponseReturnValue:
    """Customers and staff alike; the token's claims carry the kind and the staff role.

    After ``KAMENG_SIGN_IN_MAX_FAILURES`` failed sign-ins to one username, or
    ``KAMENG_SIGN_IN_ADDRESS_MAX_FAILURES`` from one client address, that account
    or address is refused for ``KAMENG_SIGN_IN_LOCK_SECONDS``: 429 ``account_locked``
    or ``address_locked``, with ``Retry-After``, even with the right password."""
    data = load_json(_CREDENTIALS_SCHEMA)
    guard = current_app.extensions[signins.SIGN_INS_EXTENSION]
    address = request.remote_addr
    try:
        guard.check(data["username"], address)
    except signins.SignInLocked:
        metrics.SIGN_INS.labels("refused_locked").inc()
        raise
    try:
        # the address lets risk see a sign-in from a network the customer never used
        user = remote.call("customers", "authenticate", data["username"], data["password"], client_ip=address)
    except Unauthorized:
        metrics.SIGN_INS.labels("failed").inc()
        for scope in guard.failed(data["username"], address):
            _record_lock(scope, data["username"], address)
        raise
    except Forbidden as refused:
        if refused.code == "account_disabled":
            metrics.SIGN_INS.labels("refused_disabled").inc()
        raise
    guard.succeeded(data["username"])
    metrics.SIGN_INS.labels("succeeded").inc()
    return _TOKEN_SCHEMA.dump(issue_token(user)), 200, {"Cache-Control": "no-store"}


def _record_lock(scope: str, username: str, address: str | None) -> None:
    metrics.SIGN_IN_LOCKS.labels(scope).inc()
    target = f"username:{username.lower()}" if scope == signins.ACCOUNT else f"address:{address}"
    audit.record(
        "sign_in.locked",
        target,
        {"scope": scope, "seconds": current_app.config["KAMENG_SETTINGS"].sign_in_lock_seconds},
        actor=f"address:{address}",
    )


@blueprint.post("/logout")
@operation("Sign this token out", responses={204: None}, auth="required")
@login_required
def log_out() -> ResponseReturnValue:
    """The token that signs this request stops working at once, on every gateway
    worker; the account's other tokens are untouched."""
    identity = signed_in()
    current_app.extensions[REVOCATIONS_EXTENSION].revoke(identity.token_id, identity.expires_at)
    return "", 204


@blueprint.post("/password")
@operation(
    "Change my password",
    body=PasswordChangeSchema,
    responses={200: TokenSchema, 429: ErrorSchema},
    auth="required",
)
@login_required
def change_password() -> ResponseReturnValue:
    """With the current password (403 ``wrong_password`` otherwise) and a new one
    hard enough to guess (422 ``weak_password``). Every token issued before,
    this one included, stops working; the answer is a fresh token. A wrong
    current password counts as a failed sign-in of the account and the address:
    enough of them lock both (429 ``account_locked`` or ``address_locked``), so a
    stolen token cannot guess the password here either."""
    data = load_json(_PASSWORD_CHANGE_SCHEMA)
    identity = signed_in()
    username = remote.call("customers", "get_profile", identity.user_id)["username"]
    guard = current_app.extensions[signins.SIGN_INS_EXTENSION]
    address = request.remote_addr
    try:
        guard.check(username, address)
    except signins.SignInLocked:
        metrics.SIGN_INS.labels("refused_locked").inc()
        raise
    try:
        subject = remote.call(
            "customers", "change_password", identity.user_id, data["current_password"], data["new_password"]
        )
    except Forbidden as refused:
        if refused.code == "wrong_password":
            metrics.SIGN_INS.labels("failed").inc()
            for scope in guard.failed(username, address):
                _record_lock(scope, username, address)
        raise
    guard.succeeded(username)
    current_app.extensions[REVOCATIONS_EXTENSION].supersede(identity.user_id, subject["token_version"])
    if not identity.is_customer:
        audit.record("staff.password_changed", f"account:{identity.user_id}")
    return _TOKEN_SCHEMA.dump(issue_token(subject)), 200, {"Cache-Control": "no-store"}
