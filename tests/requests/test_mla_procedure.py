"""The Art. 40 procedure between two nodes, through the service: consultation, refusal, postponement, four eyes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hanoinet.alerts.service import open_pages
from hanoinet.clock import format_instant
from hanoinet.convention import ValidationFailed
from hanoinet.crypto.keys import KeyPair
from hanoinet.errors import Conflict, Forbidden, HanoinetError
from hanoinet.network import inbox, outbox
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal, Role
from hanoinet.requests import commands, jobs, views
from hanoinet.requests.machine import Action, ApprovalRequired
from tests.convention.drafts import REQUESTS
from tests.requests.support import staffed_pair
from tests.requests.test_service import travel
from tests.support import pump

LAN = Principal(id=1, name="Nguyen Thi Lan", role=Role.DUTY_OFFICER, desk="247")
PAUL = Principal(id=2, name="Paul", role=Role.CENTRAL_AUTHORITY, desk="CA")
CHIEF = Principal(id=3, name="Claire Chief", role=Role.SUPERVISOR, desk="CA")
MAI = Principal(id=4, name="Mai", role=Role.CENTRAL_AUTHORITY, desk="CA")
BOSS = Principal(id=5, name="Bao Boss", role=Role.SUPERVISOR, desk="247")


@pytest.fixture
def pair(tmp_path: Path, authority: KeyPair, database_urls: Callable[[], str]) -> dict[str, Node]:
    """Viet Nam's and France's nodes, each with a duty officer, two lawyers and two supervisors."""
    return staffed_pair(tmp_path, authority, database_urls, lambda _: (LAN, PAUL, CHIEF, MAI, BOSS))


def received(pair: dict[str, Node], fields: dict[str, Any] | None = None) -> str:
    """A stored-data request from Viet Nam that France's central authority has acknowledged; its reference."""
    draft = commands.Draft(kind="stored_data", to="FRA/CA", fields=fields or REQUESTS["stored_data"],
                           case="VNM-CASE-44")
    ref: str = commands.create(pair["VNM"], PAUL, draft)["ref"]
    pump(pair)
    commands.act(pair["FRA"], PAUL, ref, Action.ACKNOWLEDGE, {})
    pump(pair)
    return ref


def later(**delta: float) -> str:
    """An instant ``delta`` after the nodes' clock (moved by ``travel``)."""
    return format_instant(commands.now() + timedelta(**delta))


def both(pair: dict[str, Node], ref: str) -> tuple[dict[str, Any], dict[str, Any]]:
    pump(pair)
    return views.show(pair["VNM"], PAUL, ref), views.show(pair["FRA"], PAUL, ref)


