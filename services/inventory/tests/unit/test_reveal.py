import logging

import pytest
import sqlalchemy as sa

from inventory import usecases
from inventory.db import cards, metadata, reveal_audit
from kameng_common.errors import Conflict, Forbidden, KamengError, NotFound


def _audit(db):
    with db.reading() as session:
        return [
            tuple(row)
            for row in session.execute(
                sa.select(
                    reveal_audit.c.order_id,
                    reveal_audit.c.requested_by,
                    reveal_audit.c.outcome,
                    reveal_audit.c.cards_revealed,
                ).order_by(reveal_audit.c.id)
            )
        ]


@pytest.fixture
def delivered(shop):
    product = shop.product()
    shop.add_cards(product, 3)
    shop.created("o1", (product, 2), customer_id="alice")
    shop.paid("o1", (product, 2), customer_id="alice")
    return product


def test_the_buyer_reads_the_cards_of_a_delivered_order_and_it_is_audited(shop, db, keyring, delivered):
    revealed = usecases.reveal_cards(db, keyring, "o1", "alice")
    numbers = [card["number"] for card in revealed]
    assert len(revealed) == 2
    assert all(
        card["secret"] == f"S{number[1:]}-secret" for card, number in zip(revealed, numbers, strict=False)
    )
    assert _audit(db) == [("o1", "alice", "revealed", 2)]


def test_another_customer_is_forbidden_and_it_is_audited(db, keyring, delivered):
    with pytest.raises(Forbidden):
        usecases.reveal_cards(db, keyring, "o1", "mallory")
    assert _audit(db) == [("o1", "mallory", "forbidden", 0)]


def test_an_unknown_order_is_not_found_and_it_is_audited(shop, db, keyring):
    shop.cancelled("o2")  # a tombstone is not a purchase
    for order_id in ("o1", "o2"):
        with pytest.raises(NotFound):
            usecases.reveal_cards(db, keyring, order_id, "alice")
    assert _audit(db) == [("o1", "alice", "not_found", 0), ("o2", "alice", "not_found", 0)]


def test_an_order_not_yet_delivered_is_a_conflict_and_it_is_audited(shop, db, keyring):
    product = shop.product(cards=2)
    shop.created("o1", (product, 1), customer_id="alice")
    with pytest.raises(Conflict):
        usecases.reveal_cards(db, keyring, "o1", "alice")
    assert _audit(db) == [("o1", "alice", "not_delivered", 0)]


def test_swapped_card_rows_reveal_nothing_and_are_audited(db, keyring, delivered, caplog):
    with db.unit_of_work() as uow:
        first, second = uow.execute(
            sa.select(cards.c.id, cards.c.nonce, cards.c.ciphertext)
            .where(cards.c.order_id == "o1")
            .order_by(cards.c.id)
        ).all()
        for row, other in ((first, second), (second, first)):
            uow.execute(
                cards.update()
                .where(cards.c.id == row.id)
                .values(nonce=other.nonce, ciphertext=other.ciphertext)
            )
    with pytest.raises(KamengError) as raised:
        usecases.reveal_cards(db, keyring, "o1", "alice")
    assert raised.value.code == "card_integrity" and raised.value.status == 500
    assert "secret" not in str(raised.value)
    assert _audit(db) == [("o1", "alice", "integrity_error", 0)]
    assert "failed its integrity check" in caplog.text and "-secret" not in caplog.text


def test_no_secret_is_stored_published_or_logged_in_clear(any_shop, keyring, caplog):
    caplog.set_level(logging.DEBUG)
    product = any_shop.product()
    any_shop.add_cards(product, 3)
    any_shop.created("o1", (product, 2), customer_id="alice")
    any_shop.paid("o1", (product, 2), customer_id="alice")
    revealed = usecases.reveal_cards(any_shop.db, keyring, "o1", "alice")
    secrets = {card["secret"] for card in revealed} | {"S100000-secret", "S100001-secret", "S100002-secret"}
    dumped = []
    with any_shop.db.reading() as session:
        for table in metadata.sorted_tables:
            for row in session.execute(sa.select(table)):
                dumped.extend(
                    repr(value) if not isinstance(value, bytes) else value.decode("latin-1") for value in row
                )
    everything = "\n".join(dumped) + caplog.text
    url = sa.engine.make_url(any_shop.db.url)
    if url.get_backend_name() == "sqlite":
        any_shop.db.dispose()
        for suffix in ("", "-wal"):
            try:
                with open(url.database + suffix, "rb") as handle:
                    everything += handle.read().decode("latin-1")
            except FileNotFoundError:
                pass
    assert all(secret not in everything for secret in secrets)
    assert "N100000" in everything  # the scan did see the card rows
