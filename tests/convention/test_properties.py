"""Properties of the rules over generated input: they never raise, and a valid draft is exactly valid."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoinet.convention import (
    PRIORITIES,
    REFUSAL_GROUNDS,
    REQUEST_KINDS,
    FieldSpec,
    Problem,
    RequestKind,
    validate_refusal,
    validate_request,
    validate_result,
)
from hanoinet.convention.rules import validate_consultation
from hanoinet.network.directory import Declaration

KINDS = sorted(REQUEST_KINDS)
NAMES = sorted({f.name for k in REQUEST_KINDS.values() for f in k.fields + k.results} | {"article", "x"})

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8),
                                                                inner, max_size=4),
    max_leaves=12,
)

declarations = st.lists(st.builds(
    Declaration,
    article=st.sampled_from(["40", "42", "42(3)"]),
    kind=st.sampled_from(["reservation", "declaration", "notification"]),
    effect=st.sampled_from(["dual_criminality_required", "accepted_languages", "something_else"]),
    params=st.dictionaries(
        st.sampled_from(["applies_to_preservation", "except_articles", "languages"]),
        st.booleans() | st.integers() | st.text(max_size=5)
        | st.lists(st.sampled_from(["7", "8", "13", "en", "fr", "x"]), max_size=4),
    ),
), max_size=3)

texts = st.text(min_size=1, max_size=30).filter(str.strip)
offences = st.one_of(
    st.fixed_dictionaries({"article": st.sampled_from([str(n) for n in range(7, 18)])},
                          optional={"domestic_offence": texts}),
    st.fixed_dictionaries({"article": st.just("serious"), "domestic_offence": texts,
                           "max_penalty_years": st.integers(min_value=4, max_value=99)}),
)
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda t: t.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z")


def valid_value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Any value the rules must accept for a field."""
    if spec.choices and spec.type == "list":
        return st.lists(st.sampled_from(spec.choices), min_size=1, max_size=len(spec.choices))
    if spec.choices:
        return st.sampled_from(spec.choices)
    if spec.format is not None:
        return st.from_regex(spec.format.pattern, fullmatch=True).filter(lambda v: len(v) <= 100)
    if spec.type in ("text", "longtext"):
        return texts
    if spec.type == "bool":
        return st.just(True) if spec.must_be_true else st.booleans()
    if spec.type == "offence":
        return offences
    if spec.type == "state":
        return st.sampled_from(["VNM", "FRA", "BRA", "NGA", "CHN"])
    if spec.type == "datetime":
        return instants
    if spec.type == "list":
        return st.lists(texts, min_size=1, max_size=5)
    return valid_object(spec.fields)


