import pytest
from nameko.testing.services import entrypoint_hook

from kameng_common.errors import InvalidInput


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as entrypoint:
        return entrypoint(*args, **kwargs)


def test_health(container):
    assert call(container, "health") == {"service": "risk", "database": "ok"}


def test_the_blacklist_over_rpc(container):
    added = call(container, "add_blacklist_entry", "ip", "203.0.113.9", "chargebacks", created_by="staff-1")
    assert added["created"] and added["entry"]["value"] == "203.0.113.9"
    again = call(container, "add_blacklist_entry", "ip", "203.0.113.9", "again")
    assert not again["created"] and again["entry"]["id"] == added["entry"]["id"]
    assert [entry["id"] for entry in call(container, "list_blacklist", kind="ip")["items"]] == [
        added["entry"]["id"]
    ]
    assert call(container, "remove_blacklist_entry", added["entry"]["id"]) == {"id": added["entry"]["id"]}
    assert call(container, "list_blacklist") == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "method, args, field",
    [
        ("add_blacklist_entry", ("person", "c1", "fraud"), "kind"),
        ("add_blacklist_entry", ("account", "", "fraud"), "value"),
        ("add_blacklist_entry", ("account", "c 1", "fraud"), "value"),
        ("add_blacklist_entry", ("device", "d" * 129, "fraud"), "value"),
        ("add_blacklist_entry", ("ip", "not-an-address", "fraud"), "value"),
        ("add_blacklist_entry", ("account", "c1", None), "reason"),
        ("list_blacklist", ("person",), "kind"),
        ("list_blacklist", (None, 0), "limit"),
        ("list_blacklist", (None, "50"), "limit"),
        ("list_blacklist", (None, 50, "bad"), "cursor"),
        ("remove_blacklist_entry", ("",), "entry_id"),
    ],
)
def test_bad_input_is_refused_naming_the_field(container, method, args, field):
    with pytest.raises(InvalidInput) as refused:
        call(container, method, *args)
    assert field in refused.value.message or "cursor" in refused.value.message
