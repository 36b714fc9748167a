"""The Convention's rules on requests, results and refusals.

Pure checks over plain JSON values: each returns every problem it finds at once, so a desk officer fixes a
draft in one pass; :class:`ValidationFailed` turns a non-empty list into the node's error. Declarations are
those of the requested State (docs/protocol.md section 8); an effect these rules do not know, or a known
effect whose ``params`` do not have the documented shape, is ignored, because nothing may be inferred from it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hanoinet.clock import format_instant, parse_instant, parse_rfc3339
from hanoinet.convention.articles import (
    ACCEPTED_LANGUAGES,
    ACKNOWLEDGEMENT_NOTE,
    CENTRAL_AUTHORITY,
    CENTRAL_AUTHORITY_DESK,
    CERTAINTY,
    CONSULT_BEFORE_REFUSING,
    CONVENTION_OFFENCES,
    DESK_TITLES,
    DUAL_CRIMINALITY_NOT_MET,
    DUAL_CRIMINALITY_REQUIRED,
    DUAL_CRIMINALITY_STATEMENT,
    EFFECTS,
    FIELD_TYPES,
    GROUNDS_NOTE,
    NOT_GROUNDS,
    OFFENCES,
    PRESERVATION,
    PRESERVATION_CLOCK,
    PRIORITIES,
    PROVISIONS,
    REFUSAL_GROUNDS,
    REFUSAL_REASONS,
    REQUEST_KINDS,
    REQUEST_LANGUAGE,
    SERIOUS,
    SERIOUS_CRIME,
    SERIOUS_CRIME_MIN_YEARS,
    UN_LANGUAGES,
    FieldSpec,
    RefusalGround,
    RequestKind,
)
from hanoinet.errors import NotFound, ValidationError
from hanoinet.network.directory import Declaration
from hanoinet.states import check_state

#: Longest ``text`` value: a name, a reference or an identifier, never a document.
MAX_TEXT = 2_000
#: Longest ``longtext`` value, as for a free-text note between desks (network/kinds.py).
MAX_LONGTEXT = 100_000
#: Most items in a ``list`` value: a communication path has a handful of hops, not thousands.
MAX_ITEMS = 100

# The protocol's restricted BCP 47 form (docs/protocol.md section 2.8).
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", re.ASCII)
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a draft: the field (dotted path), the article that asks for it, what and how to fix."""

    field: str
    article: str
    message: str
    fix: str


