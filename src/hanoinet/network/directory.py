"""The directory: the signed register of member States, their keys and desks (Art. 40, 41).

Two signed documents, both JWS compact over RFC 8785 canonical JSON:

- a **member card**, signed by the node's own signing key (proof that the node holds it), which the node
  operator hands to the Secretariat;
- the **directory**, signed by the Secretariat's authority key, pinned by every node at ``node init``.

This module is pure: it parses, verifies and answers questions about one directory version. Storing
versions and polling for new ones happens in :mod:`hanoinet.network.directory_sync`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from joserfc.jwk import OKPKey
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hanoinet.clock import Instant, format_instant, parse_instant
from hanoinet.crypto import jose
from hanoinet.crypto.canonical import canonical_json, parse_json
from hanoinet.crypto.keys import KeyPair, import_public_jwk, thumbprint
from hanoinet.errors import DirectoryError, EnvelopeRefused, HanoinetError, ValidationError
from hanoinet.states import DeskId, StateCode

CARD_TYP = "hanoinet-card+jws"
DIRECTORY_TYP = "hanoinet-directory+jws"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_PHONE = re.compile(r"^\+[1-9][0-9 ]{6,20}$", re.ASCII)
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", re.ASCII)
_EFFECT = re.compile(r"^[a-z][a-z0-9_]{2,63}$", re.ASCII)
_ARTICLE = re.compile(r"^[0-9]{1,2}(\([0-9]{1,2}\))?(\([a-z]\))?$", re.ASCII)


def check_endpoint(value: str) -> str:
    """An http(s) base URL without a trailing slash; raises ``ValueError`` otherwise."""
    if not re.fullmatch(r"^https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(/.*)?$", value):
        raise ValueError(f"{value!r} is not an http(s) URL such as https://node.example.org:8401")
    return value.rstrip("/")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class KeyEntry(_Strict):
    """A public key of a member with its validity window; ``kid`` is its RFC 7638 thumbprint."""

    kid: str
    use: Literal["sig", "enc"]
    jwk: dict[str, str]
    not_before: Instant
    not_after: Instant
    #: Set by the Secretariat when the key is known to be compromised from that instant on.
    compromised_since: Instant | None = None

    @model_validator(mode="after")
    def _consistent(self) -> KeyEntry:
        import_public_jwk(self.jwk, use=self.use)
        if thumbprint(self.jwk) != self.kid:
            raise ValueError(f"kid {self.kid} is not the RFC 7638 thumbprint of its jwk")
        if parse_instant(self.not_after) <= parse_instant(self.not_before):
            raise ValueError(f"key {self.kid}: not_after must be later than not_before")
        return self

    def public_key(self) -> OKPKey:
        """The key as a joserfc object."""
        return import_public_jwk(self.jwk, use=self.use)


class Desk(_Strict):
    """A desk of a node: ``247`` (Art. 41 point of contact), ``CA`` (Art. 40 central authority), ..."""

    id: DeskId
    name: str = Field(min_length=1, max_length=200)
    #: Languages the desk accepts (BCP 47 tags, e.g. ``en``, ``fr``, ``vi``); Art. 40 requires a language
    #: the requested State accepts.
    languages: list[str] = Field(min_length=1)
    #: Phone numbers to call when the network is down (E.164, spaces allowed).
    fallback_phones: list[str] = Field(default_factory=list)

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not _LANGUAGE.fullmatch(tag):
                raise ValueError(f"{tag!r} is not a BCP 47 language tag")
        return value

    @field_validator("fallback_phones")
    @classmethod
    def _phones(cls, value: list[str]) -> list[str]:
        for phone in value:
            if not _PHONE.fullmatch(phone):
                raise ValueError(f"{phone!r} is not an international phone number (+country number)")
        return value


class Declaration(_Strict):
    """A reservation or declaration a State made under an article, with its machine-readable effect.

    ``effect`` is an identifier the Convention rules apply (see docs/protocol.md, "Declarations");
    ``params`` qualify it (e.g. the offences a reservation covers); ``text`` is the State's own wording.
    """

    article: str
    kind: Literal["reservation", "declaration", "notification"]
    effect: str
    params: dict[str, str | int | bool | list[str]] = Field(default_factory=dict)
    text: str = ""

    @field_validator("article")
    @classmethod
    def _article(cls, value: str) -> str:
        if not _ARTICLE.fullmatch(value):
            raise ValueError(f"{value!r} is not an article reference such as 42 or 42(3) or 40(8)(b)")
        return value

    @field_validator("effect")
    @classmethod
    def _effect(cls, value: str) -> str:
        if not _EFFECT.fullmatch(value):
            raise ValueError(f"{value!r} is not an effect identifier (lower_snake_case)")
        return value


class MemberCard(_Strict):
    """What a State's node publishes about itself; the directory lists one card per State."""

    type: Literal["hanoinet-member-card"] = "hanoinet-member-card"
    v: Literal[1] = 1
    state: StateCode
    name: str = Field(min_length=1, max_length=200)
    endpoint: str
    keys: list[KeyEntry] = Field(min_length=2)
    desks: list[Desk] = Field(min_length=1)
    declarations: list[Declaration] = Field(default_factory=list)
    #: Dates of signature and ratification of the Convention (YYYY-MM-DD), when they happened.
    signed_on: str | None = None
    ratified_on: str | None = None
    issued_at: Instant

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_endpoint(value)

    @field_validator("signed_on", "ratified_on")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None and not _DATE.fullmatch(value):
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
        return value

    @model_validator(mode="after")
    def _unique(self) -> MemberCard:
        kids = [k.kid for k in self.keys]
        if len(set(kids)) != len(kids):
            raise ValueError("a key id appears twice")
        if not any(k.use == "sig" for k in self.keys) or not any(k.use == "enc" for k in self.keys):
            raise ValueError("a member needs at least one 'sig' and one 'enc' key")
        desks = [d.id for d in self.desks]
        if len(set(desks)) != len(desks):
            raise ValueError("a desk id appears twice")
        return self

    def desk(self, desk_id: str) -> Desk | None:
        """The desk with this id, if the member has it."""
        return next((d for d in self.desks if d.id == desk_id), None)

    def key(self, kid: str) -> KeyEntry | None:
        """The key with this id, if the member lists it."""
        return next((k for k in self.keys if k.kid == kid), None)

    def usable_key(self, use: Literal["sig", "enc"], at: datetime) -> KeyEntry | None:
        """The newest key of this use valid at ``at`` and not compromised: the one to use now."""
        candidates = [
            k for k in self.keys
            if k.use == use and k.compromised_since is None
            and parse_instant(k.not_before) <= at < parse_instant(k.not_after)
        ]
        return max(candidates, key=lambda k: parse_instant(k.not_before), default=None)


