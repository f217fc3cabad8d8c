"""audit_snapshot: what inventory tells ``kameng audit``, on SQLite and PostgreSQL, and never a secret."""

import datetime
import json

import sqlalchemy as sa

from inventory import usecases
from inventory.db import cards
from kameng_common.db import utcnow


def recent(moment):
    """Whether an ISO 8601 moment is aware and within the last minute."""
    return abs(utcnow() - datetime.datetime.fromisoformat(moment)) < datetime.timedelta(minutes=1)


def test_the_snapshot_of_an_empty_inventory(any_db):
    assert usecases.audit_snapshot(any_db) == {
        "service": "inventory",
        "cards": {"available": 0, "reserved": 0, "sold": 0, "void": 0, "refunded": 0},
        "direct_products": [],
        "sold": {},
        "given_back": {},
        "reserved": {},
        "loop_products": {},
        "sold_twice": [],
        "fulfilments": {},
        "supplier_orders_reused": [],
        "stock_alerts": {},
        "outbox": {"pending": 0, "oldest_pending_at": None},
    }


def test_the_snapshot_counts_sold_and_reserved_cards_per_order(any_shop):
    steam, points = any_shop.product(cards=5), any_shop.product(cards=3)
    top_up = any_shop.product(kind="direct")
    any_shop.created("delivered", (steam, 2), (points, 1))
    any_shop.paid("delivered", (steam, 2), (points, 1))
    any_shop.created("awaiting", (steam, 1))
    any_shop.created("expired", (points, 2))
    any_shop.expired("expired")

    snapshot = usecases.audit_snapshot(any_shop.db)

    assert snapshot["cards"] == {"available": 4, "reserved": 1, "sold": 3, "void": 0, "refunded": 0}
    assert snapshot["direct_products"] == [str(top_up)]
    assert list(snapshot["sold"]) == ["delivered"]
    assert snapshot["sold"]["delivered"]["cards"] == {str(steam): 2, str(points): 1}
    assert recent(snapshot["sold"]["delivered"]["sold_at"])
    assert list(snapshot["reserved"]) == ["awaiting"]
    assert snapshot["reserved"]["awaiting"]["cards"] == 1
    assert recent(snapshot["reserved"]["awaiting"]["reserved_at"])
    assert snapshot["sold_twice"] == []
    # cards.delivered once: not published yet
    assert snapshot["outbox"]["pending"] == len(any_shop.published()) == 1


def test_the_snapshot_counts_loop_units_like_cards_and_never_as_cards_sold(any_shop):
    shared = any_shop.product(kind="loop", stock_limit=5, cards=1)
    unlimited = any_shop.product(kind="loop", cards=1)
    steam = any_shop.product(cards=2)
    any_shop.created("delivered", (shared, 2), (steam, 1))
    any_shop.paid("delivered", (shared, 2), (steam, 1))
    any_shop.created("other", (shared, 1), (unlimited, 1))
    any_shop.paid("other", (shared, 1), (unlimited, 1))
    any_shop.created("awaiting", (shared, 2))

    snapshot = usecases.audit_snapshot(any_shop.db)

    assert snapshot["cards"] == {"available": 3, "reserved": 0, "sold": 1, "void": 0, "refunded": 0}
    assert snapshot["sold"]["delivered"]["cards"] == {str(shared): 2, str(steam): 1}
    assert snapshot["sold"]["other"]["cards"] == {str(shared): 1, str(unlimited): 1}
    assert snapshot["reserved"]["awaiting"]["cards"] == 2
    assert recent(snapshot["reserved"]["awaiting"]["reserved_at"])
    assert snapshot["loop_products"] == {
        str(shared): {"stock_limit": 5, "sold": 3, "reserved": 2},
        str(unlimited): {"stock_limit": None, "sold": 1, "reserved": 0},
    }
    assert snapshot["sold_twice"] == []


def test_the_snapshot_finds_a_card_number_stored_twice_and_sold_to_two_orders(any_shop):
    product = any_shop.product(cards=1)
    any_shop.created("first", (product, 1))
    any_shop.paid("first", (product, 1))
    [sold] = any_shop.cards_of("first")
    # the same number stored again (under another card key's digest, say) and sold to another order
    with any_shop.db.unit_of_work() as uow:
        original = uow.execute(sa.select(cards).where(cards.c.id == sold)).one()
        now = utcnow()
        copy = uow.execute(
            cards.insert().values(
                product_id=product,
                number=original.number,
                number_digest="another-key-digest",
                key_id="k0",
                nonce=original.nonce,
                ciphertext=original.ciphertext,
                status="sold",
                order_id="second",
                imported_at=now,
                reserved_at=now,
                sold_at=now,
            )
        ).inserted_primary_key[0]

    assert usecases.audit_snapshot(any_shop.db)["sold_twice"] == [
        {"product_id": str(product), "card_ids": [sold, copy], "order_ids": ["first", "second"]}
    ]


def test_the_snapshot_holds_no_card_number_or_secret(any_shop):
    product = any_shop.product(cards=2)
    any_shop.created("o1", (product, 2))
    any_shop.paid("o1", (product, 2))
    with any_shop.db.reading() as session:
        numbers = session.execute(sa.select(cards.c.number)).scalars().all()
    told = json.dumps(usecases.audit_snapshot(any_shop.db))
    assert "secret" not in told
    assert not any(number in told for number in numbers)
