import base64
import json
import os
import stat
from dataclasses import replace

import pytest

from inventory import crypto
from inventory.crypto import (
    KEYS_ENV,
    CardIntegrityError,
    Keyring,
    KeyringError,
    generate_keys_line,
    load_keyring,
)

OLD = generate_keys_line("2024a")
NEW = generate_keys_line("2025a")


def test_a_sealed_secret_opens_to_the_secret_and_does_not_contain_it():
    keyring = Keyring.parse(OLD)
    sealed = keyring.seal(7, "N1", "the-secret-123")
    assert sealed.key_id == "2024a"
    assert b"the-secret-123" not in sealed.ciphertext
    assert keyring.open(7, "N1", sealed) == "the-secret-123"


def test_each_seal_uses_a_fresh_nonce():
    keyring = Keyring.parse(OLD)
    first, second = keyring.seal(7, "N1", "s"), keyring.seal(7, "N1", "s")
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext


def test_after_rotation_old_cards_still_open_and_new_ones_use_the_newest_key():
    before = Keyring.parse(OLD)
    sealed_before = before.seal(7, "N1", "old-secret")
    after = Keyring.parse(f"{OLD},{NEW}")
    sealed_after = after.seal(7, "N2", "new-secret")
    assert sealed_after.key_id == "2025a"
    assert after.open(7, "N1", sealed_before) == "old-secret"
    assert after.open(7, "N2", sealed_after) == "new-secret"


def test_a_number_digest_made_before_rotation_is_still_recognised():
    before = Keyring.parse(OLD)
    after = Keyring.parse(f"{OLD},{NEW}")
    assert before.number_digest("N1") in after.number_digests("N1")
    assert after.number_digest("N1") != before.number_digest("N1")
    assert before.number_digest("N1") != before.number_digest("N2")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda sealed: replace(sealed, ciphertext=bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]),
        lambda sealed: replace(sealed, nonce=bytes(12)),
        lambda sealed: replace(sealed, key_id="2024a"),  # opened with the wrong key
    ],
)
def test_an_altered_row_fails_its_integrity_check(tamper):
    keyring = Keyring.parse(f"{OLD},{NEW}")
    sealed = keyring.seal(7, "N1", "secret")
    with pytest.raises(CardIntegrityError):
        keyring.open(7, "N1", tamper(sealed))


@pytest.mark.parametrize("product_id, number", [(8, "N1"), (7, "N2")])
def test_a_ciphertext_moved_to_another_card_fails(product_id, number):
    keyring = Keyring.parse(OLD)
    sealed = keyring.seal(7, "N1", "secret")
    with pytest.raises(CardIntegrityError):
        keyring.open(product_id, number, sealed)


def test_a_card_under_a_key_no_longer_configured_fails_without_naming_the_secret():
    sealed = Keyring.parse(OLD).seal(7, "N1", "secret")
    with pytest.raises(CardIntegrityError, match="2024a") as raised:
        Keyring.parse(NEW).open(7, "N1", sealed)
    assert "secret" not in str(raised.value).replace("2024a", "")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "id:base64key"),
        ("nokey", "id:base64key"),
        ("bad id:" + base64.b64encode(bytes(32)).decode(), "id:base64key"),
        ("k1:not base64!", "base64"),
        ("k1:" + base64.b64encode(bytes(16)).decode(), "32 bytes"),
        (f"{OLD},{OLD}", "twice"),
    ],
)
def test_malformed_keys_are_refused_without_echoing_them(text, message):
    with pytest.raises(KeyringError, match=message) as raised:
        Keyring.parse(text)
    encoded = text.partition(":")[2]
    assert not encoded or encoded not in str(raised.value)


def test_keys_come_from_the_environment_first(monkeypatch, tmp_path):
    monkeypatch.setenv("KAMENG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(KEYS_ENV, f"{OLD},{NEW}")
    assert load_keyring().newest_id == "2025a"
    assert not (tmp_path / "card.keys").exists()


def test_the_local_run_generates_a_private_key_file_once(monkeypatch, tmp_path):
    monkeypatch.setenv("KAMENG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv(KEYS_ENV, raising=False)
    sealed = load_keyring().seal(7, "N1", "secret")
    path = tmp_path / "card.keys"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # a restart reads the same key back
    assert load_keyring().open(7, "N1", sealed) == "secret"


@pytest.mark.parametrize("number", ["N1", "号码-1", 'quote"and\\slash', "tab\there", "\u2028"])
def test_the_associated_data_is_the_json_it_always_was(number):
    assert (
        crypto._associated_data(7, number)
        == json.dumps(["kameng.card.v1", 7, number], separators=(",", ":")).encode()
    )


def test_sealing_many_cards_at_once_opens_like_sealing_one(keyring):
    sealed = keyring.seal_many(3, [("N1", "S1"), ("N2", "S2")])
    assert [keyring.open(3, number, seal) for number, seal in zip(["N1", "N2"], sealed, strict=True)] == [
        "S1",
        "S2",
    ]
    assert len({seal.nonce for seal in sealed}) == 2
