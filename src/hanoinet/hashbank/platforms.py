"""Online platforms registered with this node: they read the bank's feed and ask for matches.

A platform authenticates with its own token (prefix ``hnp_``), distinct from officers' tokens: perceptual
hashes can be partly inverted into a likeness of the image, so the hash lists go to registered platforms and
to peer nodes only, never to an officer's session. Tokens are 256-bit random values stored as SHA-256 only, as
for officers (:mod:`hanoinet.node.officers`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet import text
from hanoinet.clock import now
from hanoinet.db.models import Platform
from hanoinet.errors import Conflict, NotFound, Unauthenticated, ValidationError
from hanoinet.node import audit
from hanoinet.node.officers import check_email, issue_token, token_digest

TOKEN_PREFIX = "hnp_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True, slots=True)
class PlatformPrincipal:
    """The platform behind a request."""

    id: int
    name: str

    @property
    def actor(self) -> str:
        """Audit name of this platform."""
        return f"platform:{self.id}"


def is_platform_token(token: str) -> bool:
    """Whether ``token`` has the form of a platform's token (as opposed to an officer's)."""
    return token.startswith(TOKEN_PREFIX)


def _find(session: Session, name: str) -> Platform:
    row = session.scalar(select(Platform).where(Platform.name == name))
    if row is None:
        raise NotFound(f"no platform named {name!r}", hint="list them with `hanoinet platform list`",
                       code="platform_not_found")
    return row


def register(session: Session, *, name: str, email: str | None, actor: str) -> tuple[Platform, str]:
    """Register a platform and return it with its token (shown once, never stored)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError("a platform needs a name of 1 to 200 characters", hint="e.g. 'Example Photos Ltd'",
                              code="bad_platform")
    # The name travels in takedown envelopes and is shown to victims: printable text only.
    refused = text.refused_character(name, lines=False)
    if refused is not None:
        raise ValidationError(f"a platform's name is one line of text; character {refused[0] + 1} is {refused[1]}",
                              hint="e.g. 'Example Photos Ltd'", code="bad_platform")
    if email is not None:
        email = check_email(email.strip())
    if session.scalar(select(Platform.id).where(Platform.name == name)) is not None:
        raise Conflict(f"a platform named {name!r} is already registered",
                       hint="issue it a new token with `hanoinet platform token` instead", code="platform_exists")
    token, digest = issue_token(TOKEN_PREFIX)
    row = Platform(name=name, email=email, token_sha256=digest, created_at=now(), created_by=actor)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="platform.register", target=f"platform:{row.id}",
                 detail={"name": name})
    return row, token


def new_token(session: Session, name: str, *, actor: str) -> str:
    """Replace a platform's token (the old one stops working at once) and re-enable it; returns the new token."""
    row = _find(session, name)
    token, row.token_sha256 = issue_token(TOKEN_PREFIX)
    row.disabled_at = None
    audit.record(session, actor=actor, action="platform.token", target=f"platform:{row.id}")
    return token


def disable(session: Session, name: str, *, actor: str) -> Platform:
    """Disable a platform: its token stops working at once."""
    row = _find(session, name)
    if row.disabled_at is None:
        row.disabled_at = now()
        audit.record(session, actor=actor, action="platform.disable", target=f"platform:{row.id}")
    return row


def listed(session: Session) -> list[Platform]:
    """Every platform, enabled or not, by id."""
    return list(session.scalars(select(Platform).order_by(Platform.id)))


def authenticate(session: Session, token: str) -> PlatformPrincipal:
    """The platform holding ``token``; :class:`Unauthenticated` for an unknown or disabled one."""
    row = session.scalar(select(Platform).where(Platform.token_sha256 == token_digest(token)))
    if row is None or row.disabled_at is not None:
        raise Unauthenticated("the platform token is unknown or disabled",
                              hint="ask the node's operator for a token (`hanoinet platform token`)")
    return PlatformPrincipal(id=row.id, name=row.name)
