"""Takedown at the node: reports, review, quarantine, deadlines, and the victim's status at the entry's origin."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import Alarm, InboxMessage, MatchReport, OutboxMessage, Page, TakedownStatus
from hanoinet.errors import Conflict, EnvelopeRefused, HanoinetError, NotFound, ValidationError
from hanoinet.hashbank import bank, platforms, replication, takedown
from hanoinet.hashbank.bank import NewHash
from hanoinet.hashbank.platforms import PlatformPrincipal
from hanoinet.network import kinds, outbox
from hanoinet.node.node import Node
from tests.support import make_node, publish, pump

REVIEWER = "officer:7"


@pytest.fixture
def nodes(tmp_path: Path, authority: KeyPair, database_urls: Callable[[], str]) -> Iterator[dict[str, Node]]:
    made = {state: make_node(tmp_path, state, authority, port=8470 + i, database_url=database_urls())
            for i, state in enumerate(("FRA", "BRA"))}
    publish(made.values(), authority)
    yield made
    for node in made.values():
        node.close()


@pytest.fixture
def fra(nodes: dict[str, Node]) -> Node:
    return nodes["FRA"]


def add(node: Node, count: int = 1, category: str = "art16") -> list[bank.Entry]:
    with node.db.transaction() as uow:
        return bank.add(uow.session, node.state, [NewHash(hash=secrets.token_hex(32), quality=90, category=category)
                                                  for _ in range(count)], actor="test")


def register(node: Node, name: str = "Example Photos") -> PlatformPrincipal:
    with node.db.transaction() as uow:
        row, _ = platforms.register(uow.session, name=name, email=None, actor="test")
        return PlatformPrincipal(id=row.id, name=row.name)


def report(node: Node, platform: PlatformPrincipal, entry: bank.Entry, action: str = "under_review", *,
           ref: str = "upload-1", reason: str | None = None, distance: int = 4) -> takedown.Report:
    with node.db.transaction() as uow:
        made, _ = takedown.report(node, uow, platform, entry_id=entry.entry_id, content_ref=ref, distance=distance,
                                  action=action, reason=reason)
    return made


def review(node: Node, report_id: int, decision: str) -> takedown.Report:
    with node.db.transaction() as uow:
        return takedown.review(node, uow, report_id, decision=decision, actor=REVIEWER, note="checked")


def victim_view(node: Node) -> dict[tuple[str, str], tuple[str, str | None]]:
    """What the victim's status page reads at ``node``: (state, platform) -> (status, reason)."""
    with node.db.transaction(readonly=True) as uow:
        return {(r.state, r.platform): (r.status, r.reason) for r in uow.session.scalars(select(TakedownStatus))}


def alarms(node: Node) -> list[str]:
    with node.db.transaction(readonly=True) as uow:
        return [a.code for a in uow.session.scalars(select(Alarm).order_by(Alarm.id))]


def queue(node: Node, status: str) -> list[int]:
    with node.db.transaction(readonly=True) as uow:
        return [r.id for r in takedown.queue(uow.session, status, now())]


def test_a_match_abroad_reaches_the_victims_status_at_the_origin(nodes: dict[str, Node]) -> None:
    fra, bra = nodes["FRA"], nodes["BRA"]
    [entry] = add(bra)
    replication.publish(bra)
    pump(nodes)
    platform = register(fra)

    made = report(fra, platform, entry)
    assert made.review.value == "pending" and made.entry.origin == "BRA"
    pump(nodes)
    assert victim_view(bra) == {("FRA", "Example Photos"): ("matched", None)}

    confirmed = review(fra, made.id, "confirm")
    assert confirmed.reviewed_at is not None
    assert confirmed.due_at == confirmed.reviewed_at + timedelta(hours=48), "art16: two days"
    pump(nodes)
    assert victim_view(bra) == {("FRA", "Example Photos"): ("under_review", None)}

    report(fra, platform, entry, "removed")
    pump(nodes)
    assert victim_view(bra) == {("FRA", "Example Photos"): ("removed", None)}
    assert victim_view(fra) == {}, "the victim's status is kept at the origin only"
    with bra.db.transaction(readonly=True) as uow:
        received = [m.kind for m in uow.session.scalars(select(InboxMessage))]
    assert received.count(takedown.KIND) == 3, "one envelope per change of what the victim sees"


