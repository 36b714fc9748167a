"""The Convention data: the catalogue is complete and consistent, and new request kinds plug in."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from hanoinet.convention import (
    NOT_GROUNDS,
    OFFENCES,
    PRESERVATION_CLOCK,
    PRIORITIES,
    PROVISIONS,
    REFUSAL_GROUNDS,
    REQUEST_KINDS,
    UN_LANGUAGES,
    FieldSpec,
    RequestKind,
    articles,
    is_un_language,
    register,
    validate_request,
)

# One reference: an article, optionally a paragraph and a letter, or a range of articles ("50-52").
_ONE = r"[0-9]{1,2}(\([0-9]{1,2}\))?(\([a-z]\))?(-[0-9]{1,2})?"
REFERENCE = re.compile(rf"^{_ONE}(, {_ONE})*$")


def _fields(specs: tuple[FieldSpec, ...]) -> Iterator[FieldSpec]:
    for spec in specs:
        yield spec
        yield from _fields(spec.fields)


def all_references() -> Iterator[tuple[str, str]]:
    for provision in PROVISIONS.values():
        yield f"provision {provision.name}", provision.article
    for offence in OFFENCES.values():
        yield f"offence {offence.code}", offence.article
    for ground in REFUSAL_GROUNDS.values():
        yield f"ground {ground.code}", ground.article
    for not_a_ground in NOT_GROUNDS.values():
        yield f"not a ground {not_a_ground.code}", not_a_ground.article
    for effect in articles.EFFECTS.values():
        yield f"effect {effect.name}", effect.article
    for kind in REQUEST_KINDS.values():
        yield f"kind {kind.name}", kind.article
        for spec in _fields(kind.fields + kind.results):
            yield f"{kind.name}.{spec.name}", spec.article
    yield "preservation clock", PRESERVATION_CLOCK.article


@pytest.fixture
def isolated_registry() -> Iterator[None]:
    """A test's registrations are undone afterwards, so nothing leaks into other tests."""
    saved = dict(REQUEST_KINDS)
    yield
    REQUEST_KINDS.clear()
    REQUEST_KINDS.update(saved)


def test_every_reference_is_well_formed() -> None:
    bad = [(where, ref) for where, ref in all_references() if not REFERENCE.fullmatch(ref)]
    assert bad == []


def test_uncertain_references_stay_at_article_level() -> None:
    uncertain = [spec.article for kind in REQUEST_KINDS.values() for spec in _fields(kind.fields + kind.results)
                 if spec.uncertain]
    uncertain += [g.article for g in REFUSAL_GROUNDS.values() if g.uncertain]
    assert uncertain and all(re.fullmatch(r"[0-9]{1,2}", ref) for ref in uncertain)


def test_offences() -> None:
    assert list(OFFENCES) == [str(n) for n in range(7, 18)] + ["serious"]
    assert {o.code for o in OFFENCES.values() if o.core} == {"7", "8", "9", "10", "11"}
    assert OFFENCES["13"].title == "ICT-related theft or fraud"
    serious = OFFENCES["serious"]
    assert not serious.core and "35(1)(c)" in serious.article and "23(2)(c)" in serious.article
    assert articles.SERIOUS_CRIME_MIN_YEARS == 4
    assert articles.CONVENTION_OFFENCES == "7-17"


def test_refusal_grounds() -> None:
    assert list(REFUSAL_GROUNDS) == ["not_in_conformity", "prejudice_sovereignty", "domestic_law_forbids",
                                     "contrary_to_legal_system", "discrimination", "dual_criminality_not_met"]
    assert REFUSAL_GROUNDS["discrimination"].uncertain
    assert {g.code for g in REFUSAL_GROUNDS.values() if "preservation" in g.kinds} == {
        "prejudice_sovereignty", "dual_criminality_not_met"}
    assert REFUSAL_GROUNDS["dual_criminality_not_met"].kinds == ("preservation",)
    for ground in REFUSAL_GROUNDS.values():
        assert ground.kinds and set(ground.kinds) <= set(REQUEST_KINDS), ground.code
    assert "fiscal_matters" in NOT_GROUNDS and not set(NOT_GROUNDS) & set(REFUSAL_GROUNDS)


def test_languages() -> None:
    assert UN_LANGUAGES == {"ar": "Arabic", "zh": "Chinese", "en": "English", "fr": "French", "ru": "Russian",
                            "es": "Spanish"}
    for tag in ("en", "fr-CA", "zh-Hans", "ES", "ar-EG"):
        assert is_un_language(tag), tag
    for tag in ("vi", "pt-BR", "", "eng", "de"):
        assert not is_un_language(tag), tag


