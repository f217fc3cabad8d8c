import pytest
from nameko.testing.services import entrypoint_hook

from kameng_common.errors import InvalidInput


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as entrypoint:
        return entrypoint(*args, **kwargs)


def test_health(container):
    assert call(container, "health") == {"service": "risk", "database": "ok"}


def test_add_to_blacklist_is_idempotent(container):
    assert call(container, "add_to_blacklist", "c1", "chargebacks") == {"customer_id": "c1"}
    assert call(container, "add_to_blacklist", "c1", "chargebacks") == {"customer_id": "c1"}


@pytest.mark.parametrize(
    "method, args, field",
    [
        ("add_to_blacklist", ("", "fraud"), "customer_id"),
        ("add_to_blacklist", ("c1", None), "reason"),
    ],
)
def test_bad_input_is_refused_naming_the_field(container, method, args, field):
    with pytest.raises(InvalidInput) as refused:
        call(container, method, *args)
    assert field in refused.value.message
