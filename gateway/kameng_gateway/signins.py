"""Failed sign-ins, counted in Redis so that every gateway worker and replica shares the count.

Two counters: per account (the lower-cased username, whether or not it exists,
so that a lock tells nothing about which names are taken) and per client
address. When either reaches its limit it turns into a lock of
``lock_seconds``: the account, or the address, is refused 429 whatever
password, token or address comes next. The request whose failure reaches the
limit is the one that locks, so concurrent failures lock once.
"""

import hashlib
from dataclasses import dataclass

import redis

from kameng_common.errors import KamengError, Unavailable

SIGN_INS_EXTENSION = "kameng_sign_ins"
ACCOUNT, ADDRESS = "account", "address"


class SignInLocked(KamengError):
    status = 429
    code = "sign_in_locked"

    def __init__(self, scope: str, retry_after: int) -> None:
        noun = "This account" if scope == ACCOUNT else "This address"
        super().__init__(
            f"{noun} is locked after too many failed sign-ins; try again in {retry_after} seconds.",
            code=f"{scope}_locked",
            details={"retry_after": retry_after},
        )
        self.headers = {"Retry-After": str(retry_after)}


@dataclass(frozen=True)
class Limits:
    account_failures: int = 5
    address_failures: int = 20
    lock_seconds: int = 900


class SignInGuard:
    def __init__(self, client: redis.Redis, limits: Limits = Limits(), prefix: str = "kameng:") -> None:
        self.client = client
        self.limits = limits
        self.prefix = prefix

    def check(self, username: str, address: str | None) -> None:
        """Raise SignInLocked while the account or the address is locked."""
        keys = [self._key("lock", scope, value) for scope, value in self._subjects(username, address)]
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.ttl(key)
                ttls = pipe.execute()
        except redis.RedisError as error:
            raise _unavailable(error) from None
        for (scope, _value), ttl in zip(self._subjects(username, address), ttls, strict=True):
            if ttl > 0:
                raise SignInLocked(scope, ttl)

    def failed(self, username: str, address: str | None) -> list[str]:
        """Count a failed sign-in; the scopes ([ACCOUNT, ADDRESS]) this failure has just locked.

        Only the failure that brings a count to its limit locks: attempts already
        in flight push the count past it, and it never comes back down.
        """
        subjects = self._subjects(username, address)
        limits = {ACCOUNT: self.limits.account_failures, ADDRESS: self.limits.address_failures}
        try:
            with self.client.pipeline(transaction=True) as pipe:
                for scope, value in subjects:
                    pipe.incr(self._key("failures", scope, value))
                    # the window: failures further apart than a lock never add up to one
                    pipe.expire(self._key("failures", scope, value), self.limits.lock_seconds, nx=True)
                counts = pipe.execute()[::2]
            locked = [
                (scope, value)
                for (scope, value), count in zip(subjects, counts, strict=True)
                if count == limits[scope]
            ]
            # the count started no later than the lock, so it is gone when the lock lifts
            for scope, value in locked:
                self.client.set(self._key("lock", scope, value), 1, ex=self.limits.lock_seconds)
        except redis.RedisError as error:
            raise _unavailable(error) from None
        return [scope for scope, _value in locked]

    def succeeded(self, username: str) -> None:
        """A right password before the lock: the account's earlier failures no longer count."""
        try:
            self.client.delete(self._key("failures", ACCOUNT, account_key(username)))
        except redis.RedisError as error:
            raise _unavailable(error) from None

    def _subjects(self, username: str, address: str | None) -> list[tuple[str, str]]:
        return [(ACCOUNT, account_key(username)), (ADDRESS, address or "unknown")]

    def _key(self, kind: str, scope: str, value: str) -> str:
        return f"{self.prefix}sign-in-{kind}:{scope}:{value}"


def account_key(username: str) -> str:
    """Usernames are unique lower-cased (customers.domain.username_key); hashed to bound the key."""
    return hashlib.sha256(username.lower().encode()).hexdigest()[:32]


def _unavailable(error: Exception) -> Unavailable:
    return Unavailable(f"The sign-in store is not reachable ({type(error).__name__}).")
