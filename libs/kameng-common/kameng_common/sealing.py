"""Secrets a service must read back in clear (API key secrets, supplier secrets), sealed at rest.

The same keys as card secrets (``KAMENG_CARD_KEYS``: ``id:base64key`` pairs,
comma separated, the last the newest), each split with HKDF per purpose, so
that no key serves two purposes; AES-256-GCM with associated data that binds
a ciphertext to its row, so a ciphertext copied onto another row fails to open.
"""

import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import Sequence
from typing import Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kameng_common.config import secret_from_env_or_file

KEYS_ENV = "KAMENG_CARD_KEYS"
KEYS_FILE = "card.keys"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class KeyringError(ValueError):
    """The configured keys are malformed; the message never contains key material."""


class SealError(Exception):
    """A sealed secret failed to open: its key is missing or the row was altered."""


def parse_keys(text: str) -> list[tuple[str, bytes]]:
    """``[(key id, 32-byte key)]``, oldest first, from ``id:base64key,...``."""
    keys: list[tuple[str, bytes]] = []
    for entry in (part.strip() for part in text.split(",")):
        key_id, separator, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not separator or not _KEY_ID.match(key_id):
            raise KeyringError(f"{KEYS_ENV} entries must be 'id:base64key' with a short alphanumeric id")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"card key {key_id!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise KeyringError(f"card key {key_id!r} must be {KEY_BYTES} bytes")
        keys.append((key_id, key))
    if not keys:
        raise KeyringError("no card keys configured")
    return keys


def generate_keys_line(key_id: str = "k1") -> str:
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def configured_keys() -> list[tuple[str, bytes]]:
    """The keys from ``KAMENG_CARD_KEYS``, else the local run's key file (generated on first use)."""
    return parse_keys(secret_from_env_or_file(KEYS_ENV, KEYS_FILE, generate_keys_line))


def subkey(master: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=f"kameng/{purpose}/v1".encode()
    ).derive(master)


class Sealer:
    """Seals and opens the secrets of one purpose ("api-key", "supplier")."""

    def __init__(self, keys: Sequence[tuple[str, bytes]], purpose: str) -> None:
        self.purpose = purpose
        self._ciphers = {key_id: AESGCM(subkey(key, f"{purpose}/secret")) for key_id, key in keys}
        self.newest_id = keys[-1][0]

    @classmethod
    def from_env(cls, purpose: str) -> Self:
        return cls(configured_keys(), purpose)

    def seal(self, row_id: object, secret: str) -> tuple[str, bytes]:
        """``(key id, nonce + ciphertext)`` for ``secret``, bound to ``row_id``."""
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[self.newest_id].encrypt(nonce, secret.encode(), self._bound(row_id))
        return self.newest_id, nonce + ciphertext

    def open(self, row_id: object, key_id: str, sealed: bytes | memoryview) -> str:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SealError(f"key {key_id!r} is not configured")
        data = bytes(sealed)
        try:
            plaintext = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], self._bound(row_id))
        except InvalidTag:
            raise SealError(f"a sealed {self.purpose} secret failed its integrity check") from None
        return plaintext.decode()

    def _bound(self, row_id: object) -> bytes:
        return json.dumps([f"kameng.{self.purpose}.v1", str(row_id)], separators=(",", ":")).encode()
