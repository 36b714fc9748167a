"""Custody events: canonical records, and leaves that commit to them without holding them."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoinet.errors import ValidationError
from hanoinet.ledger.events import ACTIONS, CustodyEvent, leaf_data, parse_record, register_action

EVENT = CustodyEvent(action="received", at="2026-11-24T03:00:00.000Z", node="FRA", actor="peer:VNM",
                     object_sha256="ab" * 32, case="VNM-2026-0001", detail={"message_id": "m-1", "size": 1500})


def test_the_record_is_canonical_json_and_the_leaf_its_sha256() -> None:
    record = EVENT.record()
    assert record.startswith(b'{"action":"received","actor":"peer:VNM","at":"2026-11-24T03:00:00.000Z"')
    assert leaf_data(record) == hashlib.sha256(record).digest()
    assert parse_record(record) == EVENT


@pytest.mark.parametrize("change", [{"action": "opened"}, {"actor": "peer:BRA"}, {"case": None},
                                    {"at": "2026-11-24T03:00:00.001Z"}, {"detail": {"message_id": "m-2"}}])
def test_any_change_to_the_event_changes_its_leaf(change: dict[str, object]) -> None:
    other = EVENT.model_copy(update=change)
    assert leaf_data(other.record()) != leaf_data(EVENT.record())


@pytest.mark.parametrize("record", [
    b'{"v":1}', b"not json", EVENT.record().replace(b'"v":1', b'"v":2'),
    EVENT.record().replace(b'{"action"', b'{ "action"'),  # not canonical: a leaf commits to exact bytes
    EVENT.record().replace(b'"received"', b'"teleported"'),
])
def test_malformed_or_non_canonical_records_are_refused(record: bytes) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_record(record)
    assert refused.value.code == "bad_record"


def test_integers_beyond_the_i_json_range_are_refused_when_the_event_is_made() -> None:
    with pytest.raises(ValueError, match="safe integer range"):
        EVENT.model_validate({**EVENT.model_dump(mode="json"), "detail": {"size": 2**53}})


def test_actions_are_a_registry() -> None:
    assert {"collected", "sealed", "sent", "received", "shredded"} <= ACTIONS
    with pytest.raises(ValueError, match="lower snake case"):
        register_action("Bad Name")
    assert register_action("witnessed") in ACTIONS


@given(actor=st.text(min_size=1, max_size=100), case=st.none() | st.text(max_size=128),
       detail=st.dictionaries(st.text(max_size=20), st.text(max_size=50) | st.integers(-(2**53 - 1), 2**53 - 1)
                              | st.booleans(), max_size=5))
def test_every_event_round_trips_through_its_record(actor: str, case: str | None,
                                                    detail: dict[str, str | int | bool]) -> None:
    event = EVENT.model_copy(update={"actor": actor, "case": case, "detail": detail})
    event = CustodyEvent.model_validate(event.model_dump(mode="json"))
    assert parse_record(event.record()) == event
