"""``hanoinet evidence add|list|package|shred|offers|export`` on a data directory, ``hanoinet node authority``, and
``hanoinet verify`` with its verdicts and exit codes, told as the story of a forged package."""

from __future__ import annotations

import getpass
import io
import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

from hanoinet.cli.common import transaction
from hanoinet.crypto.keys import KeyPair
from hanoinet.evidence.package import UseConditions
from hanoinet.evidence.service import EvidenceService
from hanoinet.privacy.access import AccessEntry, query
from tests.cli.test_cli import invoke
from tests.support import READ, make_node, publish, pump


def access_rows(data: Path) -> list[AccessEntry]:
    """The node's access log, oldest first."""
    with transaction(data, readonly=True) as uow:
        return query(uow.session).entries[::-1]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    node = make_node(tmp_path, "BRA", KeyPair.generate("sig"))
    node.close()
    return tmp_path / "BRA"


def test_add_package_verify_and_shred(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"203.0.113.7 - - [23/Nov/2026:02:10:07] POST /upload\n" * 100)
    image = tmp_path / "disk.img"
    image.write_bytes(os.urandom(1_500_000))
    code, out, err = invoke(monkeypatch, capsys, "evidence", "add", str(log), str(image), "--case", "BRA-7",
                            "--data", str(data_dir), "--actor", "operator:examiner3")
    assert code == 0, err
    import hashlib

    assert hashlib.sha256(log.read_bytes()).hexdigest() in out and "access.log" in out

    code, out, _ = invoke(monkeypatch, capsys, "evidence", "list", "--case", "BRA-7", "--data", str(data_dir),
                          "--json")
    listed = json.loads(out)
    assert code == 0 and [i["name"] for i in listed] == ["access.log", "disk.img"]

    package = tmp_path / "BRA-7.zip"
    code, out, err = invoke(monkeypatch, capsys, "evidence", "package", "--case", "BRA-7", "--out", str(package),
                            "--data", str(data_dir), "--purpose", "request FRA-2026-0001", "--recipient", "FRA",
                            "--reason", "request FRA-2026-0001")
    assert code == 0, err
    assert "sealed 2 files" in out and package.exists()
    # Sealing reads both files: each read is in the access log, with the reason given.
    assert [(r.kind, r.item, r.case, r.reason, r.via) for r in access_rows(data_dir)] == [
        ("evidence_file", i["id"], "BRA-7", "request FRA-2026-0001", "hanoinet evidence package") for i in listed]

    report = tmp_path / "report.html"
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(package), "--report", str(report))
    assert code == 3 and "INTACT, NOT ANCHORED" in out and "not anchored" in out
    assert "INTACT, NOT ANCHORED" in report.read_text(encoding="utf-8")

    # The node pins a Secretariat key but has no directory from it yet: nothing vouches for its own key.
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(package), "--data", str(data_dir), "--json")
    assert code == 4 and json.loads(out)["ok"] is False and json.loads(out)["verdict"] == "untrusted_signer"

    damaged = tmp_path / "damaged.zip"
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(damaged))
    assert code == 1 and "NOT VALID" in out and "FAIL" in out

    code, out, _ = invoke(monkeypatch, capsys, "evidence", "shred", listed[1]["id"], "--reason", "retention ended",
                          "--yes", "--data", str(data_dir))
    assert code == 0 and "shredded disk.img" in out
    code, out, err = invoke(monkeypatch, capsys, "evidence", "package", "--case", "BRA-7", "--out",
                            str(tmp_path / "again.zip"), "--data", str(data_dir), "--purpose", "x", "--reason", "x")
    assert code == 2 and "shredded" in err and "Traceback" not in err


def test_writing_evidence_out_without_a_reason_is_refused_before_any_file_is_read(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "conn.log"
    log.write_bytes(b"connection log\n")
    assert invoke(monkeypatch, capsys, "evidence", "add", str(log), "--case", "BRA-7", "--data", str(data_dir))[0] == 0
    package = tmp_path / "BRA-7.zip"
    common = ("--case", "BRA-7", "--out", str(package), "--data", str(data_dir), "--purpose", "x")
    code, _, err = invoke(monkeypatch, capsys, "evidence", "package", *common)
    assert code == 2 and "--reason" in err
    code, _, err = invoke(monkeypatch, capsys, "evidence", "package", *common, "--reason", "  ")
    assert code == 2 and "a reason is required to read personal data" in err and "add --reason TEXT" in err
    code, _, err = invoke(monkeypatch, capsys, "evidence", "export", "--package", "0193a1b2-0000-7000-8000-"
                          "000000000000", "--out", str(package), "--data", str(data_dir), "--reason", "")
    assert code == 2 and "add --reason TEXT" in err
    assert not package.exists() and access_rows(data_dir) == []


def test_verify_exit_codes_for_unreadable_files_and_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(garbage))
    assert code == 1 and "NOT VALID" in out and "layout" in out
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(tmp_path / "missing.zip"))
    assert code == 1 and "cannot read" in out
    code, _, err = invoke(monkeypatch, capsys, "verify")
    assert code == 2 and "Missing argument" in err
    code, _, err = invoke(monkeypatch, capsys, "verify", str(garbage), "--no-such-option")
    assert code == 2