def test_priorities_and_clocks() -> None:
    assert {p.name: p.acknowledge_within for p in PRIORITIES.values()} == {
        "emergency": timedelta(hours=1), "urgent": timedelta(hours=4), "normal": timedelta(hours=24),
    }
    assert PRIORITIES["emergency"].article == "2, 41"
    assert PRIORITIES["urgent"].article == PRIORITIES["normal"].article == ""  # desk policy, not treaty text
    assert "not treaty text" in articles.ACKNOWLEDGEMENT_NOTE
    assert PRESERVATION_CLOCK.minimum == timedelta(days=60)
    assert PRESERVATION_CLOCK.counted_from == "preserved_at"
    assert PRESERVATION_CLOCK.default_extension == timedelta(days=60)
    assert PRESERVATION_CLOCK.warnings == (timedelta(days=14), timedelta(days=7), timedelta(days=1))


def test_kinds() -> None:
    assert list(REQUEST_KINDS) == ["preservation", "traffic_disclosure", "emergency_disclosure", "location_query",
                                   "stored_data", "real_time_traffic", "interception", "general_assistance",
                                   "law_enforcement", "joint_investigation", "spontaneous_information"]
    assert {k.name: k.desks for k in REQUEST_KINDS.values() if k.desks} == {
        "stored_data": ("CA",), "real_time_traffic": ("CA",), "interception": ("CA",),
        "general_assistance": ("CA",), "law_enforcement": ("CA", "247"), "joint_investigation": ("CA",),
        "spontaneous_information": ("CA",),
    }
    assert [k.name for k in REQUEST_KINDS.values() if k.preservation_clock] == ["preservation"]
    emergency = REQUEST_KINDS["emergency_disclosure"]
    assert emergency.priorities == ("emergency",) and emergency.default_priority == "emergency"
    assert REQUEST_KINDS["location_query"].priorities == ("urgent", "normal")
    assert REQUEST_KINDS["preservation"].default_priority == "urgent"


def test_provisions_are_named_uniquely() -> None:
    assert all(name == p.name for name, p in PROVISIONS.items())
    assert PROVISIONS["point_of_contact"].article == "41"
    assert PROVISIONS["central_authority"].article == "40"


# --- Registering more kinds ---------------------------------------------------------------------------------

SEIZURE = RequestKind(
    name="stored_data_access", title="Access to stored electronic data", article="44",
    summary="Search, seizure or disclosure of stored data.", default_priority="normal",
    priorities=("urgent", "normal"), preservation_clock=False,
    fields=(FieldSpec("requesting_authority", "Requesting authority", "40", "text", "Who asks."),
            FieldSpec("offence", "Offence", "40", "offence", "The offence.")),
    results=(FieldSpec("details", "Details", "44", "longtext", "What was obtained."),),
)


@pytest.mark.usefixtures("isolated_registry")
def test_a_new_kind_plugs_in() -> None:
    assert register(SEIZURE) is SEIZURE
    assert register(SEIZURE) is SEIZURE  # registering the same object again is harmless
    fields = {"requesting_authority": "Prosecutor", "offence": {"article": "12"}}
    assert validate_request("stored_data_access", fields, priority="normal", language="en") == []
    [problem] = validate_request("stored_data_access", {}, priority="normal", language="en")[:1]
    assert (problem.field, problem.article) == ("requesting_authority", "40")


@pytest.mark.usefixtures("isolated_registry")
@pytest.mark.parametrize(("changes", "words"), [
    ({"name": "Stored-Data"}, "lower_snake_case"),
    ({"name": "preservation"}, "already registered"),
    ({"default_priority": "emergency"}, "priorities"),
    ({"priorities": ("urgent", "sometime")}, "priorities"),
    ({"fields": SEIZURE.fields * 2}, "appears twice"),
    ({"preservation_clock": True}, "preserved_at"),
    ({"results": (FieldSpec("more", "More", "44", "object", "Sub-fields."),)}, "object"),
    ({"results": (FieldSpec("count", "Count", "44", "text", "How many.", must_be_true=True),)}, "constraint"),
])
def test_inconsistent_kinds_are_refused(changes: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        register(dataclasses.replace(SEIZURE, **changes))  # type: ignore[arg-type]
