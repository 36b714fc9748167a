"""Officers, their roles and desks, and personal API tokens (stored as SHA-256 only).

Tokens are 256-bit random values, so a fast hash is enough to make a stolen database useless for logging
in (a slow password hash only matters for low-entropy secrets a person chooses).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet import text
from hanoinet.clock import now
from hanoinet.db.models import Officer
from hanoinet.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationError
from hanoinet.node import audit
from hanoinet.node.roles import Role
from hanoinet.states import check_desk

TOKEN_PREFIX = "hnt_"  # noqa: S105 - a prefix, not a secret
#: local@domain.tld with no spaces, controls, quotes, commas or angle brackets: one bare address, which cannot
#: smuggle a second recipient or a header into an e-mail. RFC 5321 limits a path to 254 characters, the local
#: part to 64. Whether it is deliverable is the mail relay's to judge.
_EMAIL = re.compile(r'^[^@\s<>,;"\x00-\x1f\x7f]{1,64}@[^@\s<>,;"\x00-\x1f\x7f]+\.[^@\s<>,;".\x00-\x1f\x7f]{2,}$')


#: Roles outside the desks' work: an advocate submits hashes for victims, a reviewer reviews platforms' matches.
#: They are filed at a desk like every officer, but read none of its messages, requests, rota or evidence, and
#: call only their own routes (``hanoinet.api.officers.CONFINED_ROUTES``).
CONFINED_ROLES = frozenset({Role.ADVOCATE, Role.REVIEWER})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated officer behind a request."""

    id: int
    name: str
    role: Role
    desk: str
    email: str | None = None

    @property
    def actor(self) -> str:
        """Audit name of this officer."""
        return f"officer:{self.id}"

    @property
    def confined(self) -> bool:
        """Advocates and reviewers: no desk's work, only their own routes."""
        return self.role in CONFINED_ROLES

    def require_desk(self, desk: str) -> None:
        """Refuse acting for a desk that is not the officer's own, and advocates and reviewers for any desk."""
        if self.confined:
            raise Forbidden(f"role {self.role} acts for no desk, not even desk {self.desk} where it is filed",
                            hint="ask the node operator for an account with a desk role")
        if self.role != Role.ADMIN and desk != self.desk:
            raise Forbidden(f"{self.name} works at desk {self.desk} and cannot act for desk {desk}")

    def require_role(self, *roles: Role) -> None:
        """Refuse unless the officer has one of ``roles``."""
        if self.role not in roles:
            raise Forbidden(
                f"role {self.role} may not do this; needed: {', '.join(r.value for r in roles)}",
                hint="ask the node operator for an account with that role",
            )

    @property
    def reads_every_desk(self) -> bool:
        """Admins and supervisors read the messages of every desk of the node."""
        return self.role in (Role.ADMIN, Role.SUPERVISOR)

    def can_read_desk(self, desk: str | None) -> bool:
        """Whether the officer may read the work of ``desk``: never for advocates and reviewers.

        Work filed at no desk (evidence held before desks were recorded) is read by supervisors and admins only.
        """
        return not self.confined and (self.reads_every_desk or desk == self.desk)

    def can_act_for_desk(self, desk: str | None) -> bool:
        """Whether :meth:`require_desk` lets the officer act for ``desk``: their own, or any for an admin."""
        return not self.confined and (self.role == Role.ADMIN or desk == self.desk)


def token_digest(token: str) -> str:
    """The SHA-256 of an API token, hexadecimal: what is stored in its place."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(prefix: str) -> tuple[str, str]:
    """A new 256-bit API token starting with ``prefix``, and its :func:`token_digest`."""
    token = prefix + secrets.token_urlsafe(32)
    return token, token_digest(token)


def check_email(address: str) -> str:
    """Return ``address`` if it looks like ``name@example.org``, else raise a :class:`ValidationError`."""
    if not isinstance(address, str) or len(address) > 254 or not _EMAIL.fullmatch(address):
        raise ValidationError(f"{address!r} is not an e-mail address",
                              hint="write one address like duty.officer@police.example.org, without a display name")
    return address


def add_officer(
    session: Session, *, name: str, role: str, desk: str, desks: set[str], email: str | None = None
) -> tuple[Officer, str]:
    """Create an officer and return it with their new token (shown once, never stored).

    ``email`` is where duty alerts reach them (docs/alerts.md).
    """
    try:
        role_value = Role(role)
    except ValueError:
        raise ValidationError(f"unknown role {role!r}", hint=f"roles: {', '.join(r.value for r in Role)}") from None
    check_desk(desk)
    if desk not in desks:
        raise ValidationError(f"this node has no desk {desk!r}", hint=f"desks: {', '.join(sorted(desks))}")
    if not name.strip():
        raise ValidationError("an officer needs a name")
    text.check_line(name, "name")  # shown on one line of every list, page and audit entry
    if email is not None:
        email = check_email(email.strip())
    token, digest = issue_token(TOKEN_PREFIX)
    officer = Officer(name=name.strip(), role=role_value.value, desk=desk, token_sha256=digest,
                      created_at=now(), email=email)
    session.add(officer)
    session.flush()
    audit.record(session, actor="system", action="officer.add", target=f"officer:{officer.id}",
                 detail={"name": officer.name, "role": officer.role, "desk": desk})
    return officer, token


def disable_officer(session: Session, officer_id: int) -> Officer:
    """Disable an officer: their token stops working at once (e.g. a lost laptop, a departure)."""
    officer = session.get(Officer, officer_id)
    if officer is None:
        raise NotFound(f"no officer {officer_id}", hint="list them with `hanoinet officer list`")
    if officer.disabled_at is None:
        officer.disabled_at = now()
        audit.record(session, actor="system", action="officer.disable", target=f"officer:{officer.id}")
    return officer


def reissue_token(session: Session, officer_id: int, *, actor: str) -> tuple[Officer, str]:
    """A new token for an officer who lost theirs; the old one stops working in the same transaction.

    Returns the officer and the new token (shown once, never stored). A disabled officer gets none: disabling
    was a decision, and a new token must not quietly undo it.
    """
    officer = session.get(Officer, officer_id, with_for_update=True)
    if officer is None:
        raise NotFound(f"no officer {officer_id}", hint="list them with `hanoinet officer list`")
    if officer.disabled_at is not None:
        raise Conflict(f"officer {officer_id} ({officer.name}) is disabled, so gets no new token",
                       hint="add them again with `hanoinet officer add` if they are to use the node",
                       code="officer_disabled")
    token, officer.token_sha256 = issue_token(TOKEN_PREFIX)
    audit.record(session, actor=actor, action="officer.token", target=f"officer:{officer.id}")
    return officer, token


def list_officers(session: Session) -> list[Officer]:
    """Every officer, enabled or not, by id."""
    return list(session.scalars(select(Officer).order_by(Officer.id)))


def authenticate(session: Session, token: str) -> Principal:
    """The officer holding ``token``; :class:`Unauthenticated` for an unknown or disabled one."""
    officer = session.scalar(select(Officer).where(Officer.token_sha256 == token_digest(token)))
    if officer is None or officer.disabled_at is not None:
        raise Unauthenticated("the API token is unknown or disabled",
                              hint="ask the node operator for a token (`hanoinet officer add`), or for a new one "
                              "if yours was lost (`hanoinet officer token --id N`)")
    return Principal(id=officer.id, name=officer.name, role=Role(officer.role), desk=officer.desk,
                     email=officer.email)
