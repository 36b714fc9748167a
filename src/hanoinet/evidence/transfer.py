"""Sending evidence to another State: offers, capabilities, and resumable signed pulls (docs/evidence.md).

The sender seals a package for the recipient and sends an ``evidence.offer`` envelope holding the package's
metadata members and signature, each file's data key as a JWE to the recipient's encryption key, and a
*capability*: a JWS by the sender allowing the recipient State to pull the offer's files until it expires.
The recipient's node pulls each file's encrypted blob with HTTP ``Range`` requests signed with its own key
(RFC 9421), so a stolen capability alone pulls nothing. It authenticates every chunk as it arrives, resumes
after a crash or a dropped connection from what it already holds, checks the final SHA-256, stores the blob
as its own evidence and records ``received`` custody events. It can then rebuild the very package the sender
sealed, byte for byte, and verify it offline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hanoinet.clock import Instant, format_instant, now, parse_instant
from hanoinet.crypto import httpsig, jose
from hanoinet.crypto.canonical import canonical_json, parse_json
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import EvidenceFile, EvidenceOffer, EvidenceOfferFile
from hanoinet.errors import Forbidden, HanoinetError, NotFound, TransportError, ValidationError
from hanoinet.evidence import stream
from hanoinet.evidence.package import HEAD, PackageFile, UseConditions, prepare, write_package
from hanoinet.evidence.service import EvidenceService, check_file_name, record_custody
from hanoinet.ledger.events import CustodyEvent
from hanoinet.network import inbox, kinds, outbox
from hanoinet.network.envelope import EnvelopePayload
from hanoinet.node import audit
from hanoinet.node.node import Node
from hanoinet.states import split_address

log = structlog.get_logger("hanoinet.evidence.transfer")

KIND = "evidence.offer"
CAPABILITY_TYP = "hanoinet-capability+jws"
KEY_CTY = "hanoinet-data-key"
#: How long a recipient may pull an offer's files.
OFFER_LIFETIME = timedelta(days=14)
#: Pull requests are signed for this long; the sender refuses older signatures.
SIGNATURE_LIFETIME = timedelta(seconds=60)
#: What every pull request's signature must cover.
COVERED = ("@method", "@target-uri", "authorization", "range")
#: Bytes asked for per request: a dropped connection costs at most this much again.
RANGE_SIZE = 64 << 20
_PIECE = 1 << 20


class OfferedFile(BaseModel):
    """One file of an offer."""

    model_config = ConfigDict(extra="forbid", strict=True)

    path: str = Field(min_length=1, max_length=300)
    size: int = Field(ge=0, lt=2**63)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    chunk_size: int = Field(ge=4096, le=16 << 20)
    #: The file's data key, a JWE (ECDH-ES+A256KW, A256GCM) to the recipient's encryption key.
    key: str = Field(min_length=1, max_length=4096)


class OfferBody(BaseModel):
    """Body of an ``evidence.offer`` envelope."""

    model_config = ConfigDict(extra="forbid", strict=True)

    package: str = Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    #: The package's metadata members by name (``mimetype`` .. ``signer.json``), base64, and ``signature.jws``.
    head: dict[str, str]
    signature: str = Field(min_length=1, max_length=100_000)
    files: list[OfferedFile] = Field(min_length=1, max_length=10_000)
    capability: str = Field(min_length=1, max_length=10_000)
    expires_at: Instant


OFFER = kinds.register(kinds.MessageKind(
    KIND, OfferBody, "an evidence package offered for pulling (manifest, custody proofs, wrapped data keys)",
    direct=False,
))


@dataclass(frozen=True, slots=True)
class Offered:
    """What :func:`offer` did."""

    package_id: str
    message_id: str
    files: int
    expires_at: datetime


def files_path(package_id: str, position: int) -> str:
    """Where the sender serves file ``position`` (1-based) of an offer."""
    return f"/federation/v1/evidence/offers/{package_id}/files/{position}"


# -- sender ---------------------------------------------------------------------------------------------


def offer(service: EvidenceService, *, case: str, to: str, desk: str, actor: str, conditions: UseConditions,
          file_ids: list[str] | None = None, witness_wait: float = 0.0, min_witnesses: int = 0) -> Offered:
    """Seal the case's files for ``to`` (``STATE/desk``) and send the offer from our ``desk``; see the module doc."""
    node = service.node
    state, _ = split_address(to)
    directory = node.require_directory()
    t = now()
    recipient_key = directory.encryption_key(state, t)
    prepared = prepare(service, case=case, actor=actor, conditions=conditions, recipient=state, file_ids=file_ids,
                       witness_wait=witness_wait, min_witnesses=min_witnesses)
    expires = t + OFFER_LIFETIME
    capability = jose.sign(canonical_json({
        "type": "hanoinet-pull-capability", "v": 1, "package": prepared.package_id, "issuer": node.state,
        "recipient": state, "files": len(prepared.files), "expires_at": format_instant(expires),
    }), node.signing_key(), typ=CAPABILITY_TYP)
    files = []
    with node.db.transaction(readonly=True) as uow:
        for path, item in prepared.files:
            row = uow.session.get(EvidenceFile, item.id)
            assert row is not None and row.wrapped_key is not None and row.kek_epoch is not None  # checked by prepare
            data_key = service.vault.unwrap(row.id, row.kek_epoch, row.wrapped_key)
            files.append(OfferedFile(path=path, size=item.size, sha256=item.sha256, chunk_size=row.chunk_size,
                                     key=jose.encrypt(data_key, recipient_key.public_key(), kid=recipient_key.kid,
                                                      cty=KEY_CTY)))
    head = {name: base64.b64encode(data).decode("ascii") for name, data in prepared.head.items()}
    body = OfferBody(package=prepared.package_id, head=head, signature=prepared.signature.decode("ascii"),
                     files=files, capability=capability, expires_at=format_instant(expires))
    with node.db.transaction() as uow:
        uow.session.add(EvidenceOffer(id=prepared.package_id, direction="out", peer=state, case_ref=case, created_at=t,
                                      expires_at=expires, head=json.dumps(head), signature=body.signature,
                                      status="offered", attempts=0))
        for position, ((path, item), offered) in enumerate(zip(prepared.files, files, strict=True), start=1):
            uow.session.add(EvidenceOfferFile(offer_id=prepared.package_id, direction="out", position=position,
                                              path=path, size=item.size, sha256=item.sha256,
                                              chunk_size=offered.chunk_size, file_id=item.id))
            record_custody(uow.session, node, item.id, CustodyEvent(
                action="sent", at=format_instant(t), node=node.state, actor=actor, object_sha256=item.sha256,
                case=case, detail={"file": item.id, "package": prepared.package_id, "to": state}))
        message = outbox.enqueue(node, uow, sender_desk=desk, recipient=to, kind=KIND,
                                 body=body.model_dump(mode="json"), case=case, actor=actor)
        message_id = message.message_id
    node.outbox_committed()
    log.info("evidence offered", package=prepared.package_id, to=to, files=len(files))
    return Offered(prepared.package_id, message_id, len(files), expires)


