"""Card secrets at rest: AES-256-GCM under a keyring that can rotate.

``KAMENG_CARD_KEYS`` holds ``id:base64key`` pairs, comma separated; the last
key is the newest and encrypts, every key decrypts what it encrypted. Each
master key is split with HKDF into an encryption key and a number-index key,
so that no key serves two purposes.

The associated data binds a ciphertext to its card's product id and number:
a ciphertext copied onto another card row fails to decrypt.
"""

import hmac
import os
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kameng_common import sealing
from kameng_common.config import secret_from_env_or_file

KEYS_ENV = sealing.KEYS_ENV
KEYS_FILE = sealing.KEYS_FILE
KEY_BYTES = sealing.KEY_BYTES
NONCE_BYTES = sealing.NONCE_BYTES


class KeyringError(ValueError):
    """The configured keys are malformed; the message never contains key material."""


class CardIntegrityError(Exception):
    """A stored card failed to decrypt: its key is missing or the row was altered."""


@dataclass(frozen=True)
class SealedSecret:
    key_id: str
    nonce: bytes
    ciphertext: bytes


def _subkey(master, purpose):
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=f"kameng/card/{purpose}/v1".encode()
    ).derive(master)


def _associated_data(product_id, number):
    # json.dumps(["kameng.card.v1", product_id, number], separators=(",", ":")), built
    # without the generic encoder: an import computes it for every card
    return f'["kameng.card.v1",{int(product_id)},{encode_basestring_ascii(number)}]'.encode()


class Keyring:
    def __init__(self, keys):
        """``keys``: (key id, 32-byte key) pairs, oldest first."""
        if not keys:
            raise KeyringError("no card keys configured")
        self._ciphers: dict[str, AESGCM] = {}
        self._index_keys = {}
        for key_id, key in keys:
            if key_id in self._ciphers:
                raise KeyringError(f"card key id {key_id!r} appears twice")
            self._ciphers[key_id] = AESGCM(_subkey(key, "secret"))
            self._index_keys[key_id] = _subkey(key, "number-index")
        self.newest_id = keys[-1][0]

    @classmethod
    def parse(cls, text):
        try:
            return cls(sealing.parse_keys(text))
        except sealing.KeyringError as error:
            raise KeyringError(str(error)) from None

    def seal(self, product_id, number, secret):
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[self.newest_id].encrypt(
            nonce, secret.encode(), _associated_data(product_id, number)
        )
        return SealedSecret(self.newest_id, nonce, ciphertext)

    def seal_many(self, product_id, cards):
        """``seal`` for each (number, secret) of ``cards``, with one call for all the nonces."""
        encrypt = self._ciphers[self.newest_id].encrypt
        nonces = os.urandom(NONCE_BYTES * len(cards))
        sealed = []
        for index, (number, secret) in enumerate(cards):
            nonce = nonces[index * NONCE_BYTES : (index + 1) * NONCE_BYTES]
            ciphertext = encrypt(nonce, secret.encode(), _associated_data(product_id, number))
            sealed.append(SealedSecret(self.newest_id, nonce, ciphertext))
        return sealed

    def open(self, product_id, number, sealed):
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise CardIntegrityError(f"card key {sealed.key_id!r} is not configured")
        try:
            plaintext = cipher.decrypt(
                bytes(sealed.nonce), bytes(sealed.ciphertext), _associated_data(product_id, number)
            )
        except InvalidTag:
            raise CardIntegrityError("a stored card failed its integrity check") from None
        return plaintext.decode()

    def number_digest(self, number):
        """The keyed hash stored with a new card, under the newest key."""
        return self._digest(self.newest_id, number)

    def number_digests(self, number):
        """The number's hash under every key: a card stored before a rotation still matches."""
        return [self._digest(key_id, number) for key_id in self._index_keys]

    def _digest(self, key_id, number):
        # hmac.digest: the one-shot C path, the same value as hmac.new(...).hexdigest()
        return hmac.digest(self._index_keys[key_id], number.encode(), "sha256").hex()


generate_keys_line = sealing.generate_keys_line


def load_keyring():
    """The keys from ``KAMENG_CARD_KEYS``, else the local run's key file (generated on first use)."""
    return Keyring.parse(secret_from_env_or_file(KEYS_ENV, KEYS_FILE, generate_keys_line))
