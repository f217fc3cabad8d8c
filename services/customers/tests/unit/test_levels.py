"""Membership levels configured by ops, and the level changes customers publishes."""

import json
import uuid

import pytest
import sqlalchemy as sa

from customers import levels, usecases
from kameng_common import contracts
from kameng_common.errors import InvalidInput
from kameng_common.testing import deliver

PASSWORD = "s3cret-pass-phrase"


def delivered(customer_id, total):
    order_id = str(uuid.uuid4())
    payload = {"order_id": order_id, "customer_id": customer_id, "total": total, "currency": "CNY"}
    return contracts.load_event(contracts.new_event("order.delivered", payload, order_id))


def level_changes(db):
    outbox = db.tables["outbox"]
    with db.reading() as session:
        bodies = session.execute(
            sa.select(outbox.c.body)
            .where(outbox.c.event_type == "customer.level_changed")
            .order_by(outbox.c.id)
        ).scalars()
        return [json.loads(body)["payload"] for body in bodies]


def test_the_default_levels_apply_until_ops_set_their_own(db):
    assert levels.get_levels(db) == {
        "levels": [
            {"name": "regular", "threshold": 0},
            {"name": "vip", "threshold": 100_000},
            {"name": "svip", "threshold": 1_000_000},
        ],
        "currency": "CNY",
    }


def test_ops_set_the_levels_and_the_next_delivery_measures_by_them(db, passwords):
    customer = usecases.register(db, passwords, "alice", PASSWORD)
    table = [{"name": "regular", "threshold": 0}, {"name": "gold", "threshold": 5_000}]

    assert levels.set_levels(db, table)["levels"] == table
    assert levels.get_levels(db)["levels"] == table
    deliver(db, "customers", usecases.on_order_delivered, delivered(customer["id"], 5_000), 60)

    assert usecases.get_customer(db, customer["id"])["level"] == "gold"
    assert level_changes(db) == [{"customer_id": customer["id"], "level": "gold", "version": 1}]
    assert usecases.customers_by_level(db) == {"regular": 0, "gold": 1}


def test_a_bad_level_table_changes_nothing(db):
    with pytest.raises(InvalidInput) as refused:
        levels.set_levels(db, [{"name": "regular", "threshold": 0}, {"name": "vip", "threshold": 0}])
    assert refused.value.code == "invalid_levels"
    assert [level["name"] for level in levels.get_levels(db)["levels"]] == ["regular", "vip", "svip"]


def test_each_level_change_is_published_once_with_the_next_sequence(db, passwords):
    customer = usecases.register(db, passwords, "alice", PASSWORD)

    deliver(
        db, "customers", usecases.on_order_delivered, delivered(customer["id"], 50_000), 60
    )  # still regular
    deliver(db, "customers", usecases.on_order_delivered, delivered(customer["id"], 50_000), 60)  # vip
    deliver(db, "customers", usecases.on_order_delivered, delivered(customer["id"], 50_000), 60)  # still vip
    deliver(db, "customers", usecases.on_order_delivered, delivered(customer["id"], 900_000), 60)  # svip

    assert level_changes(db) == [
        {"customer_id": customer["id"], "level": "vip", "version": 1},
        {"customer_id": customer["id"], "level": "svip", "version": 2},
    ]