def test_an_entry_of_this_state_gets_its_status_directly(fra: Node) -> None:
    [entry] = add(fra)
    platform = register(fra)
    made = report(fra, platform, entry, "not_removed", reason="court order")
    assert victim_view(fra) == {("FRA", "Example Photos"): ("matched", None)}, "nothing is decided before review"
    review(fra, made.id, "confirm")
    assert victim_view(fra) == {("FRA", "Example Photos"): ("under_review", None)}, \
        "an answer given before the review does not answer the notice"
    answered = report(fra, platform, entry, "not_removed", reason="court order")
    assert answered.resolved_at is not None
    assert victim_view(fra) == {("FRA", "Example Photos"): ("not_removed", "court order")}
    with fra.db.transaction(readonly=True) as uow:
        assert uow.session.scalar(select(InboxMessage.message_id)) is None
        assert [o.message_id for o in uow.session.scalars(select(OutboxMessage))] == []


def test_reporting_again_updates_the_action_and_counts_once(fra: Node) -> None:
    [entry] = add(fra)
    platform = register(fra)
    first = report(fra, platform, entry)
    with fra.db.transaction() as uow:
        again, created = takedown.report(fra, uow, platform, entry_id=entry.entry_id, content_ref="upload-1",
                                         distance=4, action="under_review")
    assert not created and again == first
    updated = report(fra, platform, entry, "removed")
    assert updated.id == first.id and updated.action.value == "removed" and updated.updated_at > first.updated_at
    other = report(fra, platform, entry, ref="upload-2")
    assert other.id != first.id
    assert victim_view(fra) == {("FRA", "Example Photos"): ("matched", None)}, "the copy still up decides"
    assert queue(fra, "pending") == [first.id, other.id]


def test_a_flood_of_reports_quarantines_the_entry_until_a_reviewer_releases_it(fra: Node) -> None:
    fra.settings.takedown_flood_threshold = 3
    [entry, other] = add(fra, 2)
    platform = register(fra)
    made = [report(fra, platform, entry, ref=f"upload-{i}") for i in range(3)]
    report(fra, platform, other)
    assert alarms(fra) == [] and {r.review.value for r in made} == {"pending"}
    fourth = report(fra, platform, entry, ref="upload-3")
    assert fourth.review.value == "quarantined" and fourth.standing.quarantined
    assert "4 new match reports" in (fourth.standing.quarantine_reason or "")
    assert alarms(fra) == ["hashbank_flood"]
    assert queue(fra, "quarantined") == [*(r.id for r in made), fourth.id]
    assert len(queue(fra, "pending")) == 1, "another entry's report is not touched"
    confirmed = review(fra, made[0].id, "confirm")
    assert confirmed.review.value == "confirmed", "a reviewer may decide on a quarantined report"

    with fra.db.transaction() as uow:
        standing, moved = takedown.release(uow, entry.entry_id, actor=REVIEWER, note="a popular meme? no: checked")
    assert moved == 3 and not standing.quarantined
    assert len(queue(fra, "pending")) == 4 and queue(fra, "quarantined") == []
    with fra.db.transaction() as uow, pytest.raises(Conflict) as caught:
        takedown.release(uow, entry.entry_id, actor=REVIEWER)
    assert caught.value.code == "not_quarantined"
    assert report(fra, platform, entry, ref="upload-9").review.value == "pending", "the window starts again"


def test_false_positives_lower_trust_and_quarantine_a_distrusted_entry(fra: Node) -> None:
    [entry] = add(fra)
    platform = register(fra)
    made = [report(fra, platform, entry, ref=f"upload-{i}") for i in range(5)]
    review(fra, made[0].id, "confirm")
    review(fra, made[1].id, "reject")
    with fra.db.transaction() as uow:
        takedown.false_positive(fra, uow, platform, made[2].id, reason="a different beach")
    assert alarms(fra) == []
    third = review(fra, made[3].id, "reject")
    assert (third.standing.confirmed, third.standing.false_positives) == (1, 3)
    assert third.standing.trust == 0.333 and third.standing.quarantined  # (1 + 1) / (1 + 3 + 2)
    assert alarms(fra) == ["hashbank_low_trust"]
    assert queue(fra, "quarantined") == [made[4].id]
    assert report(fra, platform, entry, ref="upload-new").review.value == "quarantined"
    with fra.db.transaction(readonly=True) as uow:
        assert takedown.get(uow.session, made[2].id).reason == "a different beach"