class Authority(_Strict):
    """The Secretariat's signing key named in the directory."""

    name: str
    kid: str


class DirectoryDocument(_Strict):
    """One version of the directory, as signed by the authority."""

    type: Literal["hanoinet-directory"] = "hanoinet-directory"
    v: Literal[1] = 1
    version: int = Field(ge=1)
    issued_at: Instant
    expires_at: Instant
    authority: Authority
    members: list[MemberCard]

    @model_validator(mode="after")
    def _unique_states(self) -> DirectoryDocument:
        states = [m.state for m in self.members]
        if len(set(states)) != len(states):
            raise ValueError("a State appears twice")
        if parse_instant(self.expires_at) <= parse_instant(self.issued_at):
            raise ValueError("expires_at must be later than issued_at")
        return self


M = TypeVar("M", bound=BaseModel)


def _load_model(model: type[M], payload: bytes, what: str) -> M:
    data = parse_json(payload, what=what)
    try:
        return model.model_validate(data)
    except (ValueError, ValidationError) as exc:  # field validators may raise our ValidationError directly
        raise DirectoryError(f"{what} is not valid: {exc}") from None


def sign_card(card: MemberCard, key: KeyPair) -> str:
    """The card as a JWS signed by one of its own signing keys."""
    if card.key(key.kid) is None:
        raise DirectoryError("the card must be signed by one of the keys it lists")
    return jose.sign(canonical_json(card.model_dump(mode="json")), key, typ=CARD_TYP)


def verify_card(compact: str) -> MemberCard:
    """Parse a self-signed card and check it is signed by a signing key it lists (proof of possession)."""
    try:
        header, payload = jose.peek_jws(compact.strip(), typ=CARD_TYP)
        card = _load_model(MemberCard, payload, "member card")
        entry = card.key(header["kid"])
        if entry is None or entry.use != "sig":
            raise DirectoryError("the card is not signed by a signing key it lists")
        jose.verify(compact.strip(), entry.public_key(), typ=CARD_TYP)
    except DirectoryError:
        raise
    except HanoinetError as exc:
        raise DirectoryError(f"member card rejected: {exc.message}",
                             hint="ask the node operator for a fresh `hanoinet node card`") from None
    return card


def sign_directory(document: DirectoryDocument, authority_key: KeyPair) -> str:
    """Sign a directory version with the authority's key."""
    if document.authority.kid != authority_key.kid:
        raise DirectoryError("the directory names another authority key than the one signing it")
    return jose.sign(canonical_json(document.model_dump(mode="json")), authority_key, typ=DIRECTORY_TYP)


