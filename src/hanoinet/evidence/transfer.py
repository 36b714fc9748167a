"""Sending evidence to another State: offers, capabilities, and resumable signed pulls (docs/evidence.md).

The sender seals a package for the recipient and sends an ``evidence.offer`` envelope holding the package's
metadata members and signature, the files' sizes and hashes, and a *capability*: a JWS by the sender
allowing the recipient State to pull the offer until it expires. The recipient checks the offer against the
package it carries, then asks for the files' data keys and pulls each file's encrypted blob with HTTP
``Range`` requests, all signed with its own key (RFC 9421), so a stolen capability alone pulls nothing. The
keys are kept in memory only. It authenticates every chunk as it arrives, resumes after a crash or a dropped
connection from what it already holds, checks the final SHA-256 against the signed package, stores the blob
under its own key-encryption key and records ``received`` custody events. It can then rebuild the very
package the sender sealed, byte for byte, and verify it offline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update

from hanoinet.clock import Instant, format_instant, now, parse_instant
from hanoinet.crypto import httpsig, jose
from hanoinet.crypto.canonical import canonical_json, parse_json
from hanoinet.db.database import UnitOfWork
from hanoinet.db.models import EvidenceFile, EvidenceOffer, EvidenceOfferFile
from hanoinet.errors import Conflict, Forbidden, HanoinetError, NotFound, TransportError, ValidationError
from hanoinet.evidence import stream
from hanoinet.evidence.layout import HEAD
from hanoinet.evidence.package import PackageFile, UseConditions, prepare, write_package
from hanoinet.evidence.service import EvidenceService, check_file_name, record_custody, record_custody_many
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
#: What the signature of a request for the offer's data keys must cover.
KEYS_COVERED = ("@method", "@target-uri", "authorization")
#: Bytes asked for per request: a dropped connection costs at most this much again.
RANGE_SIZE = 64 << 20
_PIECE = 1 << 20
_RANGE = re.compile(r"bytes=([0-9]{1,19})-([0-9]{0,19})")


class OfferedFile(BaseModel):
    """One file of an offer."""

    model_config = ConfigDict(extra="forbid", strict=True)

    path: str = Field(min_length=1, max_length=300)
    size: int = Field(ge=0, lt=2**63)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    chunk_size: int = Field(ge=4096, le=16 << 20)


class OfferBody(BaseModel):
    """Body of an ``evidence.offer`` envelope."""

    model_config = ConfigDict(extra="forbid", strict=True)

    package: str = Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    #: The package's metadata members by name (``mimetype`` .. ``signer.json``), base64.
    head: dict[str, str]
    signature: str = Field(min_length=1, max_length=100_000)
    files: list[OfferedFile] = Field(min_length=1, max_length=10_000)
    capability: str = Field(min_length=1, max_length=10_000)
    expires_at: Instant


OFFER = kinds.register(kinds.MessageKind(
    KIND, OfferBody, "an evidence package offered for pulling (manifest, custody proofs, capability)",
    direct=False,
))


@dataclass(frozen=True, slots=True)
class Offered:
    """What :func:`offer` did."""

    package_id: str
    message_id: str
    files: int
    expires_at: datetime


def transfer_folder(data_dir: Path, package_id: str) -> Path:
    """Where the files of an incoming offer accumulate while they are pulled (``<position>.part`` each)."""
    return data_dir / "transfers" / package_id


def export_path(data_dir: Path, package_id: str) -> Path:
    """A fresh name in ``DATA/exports/`` for a received package rebuilt for a download (folder created 0700)."""
    folder = data_dir / "exports"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{package_id}-{uuid.uuid4().hex[:8]}.zip"


def keys_path(package_id: str) -> str:
    """Where the sender serves the data keys of an offer's files."""
    return f"/federation/v1/evidence/offers/{package_id}/keys"


def files_path(package_id: str, position: int) -> str:
    """Where the sender serves file ``position`` (1-based) of an offer."""
    return f"/federation/v1/evidence/offers/{package_id}/files/{position}"


# -- sender ---------------------------------------------------------------------------------------------


