"""An account's password, role and disabling, and what each does to its tokens."""

import datetime
import json

import pytest
import sqlalchemy as sa

from customers import credentials, usecases
from kameng_common.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized

PASSWORD = "s3cret-pass-phrase"
NEW_PASSWORD = "another-long-phrase-42"


@pytest.fixture
def admin(db, passwords):
    return usecases.create_staff(db, passwords, "root", PASSWORD, "admin")


def version(db, account_id):
    return credentials.account_state(db, account_id)["token_version"]


def test_a_password_change_takes_the_new_password_and_raises_the_token_version(db, passwords):
    alice = usecases.register(db, passwords, "alice", PASSWORD)

    subject = credentials.change_password(db, passwords, alice["id"], PASSWORD, NEW_PASSWORD)

    assert subject["token_version"] == 1
    assert (subject["id"], subject["kind"], subject["level"]) == (alice["id"], "customer", "regular")
    assert usecases.authenticate(db, passwords, "alice", NEW_PASSWORD)["token_version"] == 1
    with pytest.raises(Unauthorized) as old:
        usecases.authenticate(db, passwords, "alice", PASSWORD)
    assert old.value.code == "invalid_credentials"


def published(db):
    outbox = db.tables["outbox"]
    with db.reading() as session:
        bodies = session.execute(sa.select(outbox.c.body).order_by(outbox.c.id)).scalars().all()
    return [(body["type"], body["payload"]) for body in map(json.loads, bodies)]


def test_a_customers_password_change_is_published_for_risk_and_a_staff_members_is_not(db, passwords, admin):
    alice = usecases.register(db, passwords, "alice", PASSWORD)
    before = published(db)

    credentials.change_password(db, passwords, alice["id"], PASSWORD, NEW_PASSWORD)
    credentials.change_password(db, passwords, admin["id"], PASSWORD, NEW_PASSWORD)
    with pytest.raises(Forbidden):
        credentials.change_password(db, passwords, alice["id"], "not it", "yet-another-phrase-77")

    [(event_type, payload)] = published(db)[len(before) :]
    assert event_type == "customer.password_changed"
    assert payload["customer_id"] == alice["id"]
    assert datetime.datetime.fromisoformat(payload["changed_at"]).tzinfo is not None


def test_a_password_change_needs_the_current_password_and_a_strong_new_one(db, passwords):
    alice = usecases.register(db, passwords, "alice", PASSWORD)

    with pytest.raises(Forbidden) as wrong:
        credentials.change_password(db, passwords, alice["id"], "not it", NEW_PASSWORD)
    with pytest.raises(InvalidInput) as weak:
        credentials.change_password(db, passwords, alice["id"], PASSWORD, "password1")

    assert (wrong.value.code, weak.value.code) == ("wrong_password", "weak_password")
    assert version(db, alice["id"]) == 0


def test_a_disabled_account_cannot_sign_in_and_its_tokens_are_superseded(db, passwords, admin):
    alice = usecases.register(db, passwords, "alice", PASSWORD)

    state = credentials.set_disabled(db, alice["id"], True, admin["id"])

    assert (state["disabled"], state["token_version"]) == (True, 1)
    with pytest.raises(Forbidden) as refused:
        usecases.authenticate(db, passwords, "alice", PASSWORD)
    assert refused.value.code == "account_disabled"
    # a wrong password to a disabled account is answered as any wrong password
    with pytest.raises(Unauthorized) as wrong:
        usecases.authenticate(db, passwords, "alice", "the wrong one")
    assert wrong.value.code == "invalid_credentials"


def test_disabling_twice_changes_nothing_more_and_enabling_lets_the_account_in(db, passwords, admin):
    alice = usecases.register(db, passwords, "alice", PASSWORD)
    credentials.set_disabled(db, alice["id"], True, admin["id"])

    again = credentials.set_disabled(db, alice["id"], True, admin["id"])
    enabled = credentials.set_disabled(db, alice["id"], False, admin["id"])

    assert again["token_version"] == 1
    # enabling revives no token issued before the disable
    assert (enabled["disabled"], enabled["token_version"]) == (False, 1)
    assert usecases.authenticate(db, passwords, "alice", PASSWORD)["token_version"] == 1


def test_no_one_disables_themselves_or_the_last_admin(db, passwords, admin):
    ops = usecases.create_staff(db, passwords, "olga", PASSWORD, "ops")

    with pytest.raises(Conflict) as own:
        credentials.set_disabled(db, admin["id"], True, admin["id"])
    with pytest.raises(Conflict) as last:
        credentials.set_disabled(db, admin["id"], True, ops["id"])
    with pytest.raises(Conflict) as demoted:
        credentials.set_role(db, admin["id"], "ops", ops["id"])

    assert (own.value.code, last.value.code, demoted.value.code) == (
        "own_account",
        "last_admin",
        "last_admin",
    )


def test_a_role_change_supersedes_the_tokens_that_carry_the_old_role(db, passwords, admin):
    sam = usecases.create_staff(db, passwords, "sam", PASSWORD, "support")

    changed = credentials.set_role(db, sam["id"], "finance", admin["id"])
    unchanged = credentials.set_role(db, sam["id"], "finance", admin["id"])

    assert (changed["role"], changed["token_version"]) == ("finance", 1)
    assert unchanged["token_version"] == 1


def test_a_customer_has_no_role_to_change(db, passwords, admin):
    alice = usecases.register(db, passwords, "alice", PASSWORD)

    with pytest.raises(NotFound):
        credentials.set_role(db, alice["id"], "admin", admin["id"])


def test_the_staff_list_pages_by_name_and_shows_who_is_disabled(db, passwords, admin):
    for name, role in [("bea", "ops"), ("Carl", "finance"), ("dora", "auditor")]:
        usecases.create_staff(db, passwords, name, PASSWORD, role)
    usecases.register(db, passwords, "alice", PASSWORD)
    carl = credentials.list_staff(db, limit=10)["items"][1]
    credentials.set_disabled(db, carl["id"], True, admin["id"])

    first = credentials.list_staff(db, limit=2)
    second = credentials.list_staff(db, limit=2, cursor=first["next_cursor"])

    assert [item["username"] for item in first["items"]] == ["bea", "Carl"]
    assert first["items"][1]["disabled"] is True
    assert [item["username"] for item in second["items"]] == ["dora", "root"]
    assert second["next_cursor"] is None
    assert set(first["items"][0]) == {"id", "username", "role", "disabled", "created_at"}


def test_the_profile_of_a_customer_and_of_staff(db, passwords, admin):
    alice = usecases.register(db, passwords, "alice", PASSWORD)

    assert credentials.profile(db, alice["id"]) == {
        "id": alice["id"],
        "username": "alice",
        "kind": "customer",
        "role": None,
        "level": "regular",
        "agent": None,
    }
    assert credentials.profile(db, admin["id"])["role"] == "admin"
    credentials.set_disabled(db, alice["id"], True, admin["id"])
    with pytest.raises(NotFound):
        credentials.profile(db, alice["id"])


def test_the_audit_counts_the_admins_who_may_sign_in(db, passwords, admin):
    second = usecases.create_staff(db, passwords, "second", PASSWORD, "admin")
    credentials.set_disabled(db, second["id"], True, admin["id"])

    assert usecases.audit_snapshot(db)["accounts"] == {"enabled_admins": 1}
