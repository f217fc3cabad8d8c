"""Password hashing with argon2id."""

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError


def _call(function, *args):
    return function(*args)


class Passwords:
    """Hashes and verifies passwords under the configured argon2id parameters.

    ``offload(function, *args)`` runs the CPU-heavy hashing; the service hands
    it to a real thread so that the other workers keep running meanwhile.
    """

    def __init__(self, time_cost, memory_cost, parallelism, offload=_call):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        self._offload = offload
        # made up front, so that even the first unknown username costs no more than a verification
        self._decoy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password):
        return self._offload(self._hasher.hash, password)

    def verify(self, password_hash, password):
        try:
            return self._offload(self._hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def spend_verification_time(self, password):
        """Verify against a throwaway hash, so that an unknown username takes as long as a wrong password."""
        self.verify(self._decoy_hash, password)

    def needs_rehash(self, password_hash):
        """True when the hash was made under other parameters than the configured ones."""
        return self._hasher.check_needs_rehash(password_hash)