def offer(service: EvidenceService, *, case: str, to: str, desk: str, actor: str, conditions: UseConditions,
          file_ids: list[str] | None = None, witness_wait: float = 0.0, min_witnesses: int = 0,
          handles: Callable[[str | None], bool] | None = None) -> Offered:
    """Seal the case's files for ``to`` (``STATE/desk``) and send the offer from our ``desk``; see the module doc.

    With ``handles``, every file offered must be filed at a desk it accepts (the officer's own, for most roles).
    """
    node = service.node
    state, _ = split_address(to)
    if state == node.state:
        raise ValidationError(
            f"evidence is offered to another State; {to} is this node's own State", code="offer_to_self",
            hint="to hand files to another desk of this node, file them there (`hanoinet evidence refile`); "
                 "received files keep their purpose and conditions")
    directory = node.require_directory()
    t = now()
    directory.encryption_key(state, t)  # refuses a State the directory gives no key for, before sealing
    chosen = [i for i in service.list(case) if file_ids is None or i.id in file_ids]
    others = [] if handles is None else [i for i in chosen if not handles(i.desk)]
    if others:
        raise Forbidden(f"{len(others)} file(s) of case {case} belong to another desk than {desk}; only that desk "
                        "may send them", code="other_desk",
                        hint="send only your desk's files (files: their ids), or ask the desk that holds them")
    prepared = prepare(service, case=case, actor=actor, conditions=conditions, recipient=state, file_ids=file_ids,
                       witness_wait=witness_wait, min_witnesses=min_witnesses)
    expires = t + OFFER_LIFETIME
    capability = jose.sign(canonical_json({
        "type": "hanoinet-pull-capability", "v": 1, "package": prepared.package_id, "issuer": node.state,
        "recipient": state, "files": len(prepared.files), "expires_at": format_instant(expires),
    }), node.signing_key(), typ=CAPABILITY_TYP)
    with node.db.transaction(readonly=True) as uow:
        chunk_sizes = {file_id: size for file_id, size in uow.session.execute(
            select(EvidenceFile.id, EvidenceFile.chunk_size).where(
                EvidenceFile.id.in_([item.id for _, item in prepared.files])))}
    files = [OfferedFile(path=path, size=item.size, sha256=item.sha256, chunk_size=chunk_sizes[item.id])
             for path, item in prepared.files]
    head = {name: base64.b64encode(data).decode("ascii") for name, data in prepared.head.items()}
    body = OfferBody(package=prepared.package_id, head=head, signature=prepared.signature.decode("ascii"),
                     files=files, capability=capability, expires_at=format_instant(expires))
    with node.db.transaction() as uow:
        uow.session.add(EvidenceOffer(id=prepared.package_id, direction="out", peer=state, case_ref=case, created_at=t,
                                      expires_at=expires, head=json.dumps(head), signature=body.signature,
                                      status="offered", attempts=0, desk=desk))
        for position, ((path, item), offered) in enumerate(zip(prepared.files, files, strict=True), start=1):
            uow.session.add(EvidenceOfferFile(offer_id=prepared.package_id, direction="out", position=position,
                                              path=path, size=item.size, sha256=item.sha256,
                                              chunk_size=offered.chunk_size, file_id=item.id))
        record_custody_many(uow.session, [(item.id, CustodyEvent(
            action="sent", at=format_instant(t), node=node.state, actor=actor, object_sha256=item.sha256, case=case,
            detail={"file": item.id, "package": prepared.package_id, "to": state})) for _, item in prepared.files])
        message = outbox.enqueue(node, uow, sender_desk=desk, recipient=to, kind=KIND,
                                 body=body.model_dump(mode="json"), case=case, actor=actor)
        message_id = message.message_id
    node.outbox_committed()
    log.info("evidence offered", package=prepared.package_id, to=to, files=len(files))
    return Offered(prepared.package_id, message_id, len(files), expires)


@dataclass(frozen=True, slots=True)
class Serving:
    """A verified pull: which blob, which bytes."""

    blob_id: str
    start: int
    end: int
    total: int