def test_a_platform_records_false_positives_on_its_own_reports_before_review_only(fra: Node) -> None:
    [entry] = add(fra)
    platform, rival = register(fra), register(fra, "Other Videos")
    first, second = report(fra, platform, entry), report(fra, platform, entry, ref="upload-2")
    with fra.db.transaction() as uow:
        rejected = takedown.false_positive(fra, uow, platform, first.id)
    assert rejected.review.value == "rejected" and rejected.reviewed_by == platform.actor
    with fra.db.transaction() as uow:
        assert takedown.false_positive(fra, uow, platform, first.id) == rejected, "recording it again is harmless"
    with pytest.raises(Conflict) as refused:
        report(fra, platform, entry, "removed")
    assert refused.value.code == "action_not_allowed", "a rejected match asks for no removal"
    assert report(fra, platform, entry, "not_removed", reason="put back").review.value == "rejected"
    review(fra, second.id, "confirm")
    for who, report_id, code in ((platform, second.id, "already_confirmed"), (rival, first.id, "report_not_found")):
        with fra.db.transaction() as uow, pytest.raises(HanoinetError) as caught:
            takedown.false_positive(fra, uow, who, report_id)
        assert caught.value.code == code
    with pytest.raises(Conflict) as decided:
        review(fra, first.id, "confirm")
    assert decided.value.code == "already_reviewed"


def test_a_missed_deadline_is_escalated_once_and_the_page_closes_when_the_platform_acts(
        nodes: dict[str, Node]) -> None:
    fra, bra = nodes["FRA"], nodes["BRA"]
    [entry] = add(bra, category="art14")
    replication.publish(bra)
    pump(nodes)
    platform = register(fra)
    made = review(fra, report(fra, platform, entry).id, "confirm")
    assert made.due_at is not None and made.due_at - made.reported_at <= timedelta(hours=24, seconds=1)
    with fra.db.transaction(readonly=True) as uow:
        assert [n.id for n in takedown.notices(uow.session, platform.id)] == [made.id]

    with fra.db.transaction() as uow:
        assert takedown.escalate_overdue(fra, uow, made.due_at) == [], "acting at the deadline is in time"
    late = made.due_at + timedelta(seconds=1)
    with fra.db.transaction() as uow:
        assert takedown.escalate_overdue(fra, uow, late) == [made.id]
    with fra.db.transaction() as uow:
        assert takedown.escalate_overdue(fra, uow, late + timedelta(hours=1)) == [], "escalated once"
    assert "takedown_overdue" in alarms(fra)
    with fra.db.transaction(readonly=True) as uow:
        [page] = uow.session.scalars(select(Page)).all()
        overdue = takedown.queue(uow.session, "overdue", late)
    assert (page.desk, page.priority, page.subject_ref) == ("247", "urgent", f"takedown report {made.id}")
    assert "Example Photos" in page.headline and page.resolved_at is None
    assert [r.id for r in overdue] == [made.id] and overdue[0].escalated_at == late
    pump(nodes)
    assert victim_view(bra) == {("FRA", "Example Photos"): ("overdue", None)}

    report(fra, platform, entry, "removed")
    pump(nodes)
    assert victim_view(bra) == {("FRA", "Example Photos"): ("removed", None)}
    with fra.db.transaction(readonly=True) as uow:
        assert uow.session.scalars(select(Page)).one().resolved_at is not None, "the desk need not act any more"
        assert takedown.notices(uow.session, platform.id) == []


def test_the_running_node_escalates_missed_deadlines_by_itself(fra: Node) -> None:
    [entry] = add(fra)
    made = review(fra, report(fra, register(fra), entry).id, "confirm")
    with fra.db.transaction() as uow:
        uow.session.execute(update(MatchReport).values(due_at=now() - timedelta(seconds=1)))

    async def one_round() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(takedown.run(fra, stop, interval=0.05))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if "takedown_overdue" in alarms(fra):
                break
        stop.set()
        await task

    asyncio.run(one_round())
    with fra.db.transaction(readonly=True) as uow:
        assert takedown.get(uow.session, made.id).escalated_at is not None
    assert victim_view(fra) == {("FRA", "Example Photos"): ("overdue", None)}


def test_a_status_for_an_origin_that_left_the_network_is_not_sent(nodes: dict[str, Node],
                                                                   authority: KeyPair) -> None:
    fra, bra = nodes["FRA"], nodes["BRA"]
    [entry] = add(bra)
    replication.publish(bra)
    pump(nodes)
    publish([fra], authority, version=2)
    made = report(fra, register(fra), entry, "removed")
    assert made.action.value == "removed", "the platform's report is recorded all the same"
    assert alarms(fra) == ["takedown_origin_unknown"]
    with fra.db.transaction(readonly=True) as uow:
        assert list(uow.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.kind == takedown.KIND))) == []


