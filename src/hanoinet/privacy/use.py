"""Purpose limitation of received evidence (pure): what may be done with data another State sent.

Evidence that arrived from another State was given for one case and one purpose (Art. 40, use limitation).
Using it in another case, or sending it on to a third State or an international organisation (Art. 36, onward
transfer), needs that State's consent first. This module decides, from facts alone, whether a use is allowed:
the caller says what the item is, what is to be done with it and which consents it holds.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from hanoinet.convention.articles import ONWARD_TRANSFER, USE_LIMITATION
from hanoinet.errors import Forbidden, ValidationError
from hanoinet.states import check_state

#: ``case``: use in (re-filing under) another case; ``transfer``: sending on to another State or organisation.
UseKind = Literal["case", "transfer"]
USE_KINDS: tuple[UseKind, ...] = ("case", "transfer")
_ORGANISATION = re.compile(r"^org:[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
_CASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Use:
    """What is to be done: use in case ``target``, or transfer to ``target`` (a State or ``org:NAME``)."""

    kind: UseKind
    target: str

    def describe(self) -> str:
        """In words, for messages: ``use in case X`` or ``transfer to Y``."""
        return f"use in case {self.target}" if self.kind == "case" else f"transfer to {self.target}"


def check_use(kind: str, target: str) -> Use:
    """A use as a person or a peer gave it; ``bad_use`` if the kind is unknown or the target malformed.

    A case target is a case reference (1-128 letters, digits, space and ``._:/-``); a transfer target is a
    State (ISO 3166-1 alpha-3) or an international organisation written ``org:NAME`` (``org:INTERPOL``).
    """
    if kind == "case":
        if not _CASE.fullmatch(target):
            raise ValidationError(f"case reference {target!r} is not valid", code="bad_use",
                                  hint="use 1-128 letters, digits, spaces and . _ : / -, starting with a letter "
                                  "or digit")
        return Use("case", target)
    if kind == "transfer":
        if _ORGANISATION.fullmatch(target):
            return Use("transfer", target)
        try:
            return Use("transfer", check_state(target))
        except ValidationError:
            raise ValidationError(f"transfer recipient {target!r} is neither a State nor an organisation",
                                  hint="give an ISO 3166-1 alpha-3 code (BRA) or org:NAME (org:INTERPOL)",
                                  code="bad_use") from None
    raise ValidationError(f"use {kind!r} is not known", hint="use 'case' or 'transfer'", code="bad_use")


@dataclass(frozen=True, slots=True)
class Received:
    """The facts about one item of received evidence that its use depends on."""

    #: The local evidence file's id (for messages and the command that asks for consent).
    file_id: str
    sha256: str
    #: The State that sent it: the only one whose consent counts.
    origin: str
    #: The package it arrived in; with ``sha256`` it names the item to the originating State.
    package: str | None
    #: The case it was given for: using it there is the original purpose.
    case: str
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """A consent recorded: ``state`` agreed to ``use`` of the item ``(sha256, package)``."""

    sha256: str
    package: str | None
    state: str
    use: Use


def allowed(item: Received, use: Use, grants: Iterable[Grant]) -> bool:
    """Whether ``use`` of ``item`` is allowed: the original case, a transfer back to the State that sent it (no
    third State learns anything), or a consent of the originating State for exactly this item, this use and
    this case or recipient."""
    if use == Use("case", item.case) or use == Use("transfer", item.origin):
        return True
    return any(g.sha256 == item.sha256 and g.package == item.package and g.state == item.origin and g.use == use
               for g in grants)


def refused(items: Sequence[Received], use: Use, grants: Iterable[Grant]) -> list[Received]:
    """The items of ``items`` whose ``use`` is not allowed, in their order."""
    held = list(grants)
    return [item for item in items if not allowed(item, use, held)]


def require(items: Sequence[Received], use: Use, grants: Iterable[Grant]) -> None:
    """Refuse with ``403 consent_required`` if any item's ``use`` needs a consent not recorded.

    The refusal names the State(s) that must consent, the use, the items, and the exact command and API call
    that ask for it.
    """
    missing = refused(items, use, grants)
    if not missing:
        return
    states = sorted({item.origin for item in missing})
    article = (f"Art. {ONWARD_TRANSFER.article}, onward transfer" if use.kind == "transfer"
               else f"Art. {USE_LIMITATION.article}, use limitation")
    listed = ", ".join(f"{item.file_id} (from {item.origin}, given for case {item.case})" for item in missing[:10])
    more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    asks = []
    for state in states:
        ids = [item.file_id for item in missing if item.origin == state]
        option = "--case" if use.kind == "case" else "--to"
        command = ["hanoinet", "evidence", "consent", "request", *(a for i in ids for a in ("--file", i)),
                   option, use.target, "--reason", "WHY"]
        body = json.dumps({"files": ids, "use": use.kind, "target": use.target, "reason": "..."})
        asks.append(f"{shlex.join(command)} (or POST /api/v1/evidence/consents with {body})")
    raise Forbidden(
        f"{use.describe()} of {len(missing)} received file(s) needs the prior consent of {', '.join(states)} "
        f"({article}): {listed}{more}",
        hint="ask for it: " + "; ".join(asks) + "; it is allowed once the consent is recorded "
        "(`hanoinet evidence consent list`)",
        code="consent_required")
