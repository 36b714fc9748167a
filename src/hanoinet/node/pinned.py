"""The Secretariat's authority key a node pins (``DATA/authority.jwk``), read and written without the database.

Offline verification (``hanoinet verify --data DIR``) trusts this key, so reading it must not need the node's
database, keys or passphrase.
"""

from __future__ import annotations

import json
from pathlib import Path

from hanoinet.crypto.keys import import_public_jwk, thumbprint
from hanoinet.errors import ConfigurationError
from hanoinet.node.settings import CONFIG_FILE

AUTHORITY_FILE = "authority.jwk"


def read_authority(data_dir: Path) -> dict[str, str] | None:
    """The pinned authority public key, if one was pinned."""
    path = data_dir / AUTHORITY_FILE
    if not path.exists():
        return None
    try:
        jwk = json.loads(path.read_text(encoding="utf-8"))
        import_public_jwk(jwk, use="sig")
    except (ValueError, OSError) as exc:
        raise ConfigurationError(f"{path} is not an Ed25519 public JWK: {exc}",
                                 hint="pin the authority key again with `hanoinet node pin-authority`") from None
    return {"kty": "OKP", "crv": "Ed25519", "x": str(jwk["x"])}


def pin_authority(data_dir: Path, jwk: dict[str, str]) -> str:
    """Pin the Secretariat's public key; returns its fingerprint (RFC 7638 thumbprint)."""
    import_public_jwk(jwk, use="sig")
    public = {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]}
    (data_dir / AUTHORITY_FILE).write_text(json.dumps(public, indent=2) + "\n", encoding="utf-8")
    return thumbprint(public)


def pinned_fingerprint(data_dir: Path) -> str:
    """The fingerprint of the authority key the node in ``data_dir`` pins; refuses a folder that is no node's."""
    if not (data_dir / CONFIG_FILE).is_file():
        raise ConfigurationError(f"{data_dir} is not a node's data directory (it has no {CONFIG_FILE})",
                                 hint="give the folder `hanoinet node init --data` created", code="not_a_node")
    jwk = read_authority(data_dir)
    if jwk is None:
        raise ConfigurationError(
            f"the node in {data_dir} has pinned no Secretariat authority key",
            hint="pin the key the Secretariat published: `hanoinet node pin-authority authority.jwk "
                 f"--fingerprint <published fingerprint> --data {data_dir}`", code="no_authority")
    return thumbprint(jwk)
