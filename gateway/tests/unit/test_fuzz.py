"""schemathesis against /openapi.json: no input, valid or not, makes the gateway answer 5xx,
and every refusal is API.md's error body.

Every RPC answers NotFound here, so what is exercised is the gateway's own work
(routing, authentication, roles, validation, hardening) for anonymous callers,
customers and admins alike; tests/e2e/test_fuzz.py does the same against the
real suite.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from kameng_common.errors import NotFound
from kameng_gateway.app import create_app

EXAMPLES_PER_OPERATION = 12


class EveryCallNotFound:
    def call(self, service, method, *args, **kwargs):
        raise NotFound(f"nothing behind {service}.{method} in this test")

    def ping(self):
        return None


@pytest.fixture
def fuzzed_app(settings, redis_client):
    return create_app(settings=settings, rpc=EveryCallNotFound(), redis_client=redis_client)


@pytest.fixture
def gateway_schema(fuzzed_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzzed_app)


# readiness is 503 by design while the services are away, as they are here
SCHEMA = schemathesis.pytest.from_fixture("gateway_schema").exclude(path="/health/ready")


@SCHEMA.parametrize()
@SCHEMA.given(caller=st.sampled_from(["anonymous", "customer", "admin"]))
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case, caller, callers):
    response = case.call(headers=callers.as_(caller))

    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), response.text