def _authorize(service: EvidenceService, package_id: str, *, method: str, url: str, headers: Mapping[str, str],
               covered: Sequence[str]) -> str:
    """Check our capability and the recipient's signature over the request; returns the recipient State."""
    node = service.node
    auth = headers.get("authorization", "")
    if not auth.startswith("Capability "):
        raise Forbidden("a pull needs `Authorization: Capability <JWS>` from the evidence offer",
                        code="capability_missing")
    claims = _own_capability(node, auth.removeprefix("Capability ").strip())
    t = now()
    if claims.get("package") != package_id or claims.get("issuer") != node.state:
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

    httpsig.verify_request(method, url, headers, resolve_key=resolve, required=covered, now=t,
                           max_age=SIGNATURE_LIFETIME)
    with node.db.transaction(readonly=True) as uow:
        offered = uow.session.get(EvidenceOffer, (package_id, "out"))
        if offered is None or offered.peer != recipient:
            raise NotFound(f"no offer {package_id} to {recipient}", code="offer_not_found")
    return recipient


def authorize_pull(service: EvidenceService, package_id: str, position: int, *, method: str, url: str,
                   headers: Mapping[str, str]) -> Serving:
    """Check a pull of file ``position``: capability, the recipient's signature, the offer and the range."""
    _authorize(service, package_id, method=method, url=url, headers=headers, covered=COVERED)
    with service.node.db.transaction(readonly=True) as uow:
        item = uow.session.get(EvidenceOfferFile, (package_id, "out", position))
        if item is None:
            raise NotFound(f"offer {package_id} has no file {position}", code="offer_file_not_found")
        row = uow.session.get(EvidenceFile, item.file_id)
        if row is None or row.blob_id is None:
            raise NotFound(f"file {position} of offer {package_id} was shredded", code="evidence_shredded")
        _check_not_ended(row, package_id, position)
        blob_id = row.blob_id
    total = stream.ciphertext_size(item.size, item.chunk_size)
    start, end = _parse_range(headers.get("range", ""), total)
    return Serving(blob_id, start, end, total)


def offered_keys(service: EvidenceService, package_id: str, *, method: str, url: str,
                 headers: Mapping[str, str]) -> dict[str, Any]:
    """The data keys of an offer's files, each a JWE to the recipient's current encryption key.

    They travel here rather than in the offer envelope, which the recipient keeps: a key it never stores
    is one a shred on its side has nothing left to destroy.
    """
    recipient = _authorize(service, package_id, method=method, url=url, headers=headers, covered=KEYS_COVERED)
    node = service.node
    recipient_key = node.require_directory().encryption_key(recipient, now())
    keys = []
    with node.db.transaction(readonly=True) as uow:
        items = uow.session.scalars(select(EvidenceOfferFile).where(
            EvidenceOfferFile.offer_id == package_id, EvidenceOfferFile.direction == "out")
            .order_by(EvidenceOfferFile.position)).all()
        for item in items:
            row = uow.session.get(EvidenceFile, item.file_id)
            if row is None or row.wrapped_key is None or row.kek_epoch is None:
                raise NotFound(f"file {item.position} of offer {package_id} was shredded", code="evidence_shredded")
            _check_not_ended(row, package_id, item.position)
            data_key = service.vault.unwrap(row.id, row.kek_epoch, row.wrapped_key)
            keys.append({"position": item.position, "key": jose.encrypt(
                data_key, recipient_key.public_key(), kid=recipient_key.kid, cty=KEY_CTY)})
    return {"package": package_id, "keys": keys}


def _check_not_ended(row: EvidenceFile, package_id: str, position: int) -> None:
    """A file whose retention period has ended is not served, even before the retention job shreds it."""
    if row.retain_until is not None and row.retain_until <= now():
        raise NotFound(f"file {position} of offer {package_id} is past the end of its retention period and is "
                       "being shredded", code="evidence_shredded")


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
    """``bytes=START-`` or ``bytes=START-END`` (inclusive, clamped to the blob; RFC 9110), one range;
    returns ``[start, end)``."""
    match = _RANGE.fullmatch(value)
    if match is None:
        raise ValidationError(f"Range {value!r} must be one range `bytes=START-[END]`", code="bad_range")
    start = int(match[1])
    end = min(int(match[2]) + 1, total) if match[2] else total
    if start >= total or end <= start:
        raise ValidationError(f"Range {value!r} is outside the blob's {total} bytes", code="range_not_satisfiable")
    return start, end


# -- recipient ------------------------------------------------------------------------------------------


