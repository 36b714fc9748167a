"""Building blocks for tests: an authority, nodes in temporary folders, a published directory."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from hanoinet.api.problems import STATUS_BY_CODE
from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.errors import HanoinetError
from hanoinet.ids import uuid7
from hanoinet.network import directory_sync, inbox
from hanoinet.network.delivery import DeliveryWorker
from hanoinet.network.directory import Authority, Desk, DirectoryDocument, MemberCard, sign_directory
from hanoinet.network.envelope import EnvelopePayload, SealedEnvelope, seal
from hanoinet.network.transport import PeerAnswer
from hanoinet.node.node import Node
from hanoinet.node.officers import add_officer
from hanoinet.node.setup import init_node
from hanoinet.states import split_address

DESKS = [
    Desk(id="247", name="24/7 point of contact", languages=["en"], fallback_phones=["+33 1 00 00 00 00"]),
    Desk(id="CA", name="Central authority", languages=["en", "fr"]),
]


def make_node(
    root: Path, state: str, authority: KeyPair, *, port: int = 0, database_url: str = ""
) -> Node:
    """A node with plaintext keys in ``root/STATE`` pinned to ``authority``."""
    return init_node(
        root / state, state=state, name=f"Node of {state}", endpoint=f"http://127.0.0.1:{port or 9}",
        desks=DESKS, passphrase=None, authority=authority.public, database_url=database_url,
    )


def directory_for(
    cards: Iterable[MemberCard], authority: KeyPair, *, version: int = 1, issued: datetime | None = None,
    valid_for: timedelta = timedelta(days=30),
) -> str:
    """A signed directory listing ``cards``."""
    t = issued or now()
    document = DirectoryDocument(
        version=version, issued_at=format_instant(t), expires_at=format_instant(t + valid_for),
        authority=Authority(name="Test Secretariat", kid=authority.kid), members=list(cards),
    )
    return sign_directory(document, authority)


def publish(nodes: Iterable[Node], authority: KeyPair, *, version: int = 1, **kwargs: object) -> str:
    """Publish a directory of ``nodes`` and import it into each of them."""
    nodes = list(nodes)
    compact = directory_for([n.card() for n in nodes], authority, version=version, **kwargs)  # type: ignore[arg-type]
    for node in nodes:
        directory_sync.import_directory(node, compact, source="test")
    return compact


def envelope(
    sender: Node, recipient: Node, *, to: str | None = None, created_delta: timedelta = timedelta(0),
             message_id: str | None = None, text: str = "hello") -> SealedEnvelope:
    """A sealed note from ``sender``'s 24/7 desk, built as outbox.enqueue would, without storing it."""
    directory = sender.require_directory()
    payload = EnvelopePayload.model_validate({
        "id": message_id or uuid7(), "kind": "note.text", "from": f"{sender.state}/247",
        "to": to or f"{recipient.state}/247", "created": format_instant(now() + created_delta),
        "case": "CASE-1", "body": {"subject": "s", "text": text},
    })
    return seal(payload, sender.signing_key(), directory.encryption_key(recipient.state, now()))


def pump(nodes: dict[str, Node], rounds: int = 5) -> int:
    """Deliver every due envelope between the nodes, in order, as the delivery worker would."""
    delivered = 0
    for _ in range(rounds):
        moved = 0
        for node in nodes.values():
            worker = DeliveryWorker(node, transport=None, worker_id="pump")  # type: ignore[arg-type]
            outcomes = []
            for claim in worker.claim(100):
                peer = nodes[split_address(claim.recipient)[0]]
                try:
                    answer = PeerAnswer(status=200, receipt=inbox.receive(peer, claim.jwe).receipt)
                    moved += 1
                except HanoinetError as exc:
                    answer = PeerAnswer(status=STATUS_BY_CODE.get(exc.code, exc.http_status), code=exc.code,
                                        detail=exc.message)
                outcomes.append((claim, answer))
            worker.settle(outcomes)
        delivered += moved
        if not moved:
            break
    return delivered


#: The query of a route that shows personal data: why the officer reads it (docs/privacy.md, "Access log").
READ = {"reason": "answering request FRA-2026-0012"}


def auth(token: str) -> dict[str, str]:
    """Headers of an API request made with ``token``."""
    return {"authorization": f"Bearer {token}"}


def officer_token(node: Node, role: str, *, name: str | None = None) -> str:
    """The API token of a new officer of ``node`` with ``role`` at the 24/7 desk."""
    with node.db.transaction() as uow:
        _, token = add_officer(uow.session, name=name or f"A {role}", role=role, desk="247",
                               desks=node.settings.desk_ids)
    return token


def reset_logs() -> None:
    """Undo :func:`hanoinet.logs.configure` (structlog, the root handler, uvicorn's filter) after a test."""
    import logging

    import structlog

    from hanoinet import logs

    structlog.reset_defaults()
    logging.raiseExceptions = True
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logs._StderrHandler)]:
        root.removeHandler(handler)
    for name in logs.SCRUBBED_LOGGERS:
        library = logging.getLogger(name)
        for scrub in [f for f in library.filters if isinstance(f, logs.ScrubRecords)]:
            library.removeFilter(scrub)
