"""Tokens refused before they expire, in Redis so that every gateway worker and replica refuses them.

Two facts, both read in one ``MGET`` per request that carries a token:

- ``revoked-token:<jti>``: that one token was signed out (``POST /api/v1/auth/logout``);
  kept until the token would have expired anyway.
- ``token-version:<user id>``: the lowest token version the account still accepts.
  customers raises an account's version on a password change, a role change and a
  disable; a token carries the version it was issued under (``ver``), and one below
  this is refused. Kept for a token lifetime, after which no older token is alive.

customers' database holds the versions too: a Redis that lost its data forgets
revocations only for what is left of those tokens' lifetime (``KAMENG_TOKEN_TTL_SECONDS``),
and a disabled account still cannot sign in again.
"""

import time

import redis
from redis.client import Pipeline

from kameng_common.errors import Unavailable

REVOCATIONS_EXTENSION = "kameng_revocations"
LOGGED_OUT, SUPERSEDED = "logged_out", "superseded"


class TokenRevocations:
    def __init__(self, client: redis.Redis, token_ttl_seconds: int, prefix: str = "kameng:") -> None:
        self.client = client
        self.token_ttl_seconds = token_ttl_seconds
        self.prefix = prefix

    def refusal(self, token_id: str, user_id: str, version: int) -> str | None:
        """Why a token is refused (LOGGED_OUT, SUPERSEDED), or None while it stands."""
        try:
            revoked, lowest = self.client.mget(self._revoked_key(token_id), self._version_key(user_id))
        except redis.RedisError as error:
            raise _unavailable(error) from None
        if revoked is not None:
            return LOGGED_OUT
        if lowest is not None and version < int(lowest):
            return SUPERSEDED
        return None

    def revoke(self, token_id: str, expires_at: float) -> None:
        """Refuse this one token from now until it expires."""
        seconds = max(1, int(expires_at - time.time()))
        try:
            self.client.set(self._revoked_key(token_id), 1, ex=seconds)
        except redis.RedisError as error:
            raise _unavailable(error) from None

    def supersede(self, user_id: str, version: int) -> None:
        """Refuse every token of the account below ``version``; a lower version arriving late never lowers it."""
        key = self._version_key(user_id)

        def raise_to(pipe: Pipeline) -> None:
            current = pipe.get(key)
            if current is not None and int(current) >= version:
                return
            pipe.multi()
            pipe.set(key, version, ex=self.token_ttl_seconds)

        try:
            self.client.transaction(raise_to, key)
        except redis.RedisError as error:
            raise _unavailable(error) from None

    def _revoked_key(self, token_id: str) -> str:
        return f"{self.prefix}revoked-token:{token_id}"

    def _version_key(self, user_id: str) -> str:
        return f"{self.prefix}token-version:{user_id}"


def _unavailable(error: Exception) -> Unavailable:
    return Unavailable(f"The token store is not reachable ({type(error).__name__}).")
