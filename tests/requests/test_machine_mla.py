"""The Art. 40 procedure in the request machine: consultation before refusing or postponing, postponement,
the requesting State's deadline, four-eyes approval, and crossing acts that both nodes must settle alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoinet.clock import format_instant
from hanoinet.convention.articles import REQUEST_KINDS
from hanoinet.convention.rules import CONSULTATION_PURPOSES
from hanoinet.errors import ValidationError
from hanoinet.node.roles import Role
from hanoinet.requests import clocks
from hanoinet.requests.machine import (
    RULES,
    SUPERVISOR_ROLE,
    TERMINAL,
    Action,
    ApprovalRequired,
    Considering,
    Event,
    IllegalTransition,
    Officer,
    Side,
    State,
    allowed,
    approve,
    available,
    content_digest,
    merge,
    next_event,
    replay,
    requires_consultation,
    resume_due,
)
from tests.requests.test_machine import Network, Party, assert_consulted_first, data_for

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RECEIVED = format_instant(T0 + timedelta(seconds=1))
REQUESTING, REQUESTED = Side.REQUESTING, Side.REQUESTED
GROUND = "domestic_law_forbids"
CONTENT: dict[str, Any] = {"kind": "preservation", "priority": "normal", "language": "fr",
                           "fields": {"summary": "Intrusion into a hospital's systems"}}
AUTHOR = Officer("off-1", "Nguyen Thi Lan", "central_authority")
SUPERVISOR = Officer("off-2", "Tran Van Minh", SUPERVISOR_ROLE)


def consult(considering: Considering = Considering.REFUSAL, *, at: datetime, minutes: int = 60,
            ground: str = GROUND) -> dict[str, Any]:
    data: dict[str, Any] = {"considering": considering.value, "reasons": "a similar domestic search needs an order",
                            "reply_by": format_instant(at + timedelta(minutes=minutes))}
    if considering is Considering.REFUSAL:
        data["ground"] = ground
    return data


class Desk:
    """One conversation in which each side sees everything before acting (a consultation kind by default)."""

    def __init__(self, *, consultation: bool = True, send: dict[str, Any] | None = None) -> None:
        self.consultation = consultation
        self.events: list[Event] = []
        self.t = T0
        self.do(REQUESTING, Action.SEND, send or {})

    def event(self, side: Side, action: Action, data: dict[str, Any] | None = None, *,
              after: timedelta = timedelta(minutes=1)) -> Event:
        self.t += after
        return next_event(self.events, side, action, at=self.t, data=data, received_at=RECEIVED,
                          consultation=self.consultation)

    def do(self, side: Side, action: Action, data: dict[str, Any] | None = None, *,
           after: timedelta = timedelta(minutes=1)) -> Event:
        event = self.event(side, action, data, after=after)
        self.events.append(event)
        return event

    @property
    def history(self) -> Any:
        return replay(self.events, received_at=RECEIVED, consultation=self.consultation)

    def consulted(self, considering: Considering = Considering.REFUSAL, *, answer: bool = True) -> None:
        """Acknowledged, then a consultation opened (and answered)."""
        self.do(REQUESTED, Action.ACKNOWLEDGE)
        self.do(REQUESTED, Action.CONSULT, consult(considering, at=self.t + timedelta(minutes=1)))
        if answer:
            self.do(REQUESTING, Action.REPLY, {"reply": "we will send a court order"})


# -- which kinds --------------------------------------------------------------------------------------------


def test_the_requests_for_mutual_legal_assistance_and_only_they_need_consultation() -> None:
    consulted = {name for name in REQUEST_KINDS if requires_consultation(name)}
    assert consulted == {"stored_data", "real_time_traffic", "interception", "general_assistance"}
    # The 24/7 kinds (Art. 41-43), police cooperation (Art. 47), a proposal (Art. 48) and spontaneous information
    # (Art. 40) are not requests a central authority refuses after consulting.
    assert not consulted & {"preservation", "traffic_disclosure", "emergency_disclosure", "location_query",
                            "law_enforcement", "joint_investigation", "spontaneous_information"}
    assert not requires_consultation("no_such_kind")


@pytest.mark.parametrize("action", [Action.CONSULT, Action.POSTPONE])
def test_the_procedure_is_refused_for_the_other_kinds_naming_it(action: Action) -> None:
    desk = Desk(consultation=False)
    desk.do(REQUESTED, Action.ACKNOWLEDGE)
    assert action not in available(desk.history, REQUESTED, preservation=False)
    with pytest.raises(IllegalTransition) as refused:
        desk.event(REQUESTED, action, consult(at=desk.t))
    assert refused.value.message == (f"{action.value} applies only to requests for mutual legal assistance, which "
                                     "follow the consultation procedure of Art. 40 (current state: acknowledged)")
    assert refused.value.hint == "allowed now for the requested State: start, clarify, partially_execute, " \
                                 "execute, refuse"


def test_the_other_kinds_still_refuse_without_consulting() -> None:
    desk = Desk(consultation=False)
    desk.do(REQUESTED, Action.REFUSE, {"ground": GROUND, "reasons": "x"})
    assert desk.history.state is State.REFUSED


# -- consultation before refusal ----------------------------------------------------------------------------


def test_consult_reply_then_refuse_on_that_ground() -> None:
    desk = Desk()
    desk.consulted()
    assert desk.history.state is State.CONSULTATION_ANSWERED
    assert Action.REFUSE in available(desk.history, REQUESTED, preservation=False, consultation=True, at=desk.t)
    desk.do(REQUESTED, Action.REFUSE, {"ground": GROUND, "reasons": "no judge would order it"})
    history = desk.history
    assert history.state is State.REFUSED
    [consultation] = history.procedure.consultations
    assert consultation.ground == GROUND and consultation.answered_at is not None
    clock = clocks.consultation(history, desk.t, article="40")
    assert clock is not None and clock.status == "met" and clock.article == "40"


def test_a_refusal_without_consultation_says_to_consult_first() -> None:
    desk = Desk()
    desk.do(REQUESTED, Action.ACKNOWLEDGE)
    assert Action.REFUSE not in available(desk.history, REQUESTED, preservation=False, consultation=True)
    with pytest.raises(IllegalTransition) as refused:
        desk.event(REQUESTED, Action.REFUSE, {"ground": GROUND, "reasons": "no judge would order it"})
    assert "must consult the requesting State (Art. 40)" in refused.value.message
    assert "consult (considering refusal, with that ground" in refused.value.message
    assert "consult" in refused.value.hint


def test_a_refusal_must_cite_a_ground_consulted_on() -> None:
    desk = Desk()
    desk.consulted()
    with pytest.raises(IllegalTransition, match="before refusing on 'prejudice_sovereignty' the requested State "
                                                "must consult"):
        desk.event(REQUESTED, Action.REFUSE, {"ground": "prejudice_sovereignty", "reasons": "state secrets"})


def test_a_refusal_needs_its_ground_and_reasons() -> None:
    desk = Desk()
    desk.consulted()
    with pytest.raises(ValidationError) as refused:
        desk.event(REQUESTED, Action.REFUSE, {"ground": GROUND})
    assert refused.value.message == "refuse: the ground and the reasons are both required"
    assert "give the ground you consulted the requesting State on" in refused.value.hint


def test_a_refusal_waits_for_the_reply_or_the_reply_by_date() -> None:
    desk = Desk()
    desk.consulted(answer=False)
    reply_by = desk.history.procedure.consultations[0].reply_by
    assert Action.REFUSE not in available(desk.history, REQUESTED, preservation=False, consultation=True, at=desk.t)
    with pytest.raises(IllegalTransition) as early:
        desk.event(REQUESTED, Action.REFUSE, {"ground": GROUND, "reasons": "x"})
    assert f"may reply to the consultation until {format_instant(reply_by)}" in early.value.message
    assert "once it has replied or that time has passed" in early.value.message
    running = clocks.consultation(desk.history, desk.t)
    assert running is not None and running.status == "running" and running.due == reply_by
    overdue = clocks.consultation(desk.history, reply_by)
    assert overdue is not None and overdue.status == "overdue" and "may now go on to the refusal" in overdue.note
    assert Action.REFUSE in available(desk.history, REQUESTED, preservation=False, consultation=True, at=reply_by)
    desk.do(REQUESTED, Action.REFUSE, {"ground": GROUND, "reasons": "no reply came"}, after=reply_by - desk.t)
    assert desk.history.state is State.REFUSED
    stopped = clocks.consultation(desk.history, desk.t)
    assert stopped is not None and stopped.status == "stopped" and stopped.note == "closed without a reply"


@pytest.mark.parametrize(("data", "message", "hint"), [
    ({"reasons": "x", "reply_by": "2027-01-01T00:00:00.000Z"}, "consult: considering must be refusal or "
     "postponement, not None", "say whether you consider refusing"),
    ({"considering": "refusal", "reasons": "x", "reply_by": "2027-01-01T00:00:00.000Z"},
     "consult: the ground for refusal you consider is missing", "hanoinet request grounds"),
    ({"considering": "postponement", "ground": GROUND, "reasons": "x", "reply_by": "2027-01-01T00:00:00.000Z"},
     "consult: a postponement is not refused on a ground", "remove ground"),
    ({"considering": "refusal", "ground": GROUND, "reasons": " ", "reply_by": "2027-01-01T00:00:00.000Z"},
     "consult: the reasons are missing", "(Art. 40)"),
    ({"considering": "refusal", "ground": GROUND, "reasons": "x", "reply_by": "2026-12-01T09:00:00.000Z"},
     "consult: reply_by must be a later instant", "after now"),
    ({"considering": "refusal", "ground": GROUND, "reasons": "x", "reply_by": "tomorrow"},
     "consult: reply_by must be a later instant", "with its offset"),
])
def test_a_consultation_says_what_it_lacks(data: dict[str, Any], message: str, hint: str) -> None:
    desk = Desk()
    desk.do(REQUESTED, Action.ACKNOWLEDGE)
    with pytest.raises(ValidationError) as refused:
        desk.event(REQUESTED, Action.CONSULT, data)
    assert refused.value.message.startswith(message)
    assert hint in refused.value.hint


def test_only_the_requesting_state_replies_and_only_to_an_open_consultation() -> None:
    desk = Desk()
    desk.consulted(answer=False)
    with pytest.raises(IllegalTransition, match="only the requesting State may reply"):
        desk.event(REQUESTED, Action.REPLY, {"reply": "x"})
    with pytest.raises(ValidationError, match="reply: the reply is missing"):
        desk.event(REQUESTING, Action.REPLY, {})
    desk.do(REQUESTING, Action.REPLY, {"reply": "an order follows"})
    with pytest.raises(IllegalTransition) as again:
        desk.event(REQUESTING, Action.REPLY, {"reply": "and another"})
    assert "consultation answered cannot be replied to" in again.value.message


def test_the_requested_state_may_go_on_instead_and_a_crossing_reply_has_no_effect() -> None:
    desk = Desk()
    desk.consulted(answer=False)
    start = desk.event(REQUESTED, Action.START)
    reply = desk.event(REQUESTING, Action.REPLY, {"reply": "please wait"})
    for arrival in ([*desk.events, reply, start], [*desk.events, start, reply]):
        history = replay(arrival, received_at=RECEIVED, consultation=True)
        assert history.state is State.IN_PROGRESS
        assert not history.outcomes[-1].applied and "already in_progress" in history.outcomes[-1].reason
        assert history.procedure.consultations[0].closed_at is not None


# -- postponement -------------------------------------------------------------------------------------------


def test_postpone_after_consulting_then_resume() -> None:
    desk = Desk()
    desk.consulted(Considering.POSTPONEMENT)
    until = desk.t + timedelta(days=30)
    desk.do(REQUESTED, Action.POSTPONE, {"reasons": "a domestic trial is under way", "until": format_instant(until)})
    history = desk.history
    assert history.state is State.POSTPONED
    assert history.procedure.postponement is not None and history.procedure.postponement.until == until
    # No refusal: the consultation was on postponement only.
    assert available(history, REQUESTED, preservation=False, consultation=True, at=desk.t) == [
        Action.CONSULT, Action.RESUME]
    assert not resume_due(history, until - timedelta(seconds=1)) and resume_due(history, until)
    running = clocks.postponement(history, desk.t, article="40")
    overdue = clocks.postponement(history, until)
    assert running is not None and running.status == "running" and running.note == "a domestic trial is under way"
    assert overdue is not None and overdue.status == "overdue" and "resumes" in overdue.note
    desk.do(REQUESTED, Action.RESUME, after=until - desk.t)
    history = desk.history
    assert history.state is State.IN_PROGRESS and not resume_due(history, until)
    stopped = clocks.postponement(history, desk.t)
    assert stopped is not None and stopped.status == "stopped" and stopped.stopped == until


def test_postponing_needs_a_consultation_on_postponement_each_time() -> None:
    desk = Desk()
    desk.consulted(Considering.REFUSAL)
    with pytest.raises(IllegalTransition, match=r"before postponing the requested State must consult .*"
                                                r"considering postponement"):
        desk.event(REQUESTED, Action.POSTPONE, {"reasons": "x", "until": format_instant(desk.t + timedelta(days=9))})
    desk.do(REQUESTED, Action.CONSULT, consult(Considering.POSTPONEMENT, at=desk.t))
    desk.do(REQUESTING, Action.REPLY, {"reply": "agreed"})
    desk.do(REQUESTED, Action.POSTPONE, {"reasons": "x", "until": format_instant(desk.t + timedelta(days=9))})
    with pytest.raises(IllegalTransition, match="before postponing again the requested State must consult"):
        desk.event(REQUESTED, Action.POSTPONE, {"reasons": "y", "until": format_instant(desk.t + timedelta(days=19))})


@pytest.mark.parametrize(("data", "message"), [
    ({"until": "2027-02-01T00:00:00.000Z"}, "postpone: the reasons are missing"),
    ({"reasons": "x", "until": "2026-11-30T00:00:00.000Z"}, "postpone: until must be a later instant"),
    ({"reasons": "x"}, "postpone: until must be a later instant"),
])
def test_a_postponement_says_what_it_lacks(data: dict[str, Any], message: str) -> None:
    desk = Desk()
    desk.consulted(Considering.POSTPONEMENT)
    with pytest.raises(ValidationError) as refused:
        desk.event(REQUESTED, Action.POSTPONE, data)
    assert refused.value.message.startswith(message) and refused.value.hint


def test_a_postponed_request_can_be_withdrawn_or_refused_but_not_executed() -> None:
    desk = Desk()
    desk.consulted(Considering.POSTPONEMENT)
    desk.do(REQUESTED, Action.POSTPONE, {"reasons": "x", "until": format_instant(desk.t + timedelta(days=9))})
    with pytest.raises(IllegalTransition) as refused:
        desk.event(REQUESTED, Action.EXECUTE, {"result": {}})
    assert "a request that is postponed cannot be executed" in refused.value.message
    assert "resume" in refused.value.hint
    desk.do(REQUESTING, Action.WITHDRAW, {"reason": "the suspect was tried elsewhere"})
    history = desk.history
    assert history.state is State.WITHDRAWN
    assert history.procedure.postponement is not None and history.procedure.postponement.ended_at is not None


# -- the requesting State's deadline ------------------------------------------------------------------------


def test_a_deadline_with_reasons_travels_in_the_send_and_has_its_clock() -> None:
    due = T0 + timedelta(days=10)
    desk = Desk(send={**CONTENT, "deadline": {"due": format_instant(due), "reasons": "trial opens on 14 December"}})
    history = desk.history
    assert history.procedure.deadline is not None and history.procedure.deadline.due == due
    clock = clocks.deadline(history, T0 + timedelta(days=1), article="40")
    assert clock is not None and clock.status == "running" and clock.note == "trial opens on 14 December"
    late = clocks.deadline(history, due + timedelta(seconds=1))
    assert late is not None and late.status == "overdue"
    desk.do(REQUESTED, Action.ACKNOWLEDGE)
    desk.do(REQUESTED, Action.EXECUTE, {"result": {}}, after=timedelta(days=11))
    done = clocks.deadline(desk.history, desk.t)
    assert done is not None and done.status == "late" and done.stopped == desk.t.replace(microsecond=0)
    assert [c.name for c in clocks.all_clocks(desk.history, desk.t, ack_target=timedelta(hours=24),
                                              warnings=(14,))] == ["acknowledgement", "deadline", "response"]


def test_a_deadline_met_or_stopped() -> None:
    due = T0 + timedelta(days=10)
    desk = Desk(send={**CONTENT, "deadline": {"due": format_instant(due), "reasons": "trial"}})
    desk.do(REQUESTED, Action.ACKNOWLEDGE)
    desk.do(REQUESTED, Action.EXECUTE, {"result": {}})
    met = clocks.deadline(desk.history, due + timedelta(days=5))
    assert met is not None and met.status == "met"
    withdrawn = Desk(send={**CONTENT, "deadline": {"due": format_instant(due), "reasons": "trial"}})
    withdrawn.do(REQUESTING, Action.WITHDRAW, {"reason": "x"})
    stopped = clocks.deadline(withdrawn.history, due + timedelta(days=5))
    assert stopped is not None and stopped.status == "stopped" and stopped.stopped == withdrawn.t
    assert clocks.deadline(Desk().history, T0) is None


@pytest.mark.parametrize(("deadline", "message"), [
    ({"due": "2026-12-20T00:00:00.000Z"}, "send: a deadline needs its reasons"),
    ({"due": "2026-11-20T00:00:00.000Z", "reasons": "trial"}, "send: the deadline's due must be a later instant"),
    ("2026-12-20", "send: the deadline's due must be a later instant"),
])
def test_a_deadline_says_what_it_lacks(deadline: object, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        next_event([], REQUESTING, Action.SEND, at=T0, data={**CONTENT, "deadline": deadline})
    assert refused.value.message == message and refused.value.hint


# -- four eyes ----------------------------------------------------------------------------------------------


def test_the_supervisor_role_is_the_nodes() -> None:
    assert Role.SUPERVISOR.value == SUPERVISOR_ROLE


def test_an_approved_request_is_sent_and_both_sides_see_who_approved_it() -> None:
    approval = approve(CONTENT, officer=SUPERVISOR, author=AUTHOR.id, at=T0)
    send = next_event([], REQUESTING, Action.SEND, at=T0 + timedelta(minutes=5), by="Nguyen Thi Lan",
                      data={**CONTENT, "approval": approval}, approval_required=True)
    ack = Event(REQUESTED, 1, 1, Action.ACKNOWLEDGE, format_instant(T0 + timedelta(minutes=9)))
    for history in (replay([send], received_at=RECEIVED), replay([ack, send])):
        signed = history.procedure.approval
        assert signed is not None and signed.name == "Tran Van Minh" and signed.role == SUPERVISOR_ROLE
        assert signed.author == AUTHOR.id and signed.at == T0 and signed.digest == content_digest(CONTENT)


def test_sending_without_the_required_approval_says_who_must_approve() -> None:
    with pytest.raises(ApprovalRequired) as refused:
        next_event([], REQUESTING, Action.SEND, at=T0, data=CONTENT, approval_required=True)
    assert refused.value.code == "approval_required" and refused.value.http_status == 403
    assert "must be approved by a supervisor before it is sent" in refused.value.message
    assert refused.value.hint == "ask a supervisor of your desk other than the author to approve it, then send it"
    assert next_event([], REQUESTING, Action.SEND, at=T0, data=CONTENT).action is Action.SEND


def test_a_draft_changed_after_approval_needs_a_new_one() -> None:
    approval = approve(CONTENT, officer=SUPERVISOR, author=AUTHOR.id, at=T0)
    changed = {**CONTENT, "fields": {"summary": "Intrusion into two hospitals' systems"}}
    with pytest.raises(ApprovalRequired) as refused:
        next_event([], REQUESTING, Action.SEND, at=T0 + timedelta(minutes=1), data={**changed, "approval": approval})
    assert refused.value.message == "send: the request changed after Tran Van Minh approved it at " \
                                    "2026-12-01T09:00:00.000Z"
    assert "approve the request as it stands now" in refused.value.hint


@pytest.mark.parametrize(("officer", "message"), [
    (Officer("off-3", "Pham Thu", "central_authority"), "Pham Thu is a central authority: only a supervisor may "
     "approve an outgoing request"),
    (Officer(AUTHOR.id, "Nguyen Thi Lan", SUPERVISOR_ROLE), "Nguyen Thi Lan wrote this request and cannot also "
     "approve it"),
])
def test_only_a_second_officer_who_is_a_supervisor_approves(officer: Officer, message: str) -> None:
    with pytest.raises(ApprovalRequired) as refused:
        approve(CONTENT, officer=officer, author=AUTHOR.id, at=T0)
    assert refused.value.message.startswith(message) and "supervisor" in refused.value.hint


@pytest.mark.parametrize(("change", "message"), [
    ({"role": "duty_officer"}, "send: the approval was given by a 'duty_officer', not a supervisor"),
    ({"author": SUPERVISOR.id}, "send: the author approved their own request"),
    ({"at": "2026-12-01T10:00:00.000Z"}, "send: the approval is dated after the sending"),
    ({"approver": ""}, "send: the approval must name the approver, the author and when it was given"),
])
def test_a_forged_approval_is_refused_and_superseded_on_replay(change: dict[str, Any], message: str) -> None:
    approval = {**approve(CONTENT, officer=SUPERVISOR, author=AUTHOR.id, at=T0), **change}
    data = {**CONTENT, "approval": approval}
    with pytest.raises(ApprovalRequired, match=message):
        next_event([], REQUESTING, Action.SEND, at=T0 + timedelta(minutes=5), data=data)
    forged = Event(REQUESTING, 1, 0, Action.SEND, format_instant(T0 + timedelta(minutes=5)), data=data)
    history = replay([forged], received_at=RECEIVED)
    assert history.state is State.DRAFT and history.outcomes[0].reason.startswith(message)


# -- property tests -----------------------------------------------------------------------------------------


json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=8)


@given(fields=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
       other=st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_an_approval_covers_exactly_what_was_approved(fields: dict[str, Any], other: dict[str, Any]) -> None:
    approved = {**CONTENT, "fields": fields}
    approval = approve(approved, officer=SUPERVISOR, author=AUTHOR.id, at=T0)
    sent = {**CONTENT, "fields": other, "approval": approval}
    at = T0 + timedelta(minutes=1)
    if fields == other:
        assert next_event([], REQUESTING, Action.SEND, at=at, data=sent, approval_required=True).data == sent
    else:
        with pytest.raises(ApprovalRequired, match="changed after"):
            next_event([], REQUESTING, Action.SEND, at=at, data=sent, approval_required=True)


@given(role=st.sampled_from([r.value for r in Role]), approver=st.sampled_from(["a", "b"]),
       author=st.sampled_from(["a", "b", ""]))
def test_four_eyes_means_a_supervisor_who_is_not_the_author(role: str, approver: str, author: str) -> None:
    officer = Officer(approver, "Someone", role)
    if role == SUPERVISOR_ROLE and author and approver != author:
        approval = approve(CONTENT, officer=officer, author=author, at=T0)
        assert approval["approver"] == approver and approval["author"] == author
    else:
        with pytest.raises(ApprovalRequired):
            approve(CONTENT, officer=officer, author=author, at=T0)


@given(reply_by=st.integers(1, 600), refuse_after=st.integers(1, 900), answered=st.booleans())
def test_a_refusal_is_legal_exactly_once_the_consultation_is_held(reply_by: int, refuse_after: int,
                                                                  answered: bool) -> None:
    desk = Desk()
    desk.do(REQUESTED, Action.ACKNOWLEDGE)
    desk.do(REQUESTED, Action.CONSULT, consult(at=desk.t + timedelta(minutes=1), minutes=reply_by))
    if answered:
        desk.do(REQUESTING, Action.REPLY, {"reply": "x"})
    opened = desk.history.procedure.consultations[0]
    at = desk.t + timedelta(minutes=refuse_after)
    refusal = {"ground": GROUND, "reasons": "x"}
    if answered or at >= opened.reply_by:
        desk.do(REQUESTED, Action.REFUSE, refusal, after=at - desk.t)
        assert desk.history.state is State.REFUSED
    else:
        with pytest.raises(IllegalTransition, match="may reply to the consultation until"):
            desk.event(REQUESTED, Action.REFUSE, refusal, after=at - desk.t)


@given(until=st.integers(1, 10_000), t=st.integers(0, 20_000))
def test_a_postponement_is_due_to_resume_exactly_from_its_date(until: int, t: int) -> None:
    desk = Desk()
    desk.consulted(Considering.POSTPONEMENT)
    end = desk.t + timedelta(minutes=1 + until)
    desk.do(REQUESTED, Action.POSTPONE, {"reasons": "x", "until": format_instant(end)})
    now = desk.t + timedelta(minutes=t)
    clock = clocks.postponement(desk.history, now)
    assert clock is not None
    assert resume_due(desk.history, now) == (now >= end) == (clock.status == "overdue")


@given(due=st.integers(2, 10_000), t=st.integers(0, 20_000), executed=st.one_of(st.none(), st.integers(1, 20_000)))
def test_the_deadline_clock_is_late_or_overdue_exactly_past_its_date(due: int, t: int, executed: int | None) -> None:
    end = T0 + timedelta(minutes=due)
    desk = Desk(send={**CONTENT, "deadline": {"due": format_instant(end), "reasons": "trial"}})
    desk.do(REQUESTED, Action.ACKNOWLEDGE)
    if executed is not None:
        desk.do(REQUESTED, Action.EXECUTE, {"result": {}}, after=timedelta(minutes=executed))
    clock = clocks.deadline(desk.history, T0 + timedelta(minutes=t))
    assert clock is not None and clock.due == end
    if executed is None:
        assert clock.status == ("overdue" if t > due else "running")
    else:
        assert clock.status == ("met" if desk.t <= end else "late")


# -- crossing acts on both nodes ----------------------------------------------------------------------------

#: The Art. 40 acts, each with the side that takes it, whenever that side's copy allows it; consulting,
#: replying and refusing weigh more, so that replies and withdrawals often cross refusals.
CROSSING = [(REQUESTED, Action.CONSULT), (REQUESTED, Action.CONSULT), (REQUESTED, Action.REFUSE),
            (REQUESTED, Action.REFUSE), (REQUESTED, Action.REFUSE), (REQUESTED, Action.POSTPONE),
            (REQUESTED, Action.RESUME), (REQUESTED, Action.START), (REQUESTED, Action.EXECUTE),
            (REQUESTING, Action.REPLY), (REQUESTING, Action.REPLY), (REQUESTING, Action.REPLY),
            (REQUESTING, Action.WITHDRAW)]

crossing_steps = st.lists(st.tuples(st.sampled_from(["act", "to-requesting", "to-requested"]),
                                    st.sampled_from(CROSSING), st.integers(0, 20)), max_size=30)


@settings(max_examples=400)
@given(steps=crossing_steps)
def test_crossing_refusals_withdrawals_and_replies_end_alike_on_both_nodes(
        steps: list[tuple[str, tuple[Side, Action], int]]) -> None:
    """From an acknowledged request under consultation, each side does the Art. 40 acts whenever its own copy
    allows them, with the messages crossing in any order; once all is delivered both copies agree."""
    net = Network({REQUESTING: Party(REQUESTING), REQUESTED: Party(REQUESTED)}, {REQUESTING: [], REQUESTED: []})
    net.act(REQUESTING, 0, False, True)  # send
    net.deliver(REQUESTED)
    net.act(REQUESTED, 0, False, True)  # acknowledge
    for step, (side, action), minutes in steps:
        if step == "to-requesting":
            net.deliver(REQUESTING)
            continue
        if step == "to-requested":
            net.deliver(REQUESTED)
            continue
        party = net.parties[side]
        history = replay(party.events, received_at=party.received_at, consultation=True)
        net.t += timedelta(minutes=minutes)
        if action not in available(history, side, preservation=False, consultation=True, at=net.t):
            continue
        event = next_event(party.events, side, action, at=net.t, data=data_for(action, net.t, history),
                           received_at=party.received_at, consultation=True)
        party.events.append(event)
        net.in_flight[side.other].append(event)
    while net.in_flight[REQUESTING] or net.in_flight[REQUESTED]:
        net.deliver(REQUESTING)
        net.deliver(REQUESTED)
    a, b = (replay(p.events, received_at=p.received_at, consultation=True) for p in net.parties.values())
    assert a == b
    assert merge(net.parties[REQUESTING].events) == merge(net.parties[REQUESTED].events)
    for outcome in a.outcomes:
        rule = RULES[outcome.event.action]
        if outcome.applied:
            assert outcome.before in rule.sources and outcome.after is (rule.target or outcome.before)
        else:  # only a race supersedes, and only the requesting State's act (the requested State goes first)
            assert outcome.before not in rule.sources and outcome.event.side is REQUESTING
    assert not any(o.before in TERMINAL for o in a.outcomes if o.applied)
    assert_consulted_first(a)


def test_refusal_crossing_a_withdrawal_is_refused_on_both_nodes() -> None:
    desk = Desk()
    desk.consulted()
    refuse = desk.event(REQUESTED, Action.REFUSE, {"ground": GROUND, "reasons": "no order possible"})
    withdraw = desk.event(REQUESTING, Action.WITHDRAW, {"reason": "no longer needed"})
    assert (refuse.seen, withdraw.seen) == (2, 2)  # each saw the other's two events before, not the new one
    requesting = replay([*desk.events, withdraw, refuse], received_at=RECEIVED, consultation=True)
    requested = replay([*desk.events, refuse, withdraw], received_at=RECEIVED, consultation=True)
    assert requesting == requested and requested.state is State.REFUSED
    last = requested.outcomes[-1]
    assert last.event is withdraw and not last.applied
    assert "withdraw by the requesting State crossed with the other State's acts" in last.reason


def test_every_new_state_can_be_left_and_the_terminal_ones_not() -> None:
    for state in (State.CONSULTATION_OPEN, State.CONSULTATION_ANSWERED, State.POSTPONED):
        assert Action.WITHDRAW in allowed(state, REQUESTING, preservation=False, consultation=True)
        assert Action.REFUSE in allowed(state, REQUESTED, preservation=False, consultation=True)
    for state in TERMINAL:
        assert allowed(state, REQUESTED, preservation=False, consultation=True) == []


def test_without_data_the_machine_only_says_whether_the_action_is_possible_now() -> None:
    desk = Desk()
    desk.consulted()
    assert next_event(desk.events, REQUESTED, Action.REFUSE, at=desk.t, received_at=RECEIVED,
                      consultation=True).data == {}
    assert next_event([], REQUESTING, Action.SEND, at=T0, approval_required=True).action is Action.SEND
    fresh = Desk()
    fresh.do(REQUESTED, Action.ACKNOWLEDGE)
    with pytest.raises(IllegalTransition, match="must consult the requesting State"):
        next_event(fresh.events, REQUESTED, Action.REFUSE, at=fresh.t, received_at=RECEIVED, consultation=True)


def test_the_machine_and_the_rules_know_the_same_purposes_of_a_consultation() -> None:
    assert tuple(Considering) == CONSULTATION_PURPOSES


def test_one_consultation_at_a_time_and_resume_only_what_is_postponed() -> None:
    desk = Desk()
    desk.consulted(answer=False)
    with pytest.raises(IllegalTransition) as refused:
        desk.event(REQUESTED, Action.CONSULT, consult(Considering.POSTPONEMENT, at=desk.t))
    assert refused.value.message == "a request that is consultation open cannot be consulted on " \
                                    "(current state: consultation_open)"
    assert refused.value.hint == "allowed now for the requested State: start, postpone, refuse"
    desk.do(REQUESTED, Action.START)
    with pytest.raises(IllegalTransition) as again:
        desk.event(REQUESTED, Action.RESUME)
    assert again.value.message == "a request that is in progress cannot be resumed (current state: in_progress)"
    assert "consult" in again.value.hint
