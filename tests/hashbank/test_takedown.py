"""Takedown at the node: reports, review, quarantine, deadlines, and the victim's status at the entry's origin."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text, update

from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db import database
from hanoinet.db.models import Alarm, HashTrust, InboxMessage, MatchReport, OutboxMessage, Page, TakedownStatus
from hanoinet.errors import Conflict, EnvelopeRefused, HanoinetError, NotFound, ValidationError
from hanoinet.hashbank import bank, platforms, replication, takedown
from hanoinet.hashbank.bank import NewHash
from hanoinet.hashbank.platforms import PlatformPrincipal
from hanoinet.ids import uuid7
from hanoinet.network import kinds, outbox
from hanoinet.network.envelope import EnvelopePayload
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
    fra.settings.takedown_flood_threshold = 3  # each platform counts for at most 3 // 2 + 1 = 2 reports
    [entry, other] = add(fra, 2)
    platform, rival = register(fra), register(fra, "Other Videos")
    made = [report(fra, platform, entry, ref=f"upload-{i}") for i in range(3)]
    made.append(report(fra, rival, entry, ref="upload-0"))
    report(fra, platform, other)
    assert alarms(fra) == [] and {r.review.value for r in made} == {"pending"}
    fifth = report(fra, rival, entry, ref="upload-1")
    assert fifth.review.value == "quarantined" and fifth.standing.quarantined
    assert "4 new match reports from 2 platforms" in (fifth.standing.quarantine_reason or "")
    assert alarms(fra) == ["hashbank_flood"]
    assert queue(fra, "quarantined") == [*(r.id for r in made), fifth.id]
    assert len(queue(fra, "pending")) == 1, "another entry's report is not touched"
    confirmed = review(fra, made[0].id, "confirm")
    assert confirmed.review.value == "confirmed", "a reviewer may decide on a quarantined report"

    with fra.db.transaction() as uow:
        standing, moved = takedown.release(uow, entry.entry_id, actor=REVIEWER, note="a popular meme? no: checked")
    assert moved == 4 and not standing.quarantined
    assert len(queue(fra, "pending")) == 5 and queue(fra, "quarantined") == []
    with fra.db.transaction() as uow, pytest.raises(Conflict) as caught:
        takedown.release(uow, entry.entry_id, actor=REVIEWER)
    assert caught.value.code == "not_quarantined"
    assert report(fra, rival, entry, ref="upload-9").review.value == "pending", "the window starts again"


def test_false_positives_lower_trust_and_quarantine_a_distrusted_entry(fra: Node) -> None:
    [entry] = add(fra)
    platform, rival, third_party = register(fra), register(fra, "Other Videos"), register(fra, "Third Clips")
    made = [report(fra, platform, entry, ref=f"upload-{i}") for i in range(4)]
    theirs, waiting = report(fra, rival, entry), report(fra, third_party, entry)
    review(fra, made[0].id, "confirm")
    review(fra, made[1].id, "reject")
    with fra.db.transaction() as uow:
        takedown.false_positive(fra, uow, platform, made[2].id)
    counted = review(fra, made[3].id, "reject")
    assert (counted.standing.confirmed, counted.standing.false_positives) == (1, 2), \
        "the platform and the reviewers, each once, however many of its matches were rejected"
    assert alarms(fra) == []
    with fra.db.transaction() as uow:
        third = takedown.false_positive(fra, uow, rival, theirs.id, reason="a different beach")
    assert (third.standing.confirmed, third.standing.false_positives) == (1, 3)
    assert third.standing.trust == 0.333 and third.standing.quarantined  # (1 + 1) / (1 + 3 + 2)
    assert "from 3 source(s)" in (third.standing.quarantine_reason or "")
    assert alarms(fra) == ["hashbank_low_trust"]
    assert queue(fra, "quarantined") == [waiting.id]
    assert report(fra, platform, entry, ref="upload-new").review.value == "quarantined"
    with fra.db.transaction(readonly=True) as uow:
        assert takedown.get(uow.session, theirs.id).reason == "a different beach"


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
        assert uow.session.scalar(select(Alarm.desk).where(Alarm.code == "takedown_overdue")) == page.desk == "247"
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
    assert kinds.validate_body(takedown.KIND, {**good, "status": "not_removed", "reason": "court order\n\tsee"})
    refusal = {**good, "status": "not_removed"}
    for body in ({**good, "reason": "why"}, {**good, "status": "gone"}, {**good, "victim": "name"},
                 {**good, "platform": ""}, {**good, "at": "yesterday"}, {**good, "entry": "not-an-id"},
                 {**good, "platform": "Example\x00Photos"}, {**good, "platform": "Example\nPhotos"},
                 {**good, "platform": "Example Photos\x7f"}, {**refusal, "reason": "court\x00order"},
                 {**refusal, "reason": "court\x1b[2Jorder"}, {**refusal, "reason": "court\rorder"}):
        with pytest.raises(EnvelopeRefused) as caught:
            kinds.validate_body(takedown.KIND, body)
        assert caught.value.code == "invalid_body"
    assert not kinds.get(takedown.KIND).direct, "officers cannot send takedown statuses as plain messages"


def _takedown_envelope(entry: bank.Entry, status: str, at: datetime) -> EnvelopePayload:
    return EnvelopePayload.model_validate({
        "v": 1, "id": uuid7(), "kind": takedown.KIND, "from": "FRA/247", "to": "BRA/247",
        "created": format_instant(now()), "case": None,
        "body": {"entry": entry.entry_id, "platform": "Example Photos", "status": status, "at": format_instant(at)},
    })


def _waiting_on_a_lock(url: str) -> bool:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'").fetchone()
    return row is not None and row[0] > 0


@pytest.mark.postgres
def test_two_processes_applying_statuses_of_one_platform_never_go_backwards(tmp_path: Path, authority: KeyPair,
                                                                            pg_url: str) -> None:
    bra = make_node(tmp_path, "BRA", authority, database_url=pg_url)
    try:
        [entry] = add(bra)
        t = now()
        with bra.db.transaction() as uow:
            takedown._on_takedown(bra, uow, _takedown_envelope(entry, "matched", t + timedelta(seconds=5)), now())
        newer_applied, let_newer_commit = threading.Event(), threading.Event()
        failures: list[BaseException] = []

        def newer() -> None:  # at=11, holds its transaction open until the older one is under way
            try:
                with bra.db.transaction() as uow:
                    takedown._on_takedown(bra, uow, _takedown_envelope(entry, "removed", t + timedelta(seconds=11)),
                                          now())
                    uow.session.flush()
                    newer_applied.set()
                    assert let_newer_commit.wait(30)
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)
                newer_applied.set()

        def older() -> None:  # at=10, delivered late by another process
            try:
                with bra.db.transaction() as uow:
                    takedown._on_takedown(bra, uow, _takedown_envelope(entry, "under_review",
                                                                       t + timedelta(seconds=10)), now())
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        first = threading.Thread(target=newer)
        first.start()
        assert newer_applied.wait(30)
        second = threading.Thread(target=older)
        second.start()
        for _ in range(300):  # the older one must wait for the newer one's lock, not read past it
            if _waiting_on_a_lock(pg_url) or not second.is_alive():
                break
            time.sleep(0.05)
        let_newer_commit.set()
        first.join(30)
        second.join(30)
        assert failures == []
        with bra.db.transaction(readonly=True) as uow:
            [row] = uow.session.scalars(select(TakedownStatus)).all()
        assert (row.status, row.updated_at) == ("removed", t + timedelta(seconds=11)), "the newest status stays"
    finally:
        bra.close()


def test_control_characters_are_refused_in_what_platforms_and_reviewers_write(fra: Node) -> None:
    [entry] = add(fra)
    platform = register(fra)
    for change, code in (
        ({"ref": "a\x00b"}, "bad_content_ref"),
        ({"ref": "upload\n1"}, "bad_content_ref"),
        ({"ref": "upload\x7f"}, "bad_content_ref"),
        ({"ref": "upload\ud800"}, "bad_content_ref"),
        ({"action": "not_removed", "reason": "court\x00order"}, "bad_reason"),
        ({"action": "not_removed", "reason": "court\x1b[2Jorder"}, "bad_reason"),
        ({"action": "not_removed", "reason": "court\rorder"}, "bad_reason"),
    ):
        arguments: dict[str, Any] = {"ref": "upload-1", "action": "under_review", **change}
        with pytest.raises(ValidationError) as caught:
            report(fra, platform, entry, arguments.pop("action"), **arguments)
        assert caught.value.code == code and caught.value.hint, change
    made = report(fra, platform, entry, "not_removed", reason="court order\n\tsee the attached ruling")
    assert made.reason == "court order\n\tsee the attached ruling", "tabs and newlines are free text"
    with fra.db.transaction() as uow, pytest.raises(ValidationError) as caught:
        takedown.review(fra, uow, made.id, decision="confirm", actor=REVIEWER, note="same\x00image")
    assert caught.value.code == "bad_reason"
    with fra.db.transaction() as uow, pytest.raises(ValidationError) as caught:
        takedown.false_positive(fra, uow, platform, made.id, reason="not\x00her")
    assert caught.value.code == "bad_reason"
    with fra.db.transaction() as uow, pytest.raises(ValidationError) as caught:
        takedown.release(uow, entry.entry_id, actor=REVIEWER, note="\x07")
    assert caught.value.code == "bad_reason"
    assert victim_view(fra) == {("FRA", "Example Photos"): ("matched", None)}


def test_one_platform_alone_cannot_quarantine_an_entry(fra: Node) -> None:
    fra.settings.takedown_flood_threshold = 3
    [entry] = add(fra)
    platform = register(fra)
    made = [report(fra, platform, entry, ref=f"upload-{i}") for i in range(10)]
    assert alarms(fra) == [], "ten reports of one platform within the window are no flood"
    for row in made[:5]:
        with fra.db.transaction() as uow:
            rejected = takedown.false_positive(fra, uow, platform, row.id)
    assert rejected.standing.false_positives == 1, "a platform's false positives count once"
    review(fra, made[5].id, "reject")
    rejected = review(fra, made[6].id, "reject")
    assert rejected.standing.false_positives == 2, "and the reviewers once more"
    assert not rejected.standing.quarantined and alarms(fra) == []

    rival = register(fra, "Other Videos")
    report(fra, rival, entry, ref="upload-1")
    assert alarms(fra) == [], "each platform counts at most 3 // 2 + 1 = 2 reports: 2 + 1 is not more than 3"
    flooded = report(fra, rival, entry, ref="upload-2")
    assert flooded.standing.quarantined and alarms(fra) == ["hashbank_flood"], "a second platform's matches do"


def test_a_release_resets_the_false_positives_counted_so_far(fra: Node) -> None:
    [entry] = add(fra)
    names = ("Example Photos", "Other Videos", "Third Clips")
    reporters = [register(fra, name) for name in names]
    made = {p.name: [report(fra, p, entry, ref=f"upload-{i}") for i in range(2)] for p in reporters}
    for p in reporters[:2]:
        with fra.db.transaction() as uow:
            takedown.false_positive(fra, uow, p, made[p.name][0].id)
    third = review(fra, made["Third Clips"][0].id, "reject")
    assert third.standing.false_positives == 4 and third.standing.quarantined  # 3 platforms and the reviewers
    with fra.db.transaction() as uow:
        standing, _ = takedown.release(uow, entry.entry_id, actor=REVIEWER)
    assert (standing.false_positives, standing.quarantined) == (0, False)
    for p in reporters[:2]:
        with fra.db.transaction() as uow:
            again = takedown.false_positive(fra, uow, p, made[p.name][1].id)
    assert again.standing.false_positives == 2 and not again.standing.quarantined, \
        "one more false positive after a release does not quarantine it again"


def _migrate(node: Node, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(database.__file__).parent / "migrations"))
    with node.db.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_the_migration_counts_existing_false_positives_by_source(fra: Node) -> None:
    fra.settings.takedown_min_false_positives = 100  # keep it out of quarantine: only the counts matter here
    [entry] = add(fra)
    platform, rival = register(fra), register(fra, "Other Videos")
    made = [report(fra, platform, entry, ref=f"upload-{i}") for i in range(3)]
    theirs = report(fra, rival, entry)
    for row in made[:2]:
        with fra.db.transaction() as uow:
            takedown.false_positive(fra, uow, platform, row.id)
    review(fra, made[2].id, "confirm")
    _migrate(fra, "0008", down=True)
    with fra.db.transaction() as uow:  # as 0008 counted: every rejection, a window of all reports
        uow.session.execute(text("UPDATE hash_trust SET false_positives = 7, window_reports = 9"))
    _migrate(fra, "0009")
    with fra.db.transaction(readonly=True) as uow:
        assert takedown.get(uow.session, theirs.id).standing.false_positives == 1, "one platform's, once"
        trust = uow.session.scalars(select(HashTrust)).one()
        assert (trust.false_positive_sources, trust.confirmed) == (f"[{platform.id}]", 1)
        assert (trust.window_reports, json.loads(trust.window_platforms)) == (4, {str(platform.id): 3,
                                                                                 str(rival.id): 1})
    review(fra, theirs.id, "reject")
    with fra.db.transaction(readonly=True) as uow:
        trust = uow.session.scalars(select(HashTrust)).one()
        assert json.loads(trust.false_positive_sources) == sorted([0, platform.id, rival.id])
