"""Requests between two in-process nodes: both hold the same history, whatever happens in between."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from hanoinet import clock
from hanoinet.alerts.service import open_pages
from hanoinet.clock import format_instant, now
from hanoinet.convention import ValidationFailed
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm, AuditEntry, OutboxMessage, RequestRecord
from hanoinet.errors import Conflict, Forbidden, HanoinetError, NotFound, ValidationError
from hanoinet.ids import uuid7
from hanoinet.network import inbox, outbox
from hanoinet.network.delivery import DeliveryWorker
from hanoinet.network.transport import PeerAnswer
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal, Role, add_officer
from hanoinet.requests import commands, jobs, views
from hanoinet.requests.machine import Action, IllegalTransition
from tests.requests.support import staffed_pair
from tests.support import publish, pump

LAN = Principal(id=1, name="Nguyen Thi Lan", role=Role.DUTY_OFFICER, desk="247")
CAMILLE = Principal(id=1, name="Camille Martin", role=Role.DUTY_OFFICER, desk="247")
SUPERVISOR = Principal(id=2, name="Claire", role=Role.SUPERVISOR, desk="247")
PAUL = Principal(id=3, name="Paul", role=Role.CENTRAL_AUTHORITY, desk="CA")

PRESERVATION: dict[str, Any] = {
    "requesting_authority": "Viet Nam MPS, A05 cyber unit, +84 24 0000 0000",
    "offence": {"article": "10"},
    "facts": "Ransomware attack on a Hanoi hospital since 02:10.",
    "data": "Logs of server 203.0.113.7 for 2026-11-22/23",
    "data_relation": "The server controls the ransomware.",
    "custodian": "ExampleHost SAS, Roubaix",
    "necessity": "Logs rotate every 48 hours.",
    "mla_to_follow": True,
    "confidential": True,
    "do_not_notify": True,
}


def retry_now(node: Node) -> None:
    """Make every pending envelope due at once (instead of waiting out the backoff)."""
    with node.db.transaction() as uow:
        uow.session.execute(update(OutboxMessage).where(OutboxMessage.status == "pending")
                            .values(next_attempt_at=now()))


@pytest.fixture
def pair(tmp_path: Path, authority: KeyPair, database_urls: Callable[[], str]) -> dict[str, Node]:
    """Two nodes with officers, on SQLite and then on PostgreSQL."""
    return staffed_pair(tmp_path, authority, database_urls,
                        lambda state: (LAN if state == "VNM" else CAMILLE, SUPERVISOR, PAUL))


def new(nodes: dict[str, Node], fields: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    draft = commands.Draft(kind=kwargs.pop("kind", "preservation"), to=kwargs.pop("to", "FRA/247"),
                           fields=fields or PRESERVATION, case="VNM-2026-0117", **kwargs)
    return commands.create(nodes["VNM"], LAN, draft)


def both(nodes: dict[str, Node], ref: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return views.show(nodes["VNM"], LAN, ref), views.show(nodes["FRA"], CAMILLE, ref)


def shared(view: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The part of a timeline both States must agree on."""
    return [(e["what"], e["side"], e.get("seq"), e["at"], e["applied"], e["state"], json.dumps(e["data"]))
            for e in view["timeline"] if "seq" in e or e["what"] == "received"]


def test_a_preservation_request_travels_and_both_sides_agree(pair: dict[str, Node]) -> None:
    created = new(pair)
    # References count within the year of creation, whatever year the suite runs in.
    year = created["timeline"][0]["at"][:4]
    assert created["ref"] == f"VNM-{year}-0001" and created["state"] == "sent"
    assert pump(pair) == 1
    ours, theirs = both(pair, created["ref"])
    assert ours["state"] == theirs["state"] == "received"
    assert theirs["side"] == "requested" and theirs["confidential"] and theirs["do_not_notify"]
    assert [f["article"] for f in theirs["fields"]][:3] == ["42(a)", "42(b)", "42(b)"]
    assert theirs["allowed"] == ["acknowledge", "refuse", "notice"]
    # Nobody is on France's rota: the page says so on France's timeline; Viet Nam sees none of France's alerts.
    assert "no_one_on_duty" in [e["what"] for e in theirs["timeline"]]
    assert not any(e["what"].startswith(("alert", "no_one")) for e in ours["timeline"])
    commands.act(pair["FRA"], CAMILLE, created["ref"], Action.ACKNOWLEDGE, {})
    commands.act(pair["FRA"], CAMILLE, created["ref"], Action.START, {"note": "provider contacted"})
    preserved = format_instant(now())
    commands.act(pair["FRA"], CAMILLE, created["ref"], Action.EXECUTE,
                 {"result": {"preserved_at": preserved, "provider": "ExampleHost SAS",
                             "what_preserved": "access and connection logs"}})
    pump(pair)
    ours, theirs = both(pair, created["ref"])
    assert ours["state"] == theirs["state"] == "executed"
    assert shared(ours) == shared(theirs)
    assert ours["result"]["preserved_at"] == preserved
    clock = next(c for c in ours["clocks"] if c["name"] == "preservation")
    assert clock["status"] == "running" and clock["article"] == "42"
    ack = next(c for c in theirs["clocks"] if c["name"] == "acknowledgement")
    assert ack["status"] == "met"


