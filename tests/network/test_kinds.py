"""The registry of message kinds and body validation."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from hanoinet.errors import EnvelopeRefused
from hanoinet.network import kinds
from hanoinet.network.kinds import NOTE, MessageKind, TextNote, get, names, register, validate_body


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    count: int


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test registers into a copy of the registry, so nothing leaks into other tests."""
    monkeypatch.setattr(kinds, "_REGISTRY", dict(kinds._REGISTRY))


def test_note_text_is_registered() -> None:
    assert get("note.text") is NOTE
    assert NOTE.body is TextNote
    assert "note.text" in names()


def test_register_and_get() -> None:
    kind = register(MessageKind("test.count", _Body, "a count"))
    assert get("test.count") is kind
    assert names() == sorted(names())
    assert "test.count" in names()


def test_registering_the_same_kind_again_is_harmless() -> None:
    kind = MessageKind("test.again", _Body, "x")
    assert register(kind) is kind
    assert register(kind) is kind


def test_duplicate_name_is_refused() -> None:
    register(MessageKind("test.dup", _Body, "first"))
    with pytest.raises(ValueError, match="already registered"):
        register(MessageKind("test.dup", _Body, "second"))
    assert get("test.dup").summary == "first"
    with pytest.raises(ValueError, match="already registered"):
        register(MessageKind("note.text", TextNote, "a lookalike"))


@pytest.mark.parametrize(
    "name",
    ["note", "Note.text", "note.Text", "note..text", ".note", "note.", "1note.text", "note.1text", "note text",
     "note-text.x", "note.text\n", "", "n\u00f6te.text"],
)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="dotted lower-case"):
        register(MessageKind(name, _Body, "x"))
    assert name not in names()


@pytest.mark.parametrize("name", ["a.b", "preservation.request", "evidence.offer_v2", "hash9.bank.update"])
def test_good_names(name: str) -> None:
    assert register(MessageKind(name, _Body, "x")).name == name


def test_trailing_newline_in_kind_name_is_refused_regression() -> None:
    # Regression: the name pattern ended in "$", which also matches before a final newline.
    with pytest.raises(ValueError):
        register(MessageKind("test.newline\n", _Body, "x"))


def test_unknown_kind() -> None:
    with pytest.raises(EnvelopeRefused) as info:
        get("example.never_registered")
    assert info.value.code == "unknown_kind"
    assert "note.text" in info.value.hint
    with pytest.raises(EnvelopeRefused) as info:
        validate_body("example.never_registered", {})
    assert info.value.code == "unknown_kind"


def test_validate_body_returns_plain_json_with_defaults() -> None:
    assert validate_body("note.text", {"subject": "s", "text": "t"}) == {"subject": "s", "text": "t", "language": "en"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"subject": "s"},
        {"text": "t"},
        {"subject": "", "text": "t"},
        {"subject": "s" * 301, "text": "t"},
        {"subject": "s", "text": ""},
        {"subject": "s", "text": "t" * 100_001},
        {"subject": "s", "text": "t", "language": "EN"},
        {"subject": "s", "text": "t", "language": "en\n"},
        {"subject": "s", "text": "t", "extra": 1},
        {"subject": 1, "text": "t"},
        {"subject": "s", "text": b"t"},
        ["subject", "text"],
        None,
        "text",
    ],
)
def test_invalid_bodies(body: object) -> None:
    with pytest.raises(EnvelopeRefused) as info:
        validate_body("note.text", body)
    assert info.value.code == "invalid_body"
    assert "\n" not in info.value.message


def test_limits_are_inclusive() -> None:
    body = {"subject": "s" * 300, "text": "t" * 100_000, "language": "zh-Hant"}
    assert validate_body("note.text", body) == body


def test_registered_kind_is_validated() -> None:
    register(MessageKind("test.count", _Body, "a count"))
    assert validate_body("test.count", {"count": 3}) == {"count": 3}
    with pytest.raises(EnvelopeRefused) as info:
        validate_body("test.count", {"count": "3"})
    assert info.value.code == "invalid_body"