def test_consulted_then_refused_on_the_ground_consulted_on(pair: dict[str, Node],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ref = received(pair)
    travel(monkeypatch, timedelta(0))
    commands.act(pair["FRA"], PAUL, ref, Action.CONSULT,
                 {"considering": "refusal", "ground": "prejudice_sovereignty",
                  "reasons": "The data concern a matter of State security.", "reply_by": later(days=10)})
    ours, theirs = both(pair, ref)
    assert ours["state"] == theirs["state"] == "consultation_open"
    assert "reply" in ours["allowed"] and "refuse" not in theirs["allowed"]
    consultation = next(c for c in theirs["clocks"] if c["name"] == "consultation")
    assert consultation["status"] == "running" and consultation["article"] == "40"
    commands.act(pair["VNM"], PAUL, ref, Action.REPLY, {"reply": "We accept conditions on its use."})
    pump(pair)
    with pytest.raises(Conflict) as early:
        commands.act(pair["FRA"], PAUL, ref, Action.REFUSE, {"ground": "discrimination", "reasons": "Other."})
    assert "consult" in early.value.message
    commands.act(pair["FRA"], PAUL, ref, Action.REFUSE,
                 {"ground": "prejudice_sovereignty", "reasons": "The conditions offered do not suffice."})
    ours, theirs = both(pair, ref)
    assert ours["state"] == theirs["state"] == "refused"
    assert ours["refusal"]["ground"] == "prejudice_sovereignty"
    assert [e["what"] for e in ours["timeline"] if e["what"] != "received"] == \
        [e["what"] for e in theirs["timeline"] if e["what"] != "received"]


def test_a_refusal_without_consultation_is_refused_saying_to_consult_first(pair: dict[str, Node]) -> None:
    ref = received(pair)
    with pytest.raises(Conflict) as refused:
        commands.act(pair["FRA"], PAUL, ref, Action.REFUSE,
                     {"ground": "prejudice_sovereignty", "reasons": "State security."})
    assert refused.value.message.startswith("before refusing the requested State must consult the requesting "
                                            "State (Art. 40): consult (considering refusal")
    assert "consult" in (refused.value.hint or "")
    assert views.show(pair["FRA"], PAUL, ref)["state"] == "acknowledged"


def test_a_consultation_on_a_ground_the_kind_cannot_cite_is_refused_before_sending(pair: dict[str, Node]) -> None:
    ref = received(pair)
    with pytest.raises(ValidationFailed) as refused:
        commands.act(pair["FRA"], PAUL, ref, Action.CONSULT,
                     {"considering": "refusal", "ground": "no_such_ground", "reasons": "x",
                      "reply_by": later(days=10)})
    assert [(p.field, p.article) for p in refused.value.problems] == [("ground", "35, 40")]
    assert views.show(pair["FRA"], PAUL, ref)["state"] == "acknowledged"


def test_postponed_then_resumed_by_an_officer(pair: dict[str, Node], monkeypatch: pytest.MonkeyPatch) -> None:
    ref = received(pair)
    travel(monkeypatch, timedelta(0))
    commands.act(pair["FRA"], PAUL, ref, Action.CONSULT,
                 {"considering": "postponement", "reasons": "A domestic trial uses the same server.",
                  "reply_by": later(days=5)})
    pump(pair)
    commands.act(pair["VNM"], PAUL, ref, Action.REPLY, {"reply": "Agreed, if it lasts less than a month."})
    pump(pair)
    commands.act(pair["FRA"], PAUL, ref, Action.POSTPONE,
                 {"reasons": "The domestic trial needs the server.", "until": later(days=20)})
    ours, theirs = both(pair, ref)
    assert ours["state"] == theirs["state"] == "postponed"
    assert next(c for c in ours["clocks"] if c["name"] == "postponement")["status"] == "running"
    commands.act(pair["FRA"], PAUL, ref, Action.RESUME, {})
    ours, theirs = both(pair, ref)
    assert ours["state"] == theirs["state"] == "in_progress"


def test_crossing_refusal_and_withdrawal_end_the_same_on_both_nodes(pair: dict[str, Node],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ref = received(pair)
    travel(monkeypatch, timedelta(0))
    commands.act(pair["FRA"], PAUL, ref, Action.CONSULT,
                 {"considering": "refusal", "ground": "prejudice_sovereignty", "reasons": "State security.",
                  "reply_by": later(days=1)})
    pump(pair)
    travel(monkeypatch, timedelta(days=2))  # the reply-by date passed without a reply
    commands.act(pair["FRA"], PAUL, ref, Action.REFUSE,
                 {"ground": "prejudice_sovereignty", "reasons": "No reply came."})
    commands.act(pair["VNM"], PAUL, ref, Action.WITHDRAW, {"reason": "The suspect confessed."})
    ours, theirs = both(pair, ref)
    assert ours["state"] == theirs["state"] == "refused"
    assert [(e["what"], e["applied"]) for e in ours["timeline"] if e["what"] != "received"] == \
        [(e["what"], e["applied"]) for e in theirs["timeline"] if e["what"] != "received"]
    assert next(e for e in theirs["timeline"] if e["what"] == "withdraw")["applied"] is False


def test_the_other_kinds_have_no_consultation(pair: dict[str, Node]) -> None:
    draft = commands.Draft(kind="preservation", to="FRA/247", fields=REQUESTS["preservation"])
    ref = commands.create(pair["VNM"], LAN, draft)["ref"]
    pump(pair)
    with pytest.raises(Conflict) as refused:
        commands.act(pair["FRA"], LAN, ref, Action.CONSULT, {"considering": "postponement", "reasons": "x",
                                                             "reply_by": later(days=1)})
    assert "mutual legal assistance" in refused.value.message
    assert isinstance(refused.value, Conflict) and not isinstance(refused.value, Forbidden)


def test_four_eyes_author_and_non_supervisor_cannot_approve_an_edit_voids_it(pair: dict[str, Node]) -> None:
    vnm = pair["VNM"]
    vnm.settings.approval_required_kinds.append("stored_data")
    draft = commands.Draft(kind="stored_data", to="FRA/CA", fields=REQUESTS["stored_data"], case="VNM-CASE-44")
    with pytest.raises(ApprovalRequired) as at_once:
        commands.create(vnm, PAUL, draft)
    assert "hanoinet request approve" in (at_once.value.hint or "")
    ref = commands.create(vnm, PAUL, draft, send=False)["ref"]
    with pytest.raises(ApprovalRequired) as unapproved:
        commands.act(vnm, PAUL, ref, Action.SEND, {})
    assert unapproved.value.http_status == 403 and unapproved.value.code == "approval_required"
    assert unapproved.value.hint == (f"a supervisor of desk CA other than the request's author approves it "
                                     f"(`hanoinet request approve {ref}`), then send it")
    with pytest.raises(ApprovalRequired) as lawyer:
        commands.approve_draft(vnm, MAI, ref)
    assert lawyer.value.message.startswith("Mai is a central authority: only a supervisor may approve")
    with pytest.raises(Forbidden) as other_desk:
        commands.approve_draft(vnm, BOSS, ref)
    assert "desk CA" in (other_desk.value.hint or "")
    approved = commands.approve_draft(vnm, CHIEF, ref)
    assert approved["approval"]["name"] == "Claire Chief" and approved["approval_required"] is True
    assert [e["what"] for e in approved["timeline"]] == ["approved"]
    changed = dict(REQUESTS["stored_data"], facts=REQUESTS["stored_data"]["facts"] + " More.")
    edited = commands.edit(vnm, PAUL, ref, commands.Draft(kind="stored_data", to="FRA/CA", fields=changed,
                                                          case="VNM-CASE-44"))
    assert edited["approval"] is None
    with pytest.raises(ApprovalRequired):
        commands.act(vnm, PAUL, ref, Action.SEND, {})
    commands.approve_draft(vnm, CHIEF, ref)
    sent = commands.act(vnm, PAUL, ref, Action.SEND, {})
    assert sent["state"] == "sent"
    ours, theirs = both(pair, ref)
    assert theirs["state"] == "received"
    assert ours["approval"] == theirs["approval"] and theirs["approval"]["name"] == "Claire Chief"
    assert [e["what"] for e in theirs["timeline"]][:2] == ["approved", "send"]


def test_the_author_cannot_approve_their_own_draft(pair: dict[str, Node]) -> None:
    vnm = pair["VNM"]
    vnm.settings.approval_required_kinds.append("stored_data")
    draft = commands.Draft(kind="stored_data", to="FRA/CA", fields=REQUESTS["stored_data"], case="VNM-CASE-44")
    ref = commands.create(vnm, PAUL, draft, send=False)["ref"]
    with pytest.raises(ApprovalRequired):
        commands.approve_draft(vnm, PAUL, ref)
    assert views.show(vnm, PAUL, ref)["approval"] is None


def _pages(node: Node) -> list[tuple[str, str, str, str]]:
    with node.db.transaction(readonly=True) as uow:
        return [(p.subject_ref, p.desk, p.priority, p.headline) for p in open_pages(uow.session, None)]


def test_a_postponed_execution_is_resumed_by_the_node_at_its_date(pair: dict[str, Node],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ref = received(pair)
    travel(monkeypatch, timedelta(0))
    commands.act(pair["FRA"], PAUL, ref, Action.CONSULT,
                 {"considering": "postponement", "reasons": "A domestic trial.", "reply_by": later(days=1)})
    pump(pair)
    travel(monkeypatch, timedelta(days=2))  # no reply by the date: the requested State may go on
    commands.act(pair["FRA"], PAUL, ref, Action.POSTPONE, {"reasons": "The trial.", "until": later(days=10)})
    pump(pair)
    assert jobs.resume_postponed(pair["FRA"]) == []
    travel(monkeypatch, timedelta(days=11, hours=23, minutes=59))  # a minute before the date
    assert jobs.resume_postponed(pair["FRA"]) == []
    travel(monkeypatch, timedelta(days=12, minutes=1))
    assert jobs.resume_postponed(pair["FRA"]) == [ref]
    assert jobs.resume_postponed(pair["FRA"]) == []
    assert jobs.resume_postponed(pair["VNM"]) == []
    ours, theirs = both(pair, ref)
    assert ours["state"] == theirs["state"] == "in_progress"
    assert theirs["timeline"][-1]["what"] == "resume" and theirs["timeline"][-1]["by"] == "FRA (system)"


def test_an_overdue_consultation_pages_the_requesting_desk_once(pair: dict[str, Node],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ref = received(pair)
    travel(monkeypatch, timedelta(0))
    commands.act(pair["FRA"], PAUL, ref, Action.CONSULT,
                 {"considering": "refusal", "ground": "prejudice_sovereignty", "reasons": "State security.",
                  "reply_by": later(days=3)})
    pump(pair)
    travel(monkeypatch, timedelta(days=2))
    assert jobs.page_procedure_due(pair["VNM"]) == []
    travel(monkeypatch, timedelta(days=3, minutes=1))
    assert jobs.page_procedure_due(pair["FRA"]) == []  # the requested desk owes nothing here
    assert jobs.page_procedure_due(pair["VNM"]) == [ref]
    assert jobs.page_procedure_due(pair["VNM"]) == []  # once per clock
    assert _pages(pair["VNM"]) == [(ref, "CA", "urgent", f"reply to the consultation overdue: request {ref} "
                                    "(FRA/CA): Access to stored electronic data (Art. 44)")]
    shown = views.show(pair["VNM"], PAUL, ref)
    assert next(c for c in shown["clocks"] if c["name"] == "consultation")["status"] == "overdue"
    # Replying is an act at the desk: it ends the page.
    commands.act(pair["VNM"], PAUL, ref, Action.REPLY, {"reply": "Late, but: we accept conditions."})
    assert _pages(pair["VNM"]) == []


def test_an_overdue_requested_deadline_pages_the_requested_desk(pair: dict[str, Node],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    travel(monkeypatch, timedelta(0))
    ref = received(pair, {**REQUESTS["stored_data"], "deadline": later(days=10),
                          "deadline_reason": "The trial opens then."})
    shown = views.show(pair["FRA"], PAUL, ref)
    assert next(c for c in shown["clocks"] if c["name"] == "deadline")["status"] == "running"
    travel(monkeypatch, timedelta(days=10, minutes=1))
    assert jobs.page_procedure_due(pair["VNM"]) == []
    assert jobs.page_procedure_due(pair["FRA"]) == [ref]
    assert jobs.page_procedure_due(pair["FRA"]) == []
    assert [p[2:] for p in _pages(pair["FRA"])] == [
        ("urgent", f"requested deadline passed: request {ref} (VNM/CA): Access to stored electronic data (Art. 44)")]


@pytest.mark.parametrize(("data", "said"), [
    ({"considering": "refusal", "ground": "fiscal_matters", "reasons": "Tax.", "reply_by": "+10d"}, "ground"),
    ({"considering": "postponement", "reasons": "A trial.", "reply_by": "+10d", "extra": 1}, "extra"),
    ({"considering": "postponement", "reasons": "A trial."}, "reply_by"),
])
def test_a_received_consultation_with_bad_data_is_refused_and_changes_nothing(
        pair: dict[str, Node], data: dict[str, Any], said: str) -> None:
    ref = received(pair)
    shown = views.show(pair["FRA"], PAUL, ref)
    before = views.show(pair["VNM"], PAUL, ref)["version"]
    if data.get("reply_by") == "+10d":
        data = {**data, "reply_by": later(days=10)}
    body = {"request": shown["id"], "ref": ref, "side": "requested", "seq": 2, "seen": 1, "action": "consult",
            "at": format_instant(commands.now()), "by": {"name": "Paul", "role": "central_authority"},
            "data": data}
    with pair["FRA"].db.transaction() as uow:
        message = outbox.enqueue(pair["FRA"], uow, sender_desk="CA", recipient="VNM/CA", kind="request.event",
                                 body=body, case=None)
    with pytest.raises(HanoinetError) as refused:
        inbox.receive(pair["VNM"], message.jwe)
    assert refused.value.code in ("invalid_request", "illegal_transition") and said in refused.value.message
    assert views.show(pair["VNM"], PAUL, ref)["version"] == before
