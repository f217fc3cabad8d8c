"""A registering client's region: from the header a trusted proxy sets, and from no one else."""

from dataclasses import replace

import pytest

from kameng_gateway import metrics
from kameng_gateway.app import create_app

NEW_CUSTOMER = {"username": "alice", "password": "correct horse battery"}
REGION_HEADER = "CF-IPCountry"


@pytest.fixture
def register(settings, rpc, redis_client):
    """Registers through a gateway with these settings and headers; answers the region customers got."""
    rpc.answer(
        "customers",
        "register",
        lambda username, password, invite_code=None, region=None: {"id": "u1", "username": username},
    )

    def register(headers, **changes):
        client = create_app(settings=replace(settings, **changes), rpc=rpc, redis_client=redis_client)
        response = client.test_client().post("/api/v1/auth/register", json=NEW_CUSTOMER, headers=headers)
        assert response.status_code == 201, response.json
        return rpc.calls_to("customers", "register")[-1].kwargs.get("region")

    return register


def outcomes():
    return {
        outcome: metrics.REGISTRATION_REGIONS.labels(outcome)._value.get()
        for outcome in ("known", "absent", "untrusted", "invalid")
    }


def test_a_trusted_proxys_region_header_is_normalised_and_passed_on(register):
    before = outcomes()
    headers = {REGION_HEADER: " gd ", "X-Forwarded-For": "203.0.113.7"}

    assert register(headers, trusted_proxies=1, region_header=REGION_HEADER) == "GD"
    assert outcomes()["known"] == before["known"] + 1


@pytest.mark.parametrize(
    "headers, trusted_proxies",
    [
        # no proxy trusted: whoever sent the header, it may be the client itself
        ({REGION_HEADER: "GD", "X-Forwarded-For": "203.0.113.7"}, 0),
        # straight to the gateway, past the proxy
        ({REGION_HEADER: "GD"}, 1),
        # through one proxy where two are expected: the first hop may be the client's own
        ({REGION_HEADER: "GD", "X-Forwarded-For": "203.0.113.7"}, 2),
    ],
)
def test_a_region_from_anyone_but_the_trusted_proxies_is_ignored(register, headers, trusted_proxies):
    before = outcomes()

    assert register(headers, trusted_proxies=trusted_proxies, region_header=REGION_HEADER) is None
    assert outcomes()["untrusted"] == before["untrusted"] + 1


@pytest.mark.parametrize("value", ["XX", "GD, BJ", "A" * 17, "-GD", "广东".encode().decode("latin-1")])
def test_a_region_that_is_no_code_is_dropped_and_the_customer_registers(register, value):
    before = outcomes()
    headers = {REGION_HEADER: value, "X-Forwarded-For": "203.0.113.7"}

    assert register(headers, trusted_proxies=1, region_header=REGION_HEADER) is None
    assert outcomes()["invalid"] == before["invalid"] + 1


def test_without_the_setting_no_header_names_a_region(register):
    headers = {REGION_HEADER: "GD", "X-Region": "GD", "X-Forwarded-For": "203.0.113.7"}

    assert register(headers, trusted_proxies=1) is None
    assert (
        register({"X-Forwarded-For": "203.0.113.7"}, trusted_proxies=1, region_header=REGION_HEADER) is None
    )