@dataclass(frozen=True, slots=True)
class Serving:
    """A verified pull: which blob, which bytes, for whom."""

    blob_id: str
    start: int
    end: int
    total: int
    recipient: str


def authorize_pull(service: EvidenceService, package_id: str, position: int, *, method: str, url: str,
                   headers: Mapping[str, str]) -> Serving:
    """Check a pull request: our capability, the recipient's signature over it, the offer and the range."""
    node = service.node
    auth = headers.get("authorization", "")
    if not auth.startswith("Capability "):
        raise Forbidden("a pull needs `Authorization: Capability <JWS>` from the evidence offer",
                        code="capability_missing")
    claims = _own_capability(node, auth.removeprefix("Capability ").strip())
    t = now()
    if claims.get("package") != package_id:
        raise Forbidden("the capability is for another package", code="capability_mismatch")
    if parse_instant(str(claims.get("expires_at"))) <= t:
        raise Forbidden(f"the capability expired at {claims.get('expires_at')}",
                        hint="ask the sending State to offer the evidence again", code="capability_expired")
    recipient = str(claims.get("recipient"))
    directory = node.require_directory()

    def resolve(keyid: str) -> Ed25519PublicKey:
        entry = directory.verification_key(recipient, keyid, t)
        public = entry.public_key().get_op_key("verify")
        if not isinstance(public, Ed25519PublicKey):
            raise NotFound(f"key {keyid} is not an Ed25519 key")
        return public

    httpsig.verify_request(method, url, headers, resolve_key=resolve, required=COVERED, now=t,
                           max_age=SIGNATURE_LIFETIME)
    with node.db.transaction(readonly=True) as uow:
        item = uow.session.get(EvidenceOfferFile, (package_id, "out", position))
        offered = uow.session.get(EvidenceOffer, (package_id, "out"))
        if item is None or offered is None or offered.peer != recipient:
            raise NotFound(f"offer {package_id} has no file {position}", code="offer_file_not_found")
        row = uow.session.get(EvidenceFile, item.file_id)
        if row is None or row.blob_id is None:
            raise NotFound(f"file {position} of offer {package_id} was shredded", code="evidence_shredded")
        blob_id = row.blob_id
    total = stream.ciphertext_size(item.size, item.chunk_size)
    start, end = _parse_range(headers.get("range", ""), total)
    return Serving(blob_id, start, end, total, recipient)


