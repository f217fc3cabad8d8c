"""The gateway's configuration, read once from the environment."""

import os
import secrets
from dataclasses import dataclass
from typing import Self

from kameng_common import config


def jwt_secret() -> str:
    """``KAMENG_JWT_SECRET``, else the secret generated into the data folder."""
    return config.secret_from_env_or_file(
        "KAMENG_JWT_SECRET", "jwt.secret", lambda: secrets.token_urlsafe(48)
    )


@dataclass(frozen=True)
class Settings:
    jwt_secret: str
    amqp_uri: str = config.DEFAULT_AMQP_URI
    rpc_timeout: float = 10.0
    ready_timeout: float = 2.0
    token_ttl_seconds: int = 3600
    metrics_token: str | None = None
    rate_limits_enabled: bool = True
    auth_rate_limit: str = "120/minute"
    default_rate_limit: str = "3000/minute"
    trusted_proxies: int = 0
    # the header in which a trusted proxy or CDN names the client's region (CF-IPCountry); unset: none
    region_header: str | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    # long-polls waiting at once: per gateway process (half its default 64
    # threads, so the other half stays free) and per caller
    max_waits: int = 32
    max_waits_per_caller: int = 4
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "kameng:"
    # where rate limits are counted: redis_url unless set (memory:// counts per process)
    rate_limit_storage_uri: str | None = None
    # failed sign-ins that lock an account, or a client address, for sign_in_lock_seconds
    sign_in_max_failures: int = 5
    sign_in_address_max_failures: int = 20
    sign_in_lock_seconds: int = 900
    # a card import of 100,000 cards with long secrets; anything larger is refused with 413
    max_import_bytes: int = 64 * 1024 * 1024

    @classmethod
    def from_env(cls) -> Self:
        env = os.environ
        return cls(
            jwt_secret=jwt_secret(),
            amqp_uri=config.amqp_uri(),
            rpc_timeout=float(env.get("KAMENG_RPC_TIMEOUT", cls.rpc_timeout)),
            ready_timeout=float(env.get("KAMENG_READY_TIMEOUT", cls.ready_timeout)),
            token_ttl_seconds=int(env.get("KAMENG_TOKEN_TTL_SECONDS", cls.token_ttl_seconds)),
            metrics_token=env.get("KAMENG_METRICS_TOKEN") or None,
            rate_limits_enabled=env.get("KAMENG_RATE_LIMITS", "on").lower() != "off",
            auth_rate_limit=env.get("KAMENG_RATE_LIMIT_AUTH", cls.auth_rate_limit),
            default_rate_limit=env.get("KAMENG_RATE_LIMIT_DEFAULT", cls.default_rate_limit),
            trusted_proxies=int(env.get("KAMENG_TRUSTED_PROXIES", cls.trusted_proxies)),
            region_header=env.get("KAMENG_REGION_HEADER") or None,
            max_body_bytes=int(env.get("KAMENG_MAX_BODY_BYTES", cls.max_body_bytes)),
            max_waits=int(
                env.get("KAMENG_MAX_WAITS") or max(1, int(env.get("KAMENG_GATEWAY_THREADS", "64")) // 2)
            ),
            max_waits_per_caller=int(env.get("KAMENG_MAX_WAITS_PER_CALLER", cls.max_waits_per_caller)),
            redis_url=env.get("KAMENG_REDIS_URL", cls.redis_url),
            redis_prefix=env.get("KAMENG_REDIS_PREFIX", cls.redis_prefix),
            rate_limit_storage_uri=env.get("KAMENG_RATE_LIMIT_STORAGE") or None,
            sign_in_max_failures=int(env.get("KAMENG_SIGN_IN_MAX_FAILURES", cls.sign_in_max_failures)),
            sign_in_address_max_failures=int(
                env.get("KAMENG_SIGN_IN_ADDRESS_MAX_FAILURES", cls.sign_in_address_max_failures)
            ),
            sign_in_lock_seconds=int(env.get("KAMENG_SIGN_IN_LOCK_SECONDS", cls.sign_in_lock_seconds)),
            max_import_bytes=int(env.get("KAMENG_MAX_IMPORT_BYTES", cls.max_import_bytes)),
        )