def _together(specs: tuple[FieldSpec, ...], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the rules between fields kept: a field without the one it needs left out, periods in order."""
    for spec in specs:
        if spec.needs and spec.needs not in data:
            data.pop(spec.name, None)
        if spec.before and spec.name in data and spec.before in data:
            data[spec.name], data[spec.before] = sorted((data[spec.name], data[spec.before]))
    return data


def _in_order(specs: tuple[FieldSpec, ...], data: dict[str, Any]) -> bool:
    return all(data[s.name] != data[s.before] for s in specs if s.before and s.name in data and s.before in data)


def valid_object(specs: tuple[FieldSpec, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid object: every required field and any of the optional ones, with the rules between them kept."""
    return st.fixed_dictionaries(
        {s.name: valid_value(s) for s in specs if s.required},
        optional={s.name: valid_value(s) for s in specs if not s.required},
    ).map(lambda data: _together(specs, data)).filter(lambda data: _in_order(specs, data))


def kind_and_draft(kind: RequestKind) -> st.SearchStrategy[tuple[RequestKind, dict[str, Any]]]:
    return st.tuples(st.just(kind), valid_object(kind.fields))


drafts = st.sampled_from(list(REQUEST_KINDS.values())).flatmap(kind_and_draft)


@given(kind=st.sampled_from(KINDS) | st.text(max_size=10), fields=json_values,
       overlay=st.dictionaries(st.sampled_from(NAMES), json_values, max_size=5),
       priority=st.sampled_from(sorted(PRIORITIES)) | st.text(max_size=8),
       language=st.sampled_from(["en", "fr", "fr-CA", "vi"]) | st.text(max_size=8),
       declarations=declarations, desk_languages=st.lists(st.sampled_from(["en", "fr", "es-419"]), max_size=3),
       to=st.none() | st.sampled_from(["FRA/CA", "FRA/247", "FRA/", "CA"]) | json_values,
       sending_desk=st.none() | st.sampled_from(["CA", "247", ""]) | json_values)
def test_validate_request_never_raises(kind: str, fields: object, overlay: dict[str, Any], priority: str,
                                       language: str, declarations: list[Declaration],
                                       desk_languages: list[str], to: Any, sending_desk: Any) -> None:
    # Arbitrary JSON on its own rarely reaches the field checks, so it is also laid over a valid draft.
    base: dict[str, Any] = {}
    if kind in REQUEST_KINDS:
        base = {f.name: "x" for f in REQUEST_KINDS[kind].fields}
    for candidate in (fields, {**base, **overlay}):
        problems = validate_request(kind, candidate, priority=priority, language=language,  # type: ignore[arg-type]
                                    declarations=declarations, desk_languages=desk_languages, to=to,
                                    sending_desk=sending_desk)
        assert isinstance(problems, list) and all(isinstance(p, Problem) for p in problems)
        assert all(isinstance(p.message, str) and p.message and p.fix for p in problems)


@given(kind=st.sampled_from(KINDS) | st.text(max_size=10), data=json_values,
       overlay=st.dictionaries(st.sampled_from(NAMES), json_values, max_size=5))
def test_validate_result_never_raises(kind: str, data: object, overlay: dict[str, Any]) -> None:
    for candidate in (data, overlay):
        problems = validate_result(kind, candidate)  # type: ignore[arg-type]
        assert all(isinstance(p, Problem) for p in problems)


@given(kind=st.sampled_from(KINDS) | st.text(max_size=10),
       ground=st.sampled_from([*REFUSAL_GROUNDS, "fiscal_matters"]) | st.text(max_size=10),
       reasons=json_values, declarations=declarations, offence=json_values | offences)
def test_validate_refusal_never_raises(kind: str, ground: str, reasons: object, declarations: list[Declaration],
                                       offence: object) -> None:
    problems = validate_refusal(kind, ground, reasons, declarations=declarations,  # type: ignore[arg-type]
                                offence=offence)
    assert all(isinstance(p, Problem) for p in problems)


@given(kind=st.sampled_from(KINDS) | st.text(max_size=10), considering=json_values | st.sampled_from(
           ["refusal", "postponement"]), ground=st.sampled_from([*REFUSAL_GROUNDS, "fiscal_matters"]) | json_values,
       reasons=json_values, declarations=declarations, offence=json_values | offences)
def test_validate_consultation_never_raises_and_always_wants_reasons(kind: str, considering: str, ground: str,
                                                                    reasons: object, declarations: list[Declaration],
                                                                    offence: object) -> None:
    problems = validate_consultation(kind, considering, ground, reasons,  # type: ignore[arg-type]
                                     declarations=declarations, offence=offence)
    assert all(isinstance(p, Problem) and p.message and p.fix for p in problems)
    assert ("reasons" in [p.field for p in problems]) == (not isinstance(reasons, str) or not reasons.strip())


@given(drafts, st.sampled_from(sorted(PRIORITIES)), st.data())
def test_valid_drafts_pass(draft: tuple[RequestKind, dict[str, Any]], priority: str, data: st.DataObject) -> None:
    kind, fields = draft
    desk = data.draw(st.sampled_from(kind.desks or ("247", "CA", "CYBER")))
    problems = validate_request(kind.name, fields, priority=priority, language="en", to=f"FRA/{desk}",
                                sending_desk=data.draw(st.sampled_from(kind.desks or ("247", "CA"))))
    expected = [] if priority in kind.priorities else ["priority"]
    assert [p.field for p in problems] == expected


@given(drafts, st.data())
def test_removing_one_required_field_is_exactly_one_problem(draft: tuple[RequestKind, dict[str, Any]],
                                                            data: st.DataObject) -> None:
    kind, fields = draft
    spec = data.draw(st.sampled_from([f for f in kind.fields if f.required]))
    del fields[spec.name]
    problems = validate_request(kind.name, fields, priority=kind.default_priority, language="en")
    assert [(p.field, p.article) for p in problems] == [(spec.name, spec.article)]


@given(st.sampled_from(list(REQUEST_KINDS.values())).flatmap(lambda k: st.tuples(st.just(k), valid_object(k.results))))
def test_valid_results_pass(result: tuple[RequestKind, dict[str, Any]]) -> None:
    kind, data = result
    assert validate_result(kind.name, data) == []


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_each_kind_never_raises_and_its_complete_drafts_pass(kind: str, data: st.DataObject) -> None:
    spec = REQUEST_KINDS[kind]
    complete = data.draw(valid_object(spec.fields))
    desk = data.draw(st.sampled_from(spec.desks or ("247", "CA")))
    assert validate_request(kind, complete, priority=spec.default_priority, language="en", to=f"FRA/{desk}",
                            sending_desk=desk) == []
    overlay = data.draw(st.dictionaries(st.sampled_from([f.name for f in spec.fields]), json_values, max_size=4))
    problems = validate_request(kind, {**complete, **overlay}, priority=spec.default_priority, language="en",
                                to=data.draw(json_values), sending_desk=data.draw(json_values))
    assert all(isinstance(p, Problem) and p.message and p.fix for p in problems)