def test_incomplete_request_is_refused_with_every_problem_before_sending(pair: dict[str, Node]) -> None:
    fields = {k: v for k, v in PRESERVATION.items() if k not in ("facts", "necessity")}
    with pytest.raises(ValidationFailed) as refused:
        new(pair, fields)
    assert {p.field for p in refused.value.problems} == {"facts", "necessity"}
    with pair["VNM"].db.transaction(readonly=True) as uow:
        assert uow.session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize(("to", "message"), [("BRA/247", "not in the directory"), ("FRA/XYZ", "no desk 'XYZ'"),
                                             ("VNM/247", "another State")])
def test_unknown_state_or_desk_is_refused_before_sending(pair: dict[str, Node], to: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        new(pair, to=to)


def test_illegal_action_names_the_state_and_what_is_allowed(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    with pytest.raises(IllegalTransition) as refused:
        commands.act(pair["FRA"], CAMILLE, ref, Action.EXECUTE, {"result": {}})
    assert "current state: received" in refused.value.message
    assert "acknowledge" in refused.value.hint
    with pytest.raises(IllegalTransition, match="only the requested State"):
        commands.act(pair["VNM"], LAN, ref, Action.ACKNOWLEDGE, {})


def test_refusal_needs_a_ground_and_reasons(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    commands.act(pair["FRA"], CAMILLE, ref, Action.ACKNOWLEDGE, {})
    with pytest.raises(ValidationFailed):
        commands.act(pair["FRA"], CAMILLE, ref, Action.REFUSE, {"ground": "fiscal_matters", "reasons": ""})
    commands.act(pair["FRA"], CAMILLE, ref, Action.REFUSE,
                 {"ground": "prejudice_sovereignty", "reasons": "The server belongs to a State body."})
    pump(pair)
    ours, _ = both(pair, ref)
    assert ours["state"] == "refused" and ours["refusal"]["ground"] == "prejudice_sovereignty"


def test_two_officers_at_once_get_a_clear_conflict(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    seen = views.show(pair["FRA"], CAMILLE, ref)["version"]
    commands.act(pair["FRA"], CAMILLE, ref, Action.ACKNOWLEDGE, {}, version=seen)
    with pytest.raises(Conflict) as conflict:
        commands.act(pair["FRA"], CAMILLE, ref, Action.REFUSE,
                     {"ground": "prejudice_sovereignty", "reasons": "x"}, version=seen)
    assert conflict.value.code == "request_changed"
    assert "now version" in conflict.value.message


def test_withdrawal_crossing_execution_is_recorded_on_both_sides(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    commands.act(pair["FRA"], CAMILLE, ref, Action.ACKNOWLEDGE, {})
    pump(pair)
    # Both act before hearing of the other's act.
    commands.act(pair["FRA"], CAMILLE, ref, Action.EXECUTE,
                 {"result": {"preserved_at": format_instant(now()), "provider": "ExampleHost SAS",
                             "what_preserved": "logs"}})
    commands.act(pair["VNM"], LAN, ref, Action.WITHDRAW, {"reason": "suspect arrested"})
    pump(pair)
    ours, theirs = both(pair, ref)
    assert ours["state"] == theirs["state"] == "executed"
    assert shared(ours) == shared(theirs)
    withdrawal = next(e for e in ours["timeline"] if e["what"] == "withdraw")
    assert not withdrawal["applied"] and "already executed" in withdrawal["reason"]


def test_events_arriving_out_of_order_wait_for_the_earlier_one(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    commands.act(pair["FRA"], CAMILLE, ref, Action.ACKNOWLEDGE, {})
    commands.act(pair["FRA"], CAMILLE, ref, Action.START, {})
    with pair["FRA"].db.transaction() as uow:
        rows = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending")
                                   .order_by(OutboxMessage.id)).all()
        first, second = rows
        jwe_second = second.jwe
    with pytest.raises(HanoinetError) as early:
        inbox.receive(pair["VNM"], jwe_second)
    assert early.value.code == "out_of_order"
    pump(pair)
    retry_now(pair["FRA"])
    pump(pair)
    ours, theirs = both(pair, ref)
    assert ours["state"] == theirs["state"] == "in_progress"
    assert first.message_id != second.message_id


@pytest.mark.parametrize(("side", "action", "seq", "code"), [
    ("requesting", "withdraw", 2, "illegal_transition"),  # the requested State speaking for the requesting one
    ("requested", "execute", 1, "illegal_transition"),  # executing what it never acknowledged
    ("requested", "acknowledge", 2, "out_of_order"),  # skipping its own event 1
    ("requested", "acknowledge", 1, "not_party"),  # naming the request by another reference
])
def test_forged_or_impossible_events_from_a_peer_are_refused(
    pair: dict[str, Node], side: str, action: str, seq: int, code: str
) -> None:
    created = new(pair)
    pump(pair)
    ref = created["ref"] if code != "not_party" else "VNM-2026-0999"
    body = {"request": created["id"], "ref": ref, "side": side, "seq": seq, "seen": 1,
            "action": action, "at": format_instant(now()), "by": {"name": "Mallory", "role": "duty_officer"},
            "data": {"reason": "x"} if action == "withdraw" else {}}
    with pair["FRA"].db.transaction() as uow:
        message = outbox.enqueue(pair["FRA"], uow, sender_desk="247", recipient="VNM/247", kind="request.event",
                                 body=body, case=None)
    with pytest.raises(HanoinetError) as refused:
        inbox.receive(pair["VNM"], message.jwe)
    assert refused.value.code == code
    assert views.show(pair["VNM"], LAN, created["ref"])["state"] == "received"


def test_supervisor_may_only_acknowledge_and_other_desks_see_nothing(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    assert views.show(pair["FRA"], SUPERVISOR, ref)["allowed"] == ["acknowledge"]
    with pytest.raises(Forbidden):
        commands.act(pair["FRA"], SUPERVISOR, ref, Action.REFUSE, {"ground": "prejudice_sovereignty", "reasons": "x"})
    # The last level of a duty alert can stop the escalation.
    assert commands.act(pair["FRA"], SUPERVISOR, ref, Action.ACKNOWLEDGE, {})["state"] == "acknowledged"
    assert views.show(pair["FRA"], SUPERVISOR, ref)["allowed"] == []
    with pytest.raises(NotFound):
        views.show(pair["FRA"], PAUL, ref)
    assert views.list_requests(pair["FRA"], PAUL) == []
    with pair["FRA"].db.transaction() as uow:
        row, _ = add_officer(uow.session, name="Max", role="supervisor", desk="CA", desks={"247", "CA"})
    other_supervisor = Principal(id=row.id, name="Max", role=Role.SUPERVISOR, desk="CA")
    assert views.show(pair["FRA"], other_supervisor, ref)["allowed"] == []
    admin = Principal(id=4, name="Operator", role=Role.ADMIN, desk="247")
    with pytest.raises(Forbidden):
        commands.act(pair["FRA"], admin, ref, Action.START, {})


def test_a_desk_sees_its_requests_even_when_another_desk_has_newer_ones(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    paul_vnm = Principal(id=3, name="Paul", role=Role.CENTRAL_AUTHORITY, desk="CA")
    commands.create(pair["VNM"], paul_vnm, commands.Draft(kind="preservation", to="FRA/CA", fields=PRESERVATION,
                                                          desk="CA"))
    assert [r["ref"] for r in views.list_requests(pair["VNM"], LAN, limit=1)] == [ref]


def test_list_filters_and_overdue(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    rows = views.list_requests(pair["FRA"], CAMILLE, state="received")
    assert [r["ref"] for r in rows] == [ref] and rows[0]["overdue"] is False
    assert views.list_requests(pair["FRA"], CAMILLE, overdue=True) == []
    assert views.list_requests(pair["FRA"], CAMILLE, kind="emergency_disclosure") == []


def travel(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    """Move every node's clock forward by ``by`` (both nodes share this process)."""
    real = getattr(clock.now, "real", clock.now)
    moved = real() + by

    def fake() -> datetime:
        return moved

    fake.real = real  # type: ignore[attr-defined]
    for module in list(sys.modules.values()):
        current = getattr(module, "now", None)
        if (module.__name__ or "").startswith("hanoinet.") and getattr(current, "real", current) is real:
            monkeypatch.setattr(module, "now", fake)


def test_preservation_expires_only_on_the_requested_side_after_the_period(
    pair: dict[str, Node], monkeypatch: pytest.MonkeyPatch, authority: KeyPair
) -> None:
    publish(pair.values(), authority, version=2, valid_for=timedelta(days=120))  # outlive the 60 days
    ref = _preserved(pair)
    travel(monkeypatch, timedelta(days=61))  # past the 60 days, not yet past the delivery cut-off
    assert jobs.expire_due(pair["FRA"]) == []
    travel(monkeypatch, timedelta(days=63))
    assert jobs.expire_due(pair["VNM"]) == []
    assert jobs.expire_due(pair["FRA"]) == [ref]
    pump(pair)
    ours, theirs = both(pair, ref)
    assert ours["state"] == theirs["state"] == "expired"
    assert next(c for c in ours["clocks"] if c["name"] == "preservation")["status"] == "lapsed"


def test_a_mistyped_preserved_at_is_refused_instead_of_releasing_the_data(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    commands.act(pair["FRA"], CAMILLE, ref, Action.ACKNOWLEDGE, {})
    for wrong in (now().replace(year=now().year - 1), now() + timedelta(days=365)):
        with pytest.raises(ValidationError, match="outside the life of this request"):
            commands.act(pair["FRA"], CAMILLE, ref, Action.EXECUTE, {"result": {
                "preserved_at": format_instant(wrong), "provider": "ExampleHost", "what_preserved": "logs"}})
    assert views.show(pair["FRA"], CAMILLE, ref)["state"] == "acknowledged"


def test_two_officers_acting_in_parallel_leave_one_consistent_history(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    version = views.show(pair["FRA"], CAMILLE, ref)["version"]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def act(action: Action, data: dict[str, Any]) -> None:
        barrier.wait()
        try:
            commands.act(pair["FRA"], CAMILLE, ref, action, data, version=version)
            outcomes.append("ok")
        except HanoinetError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=act, args=(Action.ACKNOWLEDGE, {})),
               threading.Thread(target=act, args=(Action.REFUSE, {"ground": "prejudice_sovereignty",
                                                                  "reasons": "x"}))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "request_changed"]
    pump(pair)
    ours, theirs = both(pair, ref)
    assert ours["state"] == theirs["state"] in ("acknowledged", "refused")
    assert [e["seq"] for e in theirs["timeline"] if e.get("side") == "requested" and "seq" in e] == [1]


def test_an_answer_overtaking_the_receipt_leaves_both_sides_with_the_receipt_time(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    worker = DeliveryWorker(pair["VNM"], transport=None, worker_id="slow")  # type: ignore[arg-type]
    (claim,) = worker.claim(10)
    receipt = inbox.receive(pair["FRA"], claim.jwe).receipt
    commands.act(pair["FRA"], CAMILLE, ref, Action.ACKNOWLEDGE, {})
    pump(pair)  # the acknowledgement reaches Viet Nam while its receipt is still on the way
    assert views.show(pair["VNM"], LAN, ref)["state"] == "acknowledged"
    worker.settle([(claim, PeerAnswer(status=200, receipt=receipt))])
    ours, theirs = both(pair, ref)
    assert shared(ours) == shared(theirs)
    assert ours["received_at"] == theirs["received_at"]


def test_fields_are_shown_readably_with_offence_titles(pair: dict[str, Node]) -> None:
    fields = {**PRESERVATION, "offence": {"article": "serious", "domestic_offence": "Extortion",
                                          "max_penalty_years": 10}}
    created = new(pair, fields)
    text = {f["name"]: f["text"] for f in created["fields"]}
    assert text["offence"] == "Extortion (serious crime, Art. 2, 23(2)(c), 35(1)(c): maximum 10 years)"
    assert text["mla_to_follow"] == "yes"
    created = new(pair)
    assert {f["name"]: f["text"] for f in created["fields"]}["offence"].startswith("Art. 10: ")


def _preserved(pair: dict[str, Node], fields: dict[str, Any] | None = None) -> str:
    ref = new(pair, fields)["ref"]
    pump(pair)
    commands.act(pair["FRA"], CAMILLE, ref, Action.ACKNOWLEDGE, {})
    commands.act(pair["FRA"], CAMILLE, ref, Action.EXECUTE,
                 {"result": {"preserved_at": format_instant(now()), "provider": "ExampleHost", "what_preserved": "x"}})
    pump(pair)
    return str(ref)


def _pages(node: Node) -> list[tuple[str, str, str, str]]:
    with node.db.transaction(readonly=True) as uow:
        return [(p.subject_ref, p.desk, p.priority, p.headline) for p in open_pages(uow.session, None)]


def test_the_requesting_desk_is_paged_before_its_preservation_ends(
    pair: dict[str, Node], monkeypatch: pytest.MonkeyPatch, authority: KeyPair
) -> None:
    publish(pair.values(), authority, version=2, valid_for=timedelta(days=120))  # outlive the 60 days
    ref = _preserved(pair, {**PRESERVATION, "confidential": False})
    assert jobs.warn_due(pair["VNM"]) == []
    travel(monkeypatch, timedelta(days=47))  # 13 days left
    assert jobs.warn_due(pair["FRA"]) == []  # the requested node expires it by itself: nothing to decide
    assert jobs.warn_due(pair["VNM"]) == [ref]
    assert jobs.warn_due(pair["VNM"]) == []  # each warning once
    assert _pages(pair["VNM"]) == [(ref, "247", "normal", f"preservation ends in less than 14 days: request {ref} "
                                    "(FRA/247): Expedited preservation of stored electronic data (Art. 42)")]
    assert _pages(pair["FRA"]) == []
    shown = views.show(pair["VNM"], LAN, ref)
    assert next(c for c in shown["clocks"] if c["name"] == "preservation")["status"] == "warning"
    travel(monkeypatch, timedelta(days=54))  # 6 days left, nobody has looked: the new warning supersedes the page
    assert jobs.warn_due(pair["VNM"]) == [ref]
    assert _pages(pair["VNM"]) == [(ref, "247", "normal", f"preservation ends in less than 7 days: request {ref} "
                                    "(FRA/247): Expedited preservation of stored electronic data (Art. 42)")]
    # Extending is an act at the desk: it ends the page, and the new end has warnings of its own.
    commands.act(pair["VNM"], LAN, ref, Action.EXTEND, {"days": 30, "reason": "the MLA request is in drafting"})
    assert _pages(pair["VNM"]) == []
    assert jobs.warn_due(pair["VNM"]) == []  # 36 days left
    travel(monkeypatch, timedelta(days=89, hours=12))  # half a day left
    assert jobs.warn_due(pair["VNM"]) == [ref]
    assert _pages(pair["VNM"]) == [(ref, "247", "urgent", f"preservation ends in less than 1 day: request {ref} "
                                    "(FRA/247): Expedited preservation of stored electronic data (Art. 42)")]
    with pair["VNM"].db.transaction(readonly=True) as uow:
        audited = uow.session.scalars(select(AuditEntry.detail).where(
            AuditEntry.action == "request.preservation_warning")).all()
    assert [json.loads(d)["days"] for d in audited] == [14, 7, 1]


def test_a_warning_supersedes_an_open_page_and_one_that_cannot_be_paged_raises_an_alarm(
    pair: dict[str, Node], monkeypatch: pytest.MonkeyPatch, authority: KeyPair
) -> None:
    publish(pair.values(), authority, version=2, valid_for=timedelta(days=120))
    orphan = _preserved(pair)
    with pair["VNM"].db.transaction() as uow:  # a desk since removed from this node
        uow.session.execute(update(RequestRecord).where(RequestRecord.ref == orphan).values(requesting="VNM/OLD"))
    asked = new(pair)["ref"]
    pump(pair)
    commands.act(pair["FRA"], CAMILLE, asked, Action.ACKNOWLEDGE, {})
    commands.act(pair["FRA"], CAMILLE, asked, Action.PARTIALLY_EXECUTE, {"result": {
        "preserved_at": format_instant(now()), "provider": "ExampleHost", "what_preserved": "the first server"}})
    commands.act(pair["FRA"], CAMILLE, asked, Action.CLARIFY, {"question": "Which time zone?"})
    pump(pair)
    assert [p[3] for p in _pages(pair["VNM"])] == [f"question from the requested State: confidential request {asked}"]
    travel(monkeypatch, timedelta(days=61))  # past the end, before the requested node's expiry
    assert jobs.warn_due(pair["VNM"]) == [orphan, asked]
    assert _pages(pair["VNM"]) == [
        (asked, "247", "urgent", f"preservation period has ended, expiry pending: confidential request {asked}")]
    with pair["VNM"].db.transaction(readonly=True) as uow:
        alarms = [(a.code, a.severity, json.loads(a.detail)["ref"], a.desk) for a in uow.session.scalars(
            select(Alarm).where(Alarm.code == "preservation_warning_not_paged"))]
    assert alarms == [("preservation_warning_not_paged", "critical", orphan, "OLD")]
    assert jobs.warn_due(pair["VNM"]) == []


def test_an_event_that_keeps_the_end_does_not_repeat_a_warning(
    pair: dict[str, Node], monkeypatch: pytest.MonkeyPatch, authority: KeyPair
) -> None:
    publish(pair.values(), authority, version=2, valid_for=timedelta(days=120))
    ref = new(pair)["ref"]
    pump(pair)
    commands.act(pair["FRA"], CAMILLE, ref, Action.ACKNOWLEDGE, {})
    preserved = {"preserved_at": format_instant(now()), "provider": "ExampleHost", "what_preserved": "x"}
    commands.act(pair["FRA"], CAMILLE, ref, Action.PARTIALLY_EXECUTE, {"result": preserved})
    pump(pair)
    travel(monkeypatch, timedelta(days=50))
    assert jobs.warn_due(pair["VNM"]) == [ref]
    commands.act(pair["FRA"], CAMILLE, ref, Action.EXECUTE, {"result": {**preserved, "preserved_at": format_instant(
        clock.now())}})  # a later result does not move the clock
    pump(pair)
    assert jobs.warn_due(pair["VNM"]) == []


def test_a_request_that_fails_to_warn_does_not_hold_back_the_others(
    pair: dict[str, Node], monkeypatch: pytest.MonkeyPatch, authority: KeyPair
) -> None:
    publish(pair.values(), authority, version=2, valid_for=timedelta(days=120))
    broken, fine = _preserved(pair), _preserved(pair)
    real = jobs._warning_headline

    def failing(row: RequestRecord, *args: Any, **kwargs: Any) -> str:
        if row.ref == broken:
            raise RuntimeError("a bug in one request's alert")
        return real(row, *args, **kwargs)

    monkeypatch.setattr(jobs, "_warning_headline", failing)
    travel(monkeypatch, timedelta(days=50))
    assert jobs.warn_due(pair["VNM"]) == [fine]
    assert [p[0] for p in _pages(pair["VNM"])] == [fine]
    monkeypatch.setattr(jobs, "_warning_headline", real)
    assert jobs.warn_due(pair["VNM"]) == [broken]  # not marked as warned: it is tried again


def test_a_held_or_confidential_preservation_is_warned_of_as_it_should(
    pair: dict[str, Node], monkeypatch: pytest.MonkeyPatch, authority: KeyPair
) -> None:
    publish(pair.values(), authority, version=2, valid_for=timedelta(days=120))
    held = _preserved(pair)
    commands.act(pair["VNM"], LAN, held, Action.FOLLOW_UP, {"mla_ref": "MLA-VNM-2026-12"})
    secret = _preserved(pair)  # confidential, as PRESERVATION is
    travel(monkeypatch, timedelta(days=59, hours=12))
    assert jobs.warn_due(pair["VNM"]) == [secret]  # not the held one: kept until the MLA request is decided
    assert _pages(pair["VNM"]) == [(secret, "247", "urgent",
                                    f"preservation ends in less than 1 day: confidential request {secret}")]


def test_a_peer_event_with_bad_data_is_refused_and_changes_nothing(pair: dict[str, Node]) -> None:
    ref = _preserved(pair)
    created = views.show(pair["VNM"], LAN, ref)
    before = views.show(pair["FRA"], CAMILLE, ref)["version"]
    body = {"request": created["id"], "ref": ref, "side": "requesting", "seq": 2, "seen": 2, "action": "extend",
            "at": format_instant(now()), "by": {"name": "Lan", "role": "duty_officer"},
            "data": {"days": "lots", "reason": "x"}}
    with pair["VNM"].db.transaction() as uow:
        message = outbox.enqueue(pair["VNM"], uow, sender_desk="247", recipient="FRA/247", kind="request.event",
                                 body=body, case=None)
    with pytest.raises(HanoinetError) as refused:
        inbox.receive(pair["FRA"], message.jwe)
    assert refused.value.code == "invalid_request" and "days" in refused.value.message
    assert views.show(pair["FRA"], CAMILLE, ref)["version"] == before


def test_release_ends_a_preservation_on_both_sides(pair: dict[str, Node]) -> None:
    ref = _preserved(pair)
    commands.act(pair["VNM"], LAN, ref, Action.FOLLOW_UP, {"mla_ref": "MLA-VNM-2026-12"})
    pump(pair)
    assert views.show(pair["FRA"], CAMILLE, ref)["held_for"] == "MLA-VNM-2026-12"
    with pytest.raises(ValidationError, match="reason"):
        commands.act(pair["VNM"], LAN, ref, Action.RELEASE, {})
    commands.act(pair["VNM"], LAN, ref, Action.RELEASE, {"reason": "the MLA request was refused"})
    pump(pair)
    ours, theirs = both(pair, ref)
    assert ours["state"] == theirs["state"] == "expired"
    assert next(c for c in theirs["clocks"] if c["name"] == "preservation")["status"] == "released"
    with pytest.raises(ValidationError, match="expires by itself") as refused:
        commands.act(pair["FRA"], CAMILLE, ref, Action.EXPIRE, {})
    assert "releases the data" in refused.value.hint


def test_refusing_at_once_stops_the_escalation(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    with pair["FRA"].db.transaction(readonly=True) as uow:
        assert [p.subject_ref for p in open_pages(uow.session, None)] == [ref]
    commands.act(pair["FRA"], CAMILLE, ref, Action.REFUSE, {"ground": "prejudice_sovereignty", "reasons": "x"})
    with pair["FRA"].db.transaction(readonly=True) as uow:
        assert open_pages(uow.session, None) == []


def _forge(pair: dict[str, Node], sender: str, body: dict[str, Any]) -> bytes:
    to = "FRA/247" if sender == "VNM" else "VNM/247"
    with pair[sender].db.transaction() as uow:
        return outbox.enqueue(pair[sender], uow, sender_desk="247", recipient=to, kind="request.event", body=body,
                              case=None).jwe


def test_a_back_dated_acknowledgement_is_refused(pair: dict[str, Node]) -> None:
    created = new(pair)
    pump(pair)
    back = format_instant(now() - timedelta(days=3))
    jwe = _forge(pair, "FRA", {"request": created["id"], "ref": created["ref"], "side": "requested", "seq": 1,
                               "seen": 1, "action": "acknowledge", "at": back,
                               "by": {"name": "Camille", "role": "duty_officer"}, "data": {}})
    with pytest.raises(HanoinetError) as refused:
        inbox.receive(pair["VNM"], jwe)
    assert refused.value.code == "invalid_request" and "dated" in refused.value.message


def test_the_same_event_in_a_new_envelope_is_a_duplicate_and_a_reused_reference_a_conflict(
    pair: dict[str, Node]
) -> None:
    created = new(pair)
    pump(pair)
    with pair["VNM"].db.transaction(readonly=True) as uow:
        sent = uow.session.scalars(select(OutboxMessage)).one()
        body = json.loads(sent.payload)["body"]
    again = _forge(pair, "VNM", body)  # as a node restored from a backup would resend it
    assert not inbox.receive(pair["FRA"], again).duplicate
    assert views.show(pair["FRA"], CAMILLE, created["ref"])["version"] == 1
    clash = _forge(pair, "VNM", {**body, "request": uuid7()})  # another request under the same reference
    with pytest.raises(HanoinetError) as refused:
        inbox.receive(pair["FRA"], clash)
    assert refused.value.code == "request_conflict"


def test_a_request_the_other_state_refuses_to_take_goes_back_to_draft_with_an_alarm(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    worker = DeliveryWorker(pair["VNM"], transport=None, worker_id="w")  # type: ignore[arg-type]
    (claim,) = worker.claim(10)
    worker.settle([(claim, PeerAnswer(status=422, code="invalid_request", detail="dual criminality statement"))])
    view = views.show(pair["VNM"], LAN, ref)
    assert view["state"] == "draft" and view["timeline"] == [] and view["allowed"] == ["send"]
    with pair["VNM"].db.transaction(readonly=True) as uow:
        codes = [(a.code, a.desk) for a in uow.session.scalars(select(Alarm))]
    assert ("request_not_delivered", "247") in codes
    # The desk fixes what the other State objected to, and sends the same request again.
    fixed = {**PRESERVATION, "facts": PRESERVATION["facts"] + " Dual criminality: Art. 10 offence in both."}
    commands.edit(pair["VNM"], LAN, ref, commands.Draft(kind="preservation", to="FRA/247", fields=fixed,
                                                        case="VNM-2026-0117"), version=view["version"])
    commands.act(pair["VNM"], LAN, ref, Action.SEND, {})
    pump(pair)
    received = views.show(pair["FRA"], CAMILLE, ref)
    assert received["state"] == "received"
    assert next(f["value"] for f in received["fields"] if f["name"] == "facts") == fixed["facts"]


def test_a_draft_can_be_changed_until_it_is_sent(pair: dict[str, Node]) -> None:
    draft = commands.create(pair["VNM"], LAN, commands.Draft(kind="preservation", to="FRA/247", fields=PRESERVATION,
                                                             case="VNM-2026-0117"), send=False)
    ref = draft["ref"]
    changed = {**PRESERVATION, "necessity": "Logs rotate every 24 hours.", "confidential": False}
    changed.pop("do_not_notify")
    edited = commands.edit(pair["VNM"], LAN, ref, commands.Draft(
        kind="preservation", to="FRA/CA", fields=changed, priority="normal", case="VNM-2026-0118"),
        version=draft["version"])
    assert (edited["ref"], edited["state"], edited["version"]) == (ref, "draft", draft["version"] + 1)
    assert (edited["requested"], edited["priority"], edited["case"]) == ("FRA/CA", "normal", "VNM-2026-0118")
    assert (edited["confidential"], edited["do_not_notify"]) == (False, False)
    with pair["VNM"].db.transaction(readonly=True) as uow:
        [detail] = uow.session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "request.edit")).all()
    assert json.loads(detail) == {"changed": ["case", "confidential", "do_not_notify", "necessity", "priority",
                                              "to"]}

    # Stale, of another kind, incomplete or from another desk: refused, and the draft is as it was.
    with pytest.raises(Conflict) as stale:
        commands.edit(pair["VNM"], LAN, ref, commands.Draft(kind="preservation", to="FRA/247", fields=PRESERVATION),
                      version=draft["version"])
    assert stale.value.code == "request_changed"
    with pytest.raises(ValidationError, match="keeps its kind"):
        commands.edit(pair["VNM"], LAN, ref, commands.Draft(kind="emergency_disclosure", to="FRA/247", fields={}))
    with pytest.raises(ValidationFailed) as incomplete:
        commands.edit(pair["VNM"], LAN, ref, commands.Draft(kind="preservation", to="FRA/247",
                                                            fields={k: v for k, v in changed.items() if k != "facts"}))
    assert [p.field for p in incomplete.value.problems] == ["facts"]
    with pytest.raises(NotFound):  # another desk's draft, as for any other act
        commands.edit(pair["VNM"], PAUL, ref, commands.Draft(kind="preservation", to="FRA/247", fields=PRESERVATION))
    assert views.show(pair["VNM"], LAN, ref)["version"] == edited["version"]

    commands.act(pair["VNM"], LAN, ref, Action.SEND, {})
    pump(pair)
    received = views.show(pair["FRA"], PAUL, ref)
    assert (received["state"], received["requested"], received["priority"]) == ("received", "FRA/CA", "normal")
    assert next(f["value"] for f in received["fields"] if f["name"] == "necessity") == "Logs rotate every 24 hours."
    with pytest.raises(Conflict) as sent:
        commands.edit(pair["VNM"], LAN, ref, commands.Draft(kind="preservation", to="FRA/CA", fields=changed))
    assert sent.value.code == "not_a_draft" and "withdraw" in sent.value.hint


def test_a_question_on_an_urgent_request_wakes_the_requesting_desk(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    commands.act(pair["FRA"], CAMILLE, ref, Action.ACKNOWLEDGE, {})
    commands.act(pair["FRA"], CAMILLE, ref, Action.CLARIFY, {"question": "Which time zone are the times in?"})
    pump(pair)
    with pair["VNM"].db.transaction(readonly=True) as uow:
        pages = open_pages(uow.session, None)
    assert [(p.subject_ref, p.headline) for p in pages] == [(ref, f"question from the requested State: "
                                                                  f"confidential request {ref}")]
    commands.act(pair["VNM"], LAN, ref, Action.ANSWER, {"answer": "UTC"})
    with pair["VNM"].db.transaction(readonly=True) as uow:
        assert open_pages(uow.session, None) == []


def test_a_refusal_page_ends_when_someone_at_the_desk_reads_it(pair: dict[str, Node]) -> None:
    ref = new(pair)["ref"]
    pump(pair)
    commands.act(pair["FRA"], CAMILLE, ref, Action.REFUSE, {"ground": "prejudice_sovereignty", "reasons": "x"})
    pump(pair)
    with pair["VNM"].db.transaction(readonly=True) as uow:
        assert [p.subject_ref for p in open_pages(uow.session, None)] == [ref]
    assert views.show(pair["VNM"], LAN, ref)["allowed"] == []  # nothing left to do but read it
    with pair["VNM"].db.transaction(readonly=True) as uow:
        assert open_pages(uow.session, None) == []
