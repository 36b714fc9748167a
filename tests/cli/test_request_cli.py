"""``hanoinet request ...`` through the API of two nodes serving on loopback, as a duty officer uses it."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from sqlalchemy import func, select

from hanoinet.api.app import create_app
from hanoinet.cli import console
from hanoinet.clock import format_instant, now, parse_instant
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import OutboxMessage
from hanoinet.demo.network import free_port
from hanoinet.node.node import Node
from tests.alerts.support import policy_for
from tests.cli.test_cli import invoke
from tests.convention.drafts import REQUESTS
from tests.requests.support import EMERGENCY, Officers, move_clock, preservation_result, token, two_nodes
from tests.requests.test_service import PRESERVATION
from tests.support import pump

#: Why the officers read requests in these tests (a request's view needs a reason: docs/privacy.md).
READ = "answering the hospital ransomware case"


@contextmanager
def serving(nodes: dict[str, Node]) -> Iterator[dict[str, str]]:
    """Each node's API on a free loopback port (no background work: tests deliver with ``pump``)."""
    servers = {name: uvicorn.Server(uvicorn.Config(create_app(node, background=False), host="127.0.0.1",
                                                   port=free_port(), log_level="warning"))
               for name, node in nodes.items()}
    threads = [threading.Thread(target=server.run, daemon=True) for server in servers.values()]
    for thread in threads:
        thread.start()
    while not all(server.started for server in servers.values()):
        time.sleep(0.01)
    try:
        yield {name: f"http://127.0.0.1:{server.config.port}" for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.should_exit = True
        for thread in threads:
            thread.join()


class Desks:
    """Runs ``hanoinet`` as Viet Nam's duty officer (``vnm``) or France's (``fra``) against their nodes."""

    def __init__(self, nodes: dict[str, Node], officers: Officers, urls: dict[str, str], folder: Path,
                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.nodes = nodes
        self.officers = officers
        self.urls = urls
        self.folder = folder
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def vnm(self, *args: str) -> tuple[int, str, str]:
        return invoke(self.monkeypatch, self.capsys, "request", *args, "--node", self.urls["VNM"],
                      "--token", self.officers.lan)

    def fra(self, *args: str) -> tuple[int, str, str]:
        return invoke(self.monkeypatch, self.capsys, "request", *args, "--node", self.urls["FRA"],
                      "--token", self.officers.camille)

    def file(self, name: str, content: Any) -> str:
        path = self.folder / name
        path.write_text(json.dumps(content), encoding="utf-8")
        return str(path)

    def new(self, fields: dict[str, Any] | None = None, **document: Any) -> str:
        """``request new --from FILE.json`` at Viet Nam's desk; returns the reference it prints."""
        request = {"kind": "preservation", "to": "FRA/247", "fields": PRESERVATION if fields is None else fields,
                   "case": "VNM-2026-0117", **document}
        code, out, err = self.vnm("new", "--from", self.file("request.json", request))
        assert code == 0, err
        ref = out.split()[1]
        assert ref.startswith(f"VNM-{now().year:04d}-"), out
        return ref

    def state(self, node: str, ref: str) -> str:
        code, out, err = (self.vnm if node == "VNM" else self.fra)("show", ref, "--reason", READ, "--json")
        assert code == 0, err
        state: str = json.loads(out)["state"]
        return state


@pytest.fixture
def desks(tmp_path: Path, authority: KeyPair, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Iterator[Desks]:
    # Tables are wider than 80 columns; the console measured its width when first imported.
    monkeypatch.setattr(console.out, "width", 200)
    nodes, officers = two_nodes(tmp_path, authority)
    with serving(nodes) as urls:
        capsys.readouterr()  # what setting up the nodes logged
        yield Desks(nodes, officers, urls, tmp_path, monkeypatch, capsys)


def line_of(out: str, ref: str) -> str:
    [line] = [line for line in out.splitlines() if ref in line]
    return line


def queued(node: Node) -> int:
    with node.db.transaction(readonly=True) as uow:
        return uow.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_new_from_a_file_prints_the_ref_and_the_list_marks_it_in_words(desks: Desks,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    preservation = desks.new()
    emergency = desks.new(EMERGENCY, kind="emergency_disclosure")
    assert queued(desks.nodes["VNM"]) == 2

    code, out, err = desks.vnm("list")
    assert code == 0, err
    assert "2 request(s)" in out
    row = line_of(out, preservation)
    assert "URGENT" in row and "CONFIDENTIAL" in row and "DO-NOT-NOTIFY-USER" in row and "EMERGENCY" not in row
    assert "Expedited preservation of stored electronic data (Art. 42)" in row and "OUT VNM/247 → FRA/247" in row
    row = line_of(out, emergency)
    assert "EMERGENCY" in row and "URGENT" not in row and "CONFIDENTIAL" not in row and "(Art. 41)" in row

    code, out, _ = desks.vnm("list", "--kind", "emergency_disclosure", "--json")
    assert code == 0 and [r["ref"] for r in json.loads(out)] == [emergency]

    pump(desks.nodes)
    move_clock(monkeypatch, timedelta(hours=2))  # past the hour an emergency has to be acknowledged in
    code, out, err = desks.fra("list")
    assert code == 0, err
    assert "OVERDUE" in line_of(out, emergency) and "IN  VNM/247 → FRA/247" in line_of(out, emergency)
    assert "OVERDUE" not in line_of(out, preservation)
    code, out, _ = desks.fra("list", "--overdue", "--json")
    assert code == 0 and [(r["ref"], r["overdue"]) for r in json.loads(out)] == [(emergency, True)]


def test_an_invalid_request_file_prints_every_problem_and_sends_nothing(desks: Desks) -> None:
    fields = {k: v for k, v in PRESERVATION.items() if k not in ("facts", "necessity")}
    path = desks.file("request.json", {"kind": "preservation", "to": "FRA/247", "fields": fields})
    code, out, err = desks.vnm("new", "--from", path)
    assert code == 2 and out == ""
    assert "2 problem(s):" in err and "- facts (Art. 42(b))" in err and "- necessity (Art. 42(e))" in err
    assert "what to do:" in err and "Traceback" not in err

    path = desks.file("request.json", {"kind": "preservation", "to": "BRA/247", "fields": PRESERVATION})
    code, _, err = desks.vnm("new", "--from", path)
    assert code == 2 and "BRA is not in the directory" in err

    broken = desks.folder / "broken.json"
    broken.write_text("{kind: preservation", encoding="utf-8")
    code, _, err = desks.vnm("new", "--from", str(broken))
    assert code == 2 and "--from is not JSON" in err and "Traceback" not in err
    code, _, err = desks.vnm("new")  # no file, and no terminal to ask the fields at
    assert code == 2 and "no request given" in err and "--from FILE.json" in err
    assert queued(desks.nodes["VNM"]) == 0


def test_edit_changes_fields_of_a_draft_by_type_and_sends_it(desks: Desks) -> None:
    path = desks.file("request.json", {"kind": "preservation", "to": "FRA/247", "fields": PRESERVATION})
    code, out, err = desks.vnm("new", "--from", path, "--draft")
    assert code == 0 and out.startswith("drafted "), err
    ref = out.split()[1]
    code, out, err = desks.vnm("edit", ref, "--set", "necessity=Logs rotate every 24 hours.",
                               "--set", "confidential=no", "--unset", "do_not_notify", "--priority", "normal")
    assert code == 0, err
    assert f"{ref} changed: still a draft" in out and f"hanoinet request send {ref}" in out
    code, out, _ = desks.vnm("show", ref, "--reason", READ, "--json")
    shown = json.loads(out)
    values = {f["name"]: f["value"] for f in shown["fields"]}
    assert values["necessity"] == "Logs rotate every 24 hours." and values["confidential"] is False
    assert "do_not_notify" not in values and shown["priority"] == "normal"

    code, _, err = desks.vnm("edit", ref, "--set", "confidential=perhaps")
    assert code == 2 and "is not true or false" in err and "Traceback" not in err
    code, _, err = desks.vnm("edit", ref, "--set", "colour=blue")
    assert code == 2 and "does not name a field of a preservation request" in err and "necessity" in err
    code, _, err = desks.vnm("edit", ref, "--set", "offence=Art. 10")
    assert code == 2 and "is written as JSON" in err and "--set offence=@offence.json" in err
    code, _, err = desks.vnm("edit", ref, "--unset", "colour")
    assert code == 2 and "gives no field colour" in err and "necessity" in err
    # A file written for `request new` changes what it gives; what it leaves out stays as it was.
    path = desks.file("change.json", {"fields": {**PRESERVATION, "confidential": False}, "desk": "247",
                                      "send": True})
    code, _, err = desks.vnm("edit", ref, "--from", path, "--set", "necessity=Logs rotate daily.")
    assert code == 0, err
    shown = json.loads(desks.vnm("show", ref, "--reason", READ, "--json")[1])
    assert (shown["priority"], shown["state"]) == ("normal", "draft")  # not the kind's default, urgent
    assert {f["name"]: f["value"] for f in shown["fields"]}["necessity"] == "Logs rotate daily."
    path = desks.file("stale.json", {"fields": PRESERVATION, "version": shown["version"] - 1})
    code, _, err = desks.vnm("edit", ref, "--from", path)
    assert code == 2 and "changed since you read it" in err

    code, out, err = desks.vnm("edit", ref, "--set", "facts=Ransomware on a hospital, still running.", "--send")
    assert code == 0, err
    assert f"{ref} is now sent" in out
    pump(desks.nodes)
    assert desks.state("FRA", ref) == "received"
    code, _, err = desks.vnm("edit", ref, "--set", "facts=too late")
    assert code == 2 and "not a draft" in err and "withdraw" in err


def test_show_gives_fields_with_articles_clocks_timeline_and_what_to_do(desks: Desks) -> None:
    ref = desks.new()
    pump(desks.nodes)
    code, out, err = desks.fra("show", ref, "--reason", READ)
    assert code == 0, err
    assert "INCOMING request to us" in out and "RECEIVED" in out
    assert "CONFIDENTIAL" in out and "DO NOT NOTIFY THE USER" in out
    assert "Requesting authority" in line_of(out, "42(a)") and "Why preservation is necessary" in line_of(out, "42(e)")
    assert "Offence" in line_of(out, "Art. 10: ") and "42(b)" in line_of(out, "Art. 10: ")
    clock = line_of(out, "acknowledgement by a person at the requested desk")
    assert "RUNNING" in clock and " left" in clock
    assert "Timeline" in out and "VNM/247 Nguyen Thi Lan (duty_officer)" in out and "machine receipt" in out
    assert "None" not in out
    assert "You can now: acknowledge, refuse, notice" in out
    # The example given is a command that works as printed.
    [example] = re.findall(r"\(e\.g\. hanoinet request (.+)\)", out)
    assert example == f"ack {ref}"
    code, out, err = desks.fra(*example.split())
    assert code == 0 and f"{ref} is now acknowledged" in out, err
    code, out, _ = desks.fra("show", ref, "--reason", READ)
    assert f"(e.g. hanoinet request status {ref} in_progress)" in out

    code, out, _ = desks.fra("show", ref, "--reason", READ, "--json")
    assert code == 0
    shown = json.loads(out)
    assert (shown["ref"], shown["state"], shown["allowed"][0]) == (ref, "acknowledged", "start")


def test_ack_and_status_carry_an_incoming_request_to_executed(desks: Desks) -> None:
    ref = desks.new()
    pump(desks.nodes)
    code, out, err = desks.fra("ack", ref, "--note", "read at 03:10")
    assert code == 0, err
    assert f"{ref} is now acknowledged (version 2)" in out

    code, _, err = desks.fra("status", ref, "executed")
    assert code == 2 and "executed needs --result" in err
    code, _, err = desks.fra("status", ref, "refused")
    assert code == 2 and "'refused' is not a state you can set here" in err and "request refuse" in err
    code, _, err = desks.fra("status", ref, "in_progress", "--version", "1")
    assert code == 2 and "changed since you read it" in err

    code, out, err = desks.fra("status", ref, "in_progress", "--version", "2")
    assert code == 0 and f"{ref} is now in_progress" in out, err
    result = preservation_result(format_instant(now()))
    code, out, err = desks.fra("status", ref, "executed", "--result", "@" + desks.file("result.json", result))
    assert code == 0 and f"{ref} is now executed" in out, err

    pump(desks.nodes)
    code, out, _ = desks.vnm("show", ref, "--reason", READ, "--json")
    ours = json.loads(out)
    assert (ours["state"], ours["result"]) == ("executed", result)
    code, out, _ = desks.vnm("show", ref, "--reason", READ)
    assert code == 0 and "Result" in out and "ExampleHost SAS" in out
    assert "RUNNING" in line_of(out, "data preserved for at least 60 days")


def test_an_action_that_is_not_ours_is_explained(desks: Desks) -> None:
    ref = desks.new()
    pump(desks.nodes)
    code, _, err = desks.vnm("ack", ref)
    assert code == 2 and "only the requested State may acknowledge" in err
    assert "what to do: allowed now for the requesting State: withdraw" in err
    assert desks.state("FRA", ref) == "received"


def test_refuse_needs_a_real_ground_and_withdraw_ends_a_request_on_both_sides(desks: Desks) -> None:
    refused = desks.new()
    path = desks.file("draft.json", {"kind": "preservation", "to": "FRA/247", "fields": PRESERVATION})
    code, out, err = desks.vnm("new", "--from", path, "--draft", "--json")
    assert code == 0, err
    draft = json.loads(out)
    withdrawn = draft["ref"]
    assert (draft["state"], draft["allowed"]) == ("draft", ["send"])
    code, out, err = desks.vnm("send", withdrawn, "--version", str(draft["version"]))
    assert code == 0 and f"{withdrawn} is now sent" in out, err
    pump(desks.nodes)
    code, _, err = desks.fra("refuse", refused, "--ground", "fiscal_matters", "--reasons", "Tax evasion case.")
    assert code == 2 and "'fiscal_matters' is not a ground for refusal" in err
    code, out, err = desks.fra("refuse", refused, "--ground", "prejudice_sovereignty", "--reasons",
                               "The server belongs to a State body.")
    assert code == 0 and f"{refused} is now refused" in out, err

    code, out, err = desks.vnm("withdraw", withdrawn, "--reason", "Suspect arrested; data no longer needed.")
    assert code == 0 and f"{withdrawn} is now withdrawn" in out, err

    pump(desks.nodes)
    assert (desks.state("VNM", refused), desks.state("FRA", withdrawn)) == ("refused", "withdrawn")
    code, out, _ = desks.vnm("show", refused, "--reason", READ)
    assert "Refusal" in out and "ground: prejudice_sovereignty" in out and "You can now" not in out


def test_grounds_are_listed_with_their_articles(desks: Desks) -> None:
    code, out, err = desks.vnm("grounds")
    assert code == 0, err
    row = line_of(out, "prejudice_sovereignty")
    assert "40, 42" in row and "Prejudice to sovereignty" in row and "emergency_disclosure" in row
    assert "not_in_conformity" in out and "dual_criminality_not_met" in out
    assert "fiscal_matters" not in out  # Art. 40: not a ground


def test_times_are_shown_on_the_desks_clock_with_utc_beside_them(desks: Desks) -> None:
    policy_for(desks.nodes["FRA"], timezone="Europe/Paris")
    ref = desks.new()
    pump(desks.nodes)
    code, out, err = desks.fra("show", ref, "--reason", READ, "--json")
    assert code == 0, err
    shown = json.loads(out)
    due = parse_instant(shown["ack_due_at"])
    paris = due.astimezone(ZoneInfo("Europe/Paris"))
    offset = paris.strftime("%z")
    local = f"{paris.strftime('%Y-%m-%d %H:%M')} {paris.tzname()} ({offset[:3]}:{offset[3:]})"
    utc = due.strftime("%Y-%m-%d %H:%M UTC")

    code, out, err = desks.fra("list")
    assert code == 0, err
    lines = out.splitlines()
    row = lines.index(line_of(out, ref))
    assert local in lines[row] and utc in lines[row + 1]  # the desk's clock, UTC on the line below
    code, out, err = desks.fra("show", ref, "--reason", READ)
    assert code == 0, err
    clock = line_of(out, "acknowledgement by a person at the requested desk")
    assert local in clock
    received = parse_instant(next(e["at"] for e in shown["timeline"] if e.get("what") == "send"))
    assert received.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m-%d %H:%M:%S") in out

    # Viet Nam's desk has no zone set: its officers read UTC alone, labelled.
    code, out, err = desks.vnm("show", ref, "--reason", READ)
    assert code == 0, err
    assert "UTC" in out and "CET" not in out and "CEST" not in out


def test_the_list_at_80_columns_shows_every_reference_and_case_whole(desks: Desks,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    refs = [desks.new(), desks.new(EMERGENCY, kind="emergency_disclosure")]
    monkeypatch.setattr(console.out, "width", 80)
    code, out, err = desks.vnm("list")
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    for ref in refs:
        # Whole, on one line, and so copied whole into `request show REF`.
        assert sum(1 for line in lines if re.search(rf"│ {re.escape(ref)} +│", line)) == 1, out
    assert sum(1 for line in lines if "│ VNM-2026-0117 │" in line) == 2, out
    assert "…" not in out  # the other columns wrap rather than hide anything


def test_an_mla_request_is_made_and_read_with_the_cli_between_central_authorities(
        desks: Desks, monkeypatch: pytest.MonkeyPatch) -> None:
    lawyer = token(desks.nodes["VNM"], "central_authority", desk="CA", name="Tran Thi Mai")
    request = {"kind": "stored_data", "to": "FRA/247", "fields": REQUESTS["stored_data"]}
    code, _, err = invoke(monkeypatch, desks.capsys, "request", "new", "--from", desks.file("mla.json", request),
                          "--node", desks.urls["VNM"], "--token", lawyer)
    assert code != 0 and "Art. 40" in err and "Address it to FRA/CA." in err
    code, out, err = invoke(monkeypatch, desks.capsys, "request", "new", "--from",
                            desks.file("mla.json", {**request, "to": "FRA/CA"}),
                            "--node", desks.urls["VNM"], "--token", lawyer)
    assert code == 0, err
    assert "Access to stored electronic data, Art. 44" in out and "FRA/CA" in out
    ref = out.split()[1]
    pump(desks.nodes)
    code, out, err = invoke(monkeypatch, desks.capsys, "request", "show", ref, "--reason", READ, "--node",
                            desks.urls["FRA"], "--token", desks.officers.lawyer)
    assert code == 0, err
    assert "Measures sought" in out and "• disclosure" in out and "42, 44" in out
    monkeypatch.setattr(console.out, "width", 80)
    code, out, err = desks.vnm("kinds")
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│ ")}
    assert "│ Access to stored electronic" in rows["stored_data"] and "│ CA " in rows["stored_data"]
    assert "│ any " in rows["preservation"] and "│ CA, 247 " in rows["law_enforcement"]
    code, out, err = desks.vnm("kinds", "interception")
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│ ")}
    assert "│ 46 " in rows["period_start"] and "│ yes " in rows["legal_basis"] and "│ no " in rows["deadline"]
    assert "│ 40 (?) " in rows["do_not_notify"] and "Result fields" in out
    words = " ".join(out.replace("│", " ").split())
    assert "Before period_end." in words and "Only with deadline_reason." in words
    assert "desks: CA" in out
    code, _, err = desks.vnm("kinds", "extradition")
    assert code != 0 and "stored_data" in err
    code, out, err = desks.vnm("grounds")
    assert code == 0, err
    assert "stored_data" in out and "emergency_disclosure" in out  # long names fold, never cut


def test_four_eyes_and_the_art_40_steps_with_the_cli(desks: Desks, monkeypatch: pytest.MonkeyPatch) -> None:
    vnm = desks.nodes["VNM"]
    vnm.settings.approval_required_kinds.append("stored_data")
    mai = token(vnm, "central_authority", desk="CA", name="Tran Thi Mai")
    chief = token(vnm, "supervisor", desk="CA", name="Le Van Chief")
    monkeypatch.setattr(console.out, "width", 80)

    def run(url: str, who: str, *args: str) -> tuple[int, str, str]:
        return invoke(monkeypatch, desks.capsys, "request", *args, "--node", url, "--token", who)

    request = {"kind": "stored_data", "to": "FRA/CA", "fields": REQUESTS["stored_data"]}
    code, _, err = run(desks.urls["VNM"], mai, "new", "--from", desks.file("mla.json", request))
    assert code != 0 and "--draft" in err and "hanoinet request approve" in err
    code, out, err = run(desks.urls["VNM"], mai, "new", "--draft", "--from", desks.file("mla.json", request))
    assert code == 0, err
    ref = out.split()[1]
    code, _, err = run(desks.urls["VNM"], mai, "send", ref)
    assert code != 0 and f"hanoinet request approve {ref}" in " ".join(err.split())
    code, _, err = run(desks.urls["VNM"], mai, "approve", ref)
    assert code != 0 and "only a supervisor may approve" in " ".join(err.split())
    code, out, err = run(desks.urls["VNM"], chief, "approve", ref)
    assert code == 0, err
    assert f"{ref} approved by Le Van Chief" in out and all(len(line) <= 80 for line in out.splitlines())
    code, out, err = run(desks.urls["VNM"], mai, "send", ref)
    assert code == 0, err
    pump(desks.nodes)
    lawyer, fra_url = desks.officers.lawyer, desks.urls["FRA"]
    assert run(fra_url, lawyer, "ack", ref)[0] == 0
    code, _, err = run(fra_url, lawyer, "refuse", ref, "--ground", "prejudice_sovereignty", "--reasons", "x")
    assert code != 0 and "consult" in err
    reply_by = format_instant(now() + timedelta(days=5))
    code, out, err = run(fra_url, lawyer, "consult", ref, "--considering", "postponement", "--reasons",
                         "A domestic trial needs the server.", "--reply-by", reply_by)
    assert code == 0 and "consultation_open" in out, err
    pump(desks.nodes)
    code, out, err = run(desks.urls["VNM"], mai, "reply", ref, "--reply", "Agreed for a month.")
    assert code == 0 and "consultation_answered" in out, err
    pump(desks.nodes)
    code, out, err = run(fra_url, lawyer, "postpone", ref, "--until", format_instant(now() + timedelta(days=20)),
                         "--reasons", "The trial.")
    assert code == 0 and "postponed" in out, err
    code, out, err = run(fra_url, lawyer, "resume", ref)
    assert code == 0 and "in_progress" in out, err
    pump(desks.nodes)
    code, out, err = run(desks.urls["VNM"], mai, "show", ref, "--reason", READ)
    assert code == 0, err
    assert "Approved by Le Van Chief" in out and "postpone" in out and "resume" in out
    assert all(len(line) <= 80 for line in out.splitlines())
