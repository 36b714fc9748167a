"""The envelope that carries a request's transitions between the two States: kind ``request.event``.

One kind for every transition: the body names the request, the side and its sequence number, what the
author had seen of the other side, the action and its data (docs/requests.md, "On the wire").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from hanoinet.clock import Instant
from hanoinet.network import kinds
from hanoinet.requests.machine import Action, Event, Side

KIND = "request.event"

_REF = r"^[A-Z]{3}-[0-9]{4}-[0-9]{4,8}$"
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


class Author(BaseModel):
    """The person (or ``system``) who took the action, as shown on both sides' timelines."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=32)


class RequestEventBody(BaseModel):
    """Body of a ``request.event`` envelope."""

    model_config = ConfigDict(extra="forbid", strict=True)

    request: str = Field(pattern=_UUID, description="request id (UUIDv7 chosen by the requesting node)")
    ref: str = Field(pattern=_REF, description="human reference, e.g. VNM-2026-0007")
    side: Literal["requesting", "requested"]
    seq: int = Field(ge=1, le=100_000)
    seen: int = Field(ge=0, le=100_000)
    #: One of :class:`Action` (the enum is the single list; JSON carries its value).
    action: Annotated[Action, Strict(False)]
    at: Instant
    by: Author
    data: dict[str, Any]

    def event(self) -> Event:
        """The machine's view of this body."""
        return Event(side=Side(self.side), seq=self.seq, seen=self.seen, action=self.action, at=self.at,
                     by=f"{self.by.name} ({self.by.role})", data=self.data)


REQUEST_EVENT = kinds.register(kinds.MessageKind(
    KIND, RequestEventBody, "a transition of a cooperation request (Art. 41-43), numbered per side", direct=False,
))