def test_adding_a_missing_file_is_explained(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = invoke(monkeypatch, capsys, "evidence", "add", str(tmp_path / "nope.bin"), "--case", "BRA-7",
                          "--data", str(data_dir))
    assert code == 2 and "not a readable file" in err and "Traceback" not in err
    code, _, err = invoke(monkeypatch, capsys, "evidence", "add", str(data_dir / "hanoinet.toml"), "--case", "../x",
                          "--data", str(data_dir))
    assert code == 2 and "case reference" in err


def test_a_forged_package_is_never_valid_and_says_what_to_run_next(
        story: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HANOINET_TRUST", raising=False)
    report = tmp_path / "forged.html"
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(story["forged"]), "--report", str(report))
    assert code == 3
    assert "INTACT, NOT ANCHORED — nobody has shown that this key belongs to BRA (Brazil)" in out
    assert "every check holds" not in out and "VALID —" not in out.replace("NOT VALID", "")
    assert f"next: verify again against the Secretariat: hanoinet verify {story['forged']} --trust FINGERPRINT" in out
    page = report.read_text(encoding="utf-8")
    assert '<header class="verdict unanchored">' in page and "What to run next" in page

    code, out, _ = invoke(monkeypatch, capsys, "verify", str(story["forged"]), "--json")
    assert code == 3 and json.loads(out)["verdict"] == "not_anchored" and json.loads(out)["ok"] is False


@pytest.mark.parametrize("how", ["--trust", "--data", "HANOINET_TRUST"])
def test_a_forged_package_is_refused_against_the_real_secretariat_however_it_is_given(
        story: dict[str, Any], how: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HANOINET_TRUST", raising=False)
    anchor = {"--trust": ["--trust", story["real"]], "--data": ["--data", str(story["fra"])], "HANOINET_TRUST": []}
    if how == "HANOINET_TRUST":
        monkeypatch.setenv("HANOINET_TRUST", f"{KeyPair.generate('sig').kid}, {story['real']}")
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(story["forged"]), *anchor[how])
    assert code == 4, out
    assert "INTACT, UNTRUSTED SIGNER — no trusted key vouches that this key belongs to BRA (Brazil)" in out
    assert story["own"] in out and story["real"] in out  # the forger's "Secretariat", and the real one trusted
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(story["genuine"]), *anchor[how])
    assert code == 0, out
    assert "VALID — every check holds and a trusted key anchors the signer, BRA (Brazil)" in out
    assert f"anchored by trusted key {story['real']}" in out


def test_trusting_the_forgers_own_key_is_named_and_still_refused_against_the_real_one(
        story: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # What the forger tells the court to type: the output names the key it rests on, to compare with the
    # fingerprint the Secretariat published...
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(story["forged"]), "--trust", story["own"])
    assert code == 0 and f"anchored by trusted key {story['own']} (--trust)" in out
    # ...and the node's own trust anchor, the real one, refuses it.
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(story["forged"]), "--data", str(story["fra"]), "--json")
    verdict = json.loads(out)
    assert code == 4 and verdict["verdict"] == "untrusted_signer" and verdict["exit_status"] == 4
    assert verdict["trusted"] == [{"fingerprint": story["real"], "source": f"pinned by the node in {story['fra']}"}]