def _on_offer(node: Node, uow: UnitOfWork, payload: EnvelopePayload, received_at: datetime) -> None:
    body = OfferBody.model_validate(payload.body)
    sender, sender_desk = split_address(payload.sender)
    _, desk = split_address(payload.recipient)
    if sender == node.state:  # a copy to oneself would come back as this State's own evidence
        raise ValidationError("an evidence offer comes from another State, not from this node", code="invalid_body")
    if set(body.head) != set(HEAD):
        raise ValidationError(f"an evidence offer's head must hold exactly {', '.join(HEAD)}", code="invalid_body")
    try:
        described = json.loads(base64.b64decode(body.head["package.json"], validate=True))
        listed = [(f["path"], f["size"], f["sha256"]) for f in described["files"]]
        parties = (described["id"], described["sender"], described["recipient"])
        retain_until = _sender_retention(described)
    except (ValueError, KeyError, TypeError):
        raise ValidationError("the offer's package.json is not readable", code="invalid_body") from None
    # The offer must be what the package it carries says: a sender cannot make us pull more than it sealed.
    if parties != (body.package, sender, node.state) or listed != [(f.path, f.size, f.sha256) for f in body.files]:
        raise ValidationError("the offer does not match its package (id, sender, recipient or files differ)",
                              code="invalid_body")
    total = sum(f.size for f in body.files)
    if total > node.settings.evidence_max_offer_bytes:
        raise ValidationError(f"the offer holds {total} bytes; this node takes offers of at most "
                              f"{node.settings.evidence_max_offer_bytes}", code="offer_too_large",
                              hint="split the evidence into several offers")
    if uow.session.get(EvidenceOffer, (body.package, "in")) is not None:
        raise Conflict(f"package {body.package} was already offered to this node", code="offer_exists")
    card = node.require_directory().member(sender)
    uow.session.add(EvidenceOffer(
        id=body.package, direction="in", peer=sender, case_ref=described.get("case") or body.package,
        created_at=received_at, expires_at=parse_instant(body.expires_at), head=json.dumps(body.head),
        signature=body.signature, capability=body.capability, pull_url=card.endpoint.rstrip("/"), status="pulling",
        attempts=0, next_attempt_at=received_at, desk=desk, retain_until=retain_until, peer_desk=sender_desk))
    for position, item in enumerate(body.files, start=1):
        uow.session.add(EvidenceOfferFile(offer_id=body.package, direction="in", position=position, path=item.path,
                                          size=item.size, sha256=item.sha256, chunk_size=item.chunk_size))


