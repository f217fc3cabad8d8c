"""The cryptography every provider uses: RSA keys, SHA256withRSA, sorted parameter strings."""

import base64
import binascii

from cryptography import x509
from cryptography.exceptions import InvalidSignature as BadSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from kameng_common.errors import InvalidSignature


class ProviderMisconfigured(Exception):
    """A provider's settings are present but unusable; the message names the setting, never its value."""


def read_file(setting, path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ProviderMisconfigured(f"{setting}: cannot read the file ({exc.strerror})") from None


def load_private_key(setting, path):
    """An RSA private key from a PEM file (PKCS#8 or PKCS#1)."""
    data = read_file(setting, path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ProviderMisconfigured(f"{setting}: not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProviderMisconfigured(f"{setting}: not an RSA key")
    return key


def load_public_key(setting, path):
    """An RSA public key from a PEM file holding a public key or a certificate."""
    data = read_file(setting, path)
    key: PublicKeyTypes
    try:
        if b"CERTIFICATE" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError:
        raise ProviderMisconfigured(f"{setting}: not a PEM public key or certificate") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProviderMisconfigured(f"{setting}: not an RSA key")
    return key


def load_certificates(setting, path):
    """Every certificate in a PEM file."""
    try:
        certificates = x509.load_pem_x509_certificates(read_file(setting, path))
    except ValueError:
        raise ProviderMisconfigured(f"{setting}: not PEM certificates") from None
    return certificates


def sign_sha256_rsa(private_key, message):
    """SHA256withRSA (PKCS#1 v1.5) of ``message`` (bytes), base64."""
    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_sha256_rsa(public_key, message, signature, provider):
    """Raise InvalidSignature unless ``signature`` (base64) is SHA256withRSA of ``message`` under the key."""
    try:
        raw = base64.b64decode(signature or "", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature(f"{provider} signature is not base64") from None
    try:
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except BadSignature:
        raise InvalidSignature(f"{provider} signature does not match") from None


def sorted_parameters(params, exclude=()):
    """``k1=v1&k2=v2`` over the non-empty parameters sorted by name, values as they are (not URL-encoded)."""
    return "&".join(
        f"{key}={params[key]}"
        for key in sorted(params)
        if key not in exclude and params[key] not in ("", None)
    )