def _own_capability(node: Node, compact: str) -> dict[str, Any]:
    try:
        header, _ = jose.peek_jws(compact, typ=CAPABILITY_TYP)
        own = next((k.pair for k in node.keyring.keys if k.pair.kid == header.get("kid") and k.pair.use == "sig"),
                   None)
        if own is None:
            raise Forbidden("the capability is not signed by this node", code="capability_invalid")
        claims = parse_json(jose.verify(compact, own.key, typ=CAPABILITY_TYP), what="capability")
    except Forbidden:
        raise
    except HanoinetError as exc:
        raise Forbidden(f"the capability is not valid: {exc.message}", code="capability_invalid") from None
    if not isinstance(claims, dict) or claims.get("type") != "hanoinet-pull-capability":
        raise Forbidden("the capability is not a pull capability", code="capability_invalid")
    return claims


def _parse_range(value: str, total: int) -> tuple[int, int]:
    """``bytes=START-`` or ``bytes=START-END`` (inclusive), one range; returns ``[start, end)``."""
    if not value.startswith("bytes=") or "," in value:
        raise ValidationError(f"Range {value!r} must be one range `bytes=START-[END]`", code="bad_range")
    first, _, last = value.removeprefix("bytes=").partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        raise ValidationError(f"Range {value!r} must be one range `bytes=START-[END]`", code="bad_range")
    start, end = int(first), (int(last) + 1 if last else total)
    if start >= total or end > total or end <= start:
        raise ValidationError(f"Range {value!r} is outside the blob's {total} bytes", code="range_not_satisfiable")
    return start, end


# -- recipient ------------------------------------------------------------------------------------------


def _on_offer(node: Node, uow: UnitOfWork, payload: EnvelopePayload, received_at: datetime) -> None:
    body = OfferBody.model_validate(payload.body)
    sender, _ = split_address(payload.sender)
    if set(body.head) != set(HEAD):
        raise ValidationError(f"an evidence offer's head must hold exactly {', '.join(HEAD)}", code="invalid_body")
    card = node.require_directory().member(sender)
    uow.session.add(EvidenceOffer(
        id=body.package, direction="in", peer=sender, case_ref=payload.case or body.package,
        created_at=received_at, expires_at=parse_instant(body.expires_at), head=json.dumps(body.head),
        signature=body.signature, capability=body.capability, pull_url=card.endpoint.rstrip("/"), status="pulling",
        attempts=0, next_attempt_at=received_at))
    for position, item in enumerate(body.files, start=1):
        uow.session.add(EvidenceOfferFile(offer_id=body.package, direction="in", position=position, path=item.path,
                                          size=item.size, sha256=item.sha256, chunk_size=item.chunk_size,
                                          wrapped=item.key))


inbox.on_receive(KIND, _on_offer)


