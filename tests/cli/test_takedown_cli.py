"""``hanoinet takedown reviews|review|release|overdue`` on a data directory."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from hanoinet.clock import now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm, MatchReport
from hanoinet.hashbank import bank, platforms, takedown
from hanoinet.hashbank.bank import NewHash
from hanoinet.hashbank.platforms import PlatformPrincipal
from hanoinet.node.node import Node
from tests.cli.test_cli import invoke
from tests.support import make_node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    made = make_node(tmp_path, "BRA", KeyPair.generate("sig"))
    yield made
    made.close()


def reports(node: Node, count: int, platforms_reporting: int = 1) -> tuple[bank.Entry, list[int]]:
    """``count`` reports of one new entry, by ``platforms_reporting`` platforms in turn."""
    with node.db.transaction() as uow:
        [entry] = bank.add(uow.session, node.state, [NewHash(hash=secrets.token_hex(32), quality=90,
                                                             category="art16")], actor="test")
        reporters = []
        for _ in range(platforms_reporting):
            row, _ = platforms.register(uow.session, name=f"Platform {secrets.token_hex(4)}", email=None,
                                        actor="test")
            reporters.append(PlatformPrincipal(id=row.id, name=row.name))
        made = [takedown.report(node, uow, reporters[i % platforms_reporting], entry_id=entry.entry_id,
                                content_ref=f"upload-{i}", distance=2, action="under_review")[0].id
                for i in range(count)]
    return entry, made


def test_review_a_report_and_escalate_a_missed_deadline(node: Node, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(node.settings.data_dir)]
    entry, [report_id] = reports(node, 1)
    code, out, err = invoke(monkeypatch, capsys, "takedown", "reviews", *data)
    assert code == 0, err
    assert entry.entry_id in out and "pending" in out and "0.500" in out
    code, out, _ = invoke(monkeypatch, capsys, "takedown", "reviews", *data, "--json")
    [shown] = json.loads(out)
    assert (shown["id"], shown["origin"], shown["category"], shown["distance"]) == (report_id, "BRA", "art16", 2)

    code, out, err = invoke(monkeypatch, capsys, "takedown", "review", str(report_id), "--confirm", "--note", "same",
                            *data)
    assert code == 0, err
    assert f"report {report_id} confirmed" in out and "must act by" in out
    code, _, err = invoke(monkeypatch, capsys, "takedown", "review", str(report_id), "--reject", *data)
    assert code == 2 and "already confirmed" in err and "what to do:" in err

    code, out, _ = invoke(monkeypatch, capsys, "takedown", "overdue", *data, "--json")
    assert code == 0 and json.loads(out) == []
    with node.db.transaction() as uow:
        uow.session.execute(update(MatchReport).values(due_at=now() - timedelta(minutes=5)))
    code, out, _ = invoke(monkeypatch, capsys, "takedown", "overdue", *data)
    assert code == 0 and "OVERDUE" in out
    code, out, err = invoke(monkeypatch, capsys, "takedown", "overdue", "--escalate", *data, "--json")
    assert code == 0 and "1 report(s) escalated" in err
    assert json.loads(out)[0]["escalated_at"] is not None
    with node.db.transaction(readonly=True) as uow:
        assert "takedown_overdue" in set(uow.session.scalars(select(Alarm.code)))
    code, _, err = invoke(monkeypatch, capsys, "takedown", "overdue", "--escalate", *data)
    assert code == 0 and "0 report(s) escalated" in err, "escalated once"


def test_rejections_quarantine_an_entry_until_it_is_released(node: Node, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(node.settings.data_dir)]
    entry, made = reports(node, 3, platforms_reporting=2)
    for report_id in made[:2]:  # two platforms' matches rejected, and the reviewers: 3 sources
        code, out, err = invoke(monkeypatch, capsys, "takedown", "review", str(report_id), "--reject", *data)
        assert code == 0, err
    assert "quarantined" in out and "trust 0.200" in out
    code, out, _ = invoke(monkeypatch, capsys, "takedown", "reviews", "--status", "quarantined", *data, "--json")
    assert [r["id"] for r in json.loads(out)] == [made[2]]
    code, out, err = invoke(monkeypatch, capsys, "takedown", "release", entry.entry_id, "--note", "checked", *data)
    assert code == 0, err
    assert "1 report(s) pending review again" in out
    code, _, err = invoke(monkeypatch, capsys, "takedown", "release", entry.entry_id, *data)
    assert code == 2 and "is not quarantined" in err


@pytest.mark.parametrize(("args", "words"), [
    (["review", "1"], "--confirm or --reject"),
    (["review", "1", "--confirm", "--reject"], "--confirm or --reject"),
    (["review", "999", "--confirm"], "no match report 999"),
    (["reviews", "--status", "all"], "no review queue 'all'"),
    (["release", "nope"], "not a hash bank entry id"),
])
def test_bad_input_is_refused_with_what_to_do(node: Node, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str], args: list[str], words: str) -> None:
    code, _, err = invoke(monkeypatch, capsys, "takedown", *args, "--data", str(node.settings.data_dir))
    assert code == 2, err
    assert words in err and "Traceback" not in err
