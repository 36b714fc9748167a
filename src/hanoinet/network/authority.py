"""The Secretariat's side of the directory: a workspace that collects member cards and signs versions.

Layout of the workspace folder: ``authority.pem`` (the authority's private key, PKCS#8, encrypted unless
the demo flag was given), ``authority.jwk`` (its public key, which every node pins), ``members/STATE.json``
(the accepted cards, as JSON), ``versions/N.jws`` (every signed version) and ``directory.jws`` (the newest).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair, thumbprint, write_private_file
from hanoinet.errors import ConfigurationError, DirectoryError, NotFound
from hanoinet.network.directory import Authority, DirectoryDocument, MemberCard, sign_directory, verify_card


class AuthorityWorkspace:
    """A folder holding the authority key, the member cards, and the signed versions."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def public_key_path(self) -> Path:
        """``authority.jwk``: the public key to pin on nodes."""
        return self.folder / "authority.jwk"

    def init(self, name: str, passphrase: bytes | None) -> str:
        """Create the authority key; returns its fingerprint."""
        if (self.folder / "authority.pem").exists():
            raise ConfigurationError(f"{self.folder} already holds an authority key")
        self.folder.mkdir(parents=True, exist_ok=True)
        key = KeyPair.generate("sig")
        write_private_file(self.folder / "authority.pem", key.to_pem(passphrase))
        self.public_key_path.write_text(json.dumps(key.public, indent=2) + "\n", encoding="utf-8")
        (self.folder / "authority.json").write_text(json.dumps({"name": name}) + "\n", encoding="utf-8")
        (self.folder / "members").mkdir(exist_ok=True)
        (self.folder / "versions").mkdir(exist_ok=True)
        return key.kid

    def public_key(self) -> dict[str, str]:
        """The authority's public JWK."""
        try:
            data: dict[str, str] = json.loads(self.public_key_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigurationError(f"{self.folder} is not a directory workspace",
                                     hint="create one with `hanoinet directory init`") from None
        return data

    def add_card(self, compact: str) -> MemberCard:
        """Verify a member's self-signed card and accept it (replacing that State's previous card).

        Compromise markings already recorded for keys the new card still lists are kept.
        """
        card = verify_card(compact)
        path = self.folder / "members" / f"{card.state}.json"
        if path.exists():
            previous = MemberCard.model_validate(json.loads(path.read_text(encoding="utf-8")))
            marks = {k.kid: k.compromised_since for k in previous.keys if k.compromised_since}
            if marks:
                keys = [k.model_copy(update={"compromised_since": marks.get(k.kid)}) for k in card.keys]
                card = card.model_copy(update={"keys": keys})
        path.write_text(json.dumps(card.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
        return card

    def members(self) -> list[MemberCard]:
        """Accepted cards, by State code."""
        return [
            MemberCard.model_validate(json.loads(p.read_text(encoding="utf-8")))
            for p in sorted((self.folder / "members").glob("*.json"))
        ]

    def revoke(self, state: str, kid: str, since: datetime) -> None:
        """Mark a member's key as compromised from ``since`` (takes effect at the next publish)."""
        path = self.folder / "members" / f"{state}.json"
        if not path.exists():
            raise NotFound(f"{state} has no card in this directory")
        card = MemberCard.model_validate(json.loads(path.read_text(encoding="utf-8")))
        if card.key(kid) is None:
            raise NotFound(f"{state}'s card has no key {kid}", hint=f"keys: {', '.join(k.kid for k in card.keys)}")
        keys = [k.model_copy(update={"compromised_since": format_instant(since)}) if k.kid == kid else k
                for k in card.keys]
        card = card.model_copy(update={"keys": keys})
        path.write_text(json.dumps(card.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")

    def current_version(self) -> int:
        """The newest published version number (0 before the first)."""
        versions = [int(p.stem) for p in (self.folder / "versions").glob("*.jws") if p.stem.isdigit()]
        return max(versions, default=0)

    def publish(self, passphrase: bytes | None, *, valid_for: timedelta, at: datetime | None = None) -> str:
        """Sign the next version with every accepted card; returns the JWS."""
        pem_path = self.folder / "authority.pem"
        try:
            pem = pem_path.read_bytes()
        except FileNotFoundError:
            raise ConfigurationError(f"{self.folder} is not a directory workspace",
                                     hint="create one with `hanoinet directory init`") from None
        key = KeyPair.from_pem(pem, passphrase, use="sig", where=str(pem_path))
        if key.kid != thumbprint(self.public_key()):
            raise DirectoryError("authority.pem and authority.jwk do not hold the same key")
        name = json.loads((self.folder / "authority.json").read_text(encoding="utf-8"))["name"]
        issued = at or now()
        version = self.current_version() + 1
        document = DirectoryDocument(
            version=version, issued_at=format_instant(issued), expires_at=format_instant(issued + valid_for),
            authority=Authority(name=name, kid=key.kid), members=self.members(),
        )
        compact = sign_directory(document, key)
        (self.folder / "versions" / f"{version}.jws").write_text(compact + "\n", encoding="ascii")
        (self.folder / "directory.jws").write_text(compact + "\n", encoding="ascii")
        return compact

    def is_encrypted(self) -> bool:
        """Whether the authority key file is passphrase-protected."""
        return b"ENCRYPTED" in (self.folder / "authority.pem").read_bytes()


def directory_server(workspace: AuthorityWorkspace, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server publishing ``/directory`` (newest version) and ``/authority.jwk`` (static files).

    Both are public and signed or self-authenticating; in production put them behind HTTPS.
    """
    workspace.public_key()
    files = {"/directory": (workspace.folder / "directory.jws", "application/jose"),
             "/authority.jwk": (workspace.public_key_path, "application/jwk+json")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            entry = files.get(self.path)
            if entry is None or not entry[0].exists():
                self.send_error(404)
                return
            body = entry[0].read_bytes()
            self.send_response(200)
            self.send_header("content-type", entry[1])
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # per-request lines are noise here
            return

    return ThreadingHTTPServer((host, port), Handler)
