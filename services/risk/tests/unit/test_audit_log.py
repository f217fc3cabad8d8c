"""The tamper-evident audit log: appends, pages, and a verifier that catches every edit; both databases."""

import json
import uuid

import eventlet
import pytest
import sqlalchemy as sa

from kameng_common import auditlog, contracts
from kameng_common.errors import InvalidInput
from risk import audit_log, auditchain
from risk.db import audit_head, metadata
from risk.db import audit_log as audit_table

AT = "2026-03-01T12:00:00+00:00"


@pytest.fixture
def chain_db(make_database, database_url):
    return make_database(metadata, database_url, migrate="risk")


def append(db, n, actor="admin-1"):
    return [
        audit_log.append(db, str(uuid.uuid4()), AT, actor, "product.created", f"product:{i}", {"price": i})
        for i in range(n)
    ]


def test_each_entry_chains_to_the_one_before(chain_db):
    first, second = append(chain_db, 2)

    assert (first["seq"], first["prev_hash"]) == (1, auditchain.GENESIS)
    assert (second["seq"], second["prev_hash"]) == (2, first["hash"])
    assert second["hash"] == auditchain.entry_hash(
        first["hash"], 2, AT, "admin-1", "product.created", "product:1", {"price": 1}
    )
    assert audit_log.verify(chain_db) == {
        "ok": True,
        "checked": 2,
        "first_broken": None,
        "head": {"seq": 2, "hash": second["hash"]},
    }


def test_an_entry_is_appended_once_per_entry_id(chain_db):
    entry_id = str(uuid.uuid4())
    first = audit_log.append(chain_db, entry_id, AT, "a", "x.y", "t", {})
    again = audit_log.append(chain_db, entry_id, AT, "a", "x.y", "t", {})

    assert again == first
    assert audit_log.list_entries(chain_db)["items"] == [first]


def test_the_log_is_paged_newest_first(chain_db):
    append(chain_db, 5)

    page = audit_log.list_entries(chain_db, limit=2)
    assert [entry["seq"] for entry in page["items"]] == [5, 4]
    rest = audit_log.list_entries(chain_db, limit=10, cursor=page["next_cursor"])
    assert [entry["seq"] for entry in rest["items"]] == [3, 2, 1]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["nonsense", "c2VxOi0x", "c2VxOjk5OTk5OTk5OTk5OTk5OTk5OTk5OQ=="])
def test_a_bad_cursor_is_invalid_input(chain_db, cursor):
    with pytest.raises(InvalidInput):
        audit_log.list_entries(chain_db, cursor=cursor)


def _tamper(db, statement):
    with db.engine.begin() as connection:
        connection.execute(statement)


@pytest.mark.parametrize(
    "tampering, first_broken",
    [
        ("edit the detail", 3),
        ("edit the actor", 3),
        ("delete an entry", 3),
        ("delete the last entry", 5),
        ("swap two entries", 2),
        ("rewrite an entry with a fresh hash", 4),
    ],
)
def test_the_verifier_catches_edits_deletions_and_reorderings(chain_db, tampering, first_broken):
    entries = append(chain_db, 5)
    log = audit_table
    if tampering == "edit the detail":
        _tamper(chain_db, log.update().where(log.c.seq == 3).values(detail=json.dumps({"price": 999})))
    elif tampering == "edit the actor":
        _tamper(chain_db, log.update().where(log.c.seq == 3).values(actor="someone-else"))
    elif tampering == "delete an entry":
        _tamper(chain_db, log.delete().where(log.c.seq == 3))
    elif tampering == "delete the last entry":
        _tamper(chain_db, log.delete().where(log.c.seq == 5))
    elif tampering == "swap two entries":
        _tamper(chain_db, log.update().where(log.c.seq == 2).values(seq=-2))
        _tamper(chain_db, log.update().where(log.c.seq == 3).values(seq=2))
        _tamper(chain_db, log.update().where(log.c.seq == -2).values(seq=3))
    else:
        # a forger who recomputes the entry's own hash still breaks the next entry's link
        forged = auditchain.entry_hash(
            entries[2]["hash"], 4, AT, "admin-1", "product.created", "product:3", {}
        )
        _tamper(chain_db, log.update().where(log.c.seq == 4).values(detail="{}", hash=forged))
        first_broken = 5

    report = audit_log.verify(chain_db)

    assert report["ok"] is False
    assert report["first_broken"] == first_broken
    assert report["checked"] == first_broken - 1


def test_concurrent_appends_make_one_unbroken_chain(chain_db):
    pool = eventlet.GreenPool(20)
    results = list(pool.imap(lambda i: append(chain_db, 1, actor=f"actor-{i}")[0], range(40)))

    assert sorted(entry["seq"] for entry in results) == list(range(1, 41))
    assert audit_log.verify(chain_db)["ok"] is True
    with chain_db.reading() as session:
        assert session.execute(sa.select(audit_head.c.seq)).scalar_one() == 40


def test_an_audit_event_joins_the_chain_once(chain_db):
    class Uow:
        def publish(self, event_type, payload, correlation_id):
            self.event = contracts.load_event(
                json.dumps(contracts.new_event(event_type, payload, correlation_id))
            )

    uow = Uow()
    auditlog.record(uow, "customers", "admin-1", "account.disabled", "account:42", {"reason": "fraud"})
    for _ in range(2):
        chain_db.handle_once(
            "risk.on_customers_audit",
            uow.event["id"],
            lambda handled: audit_log.on_audit_recorded(handled, uow.event),
        )

    [entry] = audit_log.list_entries(chain_db)["items"]
    assert (entry["actor"], entry["action"], entry["target"], entry["detail"]) == (
        "admin-1",
        "account.disabled",
        "account:42",
        {"reason": "fraud"},
    )
    assert uow.event["type"] == "audit.recorded.customers"


def test_a_stock_low_alert_joins_the_chain_once(chain_db):
    alert = contracts.load_event(
        json.dumps(
            contracts.new_event("stock.low", {"product_id": 7, "available": 3, "threshold": 10}, "product:7")
        )
    )
    for _ in range(2):
        chain_db.handle_once(
            "risk.on_stock_low", alert["id"], lambda handled: audit_log.on_stock_low(handled, alert)
        )

    [entry] = audit_log.list_entries(chain_db)["items"]
    assert (entry["actor"], entry["action"], entry["target"], entry["detail"]) == (
        "system",
        "stock.low",
        "product:7",
        {"available": 3, "threshold": 10},
    )
    assert audit_log.verify(chain_db)["ok"] is True
