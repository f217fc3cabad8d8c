"""Single-use nonces of signed channel requests, remembered in Redis for as long as they could be replayed."""

import redis

from kameng_common.channel import TIMESTAMP_WINDOW_SECONDS
from kameng_common.errors import Unavailable

NONCES_EXTENSION = "kameng_nonces"
# a nonce is refused while a request carrying it could still pass the timestamp check
NONCE_TTL_SECONDS = 2 * TIMESTAMP_WINDOW_SECONDS


class NonceStore:
    """``first_use(key_id, nonce)``: True the first time, False ever after (within the window)."""

    def __init__(self, client: redis.Redis, prefix: str = "kameng:") -> None:
        self.client = client
        self.prefix = prefix

    def first_use(self, key_id: str, nonce: str) -> bool:
        try:
            stored = self.client.set(
                f"{self.prefix}channel-nonce:{key_id}:{nonce}", 1, nx=True, ex=NONCE_TTL_SECONDS
            )
        except redis.RedisError as error:
            raise Unavailable(f"The nonce store is not reachable ({type(error).__name__}).") from None
        return bool(stored)
