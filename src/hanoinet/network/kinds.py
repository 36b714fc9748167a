"""The registry of message kinds: each kind names the schema of its body.

Later capabilities (preservation requests, evidence offers, hash-bank updates, ...) add their kinds here with
:func:`register`; the inbox refuses any kind it does not know, so a node never stores what it cannot read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hanoinet import text
from hanoinet.errors import EnvelopeRefused

_NAME = re.compile(r"^[a-z][a-z0-9]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True, slots=True)
class MessageKind:
    """A kind of message: dotted name (``note.text``), body schema, and one line saying what it is for."""

    name: str
    body: type[BaseModel]
    summary: str
    #: Whether officers may send it as a plain message; a workflow's own kinds are sent by the workflow only,
    #: so both nodes keep the same state.
    direct: bool = True
    #: Whether officers' views of the message leave its body out: bodies only nodes may read (the hash bank's
    #: perceptual hashes, which can be partly inverted into a likeness of the image).
    withheld: bool = False


_REGISTRY: dict[str, MessageKind] = {}


def register(kind: MessageKind) -> MessageKind:
    """Add a kind; names are unique and dotted lower-case (``family.action``)."""
    if not _NAME.fullmatch(kind.name):
        raise ValueError(f"message kind name {kind.name!r} must be dotted lower-case, e.g. 'note.text'")
    if kind.name in _REGISTRY and _REGISTRY[kind.name] is not kind:
        raise ValueError(f"message kind {kind.name!r} is already registered")
    _REGISTRY[kind.name] = kind
    return kind


def get(name: str) -> MessageKind:
    """The registered kind ``name``; ``unknown_kind`` otherwise."""
    kind = _REGISTRY.get(name)
    if kind is None:
        raise EnvelopeRefused(
            f"message kind {name!r} is not known to this node",
            hint=f"known kinds: {', '.join(sorted(_REGISTRY))}", code="unknown_kind",
        )
    return kind


def withheld(name: str) -> bool:
    """Whether officers' views leave out the body of messages of kind ``name`` (unknown kinds: no)."""
    kind = _REGISTRY.get(name)
    return kind is not None and kind.withheld


def names() -> list[str]:
    """Registered kind names, sorted."""
    return sorted(_REGISTRY)


def validate_body(name: str, body: Any, *, complete: bool = False) -> dict[str, Any]:
    """Check ``body`` against the kind's schema and return it as plain JSON; ``invalid_body`` otherwise.

    The returned form is normalised: every member written, defaults filled in. With ``complete`` (a body
    received in an envelope) ``body`` must already carry every member of that form, at every depth: a
    schema default is for the sending node's own input, never for the wire (docs/protocol.md section 10).
    """
    kind = get(name)
    try:
        normalised = kind.body.model_validate(body).model_dump(mode="json")
    except ValueError as exc:
        raise EnvelopeRefused(
            f"body of a {name!r} message is invalid: {str(exc).replace(chr(10), '; ')}",
            code="invalid_body",
        ) from None
    if complete and (missing := _missing_members(normalised, body, "body")):
        raise EnvelopeRefused(
            f"body of a {name!r} message leaves out {', '.join(missing)}",
            hint="a sender writes every member of the body, an absent value as null", code="invalid_body",
        )
    return normalised


def _missing_members(normalised: Any, received: Any, where: str) -> list[str]:
    """Paths of the members ``normalised`` has and ``received`` lacks (both already passed the schema)."""
    if isinstance(normalised, dict) and isinstance(received, dict):
        missing = [f"{where}.{name}" for name in normalised if name not in received]
        for name, value in normalised.items():
            if name in received:
                missing += _missing_members(value, received[name], f"{where}.{name}")
        return missing
    if isinstance(normalised, list) and isinstance(received, list):
        return [m for i, (a, b) in enumerate(zip(normalised, received, strict=False))
                for m in _missing_members(a, b, f"{where}[{i}]")]
    return []


class TextNote(BaseModel):
    """A free-text message between desks: the electronic form of today's e-mail between contact points."""

    model_config = ConfigDict(extra="forbid", strict=True)

    subject: str = Field(min_length=1, max_length=300)
    text: str = Field(min_length=1, max_length=100_000)
    #: BCP 47 tag of the language the text is written in.
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return text.check_line(value, "subject")  # a subject is shown on one line of a list


NOTE = register(MessageKind("note.text", TextNote, "free-text message between desks"))