def test_a_genuine_package_with_a_wrong_anchor_gets_its_own_verdict(
        story: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = KeyPair.generate("sig").kid
    code, out, _ = invoke(monkeypatch, capsys, "verify", str(story["genuine"]), "--trust", wrong)
    assert code == 4 and "INTACT, UNTRUSTED SIGNER" in out and wrong in out
    assert "next: compare the trusted key" in out


def test_a_placeholder_or_a_folder_that_is_no_node_is_a_usage_error_not_a_verdict(
        story: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = invoke(monkeypatch, capsys, "verify", str(story["genuine"]), "--trust", "FINGERPRINT")
    assert code == 2 and out == "" and "--trust 'FINGERPRINT' is not a key fingerprint" in err
    assert "hanoinet node authority" in err
    monkeypatch.setenv("HANOINET_TRUST", "<published fingerprint>")
    code, _, err = invoke(monkeypatch, capsys, "verify", str(story["genuine"]))
    assert code == 2 and "HANOINET_TRUST '<published' is not a key fingerprint" in err
    code, _, err = invoke(monkeypatch, capsys, "verify", str(story["genuine"]), "--data", str(tmp_path))
    assert code == 2 and "is not a node's data directory" in err and "Traceback" not in err


def test_node_authority_prints_the_fingerprint_the_node_pins(story: dict[str, Any], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(monkeypatch, capsys, "node", "authority", "--data", str(story["fra"]))
    assert code == 0 and out == story["real"] + "\n"
    lone = make_node(tmp_path, "PRT", KeyPair.generate("sig"))
    lone.close()
    (tmp_path / "PRT" / "authority.jwk").unlink()
    code, _, err = invoke(monkeypatch, capsys, "node", "authority", "--data", str(tmp_path / "PRT"))
    assert code == 2 and "has pinned no Secretariat authority key" in err and "node pin-authority" in err


def test_offers_and_export_print_the_complete_verify_command_and_it_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from fastapi.testclient import TestClient

    from hanoinet.api.app import create_app
    from hanoinet.evidence import transfer

    real = KeyPair.generate("sig")
    bra, fra = make_node(tmp_path, "BRA", real, port=8711), make_node(tmp_path, "FRA", real, port=8712)
    publish([bra, fra], real)
    sender = EvidenceService(bra)
    sender.ingest(io.BytesIO(b"connection log\n" * 100), name="conn.log", case="BRA-9", actor="officer:1")
    offered = transfer.offer(sender, case="BRA-9", to="FRA/247", desk="247", actor="officer:1",
                             conditions=UseConditions(purpose="answer to request FRA-2026-0001"))
    assert pump({"BRA": bra, "FRA": fra}) >= 1
    app = create_app(bra, background=False)
    app.state.evidence = sender
    with TestClient(app, base_url=bra.settings.endpoint) as client:
        assert transfer.Puller(EvidenceService(fra), client=client).pull(offered.package_id)
    bra.close()
    fra.close()
    data = tmp_path / "FRA"
    monkeypatch.chdir(tmp_path)

    code, out, _ = invoke(monkeypatch, capsys, "evidence", "offers", "--data", str(data))
    lines = out.splitlines()
    assert code == 0
    export_line = f"hanoinet evidence export --package {offered.package_id} --out {offered.package_id}.zip " \
                  f"--data {data} --reason '<why you read it>'"
    verify_line = f"hanoinet verify {offered.package_id}.zip --trust {real.kid}"
    assert [line.strip() for line in lines[-2:]] == [export_line, verify_line]

    # The officer writes their reason where the command says, and the read is in the access log.
    export = [*shlex.split(export_line)[1:-1], "for the court in case FRA-2026-0001"]
    code, out, _ = invoke(monkeypatch, capsys, *export)
    assert code == 0 and out.splitlines()[-1].strip() == verify_line
    reads = access_rows(data)
    assert [(r.kind, r.case, r.reason, r.via, r.actor) for r in reads] == [
        ("evidence_file", "BRA-9", "for the court in case FRA-2026-0001", "hanoinet evidence export",
         f"operator:{getpass.getuser()}")]
    code, out, _ = invoke(monkeypatch, capsys, *shlex.split(verify_line)[1:])
    assert code == 0 and "VALID — every check holds" in out


def test_list_at_80_columns_shows_every_id_and_hash_whole(data_dir: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from hanoinet.cli import console

    monkeypatch.setattr(console.out, "width", 80)
    log = tmp_path / "access.log"
    log.write_bytes(b"203.0.113.7 - - [23/Nov/2026:02:10:07] POST /upload\n")
    image = tmp_path / "disk-image-of-the-suspects-laptop-seized-on-2026-11-23.img"
    image.write_bytes(os.urandom(100_000))
    code, _, err = invoke(monkeypatch, capsys, "evidence", "add", str(log), str(image), "--case",
                          "BRA-PF-2026-0311", "--data", str(data_dir), "--actor", "operator:examiner3")
    assert code == 0, err
    code, out, _ = invoke(monkeypatch, capsys, "evidence", "list", "--data", str(data_dir), "--json")
    listed = json.loads(out)
    code, out, err = invoke(monkeypatch, capsys, "evidence", "list", "--data", str(data_dir))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "2 evidence file(s)" and max(len(line) for line in lines) <= 80 and "…" not in out
    for item in listed:
        # Each on a line of its own, whole, so that it is copied whole into `evidence shred ID`.
        assert f"{item['id']}  stored" in lines and f"  sha256    {item['sha256']}" in lines
        assert f"  name      {item['name']}" in lines


def test_sweep_lists_then_removes_leftovers_in_80_columns(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import time

    partial = data_dir / "blobs" / "partial"
    partial.mkdir(parents=True)
    leftover = partial / f"{'c' * 32}.tmp"
    leftover.write_bytes(b"x" * 5000)
    exports = data_dir / "exports"
    exports.mkdir()
    download = exports / "67f7b460-b9fb-4d9d-a26a-ab4bbd94a694-0123abcd.zip.partial"
    download.write_bytes(b"y" * 300)
    for path in (leftover, download):
        then = time.time() - 3 * 86400 - 3600
        os.utime(path, (then, then))

    code, out, err = invoke(monkeypatch, capsys, "evidence", "sweep", "--data", str(data_dir), "--dry-run")
    assert code == 0, err
    assert "unfinished blob writes: 1, 4.88 KiB" in out and f"4.88 KiB  3d 01h  {'c' * 32}" in out
    assert download.name in out and "would remove 2 leftover(s), 5.18 KiB" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert leftover.exists() and download.exists()

    code, out, err = invoke(monkeypatch, capsys, "evidence", "sweep", "--data", str(data_dir), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["totals"]["unfinished_write"] == {"count": 1, "bytes": 5000}
    assert report["totals"]["export"] == {"count": 1, "bytes": 300}
    assert not leftover.exists() and not download.exists()

    code, out, _ = invoke(monkeypatch, capsys, "evidence", "sweep", "--data", str(data_dir))
    assert code == 0 and out.strip() == "nothing to remove"
    code, _, err = invoke(monkeypatch, capsys, "evidence", "sweep", "--data", str(data_dir), "--older-than", "60")
    assert code == 2 and "600" in err


def test_a_retention_period_is_sealed_shown_and_shortened_at_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from tests.privacy.support import pin

    pin(monkeypatch, datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    node = make_node(tmp_path, "FRA", KeyPair.generate("sig"))
    item = EvidenceService(node).ingest(io.BytesIO(b"subscriber records"), name="subscribers.csv", case="BRA-7",
                                        actor="officer:3")
    node.close()
    data = str(tmp_path / "FRA")
    package = tmp_path / "BRA-7.zip"
    code, _, err = invoke(monkeypatch, capsys, "evidence", "package", "--case", "BRA-7", "--out", str(package),
                          "--data", data, "--purpose", "request", "--reason", READ,
                          "--retain-until", "2026-02-01T00:00:00Z")
    assert code == 2 and "must end after now" in err
    code, _, err = invoke(monkeypatch, capsys, "evidence", "package", "--case", "BRA-7", "--out", str(package),
                          "--data", data, "--purpose", "request", "--reason", READ,
                          "--retain-until", "2026-09-30T23:59:59+02:00")
    assert code == 0, err
    import zipfile

    with zipfile.ZipFile(package) as archive:
        conditions = json.loads(archive.read("package.json"))["use_conditions"]
    assert conditions["retain_until"] == "2026-09-30T21:59:59.000Z"

    code, out, err = invoke(monkeypatch, capsys, "evidence", "retain", "--file", item.id, "--until",
                            "2026-06-30T12:00:00+02:00", "--reason", "domestic law", "--data", data)
    assert code == 0, err
    assert "until 2026-06-30 10:00 UTC (domestic period)" in out
    code, out, _ = invoke(monkeypatch, capsys, "evidence", "show", item.id, "--data", data)
    assert code == 0 and "retention until 2026-06-30 10:00 UTC (domestic period)" in " ".join(out.split())
    code, out, _ = invoke(monkeypatch, capsys, "evidence", "list", "--data", data)
    assert "until 2026-06-30 10:00 UTC (domestic period)" in out
    code, out, _ = invoke(monkeypatch, capsys, "evidence", "show", item.id, "--data", data, "--json")
    assert json.loads(out)["retention"]["domestic_until"] == "2026-06-30T10:00:00.000Z"
    pin(monkeypatch, datetime(2026, 7, 1, tzinfo=UTC))
    code, out, _ = invoke(monkeypatch, capsys, "evidence", "show", item.id, "--data", data)
    assert code == 0 and "ended 2026-06-30 10:00 UTC (domestic period); no longer readable" in " ".join(out.split())


@pytest.mark.parametrize("actor", ["officer:1", "peer:BRA", "platform:3", "operator:a b", "operator:" + "x" * 81])
def test_an_actor_cannot_speak_for_an_account_or_a_state(data_dir: Path, tmp_path: Path, actor: str,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    evidence = tmp_path / "e.log"
    evidence.write_bytes(b"203.0.113.7\n")
    code, _, err = invoke(monkeypatch, capsys, "evidence", "add", str(evidence), "--case", "BRA-7",
                          "--data", str(data_dir), "--actor", actor)
    assert code == 2 and "is not an operator's name" in err and "operator:jdupont" in err
