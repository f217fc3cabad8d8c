"""Bearer tokens and the role rules of API.md.

A token is a JWT (HS256) with ``sub`` (the user id), ``kind`` ("customer" or
"staff"), ``role`` (the staff role, null for a customer), ``exp``, ``jti`` (its
own id, to revoke it alone) and ``ver`` (the account's token version when it was
issued). Each request's token is checked against the revocations in Redis
(``revocations.TokenRevocations``). Passwords never reach this module:
customers.authenticate checks them.
"""

import functools
import hmac
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import jwt
from flask import current_app, g, request

from kameng_common.errors import Forbidden, Unauthorized
from kameng_gateway import metrics
from kameng_gateway.revocations import LOGGED_OUT, REVOCATIONS_EXTENSION

ALGORITHM = "HS256"
CUSTOMER = "customer"
STAFF = "staff"

ADMIN, OPS, SUPPORT, FINANCE, AUDITOR = "admin", "ops", "support", "finance", "auditor"
STAFF_ROLES = (ADMIN, OPS, SUPPORT, FINANCE, AUDITOR)

# Who may do what, from API.md: ops runs the catalogue and stock; support,
# finance and auditors (read-only) may read orders; /metrics is for ops.
CATALOGUE_ROLES = (ADMIN, OPS)
ORDER_READER_ROLES = (ADMIN, SUPPORT, FINANCE, AUDITOR)
METRICS_ROLES = (ADMIN, OPS)
AUDIT_LOG_ROLES = (ADMIN, AUDITOR)
REFUND_ROLES = (ADMIN, FINANCE)
REFUND_READER_ROLES = (ADMIN, FINANCE, AUDITOR)
LEDGER_READER_ROLES = (ADMIN, FINANCE, AUDITOR)
# after-sales tickets: support reads, comments and may reject; approving moves money (REFUND_ROLES)
REFUND_TICKET_ROLES = (ADMIN, FINANCE, SUPPORT)
# who decides the orders risk held for review, and who keeps the blacklist
REVIEWER_ROLES = (ADMIN, SUPPORT, OPS)
BLACKLIST_ROLES = (ADMIN, OPS)
# verified tokens kept in each process, the least recently used dropped first
VERIFIED_TOKENS_KEPT = 4096

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Identity:
    user_id: str
    kind: str
    role: str | None = None
    # the bearer token's own id and expiry (unix seconds), to sign that token out
    token_id: str | None = None
    expires_at: int | None = None

    @property
    def is_customer(self) -> bool:
        return self.kind == CUSTOMER

    def has_role(self, roles: Collection[str]) -> bool:
        return self.kind == STAFF and self.role in roles


def issue_token(user: Mapping[str, Any]) -> dict[str, Any]:
    """``{access_token, token_type, expires_in}`` for a user customers.authenticate (or
    change_password) returned, under the account's ``token_version``."""
    settings = current_app.config["KAMENG_SETTINGS"]
    now = int(time.time())
    claims = {
        "sub": str(user["id"]),
        "kind": user["kind"],
        "role": user.get("role") if user["kind"] == STAFF else None,
        "iat": now,
        "exp": now + settings.token_ttl_seconds,
        "jti": uuid.uuid4().hex,
        "ver": user["token_version"],
    }
    token = jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)
    return {"access_token": token, "token_type": "bearer", "expires_in": settings.token_ttl_seconds}


def current_identity() -> Identity | None:
    """The caller's identity, None when anonymous; ``Unauthorized`` for a bad token."""
    if "identity" not in g:
        g.identity = _identity_from(bearer_token())
    return g.identity


def peek_identity() -> Identity | None:
    """The caller's identity, or None for anonymous and bad tokens alike (for rate-limit keys)."""
    try:
        return current_identity()
    except Unauthorized:
        return None


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use 'Authorization: Bearer <token>'.")
    return token.strip()


def _identity_from(token: str | None) -> Identity | None:
    if token is None:
        return None
    claims = _verified_claims(current_app.config["KAMENG_SETTINGS"].jwt_secret, token)
    if claims["exp"] <= time.time():
        raise Unauthorized("The token has expired.", "token_expired")
    refusal = current_app.extensions[REVOCATIONS_EXTENSION].refusal(
        claims["jti"], claims["sub"], claims["ver"]
    )
    if refusal is not None:
        metrics.TOKENS_REFUSED.labels(refusal).inc()
        if refusal == LOGGED_OUT:
            raise Unauthorized("The token was signed out.", "token_revoked")
        raise Unauthorized(
            "The token no longer holds: the password, the role or the account changed.", "token_revoked"
        )
    return Identity(
        user_id=claims["sub"],
        kind=claims["kind"],
        role=claims.get("role"),
        token_id=claims["jti"],
        expires_at=claims["exp"],
    )


@functools.lru_cache(maxsize=VERIFIED_TOKENS_KEPT)
def _verified_claims(secret: str, token: str) -> dict[str, Any]:
    """The claims of a token signed with ``secret``, its signature and claims checked.

    Kept for the token's next requests: checking them again cost about a
    third of the gateway's CPU for a request. Only what never changes while
    the token lives is kept (a refused token raises, and nothing is kept);
    the expiry and the revocations are checked on every request."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "kind", "exp", "jti", "ver"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired.", "token_expired") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("The token is not valid.", "invalid_token") from None
    if claims["kind"] not in (CUSTOMER, STAFF) or not isinstance(claims["ver"], int):
        raise Unauthorized("The token is not valid.", "invalid_token")
    return claims


def signed_in() -> Identity:
    """The caller's identity, ``Unauthorized`` when anonymous: for the views behind
    ``login_required``, ``customer_required`` or ``roles_required``, where it is never."""
    identity = current_identity()
    if identity is None:
        raise Unauthorized("This needs a bearer token.")
    return identity


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    """Any signed-in customer or staff member."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        signed_in()
        return view(*args, **kwargs)

    return wrapper


def customer_required(view: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not signed_in().is_customer:
            raise Forbidden("Only customers may do this.")
        return view(*args, **kwargs)

    return wrapper


def roles_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Staff with one of ``roles``."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not signed_in().has_role(roles):
                raise Forbidden("Your role may not do this.")
            return view(*args, **kwargs)

        return wrapper

    return decorate


def metrics_access_required(view: Callable[P, R]) -> Callable[P, R]:
    """Staff of METRICS_ROLES, or a scraper holding ``KAMENG_METRICS_TOKEN``."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        metrics_token = current_app.config["KAMENG_SETTINGS"].metrics_token
        token = bearer_token()
        if metrics_token and token and hmac.compare_digest(token.encode(), metrics_token.encode()):
            return view(*args, **kwargs)
        if not signed_in().has_role(METRICS_ROLES):
            raise Forbidden("Your role may not read metrics.")
        return view(*args, **kwargs)

    return wrapper
