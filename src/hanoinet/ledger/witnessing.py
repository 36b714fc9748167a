"""Witnessing between nodes: each node checks its peers' logs and cosigns them; each log collects cosignatures.

As a witness, a node fetches a peer's newest checkpoint, verifies its signature with the peer's keys from the
directory, asks for a consistency proof from the last checkpoint it verified, and judges it (``witness.assess``).
If the log only grew, the witness stores the new checkpoint and sends the log a C2SP cosignature; if the log
forked, shrank or rewrote history, the witness keeps both checkpoints as evidence, raises an alarm, and
reports both to the log, which raises an alarm too (both notes carry the log's own signature, so the report
proves itself). Everything a peer posts here authenticates itself: a cosignature verifies against the
witness State's key in the directory, a report against our own key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from dataclasses import dataclass

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hanoinet.clock import now
from hanoinet.crypto.jose import b64url_decode
from hanoinet.db.models import LedgerCheckpoint, LedgerCosignature, WitnessEvidence, WitnessState
from hanoinet.errors import HanoinetError, NotFound, ValidationError
from hanoinet.ledger.checkpoint import Checkpoint, open_checkpoint
from hanoinet.ledger.cosignature import Cosignature, CosignatureVerifier, Cosigner
from hanoinet.ledger.log import origin, signing_private_key, size, verifier
from hanoinet.ledger.names import origin_of, witness_name
from hanoinet.ledger.note import Verifier, parse_signed_note
from hanoinet.ledger.witness import Seen, Verdict, assess
from hanoinet.network.directory import MemberCard
from hanoinet.node import audit
from hanoinet.node.node import Node

log = structlog.get_logger("hanoinet.witness")


def _signing_keys(card: MemberCard) -> list[bytes]:
    return [b64url_decode(k.jwk["x"]) for k in card.keys if k.use == "sig"]


def log_verifiers(card: MemberCard) -> list[Verifier]:
    """Verifiers of a member's log checkpoints: its signing keys in the directory, under its log's name."""
    return [Verifier(name=origin_of(card.state), public_key=key) for key in _signing_keys(card)]


def witness_verifiers(card: MemberCard) -> list[CosignatureVerifier]:
    """Verifiers of a member's cosignatures."""
    return [CosignatureVerifier(name=witness_name(card.state), public_key=key) for key in _signing_keys(card)]


def cosigner(node: Node) -> Cosigner:
    """Our cosigner: the node's current signing key under our witness name."""
    return Cosigner(name=witness_name(node.state), private_key=signing_private_key(node))


# -- as a witness ----------------------------------------------------------------------------------------


def observe(node: Node, card: MemberCard, note: bytes, proof: list[bytes] | None) -> tuple[Verdict, Checkpoint]:
    """Judge a peer's signed checkpoint and record the outcome (state, or evidence and an alarm)."""
    checkpoint, _ = open_checkpoint(note, log_verifiers(card), origin=origin_of(card.state))
    with node.db.transaction() as uow:
        row = uow.session.get(WitnessState, card.state, with_for_update=True)
        previous = Seen(size=row.size, root=row.root) if row is not None else None
        verdict = assess(previous, checkpoint, proof)
        if verdict.misbehaviour:
            assert row is not None
            uow.session.add(WitnessEvidence(peer=card.state, verdict=verdict.value, previous_note=row.note,
                                            note=note.decode("utf-8"), at=now()))
            audit.alarm(uow.session, code=f"ledger_{verdict.value}",
                        message=f"the custody log of {card.state} is not append-only: {verdict.value} "
                                f"(had size {row.size}, now shown size {checkpoint.size}); both checkpoints "
                                "are kept as evidence", detail={"peer": card.state, "verdict": verdict.value})
        elif verdict is not Verdict.SAME:
            if row is None:
                uow.session.add(WitnessState(peer=card.state, size=checkpoint.size, root=checkpoint.root_hash,
                                             note=note.decode("utf-8"), updated_at=now()))
            else:
                row.size, row.root, row.note, row.updated_at = (checkpoint.size, checkpoint.root_hash,
                                                                note.decode("utf-8"), now())
    return verdict, checkpoint


async def witness_peer(node: Node, card: MemberCard, client: httpx.AsyncClient) -> Verdict:
    """One round against one peer: fetch, check, then cosign or report."""
    base = f"{card.endpoint}/federation/v1/ledger"
    answer = await client.get(f"{base}/checkpoint")
    if answer.status_code == 404:
        return Verdict.SAME  # the log has no checkpoint yet
    answer.raise_for_status()
    note = answer.content
    checkpoint, _ = open_checkpoint(note, log_verifiers(card), origin=origin_of(card.state))
    with node.db.transaction(readonly=True) as uow:
        previous = uow.session.get(WitnessState, card.state)
        previous_note = previous.note if previous is not None else None
    proof = None
    if previous is not None and 0 < previous.size < checkpoint.size:
        got = await client.get(f"{base}/proof/consistency", params={"old": previous.size, "new": checkpoint.size})
        if got.status_code == 200:
            proof = [base64.b64decode(h) for h in got.json()["proof"]]
    verdict, checkpoint = await asyncio.to_thread(observe, node, card, note, proof)
    if verdict.misbehaviour:
        await client.post(f"{base}/reports", json={"witness": node.state, "verdict": verdict.value,
                                                   "previous": previous_note, "current": note.decode("utf-8")})
    else:
        line = cosigner(node).cosign(checkpoint, timestamp=int(now().timestamp())).note_signature.line
        await client.post(f"{base}/cosignatures", json={"witness": node.state, "size": checkpoint.size,
                                                        "line": line})
    return verdict