class ValidationFailed(ValidationError):
    """A request, result or refusal breaks the Convention's rules; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("ValidationFailed needs at least one problem")
        self.problems = tuple(problems)
        listed = "; ".join(
            f"{p.field}{f' (Art. {p.article})' if p.article else ''}: {p.message}" for p in problems
        )
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        super().__init__(f"{count}: {listed}", hint=" ".join(p.fix for p in problems))


# --- Values -----------------------------------------------------------------------------------------------


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _fill_in(spec: FieldSpec) -> str:
    return spec.help if spec.required else f"{spec.help} Leave the field out if there is nothing to say."


def _wrong_type(path: str, spec: FieldSpec, value: object) -> Problem:
    return Problem(path, spec.article, f"{spec.label} must be {FIELD_TYPES[spec.type]}, not {_json_type(value)}",
                   spec.help)


def _text_problem(path: str, value: object, *, article: str, label: str, limit: int, fix: str) -> Problem | None:
    """The problem with a text value, if any: not a string, blank, or longer than ``limit``."""
    if not isinstance(value, str):
        return Problem(path, article, f"{label} must be text, not {_json_type(value)}", fix)
    if not value.strip():
        return Problem(path, article, f"{label} is empty", fix)
    if len(value) > limit:
        return Problem(path, article, f"{label} is {len(value)} characters long; at most {limit} are accepted",
                       "Shorten it; long material belongs in the request for mutual legal assistance.")
    return None


def _offence_code(value: object) -> str | None:
    """The offence code of an offence object, if it names a known offence."""
    if isinstance(value, Mapping):
        code = value.get("article")
        if isinstance(code, str) and code in OFFENCES:
            return code
    return None


def _check_offence(path: str, spec: FieldSpec, value: object) -> list[Problem]:
    if not isinstance(value, Mapping):
        return [_wrong_type(path, spec, value)]
    problems: list[Problem] = []
    code = value.get("article", _MISSING)
    known = ", ".join(c for c in OFFENCES if c != SERIOUS)
    if code is _MISSING:
        problems.append(Problem(f"{path}.article", spec.article, "the offence has no article",
                                f"Add article: one of {known}, or {SERIOUS!r}."))
    elif _offence_code(value) is None:
        problems.append(Problem(f"{path}.article", spec.article,
                                f"{code!r} is not an offence the Convention covers",
                                f"Write one of {known} (as text) for a Convention offence, or {SERIOUS!r} for "
                                "another serious crime."))
    serious = code == SERIOUS
    allowed = {"article", "domestic_offence"} | ({"max_penalty_years"} if serious or code is _MISSING else set())
    problems.extend(
        Problem(f"{path}.{key}", spec.article, f"the offence has no member {key!r}",
                "Remove it." + (" A maximum penalty is given only for a serious crime." if
                                key == "max_penalty_years" else ""))
        for key in value if key not in allowed
    )
    domestic = value.get("domestic_offence", _MISSING)
    if domestic is _MISSING:
        if serious:
            problems.append(Problem(f"{path}.domestic_offence", SERIOUS_CRIME.article,
                                    "a serious crime must be named as the domestic offence",
                                    "Add domestic_offence: the offence under your law, with its provision."))
    else:
        problem = _text_problem(f"{path}.domestic_offence", domestic, article=spec.article,
                                label="The domestic offence", limit=MAX_TEXT,
                                fix="Name the offence under your law, with its provision.")
        if problem is not None:
            problems.append(problem)
    if serious:
        years = value.get("max_penalty_years", _MISSING)
        fix = (f"Add max_penalty_years: the maximum deprivation of liberty in years; it must be at least "
               f"{SERIOUS_CRIME_MIN_YEARS} for the Convention to apply.")
        if years is _MISSING:
            problems.append(Problem(f"{path}.max_penalty_years", SERIOUS_CRIME.article,
                                    "the maximum penalty of the serious crime is missing", fix))
        elif not isinstance(years, int) or isinstance(years, bool):
            problems.append(Problem(f"{path}.max_penalty_years", SERIOUS_CRIME.article,
                                    f"the maximum penalty must be a whole number of years, not {_json_type(years)}",
                                    fix))
        elif years < SERIOUS_CRIME_MIN_YEARS:
            problems.append(Problem(
                f"{path}.max_penalty_years", SERIOUS_CRIME.article,
                f"a maximum penalty of {years} years does not make a serious crime (at least "
                f"{SERIOUS_CRIME_MIN_YEARS} years)",
                f"Name the Convention offence (Art. {CONVENTION_OFFENCES}) if the conduct is one; otherwise the "
                "Convention does not apply to this offence."))
    return problems


def _check_value(path: str, spec: FieldSpec, value: object) -> list[Problem]:
    """Problems with one present value of a field."""
    if spec.type in ("text", "longtext"):
        limit = MAX_TEXT if spec.type == "text" else MAX_LONGTEXT
        problem = _text_problem(path, value, article=spec.article, label=spec.label, limit=limit,
                                fix=_fill_in(spec))
        if problem is not None:
            return [problem]
        if spec.choices and value not in spec.choices:
            return [Problem(path, spec.article, f"{spec.label} must be one of {', '.join(spec.choices)}, "
                            f"not {value!r}", f"Write one of {', '.join(spec.choices)}.")]
        if spec.format is not None and isinstance(value, str) and not re.fullmatch(spec.format.pattern, value):
            return [Problem(path, spec.article, f"{spec.label} must be {spec.format.description}, not {value!r}",
                            _fill_in(spec))]
        return []
    if spec.type == "bool":
        if not isinstance(value, bool):
            return [_wrong_type(path, spec, value)]
        if spec.must_be_true and not value:
            return [Problem(path, spec.article, f"{spec.label}: the request must state this", spec.help)]
        return []
    if spec.type == "offence":
        return _check_offence(path, spec, value)
    if spec.type == "state":
        if not isinstance(value, str):
            return [_wrong_type(path, spec, value)]
        try:
            check_state(value)
        except ValidationError as exc:
            return [Problem(path, spec.article, f"{spec.label}: {exc.message}", f"Write {FIELD_TYPES['state']}.")]
        return []
    if spec.type == "datetime":
        if not isinstance(value, str):
            return [_wrong_type(path, spec, value)]
        try:
            parse_instant(value, field=spec.label)
        except ValidationError as exc:
            return [Problem(path, spec.article, exc.message, f"Write {FIELD_TYPES['datetime']}.")]
        return []
    if spec.type == "list":
        if not isinstance(value, list):
            return [_wrong_type(path, spec, value)]
        if not value:
            return [Problem(path, spec.article, f"{spec.label} is an empty list", _fill_in(spec))]
        if len(value) > MAX_ITEMS:
            return [Problem(path, spec.article, f"{spec.label} has {len(value)} items; at most {MAX_ITEMS} are "
                            "accepted", "Keep the items that matter; put the rest in a text field.")]
        items = [_text_problem(f"{path}[{i}]", item, article=spec.article, label=f"Item {i} of {spec.label}",
                               limit=MAX_TEXT, fix=_fill_in(spec)) for i, item in enumerate(value)]
        problems = [p for p in items if p is not None]
        if spec.choices:
            problems.extend(
                Problem(f"{path}[{i}]", spec.article, f"Item {i} of {spec.label} must be one of "
                        f"{', '.join(spec.choices)}, not {item!r}", f"Write one of {', '.join(spec.choices)}.")
                for i, (item, problem) in enumerate(zip(value, items, strict=True))
                if problem is None and item not in spec.choices)
        return problems
    return _check_fields(spec.fields, value, prefix=f"{path}.", article=spec.article)


def _check_fields(specs: Sequence[FieldSpec], data: object, *, prefix: str, article: str) -> list[Problem]:
    """Every problem with an object of fields: unknown names, missing required fields, bad values."""
    container = prefix.rstrip(".") or "fields"
    if not isinstance(data, Mapping):
        return [Problem(container, article, f"{container} must be an object, not {_json_type(data)}",
                        "Send the fields as a JSON object of name: value.")]
    by_name = {s.name: s for s in specs}
    names = ", ".join(by_name)
    problems = [
        Problem(f"{prefix}{key}", article, f"there is no field {str(key)!r}", f"Remove it; the fields are: {names}.")
        for key in data if key not in by_name
    ]
    for spec in specs:
        path = f"{prefix}{spec.name}"
        if spec.name in data:
            problems.extend(_check_value(path, spec, data[spec.name]))
        elif spec.required:
            problems.append(Problem(path, spec.article, f"{spec.label} is missing", f"Add {spec.name}. {spec.help}"))
    problems.extend(_check_together(specs, data, prefix))
    return problems


def _instant(spec: FieldSpec, value: object) -> datetime | None:
    """A present, valid datetime value (an invalid one is reported by the field's own check)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value, field=spec.label)
    except ValidationError:
        return None


def _check_together(specs: Sequence[FieldSpec], data: Mapping[Any, object], prefix: str) -> list[Problem]:
    """Rules between fields: a period's start before its end, a field given without the one it needs."""
    by_name = {s.name: s for s in specs}
    problems: list[Problem] = []
    for spec in specs:
        if spec.before and spec.name in data and spec.before in data:
            end = by_name[spec.before]
            first, then = _instant(spec, data[spec.name]), _instant(end, data[end.name])
            if first is not None and then is not None and then <= first:
                problems.append(Problem(f"{prefix}{end.name}", end.article,
                                        f"{end.label} must come after {spec.label.lower()} ({data[spec.name]})",
                                        f"Write an end after the start. {end.help}"))
        if spec.needs and spec.name in data and spec.needs not in data:
            other = by_name[spec.needs]
            problems.append(Problem(f"{prefix}{other.name}", other.article,
                                    f"{other.label} is missing: it is given with {spec.label.lower()}",
                                    f"Add {other.name}, or leave out {spec.name}. {other.help}"))
    return problems


# --- Declarations of the requested State ------------------------------------------------------------------


def _string_list(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _dual_criminality_reservations(declarations: Sequence[Declaration]) -> Iterator[tuple[Declaration, list[str]]]:
    """Reservations requiring dual criminality for preservation, with the offence articles they except."""
    for declaration in declarations:
        if declaration.effect != DUAL_CRIMINALITY_REQUIRED.name:
            continue
        excepted = _string_list(declaration.params.get("except_articles"))
        if declaration.params.get("applies_to_preservation") is True and excepted is not None:
            yield declaration, excepted


def _accepts(language: str, accepted: Sequence[str]) -> bool:
    """RFC 4647 section 3.3.1 basic filtering: ``fr`` accepts ``fr`` and ``fr-CA``, case-insensitively."""
    tag = language.lower()
    return any(tag == r.lower() or tag.startswith(r.lower() + "-") for r in accepted)


def _check_language(language: object, declarations: Sequence[Declaration],
                    desk_languages: Sequence[str]) -> list[Problem]:
    article = REQUEST_LANGUAGE.article
    if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
        return [Problem("language", article, f"{language!r} is not a BCP 47 language tag",
                        "Write the tag of the request's language, e.g. en, fr, es.")]
    problems: list[Problem] = []
    if desk_languages and not _accepts(language, desk_languages):
        problems.append(Problem("language", article, f"the requested desk does not accept requests in {language}",
                                f"Write the request in one of: {', '.join(desk_languages)}."))
    for declaration in declarations:
        accepted = _string_list(declaration.params.get("languages"))
        if declaration.effect == ACCEPTED_LANGUAGES.name and accepted is not None \
                and not _accepts(language, accepted):
            problems.append(Problem(
                "language", declaration.article,
                f"the requested State accepts requests only in {', '.join(accepted)} (its {declaration.kind} "
                f"under Art. {declaration.article})",
                f"Write the request in one of: {', '.join(accepted)}."))
    return problems


def _check_dual_criminality_statement(kind: RequestKind, fields: object,
                                      declarations: Sequence[Declaration]) -> list[Problem]:
    statement = DUAL_CRIMINALITY_STATEMENT
    if kind.name != PRESERVATION.name or not isinstance(fields, Mapping) or statement.name in fields:
        return []
    code = _offence_code(fields.get("offence"))
    if code is None:  # the offence itself is reported as missing or invalid
        return []
    for declaration, excepted in _dual_criminality_reservations(declarations):
        if code not in excepted:
            return [Problem(
                statement.name, declaration.article,
                f"the requested State requires dual criminality for preservation except for offences under Art. "
                f"{', '.join(excepted) or '(none)'} (its {declaration.kind} under Art. {declaration.article}); "
                f"the offence here is: {OFFENCES[code].title}",
                f"Add {statement.name}. {statement.help}",
            )]
    return []


# --- Public checks ----------------------------------------------------------------------------------------


def _unknown_kind(kind: object) -> Problem:
    return Problem("kind", "", f"{kind!r} is not a kind of request", f"Use one of: {', '.join(REQUEST_KINDS)}.")


def _desks(kind: RequestKind) -> str:
    names = [f"{d} ({DESK_TITLES[d]})" if d in DESK_TITLES else d for d in kind.desks]
    return " or ".join(names)


def check_desks(kind: str, *, to: object = None, sending_desk: object = None) -> list[Problem]:
    """Whether a request of ``kind`` may go to the desk address ``to`` and leave from ``sending_desk``.

    Mutual legal assistance goes from central authority to central authority: a kind that names its desks
    (``RequestKind.desks``) is refused anywhere else, naming the desk to use. ``None`` skips a side.
    """
    spec = REQUEST_KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None or not spec.desks:
        return []
    article = CENTRAL_AUTHORITY.article if CENTRAL_AUTHORITY_DESK in spec.desks else spec.article
    problems: list[Problem] = []
    if isinstance(to, str):
        state, _, desk = to.partition("/")
        if desk not in spec.desks:
            problems.append(Problem(
                "to", article, f"a {spec.name} request goes to the requested State's {_desks(spec)} desk, not to "
                f"desk {desk or to!r}", f"Address it to {' or '.join(f'{state}/{d}' for d in spec.desks)}."))
    if isinstance(sending_desk, str) and sending_desk not in spec.desks:
        problems.append(Problem(
            "desk", article, f"a {spec.name} request is sent by the {_desks(spec)} desk, not by desk {sending_desk}",
            f"Send it from desk {' or '.join(spec.desks)}, or ask an officer of that desk to."))
    return problems


def validate_request(
    kind: str,
    fields: Mapping[str, object],
    *,
    priority: str,
    language: str,
    declarations: Sequence[Declaration] = (),
    desk_languages: Sequence[str] = (),
    to: str | None = None,
    sending_desk: str | None = None,
) -> list[Problem]:
    """Every problem with a draft request, or ``[]`` when it may be sent.

    ``declarations`` are the requested State's (from its member card) and ``desk_languages`` the languages of
    the requested desk; ``to`` (``STATE/DESK``) and ``sending_desk``, when given, are checked against the desks
    the kind goes between (:func:`check_desks`). Never raises on malformed input: what is wrong is a
    :class:`Problem`.
    """
    spec = REQUEST_KINDS.get(kind) if isinstance(kind, str) else None
    problems = [] if spec is not None else [_unknown_kind(kind)]
    if not isinstance(priority, str) or priority not in PRIORITIES:
        problems.append(Problem("priority", "", f"{priority!r} is not a priority",
                                f"Use one of: {', '.join(PRIORITIES)}."))
    elif spec is not None and priority not in spec.priorities:
        problems.append(Problem("priority", spec.article, f"a {spec.name} request cannot be {priority}",
                                f"Use {' or '.join(spec.priorities)} (default {spec.default_priority})."))
    problems.extend(_check_language(language, declarations, desk_languages))
    problems.extend(check_desks(kind, to=to, sending_desk=sending_desk))
    if spec is not None:
        problems.extend(_check_fields(spec.fields, fields, prefix="", article=spec.article))
        problems.extend(_check_dual_criminality_statement(spec, fields, declarations))
    return problems


def _canonical_instants(specs: Sequence[FieldSpec], data: Mapping[str, object]) -> dict[str, object]:
    canonical = dict(data)
    for spec in specs:
        value = data.get(spec.name)
        if spec.type == "datetime" and isinstance(value, str):
            # Left as typed when it is no date and time: the checks report it with the field's article.
            with contextlib.suppress(ValidationError):
                canonical[spec.name] = format_instant(parse_rfc3339(value, field=spec.label))
        elif spec.type == "object" and isinstance(value, Mapping):
            canonical[spec.name] = _canonical_instants(spec.fields, value)
    return canonical


def canonical_fields(kind: str, fields: Mapping[str, object]) -> dict[str, object]:
    """A request's fields as an officer typed them, with each date and time as the protocol's UTC instant.

    Officers may write any RFC 3339 offset (``2026-12-07T22:10:00+01:00``); what is stored, signed and sent is
    the one form of docs/protocol.md (``2026-12-07T21:10:00.000Z``). Call it on what officers give, never on
    what another State sent: that must already be in the protocol's form. Other values are returned as given.
    """
    spec = REQUEST_KINDS.get(kind)
    return _canonical_instants(spec.fields, fields) if spec is not None else dict(fields)


def canonical_result(kind: str, data: Mapping[str, object]) -> dict[str, object]:
    """:func:`canonical_fields` for the result of executing a request of ``kind`` (e.g. ``preserved_at``)."""
    spec = REQUEST_KINDS.get(kind)
    return _canonical_instants(spec.results, data) if spec is not None else dict(data)


def validate_result(kind: str, data: Mapping[str, object]) -> list[Problem]:
    """Every problem with what the requested State returns on executing a request of ``kind``."""
    spec = REQUEST_KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        return [_unknown_kind(kind)]
    return _check_fields(spec.results, data, prefix="", article=spec.article)


def grounds_for(kind: str) -> list[RefusalGround]:
    """The refusal grounds a requested State may use for a request of ``kind``."""
    return [g for g in REFUSAL_GROUNDS.values() if kind in g.kinds]


def validate_refusal(
    kind: str,
    ground: str,
    reasons: str,
    *,
    declarations: Sequence[Declaration] = (),
    offence: object = None,
) -> list[Problem]:
    """Every problem with a refusal: the ground must exist and fit the kind, and reasons must be given.

    ``declarations`` are the refusing (requested) State's own and ``offence`` the request's offence object:
    ``dual_criminality_not_met`` is open only to a State whose reservation covers that offence.
    """
    spec = REQUEST_KINDS.get(kind) if isinstance(kind, str) else None
    problems = [] if spec is not None else [_unknown_kind(kind)]
    found = REFUSAL_GROUNDS.get(ground) if isinstance(ground, str) else None
    usable = ", ".join(g.code for g in grounds_for(kind)) if spec is not None else ", ".join(REFUSAL_GROUNDS)
    if spec is not None and not usable:
        problems.append(Problem("ground", spec.article, f"a {spec.name} request is not refused on a ground",
                                "Answer it with its result instead (execute): the result can decline it, with "
                                "reasons."))
    elif found is None:
        not_a_ground = NOT_GROUNDS.get(ground) if isinstance(ground, str) else None
        if not_a_ground is not None:
            problems.append(Problem("ground", not_a_ground.article,
                                    f"{ground!r} is not a ground for refusal: {not_a_ground.description}",
                                    f"Execute the request, or refuse on one of: {usable}."))
        else:
            problems.append(Problem("ground", REFUSAL_REASONS.article, f"{ground!r} is not a ground for refusal",
                                    f"Use one of: {usable}."))
    elif spec is not None and spec.name not in found.kinds:
        problems.append(Problem("ground", found.article,
                                f"{found.title.lower()} is not a ground for refusing a {spec.name} request",
                                f"Use one of: {usable}."))
    elif found.code == DUAL_CRIMINALITY_NOT_MET:
        problems.extend(_check_dual_criminality_ground(found, declarations, offence))
    reason_problem = _text_problem(
        "reasons", reasons, article=REFUSAL_REASONS.article, label="The statement of reasons", limit=MAX_LONGTEXT,
        fix="Explain why the request is refused, after consulting the requesting State "
            f"(Art. {CONSULT_BEFORE_REFUSING.article}).")
    if reason_problem is not None:
        problems.append(reason_problem)
    return problems


#: What a consultation before refusing or postponing may be about (``considering``).
CONSULTATION_PURPOSES = ("refusal", "postponement")


def validate_consultation(
    kind: str,
    considering: str,
    ground: str | None,
    reasons: str,
    *,
    declarations: Sequence[Declaration] = (),
    offence: object = None,
) -> list[Problem]:
    """Every problem with a consultation of the requesting State before a refusal or a postponement.

    On a refusal it names the ground considered, which must be one a refusal of ``kind`` may cite (the checks of
    :func:`validate_refusal`, with the same ``declarations`` and ``offence``): the requesting State is consulted
    on a ground the requested State can use, and the refusal that may follow must cite it. A postponement
    names no ground. Reasons are required either way, so the requesting State can answer them.
    """
    article = CONSULT_BEFORE_REFUSING.article
    problems: list[Problem] = []
    if considering == "refusal":
        problems.extend(p for p in validate_refusal(kind, ground if isinstance(ground, str) else "", "-",
                                                    declarations=declarations, offence=offence))
    else:
        if kind not in REQUEST_KINDS:
            problems.append(_unknown_kind(kind))
        if considering != "postponement":
            problems.append(Problem("considering", article, f"{considering!r} is not what a consultation is about",
                                    f"Write one of: {', '.join(CONSULTATION_PURPOSES)}."))
        elif ground is not None:
            problems.append(Problem("ground", article, "a postponement is not made on a ground for refusal",
                                    "Remove the ground; give the reasons for postponing."))
    reason_problem = _text_problem(
        "reasons", reasons, article=article, label="The statement of reasons", limit=MAX_LONGTEXT,
        fix="Explain why you consider it, so that the requesting State can answer or offer conditions.")
    if reason_problem is not None:
        problems.append(reason_problem)
    return problems


def _check_dual_criminality_ground(ground: RefusalGround, declarations: Sequence[Declaration],
                                   offence: object) -> list[Problem]:
    reservations = list(_dual_criminality_reservations(declarations))
    if not reservations:
        return [Problem("ground", ground.article,
                        "dual criminality is a ground only for a State that reserved it for preservation, and "
                        "no such reservation is among the declarations",
                        "Execute the request (preservation needs no dual criminality), or refuse on another "
                        "ground.")]
    code = _offence_code(offence)
    if code is None:
        return [Problem("offence", ground.article, "the request's offence is needed to refuse on dual criminality",
                        "Pass the offence object of the request.")]
    covering = [d for d, excepted in reservations if code not in excepted]
    if not covering:
        article = reservations[0][0].article
        return [Problem("offence", article,
                        f"the reservation under Art. {article} does not cover {OFFENCES[code].title.lower()} "
                        f"(Art. {OFFENCES[code].article}): dual criminality cannot be required for it",
                        "Execute the request, or refuse on another ground.")]
    return []


# --- Descriptions for the API and the documentation -------------------------------------------------------


def _field_json(spec: FieldSpec) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": spec.name, "label": spec.label, "article": spec.article, "uncertain": spec.uncertain,
        "required": spec.required, "type": spec.type, "help": spec.help,
    }
    if spec.choices:
        data["choices"] = list(spec.choices)
    if spec.must_be_true:
        data["must_be_true"] = True
    if spec.fields:
        data["fields"] = [_field_json(f) for f in spec.fields]
    if spec.format is not None:
        data["format"] = {"name": spec.format.name, "description": spec.format.description,
                          "pattern": spec.format.pattern}
    if spec.before:
        data["before"] = spec.before
    if spec.needs:
        data["needs"] = spec.needs
    return data


def _ground_json(ground: RefusalGround) -> dict[str, Any]:
    return {"code": ground.code, "article": ground.article, "uncertain": ground.uncertain, "title": ground.title,
            "description": ground.description, "kinds": list(ground.kinds)}


def describe(kind: str) -> dict[str, Any]:
    """A JSON-ready description of a request kind: fields, results, priorities and refusal grounds."""
    spec = REQUEST_KINDS.get(kind)
    if spec is None:
        raise NotFound(f"{kind!r} is not a kind of request", hint=f"known kinds: {', '.join(REQUEST_KINDS)}")
    return {
        "name": spec.name, "title": spec.title, "article": spec.article, "uncertain": spec.uncertain,
        "summary": spec.summary, "default_priority": spec.default_priority, "priorities": list(spec.priorities),
        "desks": list(spec.desks),
        "preservation_clock": spec.preservation_clock,
        "fields": [_field_json(f) for f in spec.fields],
        "results": [_field_json(f) for f in spec.results],
        "grounds": [_ground_json(g) for g in grounds_for(spec.name)],
    }


def catalogue() -> dict[str, Any]:
    """The whole Convention data as JSON: offences, grounds, languages, priorities, clocks, kinds, provisions.

    Collections are objects keyed by code or name, in the order of the data. Durations are whole seconds (the
    protocol has no floats).
    """
    clock = PRESERVATION_CLOCK
    return {
        "certainty": CERTAINTY,
        "offences": {o.code: {"code": o.code, "article": o.article, "title": o.title, "core": o.core}
                     for o in OFFENCES.values()},
        "serious_crime_min_years": SERIOUS_CRIME_MIN_YEARS,
        "grounds": {g.code: _ground_json(g) for g in REFUSAL_GROUNDS.values()},
        "grounds_note": GROUNDS_NOTE,
        "not_grounds": {g.code: {"code": g.code, "article": g.article, "title": g.title, "description": g.description}
                        for g in NOT_GROUNDS.values()},
        "languages": dict(UN_LANGUAGES),
        "priorities": {p.name: {"name": p.name, "title": p.title, "description": p.description,
                                "article": p.article,
                                "acknowledge_within_seconds": int(p.acknowledge_within.total_seconds())}
                       for p in PRIORITIES.values()},
        "acknowledgement_note": ACKNOWLEDGEMENT_NOTE,
        "clocks": {"preservation": {
            "article": clock.article, "counted_from": clock.counted_from,
            "minimum_seconds": int(clock.minimum.total_seconds()),
            "default_extension_seconds": int(clock.default_extension.total_seconds()),
            "warning_seconds": [int(w.total_seconds()) for w in clock.warnings],
            "note": clock.note,
        }},
        "field_types": dict(FIELD_TYPES),
        "effects": {e.name: {"name": e.name, "article": e.article, "params": e.params, "description": e.description}
                    for e in EFFECTS.values()},
        "provisions": {p.name: {"name": p.name, "article": p.article, "title": p.title, "uncertain": p.uncertain}
                       for p in PROVISIONS.values()},
        "kinds": {name: describe(name) for name in REQUEST_KINDS},
    }
