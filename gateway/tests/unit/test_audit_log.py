"""The audit log's routes, and the entries the gateway writes for staff actions."""

import pytest

from kameng_common.errors import Unavailable

ENTRY = {
    "seq": 7,
    "at": "2026-03-01T12:00:00+00:00",
    "actor": "staff-admin",
    "action": "product.created",
    "target": "product:3",
    "detail": {"price": 100},
    "prev_hash": "a" * 64,
    "hash": "b" * 64,
}


@pytest.mark.parametrize("role", ["admin", "auditor"])
def test_admins_and_auditors_read_the_log_and_its_verification(client, callers, rpc, role):
    rpc.answer("risk", "list_audit_log", {"items": [ENTRY], "next_cursor": "c2VxOjc="})
    rpc.answer(
        "risk",
        "verify_audit_log",
        {"ok": False, "checked": 6, "first_broken": 7, "head": {"seq": 9, "hash": "c" * 64}},
    )

    page = client.get("/api/v1/admin/audit-log?limit=1&action=product.created", headers=callers.staff(role))
    verdict = client.get("/api/v1/admin/audit-log/verify", headers=callers.staff(role))

    assert page.status_code == 200
    assert page.json == {"items": [ENTRY], "next_cursor": "c2VxOjc="}
    assert rpc.calls_to("risk", "list_audit_log")[0].kwargs == {
        "limit": 1,
        "cursor": None,
        "action": "product.created",
        "actor": None,
    }
    assert verdict.json == {
        "ok": False,
        "checked": 6,
        "first_broken": 7,
        "head": {"seq": 9, "hash": "c" * 64},
    }


@pytest.mark.parametrize("caller", ["anonymous", "customer", "ops", "support", "finance"])
def test_nobody_else_reads_the_log(client, callers, rpc, caller):
    for path in ("/api/v1/admin/audit-log", "/api/v1/admin/audit-log/verify"):
        assert client.get(path, headers=callers.as_(caller)).status_code in (401, 403)
    assert rpc.calls == []


def test_a_staff_action_is_audited_with_its_actor(client, callers, rpc):
    rpc.answer("inventory", "create_category", {"id": 4, "name": "Game cards"})

    response = client.post(
        "/api/v1/admin/categories", json={"name": "Game cards"}, headers=callers.staff("ops")
    )

    assert response.status_code == 201
    [entry] = rpc.calls_to("risk", "record_audit")
    _entry_id, _at, actor, action, target, detail = entry.args
    assert (actor, action, target, detail) == (
        "staff-ops",
        "category.created",
        "category:4",
        {"name": "Game cards", "parent_id": None},
    )


def test_an_audit_entry_that_cannot_be_written_is_retried_then_counted_not_fatal(client, callers, rpc):
    rpc.answer("inventory", "create_category", {"id": 4, "name": "Game cards"})
    rpc.answer("risk", "record_audit", Unavailable("risk is down"))

    response = client.post(
        "/api/v1/admin/categories", json={"name": "Game cards"}, headers=callers.staff("ops")
    )

    assert response.status_code == 201
    first, second = rpc.calls_to("risk", "record_audit")
    assert first.args[0] == second.args[0]  # one entry id: the retry appends once