def test_withdrawn_entries_ask_for_nothing(fra: Node) -> None:
    [kept, gone] = add(fra, 2)
    platform = register(fra)
    made = report(fra, platform, gone)
    with fra.db.transaction() as uow:
        bank.withdraw(uow.session, "FRA", [gone.entry_id], actor="test")
    with pytest.raises(Conflict) as caught:
        report(fra, platform, gone, ref="upload-2")
    assert caught.value.code == "entry_withdrawn"
    with pytest.raises(Conflict):
        review(fra, made.id, "confirm")
    assert queue(fra, "pending") == []
    assert report(fra, platform, gone, "removed").action.value == "removed", "a known report can still be updated"
    assert report(fra, platform, kept).review.value == "pending"


def test_bad_reports_are_refused_with_what_to_do(tmp_path: Path, authority: KeyPair) -> None:
    node = make_node(tmp_path, "FRA", authority)
    try:
        [entry] = add(node)
        platform = register(node)
        for change, code in (
            ({"entry_id": "nope"}, "bad_entry_id"),
            ({"entry_id": "0193a1b2-0000-7000-8000-000000000000"}, "entry_not_found"),
            ({"action": "deleted"}, "bad_action"),
            ({"action": "not_removed"}, "reason_required"),
            ({"distance": 32}, "bad_distance"),
            ({"distance": -1}, "bad_distance"),
            ({"content_ref": " "}, "bad_content_ref"),
            ({"content_ref": "x" * 201}, "bad_content_ref"),
            ({"reason": "x" * 1001}, "bad_reason"),
        ):
            arguments: dict[str, object] = {"entry_id": entry.entry_id, "content_ref": "upload-1", "distance": 4,
                                            "action": "under_review", **change}
            with node.db.transaction() as uow, pytest.raises((ValidationError, NotFound)) as caught:
                takedown.report(node, uow, platform, **arguments)  # type: ignore[arg-type]
            assert caught.value.code == code and caught.value.hint, change
    finally:
        node.close()


def test_a_status_for_another_states_entry_is_refused_quietly_and_late_ones_are_ignored(
        nodes: dict[str, Node]) -> None:
    fra, bra = nodes["FRA"], nodes["BRA"]
    [theirs] = add(fra)
    [ours] = add(bra)
    replication.publish(fra)
    pump(nodes)
    t = now()

    def send(entry: bank.Entry, status: str, at: str, reason: str | None = None) -> None:
        body = {"entry": entry.entry_id, "platform": "Example Photos", "status": status, "at": at}
        if reason is not None:
            body["reason"] = reason
        with fra.db.transaction() as uow:
            outbox.enqueue(fra, uow, sender_desk="247", recipient="BRA/247", kind=takedown.KIND, body=body)

    send(theirs, "removed", format_instant(t))
    send(ours, "not_removed", format_instant(t + timedelta(seconds=2)), reason="court order")
    send(ours, "matched", format_instant(t + timedelta(seconds=1)))
    pump(nodes)
    assert victim_view(bra) == {("FRA", "Example Photos"): ("not_removed", "court order")}, "the newest wins"
    assert alarms(bra) == ["hashbank_foreign_takedown"]


def test_the_envelope_body_is_closed_and_reasons_go_with_refusals_only() -> None:
    good = {"entry": "0193a1b2-0000-7000-8000-000000000000", "platform": "Example Photos", "status": "removed",
            "at": "2026-11-24T03:00:00.000Z"}
    assert kinds.validate_body(takedown.KIND, good)["status"] == "removed"
    assert kinds.validate_body(takedown.KIND, {**good, "status": "not_removed", "reason": "court order"})
    for body in ({**good, "reason": "why"}, {**good, "status": "gone"}, {**good, "victim": "name"},
                 {**good, "platform": ""}, {**good, "at": "yesterday"}, {**good, "entry": "not-an-id"}):
        with pytest.raises(EnvelopeRefused) as caught:
            kinds.validate_body(takedown.KIND, body)
        assert caught.value.code == "invalid_body"
    assert not kinds.get(takedown.KIND).direct, "officers cannot send takedown statuses as plain messages"
