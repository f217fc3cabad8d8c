"""schemathesis against the real suite's /openapi.json, on SQLite and PostgreSQL: no request,
valid or not, from an anonymous caller, a customer or an admin, is answered 5xx, and every
refusal carries API.md's error body."""

import uuid

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from kameng_cli import shop

# a few examples of each operation for each database: the whole run stays within a minute
EXAMPLES_PER_OPERATION = 4
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def live_schema(suite):
    url = suite.settings.gateway_url
    return schemathesis.openapi.from_dict(requests.get(f"{url}/openapi.json", timeout=10).json())


@pytest.fixture(scope="session")
def fuzz_customer(suite):
    username = f"fuzz_{uuid.uuid4().hex[:10]}"
    shop.Gateway(suite.settings.gateway_url).register(username, PASSWORD)
    return username


@pytest.fixture
def fuzz_callers(suite, fuzz_customer):
    """Fresh tokens for each operation: its examples may sign a token out."""
    url = suite.settings.gateway_url
    customer = shop.Gateway(url).log_in(fuzz_customer, PASSWORD)
    admin = shop.Gateway(url).log_in(*suite.admin)
    return {
        "anonymous": {},
        "customer": {"Authorization": f"Bearer {customer.token}"},
        "admin": {"Authorization": f"Bearer {admin.token}"},
    }


SCHEMA = schemathesis.pytest.from_fixture("live_schema")


@SCHEMA.parametrize()
@SCHEMA.given(caller=st.sampled_from(["anonymous", "customer", "admin"]))
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_a_server_error(case, caller, suite, fuzz_callers):
    response = case.call(base_url=suite.settings.gateway_url, headers=fuzz_callers[caller], timeout=30)

    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), response.text
