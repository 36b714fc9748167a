"""In-memory members, cards and directories for the pure-core tests (no data directory, no database)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hanoinet.clock import format_instant
from hanoinet.crypto.keys import KeyPair
from hanoinet.network.directory import (
    Authority,
    Desk,
    Directory,
    DirectoryDocument,
    KeyEntry,
    MemberCard,
    sign_directory,
)

#: A fixed instant the tests reason about; keys are valid from a month before to a year after.
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
GRACE = timedelta(days=7)
DESKS = [
    Desk(id="247", name="24/7 point of contact", languages=["en"], fallback_phones=["+33 1 00 00 00 00"]),
    Desk(id="CA", name="Central authority", languages=["en", "fr"]),
]


def entry(
    pair: KeyPair,
    *,
    not_before: datetime = T0 - timedelta(days=30),
    not_after: datetime = T0 + timedelta(days=365),
    compromised_since: datetime | None = None,
) -> KeyEntry:
    """The public entry of ``pair`` with the given validity."""
    return KeyEntry(
        kid=pair.kid, use=pair.use, jwk=pair.public,
        not_before=format_instant(not_before), not_after=format_instant(not_after),
        compromised_since=None if compromised_since is None else format_instant(compromised_since),
    )


def card(state: str, entries: Iterable[KeyEntry], *, desks: list[Desk] | None = None) -> MemberCard:
    """A member card of ``state`` listing ``entries``."""
    return MemberCard(
        state=state, name=f"Node of {state}", endpoint=f"https://{state.lower()}.example.org:8401",
        keys=list(entries), desks=list(desks or DESKS), issued_at=format_instant(T0 - timedelta(days=30)),
    )


@dataclass(frozen=True)
class Member:
    """A State's current key pairs and its card."""

    state: str
    sig: KeyPair
    enc: KeyPair
    card: MemberCard


def member(state: str, *, extra: Iterable[KeyEntry] = ()) -> Member:
    """A member with one fresh signing and one fresh encryption key, valid around :data:`T0`."""
    sig, enc = KeyPair.generate("sig"), KeyPair.generate("enc")
    return Member(state, sig, enc, card(state, [entry(sig), entry(enc), *extra]))


def signed_directory(
    cards: Iterable[MemberCard],
    authority: KeyPair,
    *,
    version: int = 1,
    issued: datetime = T0 - timedelta(days=1),
    valid_for: timedelta = timedelta(days=30),
) -> str:
    """A directory version listing ``cards``, signed by ``authority``."""
    document = DirectoryDocument(
        version=version, issued_at=format_instant(issued), expires_at=format_instant(issued + valid_for),
        authority=Authority(name="Test Secretariat", kid=authority.kid), members=list(cards),
    )
    return sign_directory(document, authority)


def verified_directory(cards: Iterable[MemberCard], authority: KeyPair, **kwargs: object) -> Directory:
    """A signed and verified directory listing ``cards``."""
    compact = signed_directory(cards, authority, **kwargs)  # type: ignore[arg-type]
    return Directory.verify(compact, authority.public, grace=GRACE)
