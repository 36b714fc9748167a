"""Requests for mutual legal assistance (Art. 40, 44-48): shared contents, every gap named, desks, languages."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from hanoinet.convention import (
    REQUEST_KINDS,
    FieldSpec,
    Problem,
    register,
    validate_refusal,
    validate_request,
    validate_result,
)
from hanoinet.convention.articles import CENTRAL_AUTHORITY_DESK, MLA_CONTENTS, MLA_PRACTICE, POINT_OF_CONTACT_DESK
from hanoinet.convention.rules import check_desks
from hanoinet.states import STANDARD_DESKS
from tests.convention.drafts import LANGUAGES, REQUESTS

MLA = [name for name, kind in REQUEST_KINDS.items() if kind.desks]
#: The kinds that are requests (spontaneous information is sent without one).
REQUESTS_FOR_ASSISTANCE = [name for name in MLA if name != "spontaneous_information"]


def check(kind: str, changes: dict[str, Any] | None = None, *, drop: tuple[str, ...] = (),
          **options: Any) -> list[Problem]:
    fields = {k: v for k, v in {**REQUESTS[kind], **(changes or {})}.items() if k not in drop}
    return validate_request(kind, fields, priority="normal", language=options.pop("language", "en"), **options)


def found(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.field, p.article) for p in problems]


@pytest.fixture
def isolated_registry() -> Iterator[None]:
    saved = dict(REQUEST_KINDS)
    yield
    REQUEST_KINDS.clear()
    REQUEST_KINDS.update(saved)


# --- The shared contents ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", REQUESTS_FOR_ASSISTANCE)
def test_every_request_carries_the_shared_article_40_contents(kind: str) -> None:
    fields = REQUEST_KINDS[kind].fields
    assert fields[:len(MLA_CONTENTS)] == MLA_CONTENTS
    assert fields[-len(MLA_PRACTICE):] == MLA_PRACTICE
    # The same objects, not copies: correcting one article corrects every kind.
    assert all(a is b for a, b in zip(fields, MLA_CONTENTS, strict=False))


def test_the_shared_contents_are_those_article_40_requires() -> None:
    required = {f.name: f.article for f in MLA_CONTENTS if f.required}
    assert required == {
        "requesting_authority": "40", "proceeding_stage": "40", "proceeding": "40", "conducting_authority": "40",
        "offence": "35, 40", "facts": "40", "assistance_sought": "40", "purpose": "40",
    }
    # Persons and a particular procedure are given "where possible" and "if any".
    assert {f.name for f in MLA_CONTENTS if not f.required} == {"procedure", "persons"}
    assert all(not f.required for f in MLA_PRACTICE)


@pytest.mark.parametrize(("kind", "name"), [(kind, f.name) for kind in MLA for f in MLA_CONTENTS
                                             if f.required and f in REQUEST_KINDS[kind].fields])
def test_each_missing_content_is_named_with_its_article(kind: str, name: str) -> None:
    [problem] = check(kind, drop=(name,))
    spec = next(f for f in REQUEST_KINDS[kind].fields if f.name == name)
    assert (problem.field, problem.article) == (name, spec.article)
    assert "missing" in problem.message


def test_an_empty_mla_request_names_every_gap_at_once() -> None:
    problems = validate_request("interception", {}, priority="normal", language="en")
    assert found(problems) == [
        ("requesting_authority", "40"), ("proceeding_stage", "40"), ("proceeding", "40"),
        ("conducting_authority", "40"), ("offence", "35, 40"), ("facts", "40"), ("assistance_sought", "40"),
        ("purpose", "40"), ("communications", "46"), ("period_start", "46"), ("period_end", "46"),
        ("justification", "46"), ("legal_basis", "46"),
    ]


def test_the_stage_of_the_matter_is_one_of_three() -> None:
    [problem] = check("stored_data", {"proceeding_stage": "trial"})
    assert found([problem]) == [("proceeding_stage", "40")]
    assert "investigation, prosecution, judicial_proceeding" in problem.message


# --- Article 44 ---------------------------------------------------------------------------------------------


def test_stored_data_names_the_measures_sought() -> None:
    assert found(check("stored_data", drop=("measures",))) == [("measures", "44")]
    assert found(check("stored_data", {"measures": []})) == [("measures", "44")]
    problems = check("stored_data", {"measures": ["search", "wiretap", 3]})
    assert found(problems) == [("measures[2]", "44"), ("measures[1]", "44")]
    assert "search, seizure, disclosure" in problems[1].message


@pytest.mark.parametrize("ref", ["VNM-2026-0007", "FRA-2025-12345678"])
def test_a_preservation_link_is_a_request_reference(ref: str) -> None:
    assert check("stored_data", {"preservation_ref": ref}) == []


@pytest.mark.parametrize("ref", ["our preservation of March", "vnm-2026-0007", "VNM-26-7", "VNM-2026-0007 ",
                                 "VNM-2026-0007\nFRA-2026-0001"])
def test_a_preservation_link_that_is_no_reference_is_named(ref: str) -> None:
    [problem] = check("stored_data", {"preservation_ref": ref})
    assert found([problem]) == [("preservation_ref", "42, 44")]
    assert "a request reference such as VNM-2026-0007" in problem.message


def test_stored_data_without_a_preservation_is_complete() -> None:
    assert check("stored_data", drop=("preservation_ref",)) == []


# --- Periods (Art. 45, 46, 48) ------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "start", "end", "article"), [
    ("real_time_traffic", "period_start", "period_end", "45"),
    ("interception", "period_start", "period_end", "46"),
    ("joint_investigation", "team_start", "team_end", "48"),
])
def test_a_period_needs_both_ends_in_order(kind: str, start: str, end: str, article: str) -> None:
    assert found(check(kind, drop=(start,))) == [(start, article)]
    assert found(check(kind, drop=(end,))) == [(end, article)]
    assert found(check(kind, drop=(start, end))) == [(start, article), (end, article)]
    [before] = check(kind, {start: "2026-05-01T00:00:00.000Z", end: "2026-04-01T00:00:00.000Z"})
    assert found([before]) == [(end, article)] and "must come after" in before.message
    [same] = check(kind, {start: "2026-05-01T00:00:00.000Z", end: "2026-05-01T00:00:00.000Z"})
    assert found([same]) == [(end, article)]


def test_a_malformed_period_end_is_reported_once() -> None:
    [problem] = check("interception", {"period_end": "next month"})
    assert found([problem]) == [("period_end", "46")] and "must come after" not in problem.message


def test_real_time_collection_and_interception_state_why() -> None:
    assert found(check("real_time_traffic", drop=("justification",))) == [("justification", "45")]
    assert found(check("interception", drop=("justification",))) == [("justification", "46")]


def test_interception_states_its_legal_basis_at_home() -> None:
    assert found(check("interception", drop=("legal_basis",))) == [("legal_basis", "46")]
    assert "legal_basis" not in {f.name for f in REQUEST_KINDS["real_time_traffic"].fields}


def test_collected_periods_in_results_are_in_order() -> None:
    result = {"traffic_data": "Logins.", "collected_from": "2026-04-02T00:00:00.000Z",
              "collected_until": "2026-04-01T00:00:00.000Z"}
    assert found(validate_result("real_time_traffic", result)) == [("collected_until", "45")]
    assert validate_result("real_time_traffic", {**result, "collected_until": "2026-04-03T00:00:00.000Z"}) == []


# --- Deadline, time zone, other practice fields -------------------------------------------------------------


@pytest.mark.parametrize("kind", REQUESTS_FOR_ASSISTANCE)
def test_a_deadline_comes_with_its_reason(kind: str) -> None:
    deadline = {"deadline": "2026-06-01T00:00:00.000Z"}
    reason = {"deadline_reason": "The trial opens on 2026-06-15."}
    assert check(kind, deadline | reason) == []
    [problem] = check(kind, deadline)
    assert found([problem]) == [("deadline_reason", "40")] and "deadline" in problem.message
    assert found(check(kind, reason)) == [("deadline", "40")]


@pytest.mark.parametrize(("zone", "ok"), [("Asia/Ho_Chi_Minh", True), ("America/Argentina/Buenos_Aires", True),
                                          ("UTC", True), ("Etc/GMT+7", True), ("UTC+7", False), ("ICT", False),
                                          ("Paris", False)])
def test_the_time_zone_is_an_iana_name(zone: str, ok: bool) -> None:
    problems = check("general_assistance", {"time_zone": zone})
    assert (problems == []) is ok
    if not ok:
        assert found(problems) == [("time_zone", "40")] and "IANA" in problems[0].message


def test_the_practice_fields_are_accepted_together() -> None:
    practice = {"time_zone": "Asia/Ho_Chi_Minh", "office_hours": "Mon-Fri 08:00-17:00", "reply_channel": "hanoinet",
                "court_reference": "Hanoi People's Procuracy 2026/123", "confidential": True, "do_not_notify": True,
                "earlier_requests": ["VNM-2026-0007 preservation to FRA, 2026-03-02"],
                "procedure": "Certify the records under your law.", "persons": "Nguyen Van A, Vietnamese, Lyon."}
    assert check("stored_data", practice) == []
    assert found(check("stored_data", {"earlier_requests": "VNM-2026-0007"})) == [("earlier_requests", "40")]


# --- General assistance, law enforcement, joint investigations, spontaneous information ---------------------


def test_general_assistance_names_its_forms_and_marks_the_list_uncertain() -> None:
    spec = next(f for f in REQUEST_KINDS["general_assistance"].fields if f.name == "assistance_types")
    assert spec.uncertain and spec.article == "40"
    assert spec.choices == ("evidence_or_statements", "service_of_documents", "search_and_seizure",
                            "examining_objects_and_sites", "information_and_records", "locating_persons",
                            "voluntary_appearance", "other")
    assert found(check("general_assistance", drop=("assistance_types",))) == [("assistance_types", "40")]
    assert found(check("general_assistance", {"assistance_types": ["extradition"]})) == [("assistance_types[0]", "40")]


def test_law_enforcement_cooperation_names_its_forms() -> None:
    assert found(check("law_enforcement", drop=("cooperation",))) == [("cooperation", "47")]
    assert check("law_enforcement", {"cooperation": ["persons", "proceeds", "liaison"]}) == []


def test_a_joint_investigation_names_its_participants() -> None:
    assert found(check("joint_investigation", drop=("participants",))) == [("participants", "48")]
    assert check("joint_investigation", {"arrangement": "A case-by-case arrangement."}) == []


def test_spontaneous_information_carries_what_and_why() -> None:
    kind = REQUEST_KINDS["spontaneous_information"]
    assert {f.name for f in kind.fields if f.required} == {"requesting_authority", "offence", "facts", "information",
                                                          "relevance"}
    assert "assistance_sought" not in {f.name for f in kind.fields}
    assert found(check("spontaneous_information", drop=("information", "relevance"))) == [
        ("information", "40"), ("relevance", "40")]
    assert check("spontaneous_information", {"use_conditions": "Not to be used as evidence in court."}) == []
    assert found(check("spontaneous_information", {"deadline": "2026-06-01T00:00:00.000Z"})) == [("deadline", "40")]


@pytest.mark.parametrize("kind", ["joint_investigation", "spontaneous_information"])
def test_proposals_and_information_are_answered_not_refused(kind: str) -> None:
    [problem] = validate_refusal(kind, "prejudice_sovereignty", "Essential interests.")
    assert problem.field == "ground" and "not refused on a ground" in problem.message
    assert "execute" in problem.fix


@pytest.mark.parametrize("kind", ["stored_data", "real_time_traffic", "interception", "general_assistance",
                                  "law_enforcement"])
def test_requests_are_refused_on_the_article_40_grounds(kind: str) -> None:
    assert validate_refusal(kind, "domestic_law_forbids", "Our law forbids it in a similar case.") == []
    [problem] = validate_refusal(kind, "dual_criminality_not_met", "No such offence here.")
    assert problem.field == "ground"
    [fiscal] = validate_refusal(kind, "fiscal_matters", "Tax.")
    assert "not a ground" in fiscal.message


# --- Desks ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [k for k in MLA if k != "law_enforcement"])
def test_mla_goes_to_the_central_authority_never_the_24_7_desk(kind: str) -> None:
    assert check(kind, to="FRA/CA", sending_desk="CA") == []
    [problem] = check(kind, to="FRA/247")
    assert found([problem]) == [("to", "40")]
    assert "central authority" in problem.message and "'247'" in problem.message
    assert problem.fix == "Address it to FRA/CA."
    [sender] = check(kind, sending_desk="247")
    assert found([sender]) == [("desk", "40")] and "desk CA" in sender.fix


def test_law_enforcement_cooperation_may_also_use_the_24_7_network() -> None:
    assert check("law_enforcement", to="FRA/247", sending_desk="247") == []
    [problem] = check("law_enforcement", to="FRA/CYBER")
    assert problem.fix == "Address it to FRA/CA or FRA/247."


@pytest.mark.parametrize("kind", ["preservation", "traffic_disclosure", "emergency_disclosure", "location_query"])
def test_the_24_7_kinds_keep_going_to_any_desk(kind: str) -> None:
    assert REQUEST_KINDS[kind].desks == ()
    assert check_desks(kind, to="FRA/CA", sending_desk="CYBER") == []


@pytest.mark.parametrize(("to", "sending_desk"), [(None, None), ("FRA", None), (42, ["CA"]), ("", ""),
                                                  ("FRA/CA/x", None)])
def test_the_desk_rule_never_raises(to: object, sending_desk: object) -> None:
    problems = check_desks("stored_data", to=to, sending_desk=sending_desk)
    assert all(isinstance(p, Problem) for p in problems)
    assert check_desks("no_such_kind", to="FRA/247") == []


@pytest.mark.usefixtures("isolated_registry")
def test_desks_of_a_kind_must_be_desk_ids() -> None:
    stored = REQUEST_KINDS["stored_data"]
    for desks in (("C A",), ("CA", "CA"), ("",)):
        with pytest.raises(ValueError, match="desk ids"):
            register(dataclasses.replace(stored, name="stored_data_2", desks=desks))


@pytest.mark.usefixtures("isolated_registry")
@pytest.mark.parametrize(("field", "words"), [
    (FieldSpec("start", "Start", "45", "text", "x", before="end"), "constraint"),
    (FieldSpec("start", "Start", "45", "datetime", "x", before="nowhere"), "no datetime field"),
    (FieldSpec("due", "Due", "40", "datetime", "x", needs="deadline"), "needs"),
    (FieldSpec("due", "Due", "40", "datetime", "x", required=False, needs="nowhere"), "needs"),
    (FieldSpec("ref", "Ref", "44", "longtext", "x", format=MLA_PRACTICE[0].format), "constraint"),
    (FieldSpec("kinds", "Kinds", "44", "bool", "x", choices=("a",)), "constraint"),
])
def test_inconsistent_rules_between_fields_are_refused(field: FieldSpec, words: str) -> None:
    stored = REQUEST_KINDS["stored_data"]
    with pytest.raises(ValueError, match=words):
        register(dataclasses.replace(stored, name="stored_data_2", fields=(*stored.fields, field)))


# --- Languages --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MLA)
def test_the_desk_languages_apply_to_mla(kind: str) -> None:
    assert check(kind, language="fr", desk_languages=["fr", "en"]) == []
    [problem] = check(kind, language="vi", desk_languages=["fr", "en"])
    assert found([problem]) == [("language", "40")]
    assert "does not accept requests in vi" in problem.message and problem.fix == "Write the request in one of: fr, en."
    [declared] = check(kind, language="es", declarations=[LANGUAGES])
    assert "fr, en" in declared.message


def test_the_desks_the_kinds_name_are_the_standard_desks_of_every_node() -> None:
    named = {d for kind in REQUEST_KINDS.values() for d in kind.desks}
    assert named == {CENTRAL_AUTHORITY_DESK, POINT_OF_CONTACT_DESK} == set(STANDARD_DESKS)
