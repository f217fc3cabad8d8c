"""The gateway on a fake RPC client: no broker, no services."""

import time
import uuid
from dataclasses import dataclass, field

import fakeredis
import jwt
import pytest

from kameng_common.errors import Unavailable
from kameng_gateway.app import create_app
from kameng_gateway.settings import Settings

JWT_SECRET = "unit-test-secret-that-is-long-enough-for-hs256"
METRICS_TOKEN = "scrape-token"
CUSTOMER_ID = "c0ffee00-0000-4000-8000-000000000001"
OTHER_CUSTOMER_ID = "c0ffee00-0000-4000-8000-000000000002"
ORDER_ID = "0dde0000-0000-4000-8000-000000000001"
STAFF_ROLES = ("admin", "ops", "support", "finance", "auditor")


@dataclass
class Call:
    service: str
    method: str
    args: tuple
    kwargs: dict
    correlation_id: str | None
    timeout: float | None


@dataclass
class FakeRpc:
    """Answers each ``service.method`` with a canned value, an exception to
    raise, or a function of the call's arguments; records every call."""

    answers: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)
    broker_up: bool = True

    def answer(self, service, method, answer):
        self.answers[service, method] = answer

    def call(self, service, method, *args, timeout=None, correlation_id=None, **kwargs):
        self.calls.append(Call(service, method, args, kwargs, correlation_id, timeout))
        answer = self.answers[service, method]
        if isinstance(answer, Exception):
            raise answer
        return answer(*args, **kwargs) if callable(answer) else answer

    def ping(self):
        if not self.broker_up:
            raise Unavailable("The message broker is not reachable (StreamLostError).")

    def calls_to(self, service, method):
        return [call for call in self.calls if (call.service, call.method) == (service, method)]


def an_order(**overrides):
    order = {
        "id": ORDER_ID,
        "customer_id": CUSTOMER_ID,
        "status": "pending",
        "items": [{"product_id": 1, "name": "Game card 100", "quantity": 2, "unit_price": 9500}],
        "total": 19000,
        "currency": "CNY",
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
        "expires_at": "2026-01-01T00:15:00+00:00",
        "history": [{"status": "pending", "at": "2026-01-01T00:00:00+00:00", "reason": None}],
    }
    return {**order, **overrides}


@pytest.fixture
def rpc():
    fake = FakeRpc()
    fake.answer(
        "customers",
        "get_customer",
        lambda customer_id: {
            "id": customer_id,
            "username": "buyer",
            "level": "gold",
            "orders_count": 0,
            "total_spent": 0,
        },
    )
    fake.answer("orders", "get_order", lambda order_id, **_wait: an_order(id=order_id))
    fake.answer("risk", "record_audit", lambda entry_id, at, actor, action, target, detail: {"seq": 1})
    return fake


@pytest.fixture
def settings():
    return Settings(
        jwt_secret=JWT_SECRET,
        metrics_token=METRICS_TOKEN,
        rate_limits_enabled=False,
        # each app its own count: tests/interface shows them shared in Redis
        rate_limit_storage_uri="memory://",
    )


@pytest.fixture
def redis_client():
    return fakeredis.FakeRedis()


@pytest.fixture
def app(settings, rpc, redis_client):
    return create_app(settings=settings, rpc=rpc, redis_client=redis_client)


@pytest.fixture
def client(app):
    return app.test_client()


class Callers:
    """Authorization headers and tokens for each kind of caller."""

    customer_id = CUSTOMER_ID
    other_customer_id = OTHER_CUSTOMER_ID
    order_id = ORDER_ID
    staff_roles = STAFF_ROLES

    @staticmethod
    def token(kind, role=None, user_id=CUSTOMER_ID, expires_in=3600, secret=JWT_SECRET, version=0):
        now = int(time.time())
        claims = {
            "sub": user_id,
            "kind": kind,
            "role": role,
            "iat": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
            "ver": version,
        }
        return jwt.encode(claims, secret, algorithm="HS256")

    @staticmethod
    def bearer(token):
        return {"Authorization": f"Bearer {token}"}

    def customer(self, user_id=CUSTOMER_ID):
        return self.bearer(self.token("customer", user_id=user_id))

    def staff(self, role):
        return self.bearer(self.token("staff", role=role, user_id=f"staff-{role}"))

    def as_(self, caller):
        """Headers for ``"anonymous"``, ``"customer"``, ``"other_customer"`` or a staff role."""
        if caller == "anonymous":
            return {}
        if caller == "customer":
            return self.customer()
        if caller == "other_customer":
            return self.customer(OTHER_CUSTOMER_ID)
        return self.staff(caller)


@pytest.fixture
def callers():
    return Callers()


@pytest.fixture
def make_order():
    return an_order
