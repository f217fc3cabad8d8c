"""The channel protocol's signature and the sealing of secrets kept for it."""

import hashlib

import pytest

from kameng_common import channel
from kameng_common.sealing import KeyringError, Sealer, SealError, generate_keys_line, parse_keys


def test_the_string_to_sign_is_exactly_as_documented():
    body = b'{"a":1}'
    assert channel.string_to_sign("post", "/api/channel/v1/orders", "", "1700000000", "n-1", body) == (
        f"POST\n/api/channel/v1/orders\n1700000000\nn-1\n{hashlib.sha256(body).hexdigest()}"
    )
    assert channel.string_to_sign("GET", "/p", "limit=5&cursor=9", "1", "n", b"").split("\n")[1] == (
        "/p?limit=5&cursor=9"
    )
    assert channel.string_to_sign("GET", "/p", "", "1", "n", b"").endswith(hashlib.sha256(b"").hexdigest())


def test_signed_headers_verify_under_the_secret_only():
    headers = channel.signed_headers("ck_1", "secret", "GET", "/p", "x=1", b"", now=1700000000)
    message = channel.string_to_sign(
        "GET", "/p", "x=1", headers[channel.TIMESTAMP_HEADER], headers[channel.NONCE_HEADER], b""
    )
    assert headers[channel.TIMESTAMP_HEADER] == "1700000000"
    assert channel.signature_matches("secret", message, headers[channel.SIGNATURE_HEADER])
    assert channel.signature_matches("secret", message, headers[channel.SIGNATURE_HEADER].upper())
    assert not channel.signature_matches("other", message, headers[channel.SIGNATURE_HEADER])
    again = channel.signed_headers("ck_1", "secret", "GET", "/p", "x=1", b"", now=1700000000)
    assert again[channel.NONCE_HEADER] != headers[channel.NONCE_HEADER]


@pytest.mark.parametrize(
    "timestamp, fresh",
    [
        ("1000", True),
        ("1300", True),
        ("700", True),
        ("1301", False),
        ("699", False),
        ("1e3", False),
        ("", False),
    ],
)
def test_the_timestamp_window_is_300_seconds_either_way(timestamp, fresh):
    assert channel.timestamp_fresh(timestamp, now=1000) is fresh


def test_a_sealed_secret_opens_only_on_its_row_and_purpose():
    keys = parse_keys(generate_keys_line("k1"))
    sealer = Sealer(keys, "api-key")
    key_id, sealed = sealer.seal("ck_1", "the secret")
    assert b"the secret" not in sealed
    assert sealer.open("ck_1", key_id, sealed) == "the secret"
    with pytest.raises(SealError):
        sealer.open("ck_2", key_id, sealed)
    with pytest.raises(SealError):
        Sealer(keys, "supplier").open("ck_1", key_id, sealed)
    with pytest.raises(SealError):
        sealer.open("ck_1", "k9", sealed)


def test_a_rotated_keyring_still_opens_old_secrets():
    old = parse_keys(generate_keys_line("k1"))
    key_id, sealed = Sealer(old, "api-key").seal("ck_1", "s")
    rotated = Sealer(old + parse_keys(generate_keys_line("k2")), "api-key")
    assert rotated.open("ck_1", key_id, sealed) == "s"
    assert rotated.seal("ck_1", "s")[0] == "k2"


@pytest.mark.parametrize("text", ["", "k1", "k1:notbase64!", "k1:AAAA", "bad id:" + "A" * 44])
def test_malformed_keys_are_refused_without_showing_them(text):
    with pytest.raises(KeyringError) as refused:
        parse_keys(text)
    assert "AAAA" not in str(refused.value)
