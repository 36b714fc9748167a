"""Proof bundles checked offline: what a court does with one custody record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hanoinet.api.app import create_app
from hanoinet.cli.main import app as cli
from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.errors import HanoinetError
from hanoinet.ledger import log
from hanoinet.ledger.bundle import verify_bundle
from hanoinet.ledger.events import CustodyEvent
from hanoinet.node.node import Node
from hanoinet.node.officers import add_officer
from tests.support import make_node


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    """A bundle for entry 5 of FRA's log, FRA's verifier key, and another log's key."""
    root = tmp_path_factory.mktemp("ledger")
    authority = KeyPair.generate("sig")
    fra: Node = make_node(root, "FRA", authority)
    other: Node = make_node(root, "BRA", authority)
    with fra.db.transaction() as uow:
        for i in range(9):
            log.record(uow.session, CustodyEvent(action="sealed", at=format_instant(now()), node="FRA",
                                                 actor="officer:1", object_sha256=f"{i:064x}", case="C-1"))
        _, token = add_officer(uow.session, name="Ines", role="examiner", desk="247", desks={"247", "CA"})
    log.Sequencer(fra, holder="t").step()
    client = TestClient(create_app(fra, background=False))
    bundle = client.get("/api/v1/ledger/entries/5", headers={"authorization": f"Bearer {token}"}).json()
    return bundle, log.verifier(fra).vkey, log.verifier(other).vkey


def test_a_bundle_verifies_offline_against_the_pinned_key(bundles: tuple[dict[str, Any], str, str]) -> None:
    bundle, key, _ = bundles
    verified = verify_bundle(bundle, [key])
    assert verified.pinned and verified.index == 5 and verified.checkpoint.size == 9
    assert verified.event is not None and verified.event.object_sha256 == f"{5:064x}"
    assert not verify_bundle(bundle).pinned  # self-consistent only


@pytest.mark.parametrize(("change", "code"), [
    (lambda b: {**b, "record": b["record"].replace("sealed", "opened")}, "record_mismatch"),
    (lambda b: {**b, "index": 4}, "root_mismatch"),
    (lambda b: {**b, "proof": b["proof"][::-1]}, "root_mismatch"),
    (lambda b: {**b, "size": 8}, "bad_bundle"),
    (lambda b: {**b, "checkpoint": b["checkpoint"].replace("\n9\n", "\n10\n")}, None),
    (lambda b: {k: v for k, v in b.items() if k != "proof"}, "bad_bundle"),
])
def test_any_tampering_is_refused_with_its_reason(bundles: tuple[dict[str, Any], str, str], change: Any,
                                                   code: str | None) -> None:
    bundle, key, _ = bundles
    with pytest.raises(HanoinetError) as refused:
        verify_bundle(change(bundle), [key])
    if code:
        assert refused.value.code == code


def test_a_checkpoint_signed_by_another_key_is_refused(bundles: tuple[dict[str, Any], str, str]) -> None:
    bundle, _, other = bundles
    with pytest.raises(HanoinetError):
        verify_bundle(bundle, [other])


def test_a_redacted_record_still_proves_its_entry(bundles: tuple[dict[str, Any], str, str]) -> None:
    bundle, key, _ = bundles
    verified = verify_bundle({**bundle, "record": None}, [key])
    assert verified.event is None


def test_the_command_line_verifies_a_bundle_file(bundles: tuple[dict[str, Any], str, str], tmp_path: Path) -> None:
    bundle, key, _ = bundles
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(bundle), encoding="utf-8")
    bad.write_text(json.dumps({**bundle, "index": 4}), encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(cli, ["ledger", "verify-proof", str(good), "--key", key])
    assert ok.exit_code == 0 and "verified" in ok.output and "entry 5 (sealed)" in ok.output
    refused = runner.invoke(cli, ["ledger", "verify-proof", str(bad), "--key", key])
    assert refused.exit_code != 0
