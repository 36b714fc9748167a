"""The Convention's rules on fixed cases: requests of each kind, declarations, results and refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hanoinet.convention import (
    REQUEST_KINDS,
    FieldSpec,
    Problem,
    ValidationFailed,
    canonical_fields,
    canonical_result,
    catalogue,
    describe,
    validate_refusal,
    validate_request,
    validate_result,
)
from hanoinet.convention.rules import validate_consultation
from hanoinet.errors import HanoinetError, NotFound, ValidationError
from hanoinet.network.directory import Declaration
from tests.convention.drafts import DUAL_CRIMINALITY, LANGUAGES, REQUESTS, RESULTS, TRAFFIC_RESULT

REQUIRED = [(kind.name, f.name, f.article) for kind in REQUEST_KINDS.values() for f in kind.fields if f.required]
REQUIRED_RESULTS = [(kind.name, f.name, f.article) for kind in REQUEST_KINDS.values() for f in kind.results
                    if f.required]


def check(kind: str, changes: dict[str, Any] | None = None, *, drop: tuple[str, ...] = (),
          priority: str | None = None, language: str = "en", **options: Any) -> list[Problem]:
    fields = {k: v for k, v in {**REQUESTS[kind], **(changes or {})}.items() if k not in drop}
    return validate_request(kind, fields, priority=priority or REQUEST_KINDS[kind].default_priority,
                            language=language, **options)


def field_spec(kind: str, name: str) -> FieldSpec:
    return next(f for f in REQUEST_KINDS[kind].fields if f.name == name)


def fields_of(problems: list[Problem]) -> list[str]:
    return [p.field for p in problems]


# --- Requests -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REQUESTS))
def test_valid_draft_of_each_kind_passes(kind: str) -> None:
    assert check(kind) == []


def test_every_registered_kind_has_a_draft() -> None:
    assert set(REQUESTS) == set(REQUEST_KINDS)
    assert set(RESULTS) == set(REQUEST_KINDS)


@pytest.mark.parametrize(("kind", "name", "article"), REQUIRED)
def test_each_missing_field_is_reported_with_its_article(kind: str, name: str, article: str) -> None:
    [problem] = check(kind, drop=(name,))
    assert (problem.field, problem.article) == (name, article)
    assert "missing" in problem.message
    assert problem.fix.startswith(f"Add {name}.")


def test_preservation_field_articles_follow_article_42() -> None:
    kind = REQUEST_KINDS["preservation"]
    assert {f.name: f.article for f in kind.fields if f.required} == {
        "requesting_authority": "42(a)", "offence": "42(b)", "facts": "42(b)", "data": "42(c)",
        "data_relation": "42(c)", "necessity": "42(e)", "mla_to_follow": "42(f)",
    }
    custodian = field_spec("preservation", "custodian")
    assert custodian.article == "42(d)" and not custodian.required


def test_paragraph_g_is_kept_at_article_level_and_marked_uncertain() -> None:
    for name in ("confidential", "do_not_notify"):
        spec = field_spec("preservation", name)
        assert (spec.article, spec.uncertain, spec.required) == ("42", True, False)


def test_several_problems_are_reported_together() -> None:
    problems = validate_request(
        "preservation",
        {"requesting_authority": "  ", "offence": {"article": "99"}, "facts": 12, "data": "d", "data_relation": "r",
         "necessity": "n", "mla_to_follow": False, "colour": "red"},
        priority="whenever", language="english",
    )
    assert fields_of(problems) == ["priority", "language", "colour", "requesting_authority", "offence.article",
                                   "facts", "mla_to_follow"]
    assert all(p.message and p.fix for p in problems)


def test_empty_and_overlong_text_are_refused() -> None:
    assert "empty" in check("location_query", {"facts": " \n\t"})[0].message
    [problem] = check("location_query", {"requesting_authority": "x" * 2001})
    assert "at most 2000" in problem.message


def test_wrong_types_are_named() -> None:
    problems = check("preservation", {"facts": ["a"], "confidential": "yes", "mla_to_follow": 1, "offence": "13"})
    assert [(p.field, p.message.split(", not ")[-1]) for p in problems] == [
        ("offence", "a string"), ("facts", "a list"), ("mla_to_follow", "an integer"), ("confidential", "a string"),
    ]


def test_null_is_not_absence() -> None:
    [problem] = check("preservation", {"custodian": None})
    assert (problem.field, problem.message) == ("custodian", "Custodian or location of the system must be text, "
                                                             "not null")


def test_mla_to_follow_must_be_true() -> None:
    [problem] = check("preservation", {"mla_to_follow": False})
    assert (problem.field, problem.article) == ("mla_to_follow", "42(f)")


def test_optional_fields_are_accepted() -> None:
    assert check("preservation", {"custodian": "Example Mail Ltd, Dublin", "confidential": True,
                                  "do_not_notify": False, "dual_criminality": "Fraud, art. 313-1 code penal."}) == []


def test_choices_are_enforced() -> None:
    for answer in ("data_location", "provider", "both"):
        assert check("location_query", {"question": answer}) == []
    [problem] = check("location_query", {"question": "everything"})
    assert problem.field == "question" and "data_location, provider, both" in problem.fix


# --- Offences -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("offence", [
    {"article": "7"}, {"article": "17"}, {"article": "14", "domestic_offence": "Article 227-23 code penal"},
    {"article": "serious", "domestic_offence": "Drug trafficking, art. 222-36", "max_penalty_years": 30},
    {"article": "serious", "domestic_offence": "Extortion", "max_penalty_years": 4},
])
def test_valid_offences(offence: dict[str, Any]) -> None:
    assert check("traffic_disclosure", {"offence": offence}) == []


@pytest.mark.parametrize(("offence", "field", "article", "words"), [
    ({"article": "6"}, "offence.article", "43", "not an offence the Convention covers"),
    ({"article": "18"}, "offence.article", "43", "not an offence the Convention covers"),
    ({"article": 7}, "offence.article", "43", "not an offence the Convention covers"),
    ({}, "offence.article", "43", "has no article"),
    ({"article": "7", "max_penalty_years": 5}, "offence.max_penalty_years", "43", "no member"),
    ({"article": "7", "note": "x"}, "offence.note", "43", "no member"),
    ({"article": "7", "domestic_offence": ""}, "offence.domestic_offence", "43", "empty"),
    ({"article": "serious", "max_penalty_years": 5}, "offence.domestic_offence", "2", "named"),
    ({"article": "serious", "domestic_offence": "Theft"}, "offence.max_penalty_years", "2", "missing"),
    ({"article": "serious", "domestic_offence": "Theft", "max_penalty_years": "5"}, "offence.max_penalty_years", "2",
     "whole number"),
    ({"article": "serious", "domestic_offence": "Theft", "max_penalty_years": True}, "offence.max_penalty_years",
     "2", "whole number"),
    ({"article": "serious", "domestic_offence": "Insult", "max_penalty_years": 3}, "offence.max_penalty_years", "2",
     "does not make a serious crime"),
    (["7"], "offence", "43", "must be an offence object"),
])
def test_bad_offences(offence: object, field: str, article: str, words: str) -> None:
    [problem] = check("traffic_disclosure", {"offence": offence})
    assert (problem.field, problem.article) == (field, article)
    assert words in problem.message


# --- States, instants, lists, priorities, languages -----------------------------------------------------------


@pytest.mark.parametrize("state", ["fra", "FR", "XXX", "250", ""])
def test_state_codes_must_be_iso_alpha3(state: str) -> None:
    [problem] = validate_result("traffic_disclosure", {**TRAFFIC_RESULT, "provider_state": state})
    assert problem.field == "provider_state" and "alpha-3" in problem.message


@pytest.mark.parametrize("instant", ["2026-03-02", "2026-03-02T10:00:00+01:00", "2026-02-30T10:00:00Z", "now"])
def test_instants_must_be_rfc3339_utc(instant: str) -> None:
    [problem] = validate_result("preservation", {**RESULTS["preservation"], "preserved_at": instant})
    assert problem.field == "preserved_at" and "RFC 3339" in problem.message


@pytest.mark.parametrize(("path", "field"), [
    ([], "path"), (["hop", ""], "path[1]"), (["hop", 3], "path[1]"), (["hop"] * 101, "path"), ("hop", "path"),
])
def test_lists_of_text(path: object, field: str) -> None:
    [problem] = validate_result("traffic_disclosure", {**TRAFFIC_RESULT, "path": path})
    assert problem.field == field


def test_priority_must_be_allowed_for_the_kind() -> None:
    [problem] = check("emergency_disclosure", priority="normal")
    assert (problem.field, problem.article) == ("priority", "41")
    [problem] = check("location_query", priority="emergency")
    assert problem.field == "priority" and "urgent or normal" in problem.fix
    assert check("preservation", priority="emergency") == []
    assert check("preservation", priority="normal") == []


def test_unknown_kind_still_checks_priority_and_language() -> None:
    problems = validate_request("extradition", {}, priority="soon", language="")
    assert fields_of(problems) == ["kind", "priority", "language"]
    assert "preservation" in problems[0].fix


@pytest.mark.parametrize(("language", "desk", "accepted"), [
    ("fr", ["fr", "en"], True), ("fr-CA", ["fr"], True), ("fr-ca", ["fr-CA"], True), ("en", ["fr"], False),
    ("fr", ["fr-CA"], False), ("fra", ["fr"], False), ("vi", [], True),
])
def test_language_must_be_read_by_the_requested_desk(language: str, desk: list[str], accepted: bool) -> None:
    problems = check("location_query", language=language, desk_languages=desk)
    assert (problems == []) is accepted
    if not accepted:
        assert fields_of(problems) == ["language"] and problems[0].article == "40"


def test_malformed_language_tag() -> None:
    [problem] = check("location_query", language="French")
    assert problem.field == "language" and "BCP 47" in problem.message


# --- Declarations of the requested State ------------------------------------------------------------------------


def test_accepted_languages_declaration() -> None:
    assert check("location_query", language="fr", declarations=[LANGUAGES]) == []
    [problem] = check("location_query", language="es", declarations=[LANGUAGES])
    assert (problem.field, problem.article) == ("language", "40")
    assert "fr, en" in problem.message and "declaration" in problem.message


def test_desk_and_declaration_are_both_applied() -> None:
    problems = check("location_query", language="es", declarations=[LANGUAGES], desk_languages=["fr"])
    assert fields_of(problems) == ["language", "language"]


@pytest.mark.parametrize("article", ["7", "8", "9", "10", "11"])
def test_dual_criminality_reservation_does_not_reach_core_offences(article: str) -> None:
    assert check("preservation", {"offence": {"article": article}}, declarations=[DUAL_CRIMINALITY]) == []


@pytest.mark.parametrize("offence", [
    {"article": "13"}, {"article": "16"},
    {"article": "serious", "domestic_offence": "Drug trafficking", "max_penalty_years": 10},
])
def test_dual_criminality_reservation_needs_a_statement(offence: dict[str, Any]) -> None:
    [problem] = check("preservation", {"offence": offence}, declarations=[DUAL_CRIMINALITY])
    assert (problem.field, problem.article) == ("dual_criminality", "42")
    assert "reservation under Art. 42" in problem.message and "7, 8, 9, 10, 11" in problem.message
    assert problem.fix.startswith("Add dual_criminality.")
    statement = {"offence": offence, "dual_criminality": "Fraud is an offence under art. 313-1 of the code penal."}
    assert check("preservation", statement, declarations=[DUAL_CRIMINALITY]) == []


def test_dual_criminality_reservation_only_concerns_preservation() -> None:
    assert check("traffic_disclosure", {"offence": {"article": "13"}}, declarations=[DUAL_CRIMINALITY]) == []


def test_dual_criminality_statement_is_not_required_without_the_offence() -> None:
    # The missing offence is the one problem: the reservation cannot be applied to an unknown offence.
    assert fields_of(check("preservation", drop=("offence",), declarations=[DUAL_CRIMINALITY])) == ["offence"]


@pytest.mark.parametrize("declaration", [
    Declaration(article="42", kind="reservation", effect="dual_criminality_required",
                params={"applies_to_preservation": False, "except_articles": []}),
    Declaration(article="42", kind="reservation", effect="dual_criminality_required",
                params={"applies_to_preservation": "yes", "except_articles": []}),
    Declaration(article="42", kind="reservation", effect="dual_criminality_required",
                params={"applies_to_preservation": True}),
    Declaration(article="42", kind="reservation", effect="dual_criminality_required",
                params={"applies_to_preservation": True, "except_articles": "7"}),
    Declaration(article="40", kind="declaration", effect="accepted_languages", params={"languages": "fr"}),
    Declaration(article="42", kind="reservation", effect="dual_criminality_for_everything",
                params={"applies_to_preservation": True, "except_articles": []}),
    Declaration(article="40", kind="declaration", effect="languages_accepted", params={"languages": ["ar"]}),
])
def test_unknown_effects_and_malformed_params_are_ignored(declaration: Declaration) -> None:
    assert check("preservation", declarations=[declaration]) == []


# --- Results --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(RESULTS))
def test_valid_result_of_each_kind_passes(kind: str) -> None:
    assert validate_result(kind, RESULTS[kind]) == []


@pytest.mark.parametrize(("kind", "name", "article"), REQUIRED_RESULTS)
def test_each_missing_result_field_is_reported(kind: str, name: str, article: str) -> None:
    data = {k: v for k, v in RESULTS[kind].items() if k != name}
    assert [(p.field, p.article) for p in validate_result(kind, data)] == [(name, article)]


def test_preservation_result_may_carry_an_article_43_disclosure() -> None:
    assert validate_result("preservation", {**RESULTS["preservation"], "disclosure": TRAFFIC_RESULT}) == []
    broken = {k: v for k, v in TRAFFIC_RESULT.items() if k != "path"} | {"provider_state": "France", "hops": 3}
    problems = validate_result("preservation", {**RESULTS["preservation"], "disclosure": broken})
    assert [(p.field, p.article) for p in problems] == [
        ("disclosure.hops", "43"), ("disclosure.provider_state", "43"), ("disclosure.path", "43"),
    ]
    [problem] = validate_result("preservation", {**RESULTS["preservation"], "disclosure": "FRA"})
    assert problem.field == "disclosure" and "object" in problem.message


def test_result_of_unknown_kind_and_non_object() -> None:
    assert fields_of(validate_result("seizure", {})) == ["kind"]
    assert fields_of(validate_result("location_query", ["details"])) == ["fields"]  # type: ignore[arg-type]


# --- Refusals -------------------------------------------------------------------------------------------------


def test_refusal_on_a_ground_of_the_kind() -> None:
    assert validate_refusal("traffic_disclosure", "domestic_law_forbids", "Our law requires a court order.") == []
    assert validate_refusal("preservation", "prejudice_sovereignty", "The data concern national security.") == []


def test_refusal_needs_reasons() -> None:
    for reasons in ("", "   ", None):
        [problem] = validate_refusal("location_query", "not_in_conformity", reasons)  # type: ignore[arg-type]
        assert (problem.field, problem.article) == ("reasons", "35, 40")


def test_refusal_ground_must_apply_to_the_kind() -> None:
    [problem] = validate_refusal("preservation", "domestic_law_forbids", "reasons")
    assert (problem.field, problem.article) == ("ground", "40")
    assert "prejudice_sovereignty, dual_criminality_not_met" in problem.fix


def test_unknown_refusal_ground() -> None:
    [problem] = validate_refusal("location_query", "too_busy", "reasons")
    assert problem.field == "ground" and "not_in_conformity" in problem.fix


def test_fiscal_matters_is_not_a_ground() -> None:
    [problem] = validate_refusal("traffic_disclosure", "fiscal_matters", "The offence is tax fraud.")
    assert (problem.field, problem.article) == ("ground", "40")
    assert "fiscal matters" in problem.message


def test_refusal_reports_every_problem() -> None:
    assert fields_of(validate_refusal("seizure", "fiscal_matters", "")) == ["kind", "ground", "reasons"]


def test_dual_criminality_refusal_needs_the_reservation() -> None:
    offence = {"article": "13"}
    assert validate_refusal("preservation", "dual_criminality_not_met", "Not an offence here.",
                            declarations=[DUAL_CRIMINALITY], offence=offence) == []
    [problem] = validate_refusal("preservation", "dual_criminality_not_met", "Not an offence here.", offence=offence)
    assert (problem.field, problem.article) == ("ground", "42")
    assert "no such reservation" in problem.message


def test_dual_criminality_refusal_not_for_core_offences() -> None:
    [problem] = validate_refusal("preservation", "dual_criminality_not_met", "Not an offence here.",
                                 declarations=[DUAL_CRIMINALITY], offence={"article": "8"})
    assert (problem.field, problem.article) == ("offence", "42")
    assert "illegal interception" in problem.message


def test_dual_criminality_refusal_needs_the_offence() -> None:
    [problem] = validate_refusal("preservation", "dual_criminality_not_met", "Not an offence here.",
                                 declarations=[DUAL_CRIMINALITY])
    assert problem.field == "offence"


def test_dual_criminality_refusal_only_for_preservation() -> None:
    [problem] = validate_refusal("traffic_disclosure", "dual_criminality_not_met", "Not an offence here.",
                                 declarations=[DUAL_CRIMINALITY], offence={"article": "13"})
    assert problem.field == "ground"


# --- The error and the descriptions ---------------------------------------------------------------------------


def test_validation_failed_lists_every_problem() -> None:
    problems = check("preservation", {"mla_to_follow": False}, drop=("facts",), priority="soon")
    with pytest.raises(ValidationFailed) as info:
        raise ValidationFailed(problems)
    error = info.value
    assert isinstance(error, ValidationError) and isinstance(error, HanoinetError) and isinstance(error, ValueError)
    assert (error.code, error.http_status) == ("invalid", 422)
    assert error.problems == tuple(problems)
    assert error.message.startswith("3 problems: priority: ")
    assert "facts (Art. 42(b)): Summary of facts is missing" in error.message
    assert "mla_to_follow (Art. 42(f))" in error.message
    assert all(p.fix in error.hint for p in problems)


def test_validation_failed_needs_a_problem() -> None:
    with pytest.raises(ValueError, match="at least one problem"):
        ValidationFailed([])


@pytest.mark.parametrize("kind", sorted(REQUEST_KINDS))
def test_describe_each_kind(kind: str) -> None:
    description = describe(kind)
    json.dumps(description)
    spec = REQUEST_KINDS[kind]
    assert [f["name"] for f in description["fields"]] == [f.name for f in spec.fields]
    assert all({"label", "article", "uncertain", "required", "type", "help"} <= set(f) for f in description["fields"])
    answered_by_result = {"joint_investigation", "spontaneous_information"}
    assert bool(description["grounds"]) is (kind not in answered_by_result), "grounds unless answered by a result"
    assert description["desks"] == list(spec.desks)


def test_describe_preservation() -> None:
    description = describe("preservation")
    assert description["article"] == "42" and description["default_priority"] == "urgent"
    assert description["preservation_clock"] is True
    assert [g["code"] for g in description["grounds"]] == ["prejudice_sovereignty", "dual_criminality_not_met"]
    disclosure = next(f for f in description["results"] if f["name"] == "disclosure")
    assert [f["name"] for f in disclosure["fields"]] == [*TRAFFIC_RESULT, "next_step"]
    mla = next(f for f in description["fields"] if f["name"] == "mla_to_follow")
    assert mla["must_be_true"] is True


def test_describe_unknown_kind() -> None:
    with pytest.raises(NotFound, match="extradition"):
        describe("extradition")


def test_catalogue_is_plain_json() -> None:
    data = catalogue()
    assert json.loads(json.dumps(data)) == data
    assert list(data["offences"]) == [str(n) for n in range(7, 18)] + ["serious"]
    assert data["offences"]["serious"]["core"] is False
    assert list(data["languages"]) == ["ar", "zh", "en", "fr", "ru", "es"]
    assert data["clocks"]["preservation"]["minimum_seconds"] == 60 * 86_400
    assert data["clocks"]["preservation"]["counted_from"] == "preserved_at"
    assert {name: p["acknowledge_within_seconds"] for name, p in data["priorities"].items()} == {
        "emergency": 3_600, "urgent": 4 * 3_600, "normal": 24 * 3_600,
    }
    assert data["grounds"]["discrimination"]["uncertain"] is True
    assert list(data["not_grounds"]) == ["fiscal_matters"]
    assert data["kinds"] == {name: describe(name) for name in REQUEST_KINDS}


def test_officers_times_with_any_offset_become_the_protocols_utc_instants() -> None:
    typed = {"preserved_at": "2026-12-07T22:10:00+01:00", "provider": "ExampleHost SAS"}
    assert canonical_result("preservation", typed) == {"preserved_at": "2026-12-07T21:10:00.000Z",
                                                       "provider": "ExampleHost SAS"}
    assert typed["preserved_at"] == "2026-12-07T22:10:00+01:00"  # the caller's mapping is left alone
    assert validate_result("preservation", {**RESULTS["preservation"], **canonical_result("preservation", typed)}) \
        == []


def test_officers_times_that_are_no_time_are_left_for_the_checks_to_report() -> None:
    typed = {**RESULTS["preservation"], "preserved_at": "yesterday evening"}
    assert canonical_result("preservation", typed) == typed
    [problem] = validate_result("preservation", typed)
    assert problem.field == "preserved_at" and "2026-11-23T04:00:00+01:00" in problem.fix


def test_canonical_fields_keeps_other_values_and_unknown_kinds() -> None:
    fields = REQUESTS["preservation"]
    assert canonical_fields("preservation", fields) == fields
    assert canonical_fields("wiretap", {"at": "2026-12-07T22:10:00+01:00"}) == {"at": "2026-12-07T22:10:00+01:00"}
    assert canonical_result("wiretap", {"at": "x"}) == {"at": "x"}


# --- Consultations before refusing or postponing ----------------------------------------------------------------


def test_consultation_on_a_refusal_ground_of_the_kind() -> None:
    assert validate_consultation("traffic_disclosure", "refusal", "domestic_law_forbids",
                                 "A similar domestic order needs a judge.") == []
    assert validate_consultation("traffic_disclosure", "postponement", None, "A trial is under way.") == []


def test_consultation_on_what_is_not_a_ground_says_so() -> None:
    [problem] = validate_consultation("traffic_disclosure", "refusal", "fiscal_matters", "Tax fraud.")
    assert (problem.field, problem.article) == ("ground", "40") and "fiscal matters" in problem.message
    [problem] = validate_consultation("preservation", "refusal", "domestic_law_forbids", "x")
    assert problem.field == "ground" and "prejudice_sovereignty" in problem.fix
    [problem] = validate_consultation("preservation", "refusal", "dual_criminality_not_met", "x",
                                      offence={"article": "13"})
    assert "no such reservation" in problem.message


def test_consultation_reports_every_problem() -> None:
    assert fields_of(validate_consultation("seizure", "postponement", "not_in_conformity", " ")) == [
        "kind", "ground", "reasons"]
    assert fields_of(validate_consultation("location_query", "closing", None, "x")) == ["considering"]
    [problem] = validate_consultation("location_query", "refusal", "not_in_conformity", "")
    assert (problem.field, problem.article) == ("reasons", "40") and "requesting State can answer" in problem.fix
