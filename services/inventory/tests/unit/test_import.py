import eventlet
import pytest
import sqlalchemy as sa

from inventory import catalogue, usecases
from inventory.crypto import Keyring, generate_keys_line
from inventory.db import cards
from kameng_common.errors import InvalidInput, NotFound


def _batch(*numbers):
    return [{"number": number, "secret": f"secret-of-{number}"} for number in numbers]


def test_an_import_counts_imported_duplicates_and_rejected(shop, db, keyring):
    product = shop.product()
    batch = _batch("N1", "N2", "N3") + [
        {"number": "N2", "secret": "another"},  # repeated within the batch
        {"number": " N3 ", "secret": "x"},  # the same number once trimmed
        {"number": "", "secret": "x"},
        {"number": "N9"},
        {"number": "N9", "secret": "s" * 600},
        "N10 S10",
        None,
    ]
    result = usecases.import_cards(db, keyring, product, batch)
    assert result == {
        "imported": 3,
        "duplicates": 2,
        "rejected": 5,
        "duplicate_positions": [3, 4],
        "rejected_positions": [5, 6, 7, 8, 9],
    }
    assert shop.available(product) == 3


def test_importing_the_same_cards_again_imports_nothing(shop, db, keyring):
    product = shop.product()
    usecases.import_cards(db, keyring, product, _batch("N1", "N2"))
    assert usecases.import_cards(db, keyring, product, _batch("N2", "N1", "N3")) == {
        "imported": 1,
        "duplicates": 2,
        "rejected": 0,
        "duplicate_positions": [0, 1],
        "rejected_positions": [],
    }


def test_the_same_number_may_exist_under_two_products(shop, db, keyring):
    first, second = shop.product(), shop.product()
    usecases.import_cards(db, keyring, first, _batch("N1"))
    assert usecases.import_cards(db, keyring, second, _batch("N1"))["imported"] == 1


def test_a_number_stored_before_a_key_rotation_is_still_a_duplicate(shop, db):
    old = generate_keys_line("old")
    product = shop.product()
    usecases.import_cards(db, Keyring.parse(old), product, _batch("N1"))
    rotated = Keyring.parse(f"{old},{generate_keys_line('new')}")
    assert usecases.import_cards(db, rotated, product, _batch("N1", "N2")) == {
        "imported": 1,
        "duplicates": 1,
        "rejected": 0,
        "duplicate_positions": [0],
        "rejected_positions": [],
    }
    with db.reading() as session:
        assert dict(session.execute(sa.select(cards.c.number, cards.c.key_id)).all()) == {
            "N1": "old",
            "N2": "new",
        }


def test_cards_are_stored_without_their_secret_in_clear(shop, db, keyring):
    product = shop.product()
    usecases.import_cards(db, keyring, product, _batch("N1"))
    with db.reading() as session:
        row = session.execute(sa.select(cards)).one()
    stored = repr(tuple(row)).encode() + b"".join(value for value in row if isinstance(value, bytes))
    assert b"secret-of-N1" not in stored
    assert keyring.open(product, "N1", _sealed(row)) == "secret-of-N1"


def _sealed(row):
    from inventory.crypto import SealedSecret

    return SealedSecret(row.key_id, row.nonce, row.ciphertext)


def test_cards_of_an_unknown_product_are_not_found(db, keyring):
    with pytest.raises(NotFound):
        usecases.import_cards(db, keyring, 999, _batch("N1"))


def test_a_direct_product_holds_no_cards(shop, db, keyring):
    with pytest.raises(InvalidInput, match="direct"):
        usecases.import_cards(db, keyring, shop.product(kind="direct"), _batch("N1"))


@pytest.mark.parametrize("batch", [[], "N1 S1", None, [{"number": "N", "secret": "S"}] * 10_001])
def test_a_batch_must_be_a_list_of_reasonable_size(shop, db, keyring, batch):
    with pytest.raises(InvalidInput, match="cards"):
        usecases.import_cards(db, keyring, shop.product(), batch)


def test_concurrent_imports_of_the_same_cards_store_each_card_once(any_shop, any_db, keyring):
    product = any_shop.product()
    batch = _batch(*(f"N{i}" for i in range(200)))
    pool = eventlet.GreenPool()
    results = list(pool.imap(lambda _: usecases.import_cards(any_db, keyring, product, batch), range(8)))
    assert sum(result["imported"] for result in results) == 200
    assert all(result["imported"] + result["duplicates"] == 200 for result in results)
    assert any_shop.available(product) == 200


def test_a_loop_product_takes_one_card_until_it_is_voided(shop, db, keyring):
    product = shop.product(kind="loop")
    first = usecases.import_cards(db, keyring, product, _batch("ACCOUNT-1", "ACCOUNT-2"))
    assert (first["imported"], first["rejected_positions"]) == (1, [1])
    again = usecases.import_cards(db, keyring, product, _batch("ACCOUNT-1", "ACCOUNT-3"))
    assert (again["imported"], again["duplicate_positions"], again["rejected_positions"]) == (0, [0], [1])
    [card] = catalogue.list_cards(db, product)["items"]
    catalogue.void_card(db, card["id"])
    assert usecases.import_cards(db, keyring, product, _batch("ACCOUNT-3"))["imported"] == 1
