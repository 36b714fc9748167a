# ruff: noqa: F811 - the tests take the fixture `desks` imported above
"""``hanoinet privacy access-log`` and ``check-access-log`` for an auditor, and the reason ``request show`` and
``request edit`` give, through the API of nodes serving on loopback."""

from __future__ import annotations

import json

import pytest

from hanoinet.cli import console
from tests.cli.test_cli import invoke
from tests.cli.test_request_cli import Desks, desks  # noqa: F401 (the fixture)
from tests.requests.test_service import PRESERVATION


def privacy(desks: Desks, token: str, *args: str) -> tuple[int, str, str]:
    return invoke(desks.monkeypatch, desks.capsys, "privacy", *args, "--node", desks.urls["VNM"], "--token", token)


def test_request_show_needs_a_reason_and_the_auditor_sees_it_at_80_columns(desks: Desks,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ref = desks.new()
    code, _, err = desks.vnm("show", ref)
    assert code == 2 and "--reason" in err
    code, _, err = desks.vnm("show", ref, "--reason", " ")
    assert code == 2 and "a reason is required to read personal data" in err and "add --reason TEXT" in err
    code, _, err = desks.vnm("show", ref, "--reason", "answering FRA-2026-0012 about the hospital ransomware attack")
    assert code == 0, err

    monkeypatch.setattr(console.out, "width", 80)
    admin = desks.officers.vnm_admin
    code, out, err = privacy(desks, admin, "access-log", "--reason", "quarterly audit")
    assert code == 0, err
    assert "1 read(s), newest first" in out
    for shown in ("#1  ", "UTC", "Nguyen Thi Lan (officer:", f"request {ref} (case VNM-2026-0117)",
                  "answering FRA-2026-0012 about the hospital ransomware attack", "GET /api/v1/requests/{ref}"):
        assert shown in out, shown
    assert max(len(line) for line in out.splitlines()) <= 80

    # The auditor's query is itself a read; the newest page of one row says how to get the older ones.
    code, out, _ = privacy(desks, admin, "access-log", "--reason", "quarterly audit", "--limit", "1")
    assert code == 0 and "access log all" in out and "--before 2" in out
    code, out, _ = privacy(desks, admin, "access-log", "--reason", "quarterly audit", "--kind", "request", "--json")
    assert code == 0 and [e["item"] for e in json.loads(out)["entries"]] == [ref]

    code, _, err = privacy(desks, desks.officers.lan, "access-log", "--reason", "curious")
    assert code == 2 and "may not do this" in err


def test_request_edit_reads_the_draft_for_editing_it(desks: Desks) -> None:
    code, out, err = desks.vnm("new", "--from", desks.file("draft.json", {
        "kind": "preservation", "to": "FRA/247", "fields": PRESERVATION, "case": "VNM-2026-0117"}), "--draft")
    assert code == 0, err
    ref = out.split()[1]
    code, _, err = desks.vnm("edit", ref, "--set", "necessity=Logs rotate every 24 hours.")
    assert code == 0, err
    code, out, _ = privacy(desks, desks.officers.vnm_admin, "access-log", "--reason", "audit", "--item", ref,
                           "--json")
    # Read to be edited, then shown again as the edit answers it: newest first.
    assert [(e["reason"], e["via"]) for e in json.loads(out)["entries"]] == [
        ("to edit the draft", "PUT /api/v1/requests/{ref}"), (f"to edit {ref}", "GET /api/v1/requests/{ref}")]


def test_check_access_log_prints_the_head_and_fails_for_a_lost_anchor(desks: Desks) -> None:
    ref = desks.new()
    assert desks.vnm("show", ref, "--reason", "answering FRA-2026-0012")[0] == 0
    admin = desks.officers.vnm_admin
    code, out, err = privacy(desks, admin, "check-access-log")
    assert code == 0, err
    assert "1 row(s); INTACT" in out
    head = out.split()[-1]
    assert len(head) == 64
    assert privacy(desks, admin, "check-access-log", "--anchor", head)[0] == 0
    code, out, _ = privacy(desks, admin, "check-access-log", "--anchor", "a" * 64)
    assert code == 1 and "BROKEN" in out and "the anchor is NOT in the log" in out