class Puller:
    """Pulls the files of incoming offers, one file at a time, resuming from what is already on disk."""

    def __init__(self, service: EvidenceService, *, client: httpx.Client | None = None) -> None:
        self.service = service
        self.node = service.node
        self._client = client or httpx.Client(timeout=30.0, verify=self._verify())

    def _verify(self) -> Any:
        ca = self.node.settings.tls_ca_file
        if ca is None:
            return True
        import ssl

        return ssl.create_default_context(cafile=str(ca))

    def staging(self, package_id: str, position: int) -> Path:
        """Where a file's ciphertext accumulates while it is pulled."""
        return self.node.settings.data_dir / "transfers" / package_id / f"{position}.part"

    def due(self) -> list[str]:
        """Incoming offers waiting for a pull now."""
        t = now()
        with self.node.db.transaction(readonly=True) as uow:
            return list(uow.session.scalars(
                select(EvidenceOffer.id).where(EvidenceOffer.direction == "in", EvidenceOffer.status == "pulling",
                                               EvidenceOffer.next_attempt_at <= t)
                .order_by(EvidenceOffer.created_at)))

    def pull(self, package_id: str) -> bool:
        """Pull what is missing of one offer; True once every file is stored. Failures are retried later."""
        try:
            self._pull(package_id)
        except (HanoinetError, httpx.HTTPError, OSError) as exc:
            self._failed(package_id, exc)
            return False
        return True

    def _pull(self, package_id: str) -> None:
        with self.node.db.transaction(readonly=True) as uow:
            offered = uow.session.get(EvidenceOffer, (package_id, "in"))
            if offered is None:
                raise NotFound(f"no incoming offer {package_id}", code="offer_not_found")
            files = list(uow.session.scalars(select(EvidenceOfferFile).where(
                EvidenceOfferFile.offer_id == package_id, EvidenceOfferFile.direction == "in",
                EvidenceOfferFile.file_id.is_(None)).order_by(EvidenceOfferFile.position)))
            uow.session.expunge_all()
        for item in files:
            self._pull_file(offered, item)
        with self.node.db.transaction() as uow:
            row = uow.session.get(EvidenceOffer, (package_id, "in"))
            assert row is not None
            row.status, row.completed_at, row.error = "complete", now(), None
        shutil.rmtree(self.node.settings.data_dir / "transfers" / package_id, ignore_errors=True)
        log.info("evidence offer pulled", package=package_id, sender=offered.peer)

    def _pull_file(self, offered: EvidenceOffer, item: EvidenceOfferFile) -> None:
        assert item.wrapped is not None and offered.capability is not None and offered.pull_url is not None
        data_key = jose.decrypt(item.wrapped, self.node.keyring.decryption_key, cty=KEY_CTY).plaintext
        total = stream.ciphertext_size(item.size, item.chunk_size)
        part = self.staging(offered.id, item.position)
        part.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # What is on disk is checked again from the start: the chunks authenticate it and the hash resumes.
        decryptor, sha256 = stream.Decryptor(data_key, expected_size=item.size), hashlib.sha256()
        with part.open("ab+") as handle:
            handle.seek(0)
            while piece := handle.read(_PIECE):
                for plain in decryptor.update(piece):
                    sha256.update(plain)
            have = handle.tell()
            if have > total:
                raise ValidationError(f"the partial copy of {item.path} is longer than the blob", code="bad_partial")
            url = offered.pull_url + files_path(offered.id, item.position)
            try:
                while have < total:
                    end = min(have + RANGE_SIZE, total)
                    for piece in self._get(url, offered.capability, have, end):
                        handle.write(piece)
                        have += len(piece)
                        for plain in decryptor.update(piece):
                            sha256.update(plain)
                    handle.flush()
                    os.fsync(handle.fileno())
                sha256.update(decryptor.finish())
            except stream.BlobIntegrityError:
                part.unlink()  # authenticated chunks never fail twice: what was received is wrong, start over
                raise
        if sha256.hexdigest() != item.sha256:
            part.unlink()
            raise ValidationError(f"{item.path} pulled from {offered.peer} has SHA-256 {sha256.hexdigest()}, the "
                                  f"offer says {item.sha256}", code="hash_mismatch")
        self._store(offered, item, part, data_key)

    def _get(self, url: str, capability: str, start: int, end: int) -> Iterator[bytes]:
        headers = {"authorization": f"Capability {capability}", "range": f"bytes={start}-{end - 1}"}
        t = now()
        key = self.node.signing_key()
        private = key.key.private_key
        assert isinstance(private, Ed25519PrivateKey)
        headers |= httpsig.sign_request("GET", url, headers, key=private, keyid=key.kid, components=COVERED,
                                        created=t, expires=t + SIGNATURE_LIFETIME)
        with self._client.stream("GET", url, headers=headers) as response:
            if response.status_code != 206:
                response.read()
                raise TransportError(f"pull of {url} answered {response.status_code}: {response.text[:300]}",
                                     code="pull_refused")
            received = 0
            for piece in response.iter_bytes(_PIECE):
                received += len(piece)
                if received > end - start:
                    raise TransportError(f"pull of {url} sent more than the {end - start} bytes asked for")
                yield piece
        if received != end - start:
            raise TransportError(f"pull of {url} ended after {received} of {end - start} bytes (resumable)")

    def _store(self, offered: EvidenceOffer, item: EvidenceOfferFile, part: Path, data_key: bytes) -> None:
        with self.service.store.create() as writer, part.open("rb") as source:
            while piece := source.read(_PIECE * 4):
                writer.write(piece)
            writer.commit()
        file_id = os.urandom(16).hex()
        t = now()
        name = _sent_name(offered, item.path)
        with self.node.db.transaction() as uow:
            epoch, wrapped = self.service.vault.wrap(uow.session, file_id, data_key)
            uow.session.add(EvidenceFile(
                id=file_id, case_ref=offered.case_ref, name=name, media_type=None, size=item.size, sha256=item.sha256,
                blake3=None, blob_id=writer.id, chunk_size=item.chunk_size, wrapped_key=wrapped, kek_epoch=epoch,
                origin=offered.peer, ingested_at=t, ingested_by=f"peer:{offered.peer}"))
            row = uow.session.get(EvidenceOfferFile, (offered.id, "in", item.position))
            assert row is not None
            row.file_id = file_id
            record_custody(uow.session, self.node, file_id, CustodyEvent(
                action="received", at=format_instant(t), node=self.node.state, actor=f"peer:{offered.peer}",
                object_sha256=item.sha256, case=offered.case_ref,
                detail={"file": file_id, "package": offered.id, "from": offered.peer}))
        part.unlink()

    def _failed(self, package_id: str, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, HanoinetError) else f"{type(exc).__name__}: {exc}"
        with self.node.db.transaction() as uow:
            row = uow.session.get(EvidenceOffer, (package_id, "in"))
            if row is None:
                return
            row.attempts += 1
            row.error = message[:1000]
            t = now()
            if row.expires_at <= t:
                row.status = "failed"
                audit.alarm(uow.session, code="evidence_pull_failed",
                            message=f"the evidence offer {package_id} from {row.peer} expired before it was pulled",
                            detail={"package": package_id, "error": row.error})
            else:
                row.next_attempt_at = t + timedelta(seconds=min(300, 2 ** min(row.attempts, 8)))
        log.warning("evidence pull failed; will retry", package=package_id, error=message)

    def close(self) -> None:
        """Release the HTTP client."""
        self._client.close()


