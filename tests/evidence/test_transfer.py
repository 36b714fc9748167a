"""Offers between two nodes: the signed, ranged, resumable pull, and the package rebuilt and verified."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hanoinet.api.app import create_app
from hanoinet.clock import now
from hanoinet.crypto import httpsig
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm, EvidenceFile, EvidenceOffer, EvidenceOfferFile, InboxMessage, LedgerEntry
from hanoinet.errors import HanoinetError
from hanoinet.evidence import transfer
from hanoinet.evidence.package import UseConditions
from hanoinet.evidence.service import EvidenceService
from hanoinet.evidence.verify import verify_package
from hanoinet.ledger.log import Sequencer
from hanoinet.node.node import Node
from tests.support import make_node, publish, pump

CASE = "BRA-2026-0042"


@pytest.fixture
def pair(tmp_path: Path, authority: KeyPair, database_url: str) -> Iterator[tuple[Node, Node]]:
    bra = make_node(tmp_path, "BRA", authority, port=8501, database_url=database_url)
    fra = make_node(tmp_path, "FRA", authority, port=8502)
    publish([bra, fra], authority)
    yield bra, fra
    bra.close()
    fra.close()


def _offer(bra: Node, fra: Node, files: dict[str, bytes]) -> tuple[EvidenceService, EvidenceService, str]:
    sender = EvidenceService(bra)
    for name, data in files.items():
        sender.ingest(io.BytesIO(data), name=name, case=CASE, actor="officer:7")
    offered = transfer.offer(sender, case=CASE, to="FRA/247", desk="247", actor="officer:7",
                             conditions=UseConditions(purpose="answer to request FRA-2026-0001"))
    assert pump({"BRA": bra, "FRA": fra}) >= 1
    return sender, EvidenceService(fra), offered.package_id


def _client(bra: Node, sender: EvidenceService) -> TestClient:
    app = create_app(bra, background=False)
    app.state.evidence = sender
    return TestClient(app, base_url=bra.settings.endpoint)


def test_offer_is_pulled_stored_recorded_and_rebuilds_the_signed_package(pair: tuple[Node, Node],
                                                                          tmp_path: Path, authority: KeyPair) -> None:
    bra, fra = pair
    files = {"server.log": os.urandom(300_000), "disk-sample.img": os.urandom(2_100_000), "empty.txt": b""}
    sender, receiver, package_id = _offer(bra, fra, files)
    with _client(bra, sender) as client:
        puller = transfer.Puller(receiver, client=client)
        assert puller.due() == [package_id]
        assert puller.pull(package_id)
    held = {i.name: i for i in receiver.list(CASE)}
    assert set(held) == set(files)
    for name, data in files.items():
        assert held[name].origin == "BRA"
        assert b"".join(receiver.plaintext(held[name].id)) == data
    Sequencer(fra, holder="test").step()
    with fra.db.transaction(readonly=True) as uow:
        records = [r for r in uow.session.scalars(select(LedgerEntry.record)) if r and package_id in r]
    # One "received" custody record per file pulled, naming the package and the sender.
    assert len(records) == len(files) and all('"received"' in r and '"from":"BRA"' in r for r in records)
    assert not (fra.settings.data_dir / "transfers" / package_id).exists()
    out = tmp_path / "rebuilt.zip"
    transfer.rebuild_package(receiver, package_id, out, actor="officer:5")
    assert out.stat().st_mode & 0o777 == 0o600
    Sequencer(fra, holder="test").step()
    with fra.db.transaction(readonly=True) as uow:
        exported = [r for r in uow.session.scalars(select(LedgerEntry.record)) if r and '"exported"' in r]
    assert len(exported) == len(files) and all(package_id in r and "officer:5" in r for r in exported)
    with out.open("rb") as source:
        report = verify_package(source, trust=[authority.kid])
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.signer_state == "BRA" and report.anchored_by == authority.kid


def test_a_pull_cut_off_half_way_resumes_from_what_is_on_disk(pair: tuple[Node, Node],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    bra, fra = pair
    data = os.urandom(3_000_000)
    sender, receiver, package_id = _offer(bra, fra, {"image.dd": data})
    monkeypatch.setattr(transfer, "RANGE_SIZE", 1 << 20)
    asked: list[str] = []
    with _client(bra, sender) as client:
        real_get = transfer.Puller._get

        def dropping(self: transfer.Puller, url: str, capability: str, start: int, end: int) -> Iterator[bytes]:
            asked.append(f"{start}-{end}")
            if start >= 1 << 20 and len(asked) == 2:
                yield from list(real_get(self, url, capability, start, end))[:1]
                raise httpx.ReadError("connection dropped")
            yield from real_get(self, url, capability, start, end)

        monkeypatch.setattr(transfer.Puller, "_get", dropping)
        puller = transfer.Puller(receiver, client=client)
        assert not puller.pull(package_id)
        part = puller.staging(package_id, 1)
        kept = part.stat().st_size
        assert 1 << 20 < kept < len(data)
        with fra.db.transaction() as uow:
            row = uow.session.get(EvidenceOffer, (package_id, "in"))
            assert row is not None and row.status == "pulling" and "dropped" in (row.error or "")
            row.next_attempt_at = now()
        assert puller.pull(package_id)
    assert asked[2].startswith(f"{kept}-")  # resumed where the copy on disk ended
    (item,) = receiver.list(CASE)
    assert b"".join(receiver.plaintext(item.id)) == data


def _signed_get(client: TestClient, url: str, capability: str, key: KeyPair, rng: str = "bytes=0-99") -> int:
    headers = {"authorization": f"Capability {capability}", "range": rng}
    t = now()
    private = key.key.private_key
    headers |= httpsig.sign_request("GET", url, headers, key=private, keyid=key.kid,  # type: ignore[arg-type]
                                    components=transfer.COVERED, created=t, expires=t + transfer.SIGNATURE_LIFETIME)
    return client.get(url, headers=headers).status_code


def test_a_stolen_capability_without_the_recipients_key_pulls_nothing(pair: tuple[Node, Node]) -> None:
    bra, fra = pair
    sender, _, package_id = _offer(bra, fra, {"server.log": b"x" * 5000})
    with fra.db.transaction(readonly=True) as uow:
        offered = uow.session.get(EvidenceOffer, (package_id, "in"))
        assert offered is not None and offered.capability is not None
        capability = offered.capability
    url = bra.settings.endpoint + transfer.files_path(package_id, 1)
    with _client(bra, sender) as client:
        assert _signed_get(client, url, capability, fra.signing_key()) == 206
        thief = KeyPair.generate("sig")
        assert _signed_get(client, url, capability, thief) == 401
        assert client.get(url, headers={"authorization": f"Capability {capability}", "range": "bytes=0-9"}
                          ).status_code == 401
        assert _signed_get(client, url, capability[:-4] + "AAAA", fra.signing_key()) == 403
        assert _signed_get(client, url, capability, fra.signing_key(), rng="bytes=999999999-") == 416


def test_a_tampered_blob_is_refused_and_pulled_again_from_scratch(pair: tuple[Node, Node]) -> None:
    bra, fra = pair
    data = os.urandom(200_000)
    sender, receiver, package_id = _offer(bra, fra, {"mail.mbox": data})
    with bra.db.transaction(readonly=True) as uow:
        file_id = uow.session.scalar(select(EvidenceOfferFile.file_id).where(
            EvidenceOfferFile.offer_id == package_id, EvidenceOfferFile.direction == "out"))
    (item,) = [i for i in sender.list(CASE) if i.id == file_id]
    with bra.db.transaction(readonly=True) as uow:
        row = uow.session.get(EvidenceFile, item.id)
        assert row is not None and row.blob_id is not None
        blob = bra.settings.data_dir / "blobs" / row.blob_id[:2] / row.blob_id
    original = blob.read_bytes()
    blob.write_bytes(original[:5000] + bytes([original[5000] ^ 1]) + original[5001:])
    with _client(bra, sender) as client:
        puller = transfer.Puller(receiver, client=client)
        assert not puller.pull(package_id)
        assert not puller.staging(package_id, 1).exists()
        blob.write_bytes(original)
        with fra.db.transaction() as uow:
            offered = uow.session.get(EvidenceOffer, (package_id, "in"))
            assert offered is not None and offered.status == "pulling"
            assert "chunk 0" in (offered.error or ""), offered.error
            offered.next_attempt_at = now()
        assert puller.pull(package_id)
    assert b"".join(receiver.plaintext(receiver.list(CASE)[0].id)) == data


def test_the_receiver_never_stores_the_data_keys_so_its_shred_is_final(pair: tuple[Node, Node]) -> None:
    bra, fra = pair
    sender, receiver, package_id = _offer(bra, fra, {"chat.db": os.urandom(50_000)})
    with _client(bra, sender) as client:
        assert transfer.Puller(receiver, client=client).pull(package_id)
    with fra.db.transaction(readonly=True) as uow:
        payloads = [json.loads(m.payload) for m in uow.session.scalars(select(InboxMessage))]
    offer_bodies = [p["body"] for p in payloads if p["kind"] == transfer.KIND]
    assert offer_bodies and all("key" not in f for body in offer_bodies for f in body["files"])
    (item,) = receiver.list(CASE)
    receiver.shred(item.id, actor="officer:9", reason="retention limit")
    with pytest.raises(HanoinetError):
        b"".join(receiver.plaintext(item.id))


def test_an_offer_that_does_not_match_its_package_is_refused(pair: tuple[Node, Node],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    bra, fra = pair
    sender = EvidenceService(bra)
    sender.ingest(io.BytesIO(b"x" * 1000), name="a.log", case=CASE, actor="officer:7")
    real = transfer.OfferBody

    def inflated(**fields: object) -> transfer.OfferBody:
        body = real(**fields)  # type: ignore[arg-type]
        body.files[0].size = 2**50  # claims far more than it sealed
        return body

    monkeypatch.setattr(transfer, "OfferBody", inflated)
    transfer.offer(sender, case=CASE, to="FRA/247", desk="247", actor="officer:7",
                   conditions=UseConditions(purpose="p"))
    monkeypatch.setattr(transfer, "OfferBody", real)
    assert pump({"BRA": bra, "FRA": fra}) == 0
    with bra.db.transaction(readonly=True) as uow:
        alarm = uow.session.scalars(select(Alarm.message)).all()
    assert any("does not match its package" in a for a in alarm)


def test_evidence_received_from_a_state_may_go_back_to_it_without_consent(pair: tuple[Node, Node]) -> None:
    # Only a third State needs the sender's consent (Art. 36); tests/privacy/test_consent.py refuses those.
    bra, fra = pair
    sender, receiver, package_id = _offer(bra, fra, {"mail.mbox": b"m" * 3000})
    with _client(bra, sender) as client:
        assert transfer.Puller(receiver, client=client).pull(package_id)
    back = transfer.offer(receiver, case=CASE, to="BRA/247", desk="247", actor="officer:1",
                          conditions=UseConditions(purpose="returned to the sender"))
    assert back.files == 1


def test_a_torn_partial_copy_is_dropped_and_pulled_again(pair: tuple[Node, Node]) -> None:
    bra, fra = pair
    data = os.urandom(300_000)
    sender, receiver, package_id = _offer(bra, fra, {"image.dd": data})
    with _client(bra, sender) as client:
        puller = transfer.Puller(receiver, client=client)
        part = puller.staging(package_id, 1)
        part.parent.mkdir(parents=True)
        part.write_bytes(b"\0" * 70_000)  # what a crash can leave at the end of a file
        assert not puller.pull(package_id)
        assert not part.exists()
        with fra.db.transaction() as uow:
            row = uow.session.get(EvidenceOffer, (package_id, "in"))
            assert row is not None
            row.next_attempt_at = now()
        assert puller.pull(package_id)
    (item,) = receiver.list(CASE)
    assert b"".join(receiver.plaintext(item.id)) == data
