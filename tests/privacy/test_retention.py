"""Retention of evidence: the pure choice of what is due, domestic periods, and the job across a node restart.

Every instant is pinned: the node's clock is replaced in every module that reads it
(:func:`tests.privacy.support.pin`), so what is due never depends on the day the tests run.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import EvidenceCustody, LedgerEntry
from hanoinet.errors import Conflict, HanoinetError, NotFound, ValidationError
from hanoinet.evidence import transfer
from hanoinet.evidence.package import UseConditions
from hanoinet.evidence.service import EvidenceService
from hanoinet.ledger.events import parse_record
from hanoinet.ledger.log import Sequencer
from hanoinet.node.node import Node
from hanoinet.node.officers import add_officer
from hanoinet.privacy import retention
from hanoinet.privacy.retention import DOMESTIC, SENDER, Held, check_domestic, due, end_of, set_domestic, shred_due
from tests.privacy.support import pin
from tests.support import auth, make_node, publish, pump

CASE = "BRA-2026-0042"
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)


# -- the pure core ------------------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1),
                        timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
files = st.lists(st.builds(Held, id=st.uuids().map(lambda u: u.hex), end=st.none() | instants, shredded=st.booleans()),
                 max_size=30, unique_by=lambda f: f.id)


@given(files, instants)
def test_due_is_exactly_the_unshredded_files_whose_end_has_come(held: list[Held], at: datetime) -> None:
    chosen = set(due(held, at))
    for f in held:
        # Never a file whose end is after `at` (or that has none), always every one whose end is at or before it.
        assert (f.id in chosen) == (not f.shredded and f.end is not None and f.end <= at)


@given(files, instants)
def test_shredding_what_is_due_leaves_nothing_due_at_the_same_instant(held: list[Held], at: datetime) -> None:
    chosen = set(due(held, at))
    after = [Held(f.id, f.end, f.shredded or f.id in chosen) for f in held]
    assert due(after, at) == []
    assert due(held, at) == due(held, at)


@given(files, instants, instants)
def test_what_is_due_only_grows_with_time(held: list[Held], a: datetime, b: datetime) -> None:
    early, late = min(a, b), max(a, b)
    assert set(due(held, early)) <= set(due(held, late))


@given(st.none() | instants, st.none() | instants)
def test_the_end_is_the_earlier_period_and_names_who_set_it(sender: datetime | None,
                                                            domestic: datetime | None) -> None:
    ends = end_of(sender, domestic)
    given_ends = [t for t in (sender, domestic) if t is not None]
    if not given_ends:
        assert ends is None
        return
    assert ends is not None and ends[0] == min(given_ends)
    assert ends[1] == (DOMESTIC if domestic is not None and domestic == ends[0] else SENDER)


def test_a_domestic_period_is_never_longer_than_the_senders_nor_already_over() -> None:
    check_domestic(T0 + DAY, sender_until=T0 + DAY, at=T0)
    check_domestic(T0 + DAY, sender_until=None, at=T0)
    with pytest.raises(ValidationError) as longer:
        check_domestic(T0 + 2 * DAY, sender_until=T0 + DAY, at=T0)
    assert longer.value.code == "retention_longer_than_sender"
    with pytest.raises(ValidationError) as past:
        check_domestic(T0, sender_until=None, at=T0)
    assert past.value.code == "retention_in_past"
    with pytest.raises(ValidationError):
        retention.check_sender(T0 - DAY, at=T0)
    assert retention.check_sender(None, at=T0) is None


# -- a sender's period travels with the package; a restart changes nothing -------------------------------------


@pytest.fixture
def pair(tmp_path: Path, authority: KeyPair, database_url: str,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Node, Node]]:
    """Brazil sends, France (on the database under test) receives; the clock pinned at T0."""
    pin(monkeypatch, T0)
    bra = make_node(tmp_path, "BRA", authority, port=8601)
    fra = make_node(tmp_path, "FRA", authority, port=8602, database_url=database_url)
    publish([bra, fra], authority)
    yield bra, fra
    bra.close()
    fra.close()


def _receive(bra: Node, fra: Node, files: dict[str, bytes], retain_until: datetime | None) -> str:
    """Brazil offers ``files`` with its retention end; France pulls them. Returns the package id."""
    sender = EvidenceService(bra)
    for name, data in files.items():
        sender.ingest(io.BytesIO(data), name=name, case=CASE, actor="officer:7")
    offered = transfer.offer(sender, case=CASE, to="FRA/CA", desk="CA", actor="officer:7", conditions=UseConditions(
        purpose="answer to request FRA-2026-0001", retain_until=retain_until))
    assert pump({"BRA": bra, "FRA": fra}) >= 1
    app = create_app(bra, background=False)
    app.state.evidence = sender
    with TestClient(app, base_url=bra.settings.endpoint) as client:
        assert transfer.Puller(EvidenceService(fra), client=client).pull(offered.package_id)
    return offered.package_id


def _shredded_records(node: Node) -> dict[str, list[dict[str, object]]]:
    """The ``shredded`` custody records of each file, by file id (sequenced first)."""
    while (step := Sequencer(node, holder="test").step()) is not None and step.count:
        pass
    with node.db.transaction(readonly=True) as uow:
        rows = uow.session.execute(select(EvidenceCustody.file_id, LedgerEntry.record)
                                   .join(LedgerEntry, LedgerEntry.entry == EvidenceCustody.entry)
                                   .where(EvidenceCustody.action == "shredded")).all()
    found: dict[str, list[dict[str, object]]] = {}
    for file_id, record in rows:
        found.setdefault(file_id, []).append(dict(parse_record(record.encode()).detail))
    return found


def _readable(service: EvidenceService, file_id: str) -> bytes | None:
    try:
        return b"".join(service.plaintext(file_id))
    except HanoinetError as exc:
        assert exc.code == "evidence_shredded"
        return None


def test_retention_expiry_across_a_restart_shreds_exactly_what_it_should(
        pair: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch) -> None:
    bra, fra = pair
    data = {"chat.db": b"chat" * 5000, "call-records.csv": b"calls" * 4000}
    package_id = _receive(bra, fra, data, retain_until=T0 + 20 * DAY)
    receiver = EvidenceService(fra)
    held = {i.name: i for i in receiver.list(CASE)}
    # The sender's end arrived with the offer and sits on every file received from it.
    assert {i.sender_retain_until for i in held.values()} == {T0 + 20 * DAY}
    assert transfer.list_offers(fra)[0]["retain_until"] == "2026-03-22T09:30:00.000Z"
    own = receiver.ingest(io.BytesIO(b"notes of the French investigator"), name="notes.txt", case=CASE,
                          actor="officer:3", desk="CA")
    # A shorter domestic period on one received file only.
    (chat,) = set_domestic(receiver, until=T0 + 5 * DAY, actor="officer:4", reason="Code of criminal procedure",
                           file_ids=[held["chat.db"].id])
    assert (chat.retain_until, chat.retention_set_by) == (T0 + 5 * DAY, DOMESTIC)
    calls = held["call-records.csv"]
    data_dir = fra.settings.data_dir
    fra.close()

    def restart(at: datetime) -> tuple[Node, EvidenceService, tuple[str, ...]]:
        pin(monkeypatch, at)
        node = Node.open(data_dir)
        service = EvidenceService(node)
        return node, service, tuple(i.name for i in shred_due(service))

    # Before any end: nothing is shredded.
    node, service, shredded = restart(T0 + 5 * DAY - timedelta(milliseconds=1))
    assert shredded == ()
    assert _readable(service, chat.id) == data["chat.db"]
    node.close()
    # Once the end has come, a file not shredded yet (the node not serving) is no longer read.
    pin(monkeypatch, T0 + 5 * DAY)
    node = Node.open(data_dir)
    with pytest.raises(Conflict) as ended:
        b"".join(EvidenceService(node).plaintext(chat.id))
    assert ended.value.code == "retention_ended"
    node.close()
    # At the domestic end exactly: that file only, and its record names the period and who set it.
    node, service, shredded = restart(T0 + 5 * DAY)
    assert shredded == ("chat.db",)
    assert shred_due(service) == []
    node.close()
    node, service, shredded = restart(T0 + 10 * DAY)
    assert shredded == ()
    assert _readable(service, chat.id) is None
    assert _readable(service, calls.id) == data["call-records.csv"]
    assert _readable(service, own.id) == b"notes of the French investigator"
    assert _shredded_records(node) == {chat.id: [{
        "file": chat.id, "retention": "domestic", "retain_until": "2026-03-07T09:30:00.000Z", "set_by": "FRA",
        "reason": "retention period set by this State (FRA), domestic ended at 2026-03-07 09:30 UTC"}]}
    node.close()
    # Past the sender's end: the other received file; the investigator's own file has no period and stays.
    node, service, shredded = restart(T0 + 20 * DAY)
    assert shredded == ("call-records.csv",)
    node.close()
    node, service, shredded = restart(T0 + 25 * DAY)
    assert shredded == ()
    assert _readable(service, calls.id) is None
    assert _readable(service, own.id) == b"notes of the French investigator"
    records = _shredded_records(node)
    assert set(records) == {chat.id, calls.id} and all(len(r) == 1 for r in records.values())
    assert records[calls.id][0]["retention"] == "sender" and records[calls.id][0]["set_by"] == "BRA"
    # The package can no longer be rebuilt: its files are gone.
    with pytest.raises(HanoinetError):
        transfer.rebuild_package(service, package_id, data_dir / "out.zip", actor="officer:4")
    node.close()


def test_a_package_without_a_period_keeps_its_files_and_its_bytes(pair: tuple[Node, Node]) -> None:
    bra, fra = pair
    _receive(bra, fra, {"a.bin": b"a" * 100}, retain_until=None)
    (item,) = EvidenceService(fra).list(CASE)
    assert item.retain_until is None and item.as_json()["retention"] == {
        "until": None, "set_by": None, "sender_until": None, "domestic_until": None}
    assert UseConditions(purpose="p").as_json().keys() == {"purpose", "onward_transfer", "conditions", "articles"}
    assert shred_due(EvidenceService(fra), at=T0 + 10_000 * DAY) == []


def test_a_domestic_period_is_refused_when_longer_than_the_senders_or_on_a_shredded_file(
        pair: tuple[Node, Node]) -> None:
    bra, fra = pair
    _receive(bra, fra, {"a.bin": b"a" * 100, "b.bin": b"b" * 100}, retain_until=T0 + 5 * DAY)
    receiver = EvidenceService(fra)
    a, b = receiver.list(CASE)
    with pytest.raises(ValidationError) as longer:
        set_domestic(receiver, until=T0 + 6 * DAY, actor="officer:4", reason="law", case=CASE)
    assert longer.value.code == "retention_longer_than_sender"
    for target in ({"file_ids": [a.id], "case": CASE}, {}):
        with pytest.raises(ValidationError) as unclear:
            set_domestic(receiver, until=T0 + DAY, actor="officer:4", reason="law", **target)
        assert unclear.value.code == "retention_target"
    receiver.shred(b.id, actor="officer:4", reason="court order")
    with pytest.raises(Conflict):
        set_domestic(receiver, until=T0 + DAY, actor="officer:4", reason="law", case=CASE)
    with pytest.raises(NotFound):
        set_domestic(receiver, until=T0 + DAY, actor="officer:4", reason="law", file_ids=["0" * 32])
    # Nothing changed by the refusals; the shredded file is not shredded again when the period ends.
    assert receiver.get(a.id).domestic_retain_until is None
    assert [i.id for i in shred_due(receiver, at=T0 + 5 * DAY)] == [a.id]
    assert set(_shredded_records(fra)) == {a.id, b.id}


def test_the_receiving_desks_supervisor_sets_a_shorter_period_through_the_api(
        pair: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch) -> None:
    bra, fra = pair
    _receive(bra, fra, {"a.bin": b"a" * 100}, retain_until=T0 + 5 * DAY)
    (item,) = EvidenceService(fra).list(CASE)
    tokens: dict[tuple[str, str], dict[str, str]] = {}
    for role, desk in (("supervisor", "CA"), ("supervisor", "247"), ("central_authority", "CA")):
        with fra.db.transaction() as uow:
            _, token = add_officer(uow.session, name=f"{role} {desk}", role=role, desk=desk,
                                   desks=fra.settings.desk_ids)
        tokens[role, desk] = auth(token)

    def body(until: str) -> dict[str, object]:
        return {"until": until, "reason": "domestic law", "files": [item.id]}

    with TestClient(create_app(fra, background=False)) as client:
        lawyer = client.post("/api/v1/evidence/retention", headers=tokens["central_authority", "CA"],
                             json=body("2026-03-04T10:30:00+01:00"))
        assert lawyer.status_code == 403
        elsewhere = client.post("/api/v1/evidence/retention", headers=tokens["supervisor", "247"],
                                json=body("2026-03-04T10:30:00+01:00"))
        assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "evidence_not_found"
        longer = client.post("/api/v1/evidence/retention", headers=tokens["supervisor", "CA"],
                             json=body("2026-03-08T10:30:00+01:00"))
        assert longer.status_code == 422 and longer.json()["code"] == "retention_longer_than_sender"
        done = client.post("/api/v1/evidence/retention", headers=tokens["supervisor", "CA"],
                           json=body("2026-03-04T10:30:00+01:00"))
        assert done.status_code == 200, done.text
        assert done.json()[0]["retention"] == {
            "until": "2026-03-04T09:30:00.000Z", "set_by": "domestic", "sender_until": "2026-03-07T09:30:00.000Z",
            "domestic_until": "2026-03-04T09:30:00.000Z"}
        shown = client.get(f"/api/v1/evidence/{item.id}", headers=tokens["central_authority", "CA"])
        assert shown.json()["retention"]["until"] == "2026-03-04T09:30:00.000Z"
    while (step := Sequencer(fra, holder="test").step()) is not None and step.count:
        pass
    with fra.db.transaction(readonly=True) as uow:
        records = [parse_record(r.encode()) for r in uow.session.scalars(select(LedgerEntry.record))
                   if r and '"retention_set"' in r]
    (record,) = records
    assert record.actor.startswith("officer:") and record.detail["retain_until"] == "2026-03-04T09:30:00.000Z"
    assert record.detail["sender_until"] == "2026-03-07T09:30:00.000Z"


def test_the_serving_nodes_retention_job_shreds_at_its_first_round(
        tmp_path: Path, authority: KeyPair, monkeypatch: pytest.MonkeyPatch) -> None:
    pin(monkeypatch, T0)
    node = make_node(tmp_path, "FRA", authority)
    service = EvidenceService(node)
    kept = service.ingest(io.BytesIO(b"kept"), name="kept.txt", case=CASE, actor="officer:3")
    ended = service.ingest(io.BytesIO(b"ended"), name="ended.txt", case=CASE, actor="officer:3")
    set_domestic(service, until=T0 + DAY, actor="officer:4", reason="law", file_ids=[ended.id])
    pin(monkeypatch, T0 + DAY)

    async def serve_one_round() -> None:
        stop = asyncio.Event()
        job = asyncio.create_task(retention.run_retention(service, stop, interval=3600))
        while service.get(ended.id).shredded_at is None:
            await asyncio.sleep(0.05)
        stop.set()
        await job

    asyncio.run(asyncio.wait_for(serve_one_round(), timeout=30))
    assert service.get(ended.id).shredded_at == T0 + DAY
    assert service.get(kept.id).shredded_at is None
    node.close()


def test_a_package_of_files_with_an_end_carries_that_end_and_never_a_later_one(pair: tuple[Node, Node],
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from hanoinet.evidence.package import _held_retention, prepare

    bra, fra = pair
    end = T0 + timedelta(days=3)
    _receive(bra, fra, {"mail.mbox": b"m" * 3000}, end)
    receiver = EvidenceService(fra)
    items = receiver.list(CASE)
    # Sealed again without an end (for France's court, or on to a State Brazil consented to): the files' own end
    # goes with them; an earlier one is kept; a later one is refused before anything is sealed.
    assert _held_retention(items, UseConditions(purpose="court")).retain_until == end
    earlier = UseConditions(purpose="court", retain_until=end - timedelta(days=1))
    assert _held_retention(items, earlier) == earlier
    with pytest.raises(ValidationError) as later:
        prepare(receiver, case=CASE, actor="officer:1",
                conditions=UseConditions(purpose="court", retain_until=end + timedelta(days=365)))
    assert later.value.code == "retention_longer_than_held"
    pin(monkeypatch, end + timedelta(minutes=1))  # past the end, before the retention job's round
    with pytest.raises(Conflict) as ended:
        prepare(receiver, case=CASE, actor="officer:1", conditions=UseConditions(purpose="court"))
    assert ended.value.code == "retention_ended"