class Directory:
    """A verified directory version: the only way to get one is :meth:`verify`."""

    def __init__(self, document: DirectoryDocument, compact: str, *, grace: timedelta) -> None:
        self.document = document
        self.compact = compact
        self.grace = grace
        self._members = {m.state: m for m in document.members}

    @classmethod
    def verify(
        cls,
        compact: str,
        authority: dict[str, str],
        *,
        held_version: int | None = None,
        grace: timedelta,
    ) -> Directory:
        """Verify a signed directory against the pinned authority key.

        Refuses a bad signature, a signature by another key, and a version older than ``held_version``
        (rollback). Expiry is not checked here: an expired directory still answers, and
        :meth:`check_current` decides whether the grace period is over.
        """
        compact = compact.strip()
        try:
            header, payload = jose.peek_jws(compact, typ=DIRECTORY_TYP)
        except HanoinetError as exc:
            raise DirectoryError(f"directory rejected: {exc.message}") from None
        pinned_kid = thumbprint(authority)
        if header["kid"] != pinned_kid:
            raise DirectoryError(
                f"directory is signed by key {header['kid']}, not by the pinned authority key {pinned_kid}",
                hint="check you are fetching the directory from the Secretariat; "
                "a changed authority key must be pinned again by the operator",
                code="directory_untrusted",
            )
        try:
            jose.verify(compact, import_public_jwk(authority, use="sig"), typ=DIRECTORY_TYP)
        except HanoinetError as exc:
            raise DirectoryError(f"directory signature is invalid: {exc.message}",
                                 code="directory_bad_signature") from None
        document = _load_model(DirectoryDocument, payload, "directory")
        if document.authority.kid != pinned_kid:
            raise DirectoryError("directory names an authority key other than its signer")
        if held_version is not None and document.version < held_version:
            raise DirectoryError(
                f"directory version {document.version} is older than the version {held_version} "
                "this node already holds (rollback refused)",
                hint="fetch the current version from the Secretariat",
                code="directory_rollback",
            )
        return cls(document, compact, grace=grace)

    @property
    def version(self) -> int:
        """The version number."""
        return self.document.version

    def expired(self, at: datetime) -> bool:
        """Whether the directory is past ``expires_at`` (it may still be within its grace period)."""
        return at >= parse_instant(self.document.expires_at)

    def check_current(self, at: datetime) -> None:
        """Raise ``directory_expired`` once the grace period after ``expires_at`` is over."""
        end = parse_instant(self.document.expires_at) + self.grace
        if at >= end:
            raise EnvelopeRefused(
                f"the directory (version {self.version}) expired at {self.document.expires_at} and its "
                f"grace period ended at {format_instant(end)}",
                hint="the node operator must import a current directory from the Secretariat",
                code="directory_expired",
            )

    def members(self) -> list[MemberCard]:
        """All members, in directory order."""
        return list(self.document.members)

    def find(self, state: str) -> MemberCard | None:
        """The member card of ``state``, or None if it is not in the directory."""
        return self._members.get(state)

    def member(self, state: str) -> MemberCard:
        """The member card of ``state``; ``unknown_state`` if it is not in the directory."""
        card = self.find(state)
        if card is None:
            raise EnvelopeRefused(
                f"{state} is not a member in directory version {self.version}",
                hint="check the address, or import a newer directory",
                code="unknown_state",
            )
        return card

    def verification_key(self, state: str, kid: str, created: datetime) -> KeyEntry:
        """The signing key ``kid`` of ``state`` if it may sign a message created at ``created``."""
        entry = self.member(state).key(kid)
        if entry is None or entry.use != "sig":
            raise EnvelopeRefused(
                f"{state} has no signing key {kid} in directory version {self.version}",
                hint="the sender must use a key listed in the directory", code="unknown_key",
            )
        if entry.compromised_since is not None:
            # The creation time is asserted by the signer, so a key known compromised signs nothing we
            # accept, whatever time it claims.
            raise EnvelopeRefused(
                f"{state}'s key {kid} was revoked as compromised since {entry.compromised_since}",
                hint="the sender must rotate keys and resend", code="key_compromised",
            )
        if not parse_instant(entry.not_before) <= created < parse_instant(entry.not_after):
            raise EnvelopeRefused(
                f"{state}'s key {kid} is valid from {entry.not_before} to {entry.not_after}, not at the "
                f"message's creation time {format_instant(created)}",
                hint="the sender must sign with a key valid now", code="key_not_valid",
            )
        return entry

    def encryption_key(self, state: str, at: datetime) -> KeyEntry:
        """The key to encrypt to ``state`` now."""
        entry = self.member(state).usable_key("enc", at)
        if entry is None:
            raise EnvelopeRefused(
                f"{state} has no encryption key valid at {format_instant(at)}",
                hint=f"ask the Secretariat to publish {state}'s current member card", code="no_valid_key",
            )
        return entry

    def as_json(self) -> dict[str, Any]:
        """The document as plain JSON (for the API and the CLI)."""
        return self.document.model_dump(mode="json")
