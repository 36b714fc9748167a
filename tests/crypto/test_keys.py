"""Node key pairs, their PEM files and RFC 7638 thumbprints."""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from joserfc.jwk import OKPKey

from hanoinet.crypto import keys
from hanoinet.crypto.keys import KeyPair, import_public_jwk, public_jwk, thumbprint, write_private_file
from hanoinet.errors import KeyStoreError, ValidationError

# RFC 8037, appendix A.1 (the Ed25519 key of RFC 8032, section 7.1, test 1) and A.3 (its thumbprint).
RFC8037_PRIVATE = {
    "kty": "OKP", "crv": "Ed25519",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
RFC8037_PUBLIC = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def _pem_of(private_key: object) -> bytes:
    return private_key.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# --- thumbprints and public JWKs ---------------------------------------------------------------------------


def test_thumbprint_matches_rfc8037_vector() -> None:
    assert thumbprint(RFC8037_PUBLIC) == RFC8037_THUMBPRINT


def test_thumbprint_ignores_member_order_and_extra_members() -> None:
    reordered = {"x": RFC8037_PUBLIC["x"], "crv": "Ed25519", "kty": "OKP"}
    assert thumbprint(reordered) == RFC8037_THUMBPRINT
    assert thumbprint({**RFC8037_PUBLIC, "kid": "whatever", "use": "sig"}) == RFC8037_THUMBPRINT


def test_kid_of_rfc8037_key_pair() -> None:
    pair = KeyPair(use="sig", key=OKPKey.import_key(RFC8037_PRIVATE))
    assert pair.kid == RFC8037_THUMBPRINT
    assert pair.public == RFC8037_PUBLIC


def test_public_jwk_has_exactly_the_public_members() -> None:
    assert public_jwk(OKPKey.import_key(RFC8037_PRIVATE)) == RFC8037_PUBLIC


@pytest.mark.parametrize(("use", "crv"), [("sig", "Ed25519"), ("enc", "X25519")])
def test_generate(use: keys.KeyUse, crv: str) -> None:
    pair = KeyPair.generate(use)
    assert pair.use == use
    assert pair.public["crv"] == crv
    assert set(pair.public) == {"kty", "crv", "x"}
    assert pair.kid == thumbprint(pair.public)
    assert pair.key.private_key is not None
    assert KeyPair.generate(use).kid != pair.kid


def test_import_public_jwk_accepts_matching_keys() -> None:
    assert import_public_jwk(RFC8037_PUBLIC, use="sig").thumbprint() == RFC8037_THUMBPRINT
    enc = KeyPair.generate("enc")
    imported = import_public_jwk(enc.public, use="enc")
    assert imported.private_key is None
    assert imported.thumbprint() == enc.kid


@pytest.mark.parametrize(
    ("jwk", "use"),
    [
        (RFC8037_PUBLIC, "enc"),  # an Ed25519 key offered for encryption
        ({**RFC8037_PUBLIC, "crv": "X25519"}, "sig"),
        ({**RFC8037_PUBLIC, "crv": "Ed448"}, "sig"),
        ({**RFC8037_PUBLIC, "kty": "EC"}, "sig"),
        ({"kty": "OKP", "crv": "Ed25519"}, "sig"),  # no x
        ({**RFC8037_PUBLIC, "x": "AAAA"}, "sig"),  # x too short
        ({**RFC8037_PUBLIC, "x": "not base64!"}, "sig"),
        ("a string", "sig"),
        (None, "sig"),
        ([RFC8037_PUBLIC], "sig"),
    ],
)
def test_import_public_jwk_refuses(jwk: object, use: keys.KeyUse) -> None:
    with pytest.raises(ValidationError):
        import_public_jwk(jwk, use=use)


def test_import_public_jwk_refuses_private_members() -> None:
    with pytest.raises(ValidationError, match="private key member") as info:
        import_public_jwk(RFC8037_PRIVATE, use="sig")
    assert "publish only" in info.value.hint


def test_import_public_jwk_drops_other_members() -> None:
    imported = import_public_jwk({**RFC8037_PUBLIC, "use": "enc", "key_ops": ["decrypt"]}, use="sig")
    assert imported.as_dict(private=False).get("key_ops") is None


# --- PEM files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use", ["sig", "enc"])
def test_plaintext_pem_round_trip(use: keys.KeyUse) -> None:
    pair = KeyPair.generate(use)
    pem = pair.to_pem(None)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = KeyPair.from_pem(pem, None, use=use, where="key.pem")
    assert loaded.kid == pair.kid
    assert loaded.use == use
    assert loaded.public == pair.public


def test_plaintext_pem_ignores_a_passphrase() -> None:
    pair = KeyPair.generate("sig")
    assert KeyPair.from_pem(pair.to_pem(None), b"unused", use="sig", where="key.pem").kid == pair.kid


@pytest.fixture(scope="module")
def encrypted_pem() -> tuple[KeyPair, bytes]:
    """One key encrypted with the real KDF settings (slow: 600 000 PBKDF2 rounds)."""
    pair = KeyPair.generate("enc")
    return pair, pair.to_pem(b"correct horse")


def test_encrypted_pem_round_trip_with_real_kdf(encrypted_pem: tuple[KeyPair, bytes]) -> None:
    pair, pem = encrypted_pem
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert b"PRIVATE KEY-----" in pem and b"-----BEGIN PRIVATE KEY" not in pem
    assert KeyPair.from_pem(pem, b"correct horse", use="enc", where="enc.pem").kid == pair.kid


def test_encrypted_pem_wrong_passphrase(encrypted_pem: tuple[KeyPair, bytes]) -> None:
    _, pem = encrypted_pem
    with pytest.raises(KeyStoreError, match=r"cannot read enc\.pem") as info:
        KeyPair.from_pem(pem, b"wrong horse", use="enc", where="enc.pem")
    assert "passphrase" in info.value.hint


def test_encrypted_pem_without_passphrase_is_refused_with_a_hint(encrypted_pem: tuple[KeyPair, bytes]) -> None:
    _, pem = encrypted_pem
    with pytest.raises(KeyStoreError, match="encrypted and no passphrase") as info:
        KeyPair.from_pem(pem, None, use="enc", where="enc.pem")
    assert "HANOINET_KEY_PASSPHRASE" in info.value.hint


def _der(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(line for line in pem.splitlines() if not line.startswith(b"-----")))


PBES2 = bytes.fromhex("06092a864886f70d01050d")  # 1.2.840.113549.1.5.13
PBKDF2 = bytes.fromhex("06092a864886f70d01050c")  # 1.2.840.113549.1.5.12
HMAC_SHA256 = bytes.fromhex("06082a864886f70d0209")  # 1.2.840.113549.2.9
AES256_CBC = bytes.fromhex("060960864801650304012a")  # 2.16.840.1.101.3.4.1.42


def test_encrypted_pem_is_pbes2_with_the_configured_rounds(encrypted_pem: tuple[KeyPair, bytes]) -> None:
    der = _der(encrypted_pem[1])
    for oid in (PBES2, PBKDF2, HMAC_SHA256, AES256_CBC):
        assert oid in der
    assert bytes.fromhex("02030927c0") in der  # INTEGER 600000


def test_kdf_rounds_setting_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "KDF_ROUNDS", 1000)
    pair = KeyPair.generate("sig")
    pem = pair.to_pem(b"pw")
    assert bytes.fromhex("020203e8") in _der(pem)  # INTEGER 1000
    raw = serialization.load_pem_private_key(pem, b"pw")  # any OpenSSL reads it
    assert KeyPair(use="sig", key=OKPKey.import_key(raw)).kid == pair.kid
    assert KeyPair.from_pem(pem, b"pw", use="sig", where="k.pem").kid == pair.kid