async def run(node: Node, stop: asyncio.Event, *, client: httpx.AsyncClient | None = None,
              interval: float = 10.0) -> None:
    """Witness every peer in the directory every ``interval`` seconds until ``stop``."""
    context = ssl.create_default_context()
    if node.settings.tls_ca_file is not None:  # the same extra CAs delivery trusts (e.g. a national PKI)
        context.load_verify_locations(cafile=str(node.settings.tls_ca_file))
    own = client or httpx.AsyncClient(timeout=10, verify=context)
    try:
        while not stop.is_set():
            directory = node.directory
            for card in directory.members() if directory is not None else []:
                if card.state == node.state:
                    continue
                try:
                    await witness_peer(node, card, own)
                except (httpx.HTTPError, HanoinetError, ValueError) as exc:
                    log.warning("could not witness a peer's log", peer=card.state, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        if client is None:
            await own.aclose()


# -- as a log --------------------------------------------------------------------------------------------


def accept_cosignature(node: Node, witness: str, size: int, line: str) -> None:
    """Store a witness's cosignature of our checkpoint of ``size`` after verifying it with its directory key."""
    card = node.require_directory().find(witness)
    if card is None:
        raise ValidationError(f"{witness} is not in the directory", code="unknown_witness")
    with node.db.transaction() as uow:
        checkpoint_row = uow.session.get(LedgerCheckpoint, size)
        if checkpoint_row is None:
            raise NotFound(f"we signed no checkpoint of size {size}", code="no_checkpoint")
        checkpoint, _ = open_checkpoint(checkpoint_row.note.encode(), [verifier(node)], origin=origin(node))
        signature = parse_signed_note((checkpoint.to_text() + "\n" + line.rstrip("\n") + "\n").encode()).signatures[0]
        cosignature = Cosignature.from_note_signature(signature)
        for candidate in witness_verifiers(card):
            with contextlib.suppress(HanoinetError):
                candidate.check(checkpoint, cosignature)
                break
        else:
            raise ValidationError(f"the cosignature of {witness} does not verify", code="bad_cosignature")
        existing = uow.session.get(LedgerCosignature, (size, witness_name(witness)))
        if existing is None:
            uow.session.add(LedgerCosignature(size=size, witness=witness_name(witness), line=signature.line,
                                              received_at=now()))


def served_checkpoint(session: Session) -> str | None:
    """Our newest checkpoint with the cosignatures collected for it appended (one signed note)."""
    latest = session.scalar(select(LedgerCheckpoint).order_by(LedgerCheckpoint.size.desc()).limit(1))
    if latest is None:
        return None
    lines = session.scalars(select(LedgerCosignature.line).where(LedgerCosignature.size == latest.size)
                            .order_by(LedgerCosignature.witness))
    return latest.note + "".join(lines)


def accept_report(node: Node, witness: str, previous: str, current: str) -> str:
    """A witness says our log misbehaved: if both checkpoints carry our signature, raise the alarm."""
    opened: list[Checkpoint] = []
    for note in (previous, current):
        checkpoint, _ = open_checkpoint(note.encode(), [verifier(node)], origin=origin(node))
        opened.append(checkpoint)
    old, new = opened
    kind = assess(Seen(size=old.size, root=old.root_hash), new, None)
    if not (kind is Verdict.FORK or kind is Verdict.SHRINK):
        raise ValidationError("the two checkpoints do not show a fork or a shrink on their own",
                              code="unproven_report")
    with node.db.transaction() as uow:
        audit.alarm(uow.session, code=f"ledger_{kind.value}_reported", severity="critical",
                    message=f"{witness} holds two checkpoints signed by this node's log that show a {kind.value}: "
                            "the log was rewritten or its key is in other hands",
                    detail={"witness": witness, "previous": previous, "current": current})
    return kind.value



# -- after a restore -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestoreCheck:
    """What the witnesses hold of our log, against the size the restored log has."""

    size: int
    witnessed: dict[str, int]
    unreachable: list[str]

    @property
    def rewinds(self) -> bool:
        """Whether a witness holds a checkpoint of our log larger than the restored log."""
        return any(size > self.size for size in self.witnessed.values())


async def check_restore(node: Node, client: httpx.AsyncClient) -> RestoreCheck:
    """Ask every peer which checkpoint of our log it last verified (each one signed by our key)."""
    with node.db.transaction(readonly=True) as uow:
        ours = size(uow.session)
    directory = node.require_directory()
    witnessed: dict[str, int] = {}
    unreachable: list[str] = []
    for card in directory.members():
        if card.state == node.state:
            continue
        try:
            answer = await client.get(f"{card.endpoint}/federation/v1/ledger/witnessed/{node.state}")
            if answer.status_code == 404:
                witnessed[card.state] = 0
                continue
            answer.raise_for_status()
            checkpoint, _ = open_checkpoint(answer.content, [verifier(node)], origin=origin(node))
            witnessed[card.state] = checkpoint.size
        except (httpx.HTTPError, HanoinetError) as exc:
            log.warning("could not ask a witness about our log", peer=card.state, error=str(exc))
            unreachable.append(card.state)
    return RestoreCheck(size=ours, witnessed=witnessed, unreachable=unreachable)


def record_override(node: Node, check: RestoreCheck, reason: str) -> None:
    """The operator accepts a restored log the witnesses do not vouch for: on the record, and alarmed."""
    with node.db.transaction() as uow:
        detail = {"size": check.size, "witnessed": check.witnessed, "unreachable": check.unreachable,
                  "reason": reason}
        audit.record(uow.session, actor="operator", action="ledger.restore_override", detail=detail)
        audit.alarm(uow.session, code="ledger_rewound", severity="critical",
                    message=f"the custody log was restored at size {check.size} against its witnesses "
                            f"({check.witnessed}, unreachable: {check.unreachable}): {reason}", detail=detail)