def _sender_retention(described: dict[str, Any]) -> datetime | None:
    """The end of the sender's retention period in ``package.json``'s use conditions; None if it set none.

    A package from a sender that sets no period (or predates them) has no ``retain_until``; one that is not
    an instant makes the offer unreadable (ValueError).
    """
    conditions = described.get("use_conditions")
    value = conditions.get("retain_until") if isinstance(conditions, dict) else None
    if value is None:
        return None
    try:
        return parse_instant(value, field="use_conditions.retain_until")
    except ValidationError as exc:
        raise ValueError(exc.message) from None


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
        return transfer_folder(self.node.settings.data_dir, package_id) / f"{position}.part"

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
        if files:
            # Room for what is still to come, twice when the store is on this disk too (staging, then the store).
            copies = 2 if self.service.store.describe.startswith("file:") else 1
            needed = sum(copies * stream.ciphertext_size(f.size, f.chunk_size)
                         - _size_or_zero(self.staging(package_id, f.position)) for f in files)
            free = shutil.disk_usage(self.node.settings.data_dir).free
            if free < needed:
                raise TransportError(f"{free} bytes free in the data directory; pulling offer {package_id} needs "
                                     f"{needed}", hint="free disk space; the pull is retried", code="disk_full")
            keys = self._keys(offered)
        for item in files:
            self._pull_file(offered, item, keys[item.position])
        with self.node.db.transaction() as uow:
            row = uow.session.get(EvidenceOffer, (package_id, "in"))
            if row is None:
                raise NotFound(f"no incoming offer {package_id}", code="offer_not_found")
            row.status, row.completed_at, row.error = "complete", now(), None
        shutil.rmtree(transfer_folder(self.node.settings.data_dir, package_id), ignore_errors=True)
        log.info("evidence offer pulled", package=package_id, sender=offered.peer)

    def _keys(self, offered: EvidenceOffer) -> dict[int, bytes]:
        """The files' data keys, asked for with a signed request and kept in memory only."""
        url = f"{offered.pull_url}{keys_path(offered.id)}"
        headers = {"authorization": f"Capability {offered.capability}"}
        headers |= self._signature("GET", url, headers, KEYS_COVERED)
        response = self._client.get(url, headers=headers)
        if response.status_code != 200:
            raise TransportError(f"the keys of offer {offered.id} were refused ({response.status_code}): "
                                 f"{_printable(response.text[:300])}", code="pull_refused")
        try:
            listed = response.json()["keys"]
            return {int(k["position"]): jose.decrypt(str(k["key"]), self.node.decryption_key,
                                                     cty=KEY_CTY).plaintext for k in listed}
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError(f"the keys of offer {offered.id} are not readable: {exc}",
                                 code="pull_refused") from None

    def _pull_file(self, offered: EvidenceOffer, item: EvidenceOfferFile, data_key: bytes) -> None:
        capability, base = offered.capability or "", offered.pull_url or ""
        total = stream.ciphertext_size(item.size, item.chunk_size)
        part = self.staging(offered.id, item.position)
        part.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        decryptor, sha256 = stream.Decryptor(data_key, expected_size=item.size), hashlib.sha256()
        try:
            with part.open("ab+") as handle:
                # What is on disk is checked again from the start: the chunks authenticate it and the hash resumes.
                handle.seek(0)
                while piece := handle.read(_PIECE):
                    for plain in decryptor.update(piece):
                        sha256.update(plain)
                have = handle.tell()
                if have > total:
                    raise stream.BlobIntegrityError(f"the partial copy of {item.path} is longer than the blob",
                                                    reason="extended", chunk_index=None, offset=total)
                url = base + files_path(offered.id, item.position)
                while have < total:
                    end = min(have + RANGE_SIZE, total)
                    for piece in self._get(url, capability, have, end):
                        handle.write(piece)
                        have += len(piece)
                        for plain in decryptor.update(piece):
                            sha256.update(plain)
                    handle.flush()
                    os.fsync(handle.fileno())
                sha256.update(decryptor.finish())
        except stream.BlobIntegrityError:
            # Authenticated chunks do not fail twice: what is on disk (a torn write after a crash, or what
            # the sender sent) is wrong. Start this file over.
            part.unlink(missing_ok=True)
            raise
        if sha256.hexdigest() != item.sha256:
            part.unlink()
            raise ValidationError(f"{item.path} pulled from {offered.peer} has SHA-256 {sha256.hexdigest()}, the "
                                  f"offer says {item.sha256}", code="hash_mismatch")
        self._store(offered, item, part, data_key)

    def _signature(self, method: str, url: str, headers: dict[str, str], covered: Sequence[str]) -> dict[str, str]:
        t = now()
        key = self.node.signing_key()
        private = key.key.private_key
        if not isinstance(private, Ed25519PrivateKey):
            raise TypeError("the node's signing key is not an Ed25519 key")
        return httpsig.sign_request(method, url, headers, key=private, keyid=key.kid, components=covered,
                                    created=t, expires=t + SIGNATURE_LIFETIME)

    def _get(self, url: str, capability: str, start: int, end: int) -> Iterator[bytes]:
        headers = {"authorization": f"Capability {capability}", "range": f"bytes={start}-{end - 1}"}
        headers |= self._signature("GET", url, headers, COVERED)
        with self._client.stream("GET", url, headers=headers) as response:
            if response.status_code != 206:
                response.read()
                answer = _printable(response.text[:300])
                raise TransportError(f"pull of {url} answered {response.status_code}: {answer}",
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
        purpose, conditions = _use_conditions(offered)
        with self.node.db.transaction() as uow:
            epoch, wrapped = self.service.vault.wrap(uow.session, file_id, data_key)
            uow.session.add(EvidenceFile(
                id=file_id, case_ref=offered.case_ref, name=name, media_type=None, size=item.size, sha256=item.sha256,
                blake3=None, blob_id=writer.id, chunk_size=item.chunk_size, wrapped_key=wrapped, kek_epoch=epoch,
                origin=offered.peer, ingested_at=t, ingested_by=f"peer:{offered.peer}", desk=offered.desk,
                sender_retain_until=offered.retain_until, retain_until=offered.retain_until,
                origin_sender=f"{offered.peer}/{offered.peer_desk}" if offered.peer_desk else offered.peer,
                origin_package=offered.id, origin_case=offered.case_ref, purpose=purpose, use_conditions=conditions))
            uow.session.execute(update(EvidenceOfferFile).where(
                EvidenceOfferFile.offer_id == offered.id, EvidenceOfferFile.direction == "in",
                EvidenceOfferFile.position == item.position).values(file_id=file_id))
            record_custody(uow.session, file_id, CustodyEvent(
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


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _printable(text: str) -> str:
    """Peer-supplied text as it may be shown to officers: control characters replaced."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _use_conditions(offered: EvidenceOffer) -> tuple[str | None, str | None]:
    """The purpose and the use conditions (JSON) the sender's package sets, as ``package.json`` holds them."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        conditions = json.loads(base64.b64decode(json.loads(offered.head)["package.json"]))["use_conditions"]
        return str(conditions["purpose"]), json.dumps(conditions, sort_keys=True, ensure_ascii=False)
    return None, None


def _sent_name(offered: EvidenceOffer, path: str) -> str:
    """The file's name as the sender recorded it (package.json), if usable here; else the member's name."""
    with contextlib.suppress(ValueError, KeyError, TypeError, HanoinetError):
        described = json.loads(base64.b64decode(json.loads(offered.head)["package.json"]))
        name = next(f["name"] for f in described["files"] if f["path"] == path)
        return check_file_name(str(name))
    with contextlib.suppress(HanoinetError):
        return check_file_name(_printable(path.rsplit("/", 1)[-1]))
    return f"file-{path.split('/')[1] if path.count('/') >= 2 else 'unnamed'}"


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


def list_offers(node: Node, *, limit: int = 500,
                readable: Callable[[str | None], bool] | None = None) -> list[dict[str, Any]]:
    """Offers sent and received, newest first, each with its files and whether they are here; with
    ``readable``, only the offers of desks it accepts."""
    with node.db.transaction(readonly=True) as uow:
        offers = uow.session.scalars(select(EvidenceOffer).order_by(EvidenceOffer.created_at.desc()).limit(limit))
        listed = []
        for o in offers:
            if readable is not None and not readable(o.desk):
                continue
            files = uow.session.scalars(select(EvidenceOfferFile).where(
                EvidenceOfferFile.offer_id == o.id, EvidenceOfferFile.direction == o.direction)
                .order_by(EvidenceOfferFile.position)).all()
            listed.append({
                "package": o.id, "direction": o.direction, "peer": o.peer, "desk": o.desk, "case": o.case_ref,
                "status": o.status,
                "created_at": format_instant(o.created_at), "expires_at": format_instant(o.expires_at),
                "retain_until": format_instant(o.retain_until) if o.retain_until is not None else None,
                "error": o.error, "files": [{"path": f.path, "size": f.size, "sha256": f.sha256,
                                             "here": f.file_id is not None} for f in files]})
    return listed


def rebuild_package(service: EvidenceService, package_id: str, out: Path, *, actor: str,
                    readable: Callable[[str | None], bool] | None = None) -> Path:
    """Write the package of a fully pulled offer exactly as the sender sealed it, for ``hanoinet verify``.

    Each file's export is a custody event of this node (``exported``, naming the package). With ``readable``,
    an offer addressed to a desk it refuses is answered as if it did not exist.
    """
    with service.node.db.transaction(readonly=True) as uow:
        offered = uow.session.get(EvidenceOffer, (package_id, "in"))
        if offered is None or (readable is not None and not readable(offered.desk)):
            # The same answer whether it is missing or another desk's: existence is not disclosed.
            raise NotFound(f"no evidence offer {package_id} was received" + (
                "" if readable is None else " for your desk"), code="offer_not_found")
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
    t = format_instant(now())
    node = service.node
    with node.db.transaction() as uow:
        for item in files:
            row = uow.session.scalar(select(EvidenceFile).join(EvidenceOfferFile, EvidenceOfferFile.file_id ==
                                                                EvidenceFile.id)
                                     .where(EvidenceOfferFile.offer_id == package_id,
                                            EvidenceOfferFile.direction == "in", EvidenceOfferFile.path == item.path))
            if row is not None:
                record_custody(uow.session, row.id, CustodyEvent(
                    action="exported", at=t, node=node.state, actor=actor, object_sha256=row.sha256,
                    case=row.case_ref, detail={"file": row.id, "package": package_id}))
    return out


