"""Custody events: canonical records, and leaves that commit to them without holding them."""

from __future__ import annotations

import hashlib

import pytest
import rfc8785
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


#: Text that RFC 8785 treats specially: escapes, control characters, DEL, line separators, non-ASCII, and
#: characters outside the Basic Multilingual Plane, which UTF-16 sorts below U+E000..U+FFFF.
TRICKY = st.text(st.sampled_from(['"', "\\", "\b", "\t", "\n", "\f", "\r", "\x00", "\x1f", "\x7f", "\u2028",
                                  "é", "\ufb01", "\uffff", "\U0001f600", "a", "Z", "_"]), max_size=6)


@given(actor=st.text(min_size=1, max_size=100) | TRICKY.filter(bool), case=st.none() | st.text(max_size=128),
       detail=st.dictionaries(st.text(max_size=20) | TRICKY,
                              st.text(max_size=50) | TRICKY | st.integers(-(2**53 - 1), 2**53 - 1) | st.booleans(),
                              max_size=6))
def test_the_record_is_byte_for_byte_what_rfc8785_writes(actor: str, case: str | None,
                                                         detail: dict[str, str | int | bool]) -> None:
    event = CustodyEvent.model_validate({**EVENT.model_dump(mode="json"), "actor": actor, "case": case,
                                         "detail": detail})
    assert event.record() == rfc8785.dumps(event.model_dump(mode="json"))


def test_member_names_sort_by_utf16_code_units_not_code_points() -> None:
    event = EVENT.model_copy(update={"detail": {"\ufb01": 1, "\U0001f600": 2, "z": 3}})
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16, which sorts before FB01 (RFC 8785, section 3.2.3).
    assert '"detail":{"z":3,"\U0001f600":2,"\ufb01":1}'.encode() in event.record()


def test_control_characters_are_escaped_as_rfc8785_says() -> None:
    event = EVENT.model_copy(update={"actor": 'a"\\\b\t\n\f\r\x01\x1f\x7f\u2028é'})
    assert b'"actor":"a\\"\\\\\\b\\t\\n\\f\\r\\u0001\\u001f\x7f\xe2\x80\xa8\xc3\xa9"' in event.record()


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic notices the wrong types too, when dumping
@pytest.mark.parametrize("change", [{"detail": {"x": 1.5}}, {"detail": {"x": 2**53}}, {"actor": "\ud800"},
                                    {"case": 1.0}])
def test_values_that_skipped_validation_are_still_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EVENT.model_copy(update=change).record()
