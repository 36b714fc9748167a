"""Node keys: an Ed25519 signing key and an X25519 encryption key, each named by its RFC 7638 thumbprint.

Private keys live in the data directory as PKCS#8 PEM files (RFC 5958), encrypted with PBES2
(PBKDF2-HMAC-SHA256, AES-256-CBC) unless the operator explicitly chose plaintext keys for a demo. Any
OpenSSL can read them, so an operator is never locked into this software to recover a key.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from joserfc.jwk import OKPKey

from hanoinet.errors import KeyStoreError, ValidationError

KeyUse = Literal["sig", "enc"]

#: PBKDF2-HMAC-SHA256 iterations for encrypted key files (OWASP 2023 recommendation).
KDF_ROUNDS = 600_000


def thumbprint(public_jwk: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the key id (``kid``) used everywhere."""
    return str(OKPKey.import_key(dict(public_jwk)).thumbprint())


def public_jwk(key: OKPKey) -> dict[str, str]:
    """The public members of an OKP key as a JWK dictionary (kty, crv, x)."""
    d = key.as_dict(private=False)
    return {"kty": str(d["kty"]), "crv": str(d["crv"]), "x": str(d["x"])}


def import_public_jwk(jwk: object, *, use: KeyUse) -> OKPKey:
    """Import a peer's public JWK, checking it is an Ed25519 (``sig``) or X25519 (``enc``) public key."""
    expected = "Ed25519" if use == "sig" else "X25519"
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != expected:
        raise ValidationError(f"expected an OKP {expected} public JWK, got {jwk!r}")
    if "d" in jwk:
        raise ValidationError("a public key document contains a private key member 'd'",
                              hint="publish only kty, crv and x")
    try:
        return OKPKey.import_key({"kty": "OKP", "crv": expected, "x": str(jwk["x"])})
    except Exception as exc:  # joserfc raises several types for a malformed x
        raise ValidationError(f"malformed {expected} public key: {exc}") from None


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A private key with its use and key id."""

    use: KeyUse
    key: OKPKey

    @property
    def kid(self) -> str:
        """RFC 7638 thumbprint of the public key."""
        return str(self.key.thumbprint())

    @property
    def public(self) -> dict[str, str]:
        """The public JWK."""
        return public_jwk(self.key)

    @classmethod
    def generate(cls, use: KeyUse) -> KeyPair:
        """A fresh key: Ed25519 for signing, X25519 for encryption."""
        raw = Ed25519PrivateKey.generate() if use == "sig" else X25519PrivateKey.generate()
        return cls(use=use, key=OKPKey.import_key(raw))

    def to_pem(self, passphrase: bytes | None) -> bytes:
        """PKCS#8 PEM, encrypted with PBES2 when a passphrase is given."""
        raw = self.key.private_key
        assert raw is not None
        if passphrase is None:
            return raw.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        # cryptography offers no PKCS#8 encryption with a chosen iteration count (its encryption_builder
        # serves only OpenSSH and PKCS#12), so the EncryptedPrivateKeyInfo is assembled here.
        der = raw.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        return _encrypted_pkcs8_pem(der, passphrase)

    @classmethod
    def from_pem(cls, pem: bytes, passphrase: bytes | None, *, use: KeyUse, where: str) -> KeyPair:
        """Load a PKCS#8 PEM private key of the given use."""
        encrypted = b"ENCRYPTED PRIVATE KEY" in pem
        if encrypted and passphrase is None:
            raise KeyStoreError(
                f"{where} is encrypted and no passphrase was given",
                hint="set HANOINET_KEY_PASSPHRASE or HANOINET_KEY_PASSPHRASE_FILE, or type it at the prompt",
            )
        try:
            raw = serialization.load_pem_private_key(pem, passphrase if encrypted else None)
        except (ValueError, TypeError) as exc:
            raise KeyStoreError(
                f"cannot read {where}: {exc}",
                hint="check the passphrase; restore the key file from a backup if it is damaged",
            ) from None
        expected = Ed25519PrivateKey if use == "sig" else X25519PrivateKey
        if not isinstance(raw, expected):
            raise KeyStoreError(f"{where} holds a {type(raw).__name__}, expected {expected.__name__}")
        return cls(use=use, key=OKPKey.import_key(raw))


# DER object identifiers (tag and length included) of the PBES2 parameters written by ``to_pem``.
_OID_PBES2 = bytes.fromhex("06092a864886f70d01050d")  # 1.2.840.113549.1.5.13
_OID_PBKDF2 = bytes.fromhex("06092a864886f70d01050c")  # 1.2.840.113549.1.5.12
_OID_HMAC_SHA256 = bytes.fromhex("06082a864886f70d0209")  # 1.2.840.113549.2.9
_OID_AES256_CBC = bytes.fromhex("060960864801650304012a")  # 2.16.840.1.101.3.4.1.42
_DER_NULL = b"\x05\x00"


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV (definite length)."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + content


def _seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


def _encrypted_pkcs8_pem(der: bytes, passphrase: bytes) -> bytes:
    """RFC 5958 EncryptedPrivateKeyInfo: PBES2 (RFC 8018) with PBKDF2-HMAC-SHA256 and AES-256-CBC."""
    salt, iv = os.urandom(16), os.urandom(16)
    key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=KDF_ROUNDS).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(der) + padder.finalize()) + encryptor.finalize()
    rounds = _der(0x02, KDF_ROUNDS.to_bytes(KDF_ROUNDS.bit_length() // 8 + 1, "big"))
    pbkdf2 = _seq(_OID_PBKDF2, _seq(_der(0x04, salt), rounds, _seq(_OID_HMAC_SHA256, _DER_NULL)))
    algorithm = _seq(_OID_PBES2, _seq(pbkdf2, _seq(_OID_AES256_CBC, _der(0x04, iv))))
    body = base64.b64encode(_seq(algorithm, _der(0x04, ciphertext)))
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([b"-----BEGIN ENCRYPTED PRIVATE KEY-----", *lines, b"-----END ENCRYPTED PRIVATE KEY-----", b""])


def write_private_file(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only (0600), atomically, and fsync it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