@pytest.mark.parametrize(("stored", "wanted"), [("sig", "enc"), ("enc", "sig")])
def test_pem_of_the_wrong_use_is_refused(stored: keys.KeyUse, wanted: keys.KeyUse) -> None:
    pem = KeyPair.generate(stored).to_pem(None)
    with pytest.raises(KeyStoreError, match="expected"):
        KeyPair.from_pem(pem, None, use=wanted, where="key.pem")


@pytest.mark.parametrize("factory", [Ed448PrivateKey.generate, lambda: generate_private_key(SECP256R1())])
def test_pem_of_another_algorithm_is_refused(factory: object) -> None:
    pem = _pem_of(factory())  # type: ignore[operator]
    with pytest.raises(KeyStoreError, match="expected Ed25519PrivateKey"):
        KeyPair.from_pem(pem, None, use="sig", where="key.pem")


@pytest.mark.parametrize("pem", [b"", b"not a pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_damaged_pem_is_refused(pem: bytes) -> None:
    with pytest.raises(KeyStoreError, match=r"cannot read key\.pem") as info:
        KeyPair.from_pem(pem, None, use="sig", where="key.pem")
    assert "backup" in info.value.hint


def test_to_pem_needs_a_private_key() -> None:
    public_only = KeyPair(use="sig", key=import_public_jwk(RFC8037_PUBLIC, use="sig"))
    with pytest.raises(AssertionError):
        public_only.to_pem(None)


# --- private files -----------------------------------------------------------------------------------------


def test_write_private_file_is_owner_only(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "deep" / "dir" / "secret.pem"
        write_private_file(path, b"secret")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_suffix(".pem.tmp").exists()


def test_write_private_file_replaces_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(b"old")
    path.chmod(0o644)
    write_private_file(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.json"]


def test_encrypted_pem_can_be_written_regression(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: to_pem(passphrase) called PrivateFormat.PKCS8.encryption_builder(), which cryptography
    # refuses ("only supported with OpenSSH and PKCS12"), so no encrypted key file could ever be written.
    monkeypatch.setattr(keys, "KDF_ROUNDS", 1000)
    for use in ("sig", "enc"):
        pair = KeyPair.generate(use)  # type: ignore[arg-type]
        pem = pair.to_pem(b"pw")
        assert KeyPair.from_pem(pem, b"pw", use=use, where="k.pem").kid == pair.kid  # type: ignore[arg-type]
        with pytest.raises(KeyStoreError):
            KeyPair.from_pem(pem, b"other", use=use, where="k.pem")  # type: ignore[arg-type]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_encrypted_pem_is_readable_by_openssl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(keys, "KDF_ROUNDS", 2048)
    pair = KeyPair.generate("sig")
    path = tmp_path / "k.pem"
    path.write_bytes(pair.to_pem(b"s3cret"))
    out = subprocess.run(
        ["openssl", "pkey", "-in", str(path), "-passin", "pass:s3cret", "-pubout", "-outform", "DER"],
        capture_output=True, check=True,
    ).stdout
    assert base64.urlsafe_b64encode(out[-32:]).rstrip(b"=").decode() == pair.public["x"]
