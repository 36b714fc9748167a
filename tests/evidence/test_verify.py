"""Sealing packages and verifying them offline: valid, anchored or not, witnessed or not, and every way to break one."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hanoinet.crypto import jose
from hanoinet.crypto.canonical import canonical_json
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import LedgerCheckpoint
from hanoinet.errors import HanoinetError
from hanoinet.evidence.canonzip import read_canonical
from hanoinet.evidence.layout import CONTENTS_TYP, HEAD, SIGNATURE
from hanoinet.evidence.package import PackageFile, UseConditions, seal, write_package
from hanoinet.evidence.service import EvidenceService
from hanoinet.evidence.verify import Report, TrustAnchor, Verdict, trust_anchors, verify_package
from hanoinet.ledger import witnessing
from hanoinet.ledger.checkpoint import open_checkpoint
from hanoinet.ledger.log import origin, verifier
from hanoinet.node.node import Node
from tests.support import make_node, publish

CASE = "BRA-2026-0042"
CONDITIONS = UseConditions(purpose="answer to request FRA-2026-0001", conditions=("no disclosure to the press",))


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Node, KeyPair]]:
    authority = KeyPair.generate("sig")
    root = tmp_path_factory.mktemp("nodes")
    bra, fra = make_node(root, "BRA", authority, port=8601), make_node(root, "FRA", authority, port=8602)
    publish([bra, fra], authority)
    service = EvidenceService(bra)
    service.ingest(io.BytesIO(b"2026-11-23 02:10:07 203.0.113.7 POST /upload\n" * 40), name="access.log",
                   case=CASE, actor="officer:7")
    service.ingest(io.BytesIO(bytes(range(256)) * 8), name="disk-sample.img", case=CASE, actor="officer:7")
    yield bra, fra, authority
    bra.close()
    fra.close()


@pytest.fixture(scope="module")
def package(nodes: tuple[Node, Node, KeyPair], tmp_path_factory: pytest.TempPathFactory) -> Path:
    bra, fra, _ = nodes
    out = tmp_path_factory.mktemp("pkg") / "package.zip"
    stop = threading.Event()
    cosigner = threading.Thread(target=_cosign_latest, args=(bra, fra, stop), daemon=True)
    cosigner.start()
    try:
        sealed = seal(EvidenceService(bra), case=CASE, out=out, actor="officer:7", conditions=CONDITIONS,
                      recipient="FRA", witness_wait=10, min_witnesses=1)
    finally:
        stop.set()
        cosigner.join()
    assert sealed.witnesses == ("hanoinet/FRA/witness",)
    return out


def _cosign_latest(bra: Node, fra: Node, stop: threading.Event) -> None:
    """FRA as BRA's witness: cosign each new checkpoint of BRA's log (what witnessing.run does over HTTP)."""
    done: set[int] = set()
    while not stop.is_set():
        with bra.db.transaction(readonly=True) as uow:
            row = uow.session.scalar(select(LedgerCheckpoint).order_by(LedgerCheckpoint.size.desc()).limit(1))
            note = (row.size, row.note) if row is not None else None
        if note is not None and note[0] not in done:
            checkpoint, _ = open_checkpoint(note[1].encode(), [verifier(bra)], origin=origin(bra))
            line = witnessing.cosigner(fra).cosign(checkpoint, timestamp=int(time.time())).note_signature.line
            witnessing.accept_cosignature(bra, "FRA", note[0], line)
            done.add(note[0])
        time.sleep(0.05)


def _verify(data: bytes, trust: list[str] | None = None) -> Report:
    return verify_package(io.BytesIO(data), trust=trust or [])


def _failed(report: Report) -> list[str]:
    return [f"{c.name}: {c.subject}: {c.detail}" for c in report.checks if not c.ok]


def test_a_sealed_package_verifies_anchored_by_the_authority_and_witnessed(package: Path,
                                                                           nodes: tuple[Node, Node, KeyPair]) -> None:
    _, _, authority = nodes
    report = _verify(package.read_bytes(), [authority.kid])
    assert report.ok and report.verdict is Verdict.VALID and report.verdict.exit_status == 0, _failed(report)
    assert report.anchored_by == authority.kid and report.signer_state == "BRA"
    assert report.witnesses == ["FRA"] and report.witnessed_before is not None
    assert report.warnings == []
    names = [c.name for c in report.checks]
    for expected in ("layout", "signature", "file hash", "manifest", "custody", "checkpoint", "sealed", "anchor"):
        assert expected in names
    assert report.package["use_conditions"]["purpose"] == CONDITIONS.purpose


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeyPair, KeyPair]:
    """What a newcomer made: a Secretariat of their own, a node claiming to be BRA, a package under the real case.

    Returns the package, the forger's authority key and the forged node's signing key.
    """
    own_secretariat = KeyPair.generate("sig")
    root = tmp_path_factory.mktemp("forger")
    fake = make_node(root, "BRA", own_secretariat)
    publish([fake], own_secretariat)
    service = EvidenceService(fake)
    service.ingest(io.BytesIO(b"2026-11-23 02:10:07 198.51.100.9 POST /upload\n" * 40), name="access.log",
                   case=CASE, actor="officer:7")
    out = root / "forged.zip"
    seal(service, case=CASE, out=out, actor="officer:7", conditions=CONDITIONS, recipient="FRA")
    key = fake.signing_key()
    fake.close()
    return out, own_secretariat, key


def test_a_forged_package_is_intact_but_not_anchored_without_a_trusted_key(
        forged: tuple[Path, KeyPair, KeyPair]) -> None:
    path, _, _ = forged
    report = _verify(path.read_bytes())
    # Every integrity check holds: nothing in the package betrays the forgery...
    assert report.intact, _failed(report)
    assert report.signer_state == "BRA" and report.package["case"] == CASE
    # ...so only an anchor from outside the package can tell it from BRA's own, and without one it is not VALID.
    assert report.verdict is Verdict.NOT_ANCHORED and not report.ok and report.anchored_by is None


def test_a_forged_package_is_refused_against_the_real_secretariat(forged: tuple[Path, KeyPair, KeyPair],
                                                                 nodes: tuple[Node, Node, KeyPair]) -> None:
    path, own_secretariat, fake_key = forged
    real = nodes[2]
    report = _verify(path.read_bytes(), [real.kid])
    assert report.intact and report.verdict is Verdict.UNTRUSTED_SIGNER and not report.ok
    (anchor,) = [c for c in report.checks if c.name == "anchor"]
    # The failed anchor names the signing key, the Secretariat the package carries, and the key trusted.
    assert not anchor.ok and fake_key.kid in anchor.detail and own_secretariat.kid in anchor.detail
    assert real.kid in anchor.detail


def test_a_forged_package_carrying_the_real_directory_is_still_refused(
        forged: tuple[Path, KeyPair, KeyPair], package: Path, nodes: tuple[Node, Node, KeyPair],
        tmp_path: Path) -> None:
    path, _, fake_key = forged
    real = nodes[2]
    signer = _json_member(path, "signer.json")
    genuine = _json_member(package, "signer.json")
    signer["directory"], signer["authority"] = genuine["directory"], genuine["authority"]
    report = _verify(_rewritten(path, tmp_path, head={"signer.json": signer}, resign=fake_key), [real.kid])
    # The real directory verifies under the real key, but lists BRA's real keys, not the forger's.
    assert report.intact and report.verdict is Verdict.UNTRUSTED_SIGNER, _failed(report)
    assert any("does not vouch for the signing key " + fake_key.kid in f for f in _failed(report))


def test_the_verdict_names_the_anchor_it_rests_on(forged: tuple[Path, KeyPair, KeyPair],
                                                 nodes: tuple[Node, Node, KeyPair]) -> None:
    path, own_secretariat, _ = forged
    real = nodes[2]
    # Trusting the forger's own "Secretariat" makes the forgery hold against that key, and the verdict says
    # which key, and from where, so that it can be compared with the fingerprint the Secretariat published.
    told = _verify(path.read_bytes(), [TrustAnchor(own_secretariat.kid, "--trust")])
    assert told.verdict is Verdict.VALID and told.anchored_by == own_secretariat.kid != real.kid
    assert told.anchor_source == "--trust"
    assert told.as_json()["signer"]["anchored_by"] == own_secretariat.kid
    real_anchor = _verify(path.read_bytes(), [TrustAnchor(real.kid, "HANOINET_TRUST")])
    assert real_anchor.verdict is Verdict.UNTRUSTED_SIGNER and real_anchor.anchor_source is None
    assert real_anchor.as_json()["trusted"] == [{"fingerprint": real.kid, "source": "HANOINET_TRUST"}]


@pytest.mark.parametrize("text", ["FINGERPRINT", "<published fingerprint>", "", "a" * 42, "a" * 44, "b" * 64,
                                  "67QGDVUTK5EXWfnRushk2DoUe9IZx6LQK3Rv42mszs=",
                                  "67QGDVUTK5EXWfnRushk2DoUe9IZx6LQK3Rv42m+zsI"])
def test_what_is_not_a_fingerprint_is_refused_not_ignored(text: str) -> None:
    with pytest.raises(HanoinetError) as caught:
        trust_anchors([text], "--trust")
    assert caught.value.code == "not_a_fingerprint" and "--trust" in caught.value.message
    assert "hanoinet node authority" in caught.value.hint


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["sig", "enc"]), st.sampled_from([" ", "\t", ""]))
def test_every_real_key_fingerprint_is_accepted(use: str, pad: str) -> None:
    kid = KeyPair.generate(use).kid  # type: ignore[arg-type]
    assert trust_anchors([pad + kid + pad], "HANOINET_TRUST") == [TrustAnchor(kid, "HANOINET_TRUST")]


@given(st.text(min_size=1).filter(lambda t: any(not (c.isascii() and (c.isalnum() or c in "-_")) for c in t.strip())))
def test_a_character_outside_base64url_is_refused(text: str) -> None:
    with pytest.raises(HanoinetError):
        trust_anchors([text], "--trust")


def test_the_senders_own_key_is_enough_to_anchor_but_not_to_count_witnesses(
        package: Path, nodes: tuple[Node, Node, KeyPair]) -> None:
    bra, _, _ = nodes
    report = _verify(package.read_bytes(), [bra.signing_key().kid])
    assert report.ok and report.anchored_by == bra.signing_key().kid
    # The witnesses' keys would come from the directory inside the package, which only the signer vouches for.
    assert report.witnesses == [] and report.witnessed_before is None
    assert any("keys to check them would come from the package itself" in w for w in report.warnings)


def test_hostile_metadata_gives_failed_checks_not_exceptions(package: Path, tmp_path: Path,
                                                             nodes: tuple[Node, Node, KeyPair]) -> None:
    bra, _, authority = nodes
    deep = b'{"@graph":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    signer = _json_member(package, "signer.json")
    signer["authority"] = {"kty": "OKP", "crv": "Ed25519", "x": "not base64!"}
    for head in ({"manifest.jsonld": deep}, {"signer.json": signer}):
        report = _verify(_rewritten(package, tmp_path, head=head, resign=bra.signing_key()), [authority.kid])
        assert not report.ok or "signer.json" in head
        assert all(c.detail for c in report.checks)


def test_a_custody_record_about_another_object_fails(package: Path, tmp_path: Path,
                                                     nodes: tuple[Node, Node, KeyPair]) -> None:
    bra, _, authority = nodes
    described = _json_member(package, "package.json")
    # The package now claims different hashes for its files: every record names an object it does not hold.
    for entry in described["files"]:
        entry["sha256"] = "0" * 64
    report = _verify(_rewritten(package, tmp_path, head={"package.json": described}, resign=bra.signing_key()),
                     [authority.kid])
    assert any("not a file of this package" in f for f in _failed(report))


def test_without_trust_every_integrity_check_runs_but_the_package_is_not_anchored_and_not_valid(
        package: Path, nodes: tuple[Node, Node, KeyPair]) -> None:
    bra, _, _ = nodes
    report = _verify(package.read_bytes())
    assert report.intact and report.anchored_by is None
    assert report.verdict is Verdict.NOT_ANCHORED and not report.ok and report.verdict.exit_status == 3
    assert report.signer_fingerprint == bra.signing_key().kid
    assert any("nobody has shown that this key belongs to BRA" in w and bra.signing_key().kid in w
               for w in report.warnings)


def test_a_wrong_trusted_key_gives_its_own_verdict(package: Path) -> None:
    wrong = KeyPair.generate("sig").kid
    report = _verify(package.read_bytes(), [wrong])
    assert report.intact and report.verdict is Verdict.UNTRUSTED_SIGNER and report.verdict.exit_status == 4
    assert not report.ok and report.anchored_by is None
    assert any("anchor" in f and "trusted" in f and wrong in f for f in _failed(report))


def test_a_lone_node_without_directory_or_witnesses_seals_and_verifies_with_warnings(tmp_path: Path) -> None:
    lone = make_node(tmp_path, "PRT", KeyPair.generate("sig"))
    lone_key = lone.signing_key().kid
    service = EvidenceService(lone)
    service.ingest(io.BytesIO(b"seized phone dump"), name="phone.bin", case="PRT-1", actor="officer:1")
    out = tmp_path / "lone.zip"
    seal(service, case="PRT-1", out=out, actor="officer:1", conditions=CONDITIONS)
    lone.close()
    report = _verify(out.read_bytes())
    assert report.intact and report.verdict is Verdict.NOT_ANCHORED, _failed(report)
    assert any("not witnessed" in w for w in report.warnings)
    assert any("not anchored" in w for w in report.warnings)
    report = _verify(out.read_bytes(), [lone_key])
    assert report.verdict is Verdict.VALID and report.anchored_by == lone_key
    assert any("not witnessed" in w for w in report.warnings)


def test_the_same_members_give_the_same_bytes(package: Path, tmp_path: Path) -> None:
    head, files, signature = _members(package.read_bytes())
    again = tmp_path / "again.zip"
    write_package(again, head, files, signature)
    assert again.read_bytes() == package.read_bytes()


def test_flipping_any_byte_makes_verification_fail_naming_what_broke(package: Path,
                                                                     nodes: tuple[Node, Node, KeyPair]) -> None:
    trust = [nodes[2].kid]
    data = package.read_bytes()
    assert _verify(data, trust).ok
    for position in range(len(data)):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        report = _verify(bytes(flipped), trust)
        assert report.verdict is Verdict.NOT_VALID, f"flipping byte {position} went unnoticed"
        assert all(c.detail for c in report.checks if not c.ok)


def _members(data: bytes) -> tuple[dict[str, bytes], list[PackageFile], bytes]:
    head: dict[str, bytes] = {}
    files: list[PackageFile] = []
    signature = b""
    for name, _, chunks in read_canonical(io.BytesIO(data)):
        content = b"".join(chunks)
        if name in HEAD:
            head[name] = content
        elif name == SIGNATURE:
            signature = content
        else:
            files.append(PackageFile(name, len(content), hashlib.sha256(content).hexdigest(),
                                     lambda c=content: iter([c])))
    return head, files, signature


def _rewritten(package: Path, tmp_path: Path, *, head: dict[str, Any] | None = None,
               files: dict[str, bytes] | None = None, resign: KeyPair | None = None) -> bytes:
    """The package rebuilt in the canonical layout with some members changed (so the layout itself holds)."""
    original_head, original_files, signature = _members(package.read_bytes())
    new_head = {name: (data if not head or name not in head else head[name] if isinstance(head[name], bytes)
                       else canonical_json(head[name])) for name, data in original_head.items()}
    new_files = []
    for item in original_files:
        content = (files or {}).get(item.path)
        if content is None:
            new_files.append(item)
        else:
            new_files.append(PackageFile(item.path, len(content), hashlib.sha256(content).hexdigest(),
                                         lambda c=content: iter([c])))
    if resign is not None:
        listed = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in new_head.items()]
        listed += [{"name": f.path, "size": f.size, "sha256": f.sha256} for f in new_files]
        package_json = json.loads(new_head["package.json"])
        contents = {"type": "hanoinet-package-contents", "v": 1, "package": package_json["id"],
                    "created_at": package_json["created_at"],
                    "signer": {"state": json.loads(new_head["signer.json"])["state"], "kid": resign.kid},
                    "members": listed}
        signature = jose.sign(canonical_json(contents), resign, typ=CONTENTS_TYP).encode()
    out = tmp_path / "rewritten.zip"
    write_package(out, new_head, new_files, signature)
    return out.read_bytes()


def _json_member(package: Path, name: str) -> dict[str, Any]:
    head, _, _ = _members(package.read_bytes())
    value: dict[str, Any] = json.loads(head[name])
    return value


def test_a_changed_file_is_caught_by_its_hash_and_the_signature(package: Path, tmp_path: Path,
                                                                nodes: tuple[Node, Node, KeyPair]) -> None:
    _, _, authority = nodes
    path = _json_member(package, "package.json")["files"][0]["path"]
    report = _verify(_rewritten(package, tmp_path, files={path: b"forged log line\n"}), [authority.kid])
    failed = _failed(report)
    assert any(f.startswith("signature") for f in failed)
    assert any(f.startswith(f"file hash: {path}") for f in failed)


def test_changed_use_conditions_break_the_signature(package: Path, tmp_path: Path) -> None:
    described = _json_member(package, "package.json")
    described["use_conditions"]["purpose"] = "any purpose"
    report = _verify(_rewritten(package, tmp_path, head={"package.json": described}))
    assert any(f.startswith("signature") and "package.json" in f for f in _failed(report))


def test_a_package_re_signed_by_another_key_is_not_anchored(package: Path, tmp_path: Path,
                                                            nodes: tuple[Node, Node, KeyPair]) -> None:
    _, _, authority = nodes
    forger = KeyPair.generate("sig")
    signer = _json_member(package, "signer.json")
    signer["jwk"], signer["kid"] = forger.public, forger.kid
    report = _verify(_rewritten(package, tmp_path, head={"signer.json": signer}, resign=forger), [authority.kid])
    assert report.verdict is Verdict.NOT_VALID
    # The forger's key is neither listed on BRA's self-signed card nor in the directory.
    assert any("signature" in f or "anchor" in f for f in _failed(report))


def test_an_altered_custody_record_fails_its_inclusion_proof(package: Path, tmp_path: Path,
                                                             nodes: tuple[Node, Node, KeyPair]) -> None:
    bra, _, authority = nodes
    custody = _json_member(package, "custody.json")
    custody["entries"][0]["record"] = custody["entries"][0]["record"].replace("officer:7", "officer:8")
    report = _verify(_rewritten(package, tmp_path, head={"custody.json": custody}, resign=bra.signing_key()),
                     [authority.kid])
    assert any(f.startswith("custody") and "does not hash" in f for f in _failed(report))


def test_a_dropped_sealed_record_is_noticed(package: Path, tmp_path: Path, nodes: tuple[Node, Node, KeyPair]) -> None:
    bra, _, authority = nodes
    custody = _json_member(package, "custody.json")
    custody["entries"] = [e for e in custody["entries"] if '"sealed"' not in e["record"]]
    report = _verify(_rewritten(package, tmp_path, head={"custody.json": custody}, resign=bra.signing_key()),
                     [authority.kid])
    assert any(f.startswith("sealed") for f in _failed(report))


def test_a_forged_checkpoint_signature_is_refused(package: Path, tmp_path: Path,
                                                  nodes: tuple[Node, Node, KeyPair]) -> None:
    bra, _, authority = nodes
    custody = _json_member(package, "custody.json")
    lines = custody["checkpoint"].split("\n")
    signature_line = next(i for i, line in enumerate(lines) if line.startswith("\u2014 hanoinet/BRA/ledger"))
    name, key = lines[signature_line].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(key))
    raw[-1] ^= 1
    lines[signature_line] = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    custody["checkpoint"] = "\n".join(lines)
    report = _verify(_rewritten(package, tmp_path, head={"custody.json": custody}, resign=bra.signing_key()),
                     [authority.kid])
    assert any(f.startswith("custody") for f in _failed(report))


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated", "trailing", "not a package"])
def test_unreadable_packages_are_refused_cleanly(package: Path, damage: str, tmp_path: Path) -> None:
    data = package.read_bytes()
    damaged = {
        "empty": b"",
        "garbage": b"\x00garbage" * 100,
        "truncated": data[: len(data) // 2],
        "trailing": data + b"\n",
        "not a package": _plain_zip(tmp_path),
    }[damage]
    report = _verify(damaged)
    assert report.verdict is Verdict.NOT_VALID
    assert report.checks[0].name == "layout" and not report.checks[0].ok and report.checks[0].detail


def _plain_zip(tmp_path: Path) -> bytes:
    import zipfile

    path = tmp_path / "plain.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../../etc/passwd", "root:x:0:0")
    return path.read_bytes()


def test_malformed_metadata_is_a_failed_check_not_a_crash(package: Path, tmp_path: Path) -> None:
    described = _json_member(package, "package.json")
    described["files"] = 5
    report = _verify(_rewritten(package, tmp_path, head={"package.json": described}))
    assert report.verdict is Verdict.NOT_VALID
    assert any(f.startswith("metadata") and "files" in f for f in _failed(report))


def test_a_package_discloses_no_other_packages_records(nodes: tuple[Node, Node, KeyPair], package: Path,
                                                       tmp_path: Path) -> None:
    bra, _, _ = nodes
    second = tmp_path / "second.zip"
    seal(EvidenceService(bra), case=CASE, out=second, actor="officer:7", conditions=CONDITIONS, recipient="DEU")
    first_id = _json_member(package, "package.json")["id"]
    records = [e["record"] for e in _json_member(second, "custody.json")["entries"]]
    assert records and not any(first_id in r for r in records)
    assert {json.loads(r)["action"] for r in records} == {"ingested", "sealed"}


def test_too_few_witnesses_stops_the_seal_with_a_clear_reason(tmp_path: Path) -> None:
    lone = make_node(tmp_path, "PRT", KeyPair.generate("sig"))
    service = EvidenceService(lone)
    service.ingest(io.BytesIO(b"x"), name="x.bin", case="PRT-1", actor="officer:1")
    with pytest.raises(HanoinetError) as caught:
        seal(service, case="PRT-1", out=tmp_path / "p.zip", actor="officer:1", conditions=CONDITIONS,
             witness_wait=0.5, min_witnesses=1)
    lone.close()
    assert caught.value.code == "too_few_witnesses" and not (tmp_path / "p.zip").exists()


def test_two_files_with_the_same_content_each_verify(tmp_path: Path) -> None:
    node = make_node(tmp_path, "PRT", KeyPair.generate("sig"))
    service = EvidenceService(node)
    for name in ("a.txt", "copy of a.txt"):
        service.ingest(io.BytesIO(b"same bytes"), name=name, case="PRT-2", actor="officer:1")
    out = tmp_path / "twins.zip"
    seal(service, case="PRT-2", out=out, actor="officer:1", conditions=CONDITIONS)
    key = node.signing_key().kid
    node.close()
    report = _verify(out.read_bytes(), [key])
    assert report.ok, _failed(report)
    assert [c.subject for c in report.checks if c.name == "sealed"] == ["files/0001/a.txt", "files/0002/copy of a.txt"]