def _sent_name(offered: EvidenceOffer, path: str) -> str:
    """The file's name as the sender recorded it (package.json), if usable here; else the member's name."""
    with contextlib.suppress(ValueError, KeyError, TypeError, HanoinetError):
        described = json.loads(base64.b64decode(json.loads(offered.head)["package.json"]))
        name = next(f["name"] for f in described["files"] if f["path"] == path)
        return check_file_name(str(name))
    return path.rsplit("/", 1)[-1]


async def run_puller(service: EvidenceService, stop: asyncio.Event, *, interval: float = 1.0) -> None:
    """Pull incoming offers until ``stop``."""
    puller = Puller(service)
    try:
        while not stop.is_set():
            for package_id in await asyncio.to_thread(puller.due):
                await asyncio.to_thread(puller.pull, package_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        puller.close()


def list_offers(node: Node, *, limit: int = 500) -> list[dict[str, Any]]:
    """Offers sent and received, newest first, each with its files and whether they are here."""
    with node.db.transaction(readonly=True) as uow:
        offers = uow.session.scalars(select(EvidenceOffer).order_by(EvidenceOffer.created_at.desc()).limit(limit))
        listed = []
        for o in offers:
            files = uow.session.scalars(select(EvidenceOfferFile).where(
                EvidenceOfferFile.offer_id == o.id, EvidenceOfferFile.direction == o.direction)
                .order_by(EvidenceOfferFile.position)).all()
            listed.append({
                "package": o.id, "direction": o.direction, "peer": o.peer, "case": o.case_ref, "status": o.status,
                "created_at": format_instant(o.created_at), "expires_at": format_instant(o.expires_at),
                "error": o.error, "files": [{"path": f.path, "size": f.size, "sha256": f.sha256,
                                             "here": f.file_id is not None} for f in files]})
    return listed


def rebuild_package(service: EvidenceService, package_id: str, out: Path) -> Path:
    """Write the package of a fully pulled offer exactly as the sender sealed it, for ``hanoinet verify``."""
    with service.node.db.transaction(readonly=True) as uow:
        offered = uow.session.get(EvidenceOffer, (package_id, "in"))
        if offered is None:
            raise NotFound(f"no evidence offer {package_id} was received", code="offer_not_found")
        if offered.status != "complete":
            raise ValidationError(f"offer {package_id} is {offered.status}: its files are not all here yet",
                                  hint="wait for the pull to finish (`hanoinet evidence offers`)",
                                  code="offer_incomplete")
        held = json.loads(offered.head)
        head = {name: base64.b64decode(held[name]) for name in HEAD}
        signature = offered.signature.encode("ascii")
        files = [PackageFile(f.path, f.size, f.sha256, partial(service.plaintext, f.file_id or ""))
                 for f in uow.session.scalars(select(EvidenceOfferFile).where(
                     EvidenceOfferFile.offer_id == package_id, EvidenceOfferFile.direction == "in")
                     .order_by(EvidenceOfferFile.position))]
    write_package(out, head, files, signature)
    return out


