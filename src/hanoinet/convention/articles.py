"""The Convention as data: every article reference the node makes lives in this module.

UN Convention against Cybercrime (General Assembly resolution 79/243, 24 December 2024). Articles 1-15 were
checked against the official text; later article numbers are corroborated by secondary sources. A reference
marked ``uncertain`` comes from recollection at paragraph level, so it is kept at article level until the
official text confirms it; the UI shows it with "(?)". Correcting a reference is one edit, here.

Other modules never write an article number themselves: they cite a :class:`Provision` from
:data:`PROVISIONS`, a field's or a ground's ``article``, or an offence's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

#: What the UI and the generated documentation say about the references below.
CERTAINTY = ("Articles 1-15 were checked against the official text of the Convention; later article numbers are "
             "corroborated by secondary sources. References marked (?) are uncertain pending the official text "
             "and are kept at article level.")

# --- Provisions cited across the node -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Provision:
    """A rule of the Convention the node cites: a stable name, where it is written and what it says."""

    name: str
    article: str
    title: str
    uncertain: bool = False


DEFINITIONS = Provision("definitions", "2", "Definitions: electronic, traffic, content and subscriber data, "
                        "personal data, serious crime, emergency")
SERIOUS_CRIME = Provision("serious_crime", "2", "Serious crime: punishable by a maximum deprivation of liberty of "
                          "at least four years")
EMERGENCY = Provision("emergency", "2", "Emergency: a significant and imminent risk to the life or safety of any "
                      "natural person")
HUMAN_RIGHTS = Provision("human_rights", "6", "Implementation consistent with international human rights law")
LEGAL_PERSONS = Provision("legal_persons", "18", "Liability of legal persons")
PARTICIPATION = Provision("participation", "19", "Participation and attempt")
SCOPE_SERIOUS_CRIME = Provision("scope_serious_crime", "23(2)(c), 35(1)(c)",
                                "Cooperation covers evidence in electronic form of any serious crime")
SAFEGUARDS = Provision("safeguards", "24", "Conditions and safeguards of procedural powers: proportionality, "
                       "review, grounds, limits of scope and duration, remedies")
CONFISCATION = Provision("confiscation", "31, 50-52", "Freezing, seizure and confiscation of proceeds and "
                         "instruments, virtual assets included")
VICTIMS = Provision("victims", "34", "Assistance and protection of victims, compensation and restitution, "
                    "removal of content")
DUAL_CRIMINALITY = Provision("dual_criminality", "35", "Dual criminality is met when the conduct is criminal in "
                             "both States, whatever its name or category")
REFUSAL_REASONS = Provision("refusal_reasons", "35, 40", "Reasons must be given for any refusal of cooperation")
PERSONAL_DATA = Provision("personal_data", "36", "Personal data are transferred only as domestic and applicable "
                          "international law allow; the recipient protects them")
ONWARD_TRANSFER = Provision("onward_transfer", "36", "Onward transfer to a third State or an international "
                            "organisation needs the prior authorisation of the sending State")
CENTRAL_AUTHORITY = Provision("central_authority", "40", "Mutual legal assistance goes through a central "
                              "authority registered with the Secretary-General")
REQUEST_LANGUAGE = Provision("request_language", "40", "A request is made in writing, in a language the requested "
                             "State accepts")
REQUEST_CONTENTS = Provision("request_contents", "40", "Contents of a request for mutual legal assistance")
CONSULT_BEFORE_REFUSING = Provision("consult_before_refusing", "40", "Consult the requesting State before refusing "
                                    "or postponing")
CONFIDENTIALITY = Provision("confidentiality", "40", "The requesting State may ask that the fact and substance of "
                            "the request stay confidential; the requested State says promptly if it cannot")
USE_LIMITATION = Provision("use_limitation", "40", "Information received is not used for other proceedings "
                           "without prior consent")
COSTS = Provision("costs", "40", "Ordinary costs of execution are borne by the requested State")
SPONTANEOUS_INFORMATION = Provision("spontaneous_information", "40", "Information may be sent without a request; "
                                    "the receiver respects its conditions")
POINT_OF_CONTACT = Provision("point_of_contact", "41", "A point of contact available 24 hours a day, 7 days a "
                             "week, registered with the Secretary-General")
PRESERVATION_ARTICLE = Provision("preservation", "42", "Expedited preservation of stored electronic data")
TRAFFIC_DISCLOSURE_ARTICLE = Provision("traffic_disclosure", "43", "Expedited disclosure of preserved traffic "
                                       "data")
STORED_DATA_ACCESS = Provision("stored_data_access", "44", "Mutual legal assistance in accessing stored "
                               "electronic data")
REAL_TIME_TRAFFIC = Provision("real_time_traffic", "45", "Mutual legal assistance in real-time collection of "
                              "traffic data")
INTERCEPTION = Provision("interception", "46", "Mutual legal assistance in interception of content data")
LAW_ENFORCEMENT = Provision("law_enforcement", "47", "Law-enforcement cooperation")
JOINT_INVESTIGATIONS = Provision("joint_investigations", "48", "Joint investigations")
ASSET_RETURN = Provision("asset_return", "52", "Return of confiscated property, with priority to compensating "
                         "victims")
STATISTICS = Provision("statistics", "55, 57", "Exchange of statistics and reporting to the Conference of the "
                       "States Parties")

PROVISIONS: dict[str, Provision] = {p.name: p for p in (
    DEFINITIONS, SERIOUS_CRIME, EMERGENCY, HUMAN_RIGHTS, LEGAL_PERSONS, PARTICIPATION, SCOPE_SERIOUS_CRIME,
    SAFEGUARDS, CONFISCATION, VICTIMS, DUAL_CRIMINALITY, REFUSAL_REASONS, PERSONAL_DATA, ONWARD_TRANSFER,
    CENTRAL_AUTHORITY, REQUEST_LANGUAGE, REQUEST_CONTENTS, CONSULT_BEFORE_REFUSING, CONFIDENTIALITY,
    USE_LIMITATION, COSTS, SPONTANEOUS_INFORMATION, POINT_OF_CONTACT, PRESERVATION_ARTICLE,
    TRAFFIC_DISCLOSURE_ARTICLE, STORED_DATA_ACCESS, REAL_TIME_TRAFFIC, INTERCEPTION, LAW_ENFORCEMENT,
    JOINT_INVESTIGATIONS, ASSET_RETURN, STATISTICS,
)}

# --- Offences (Chapter II) -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Offence:
    """An offence a request may name.

    ``code`` is what an offence object's ``article`` member holds (``"7"`` .. ``"17"``, or ``"serious"``);
    ``article`` is where the Convention defines it. ``core`` marks the attacks on ICT systems and data, which a
    dual-criminality reservation on preservation cannot cover.
    """

    code: str
    article: str
    title: str
    core: bool


#: A request names a Convention offence or any serious crime of domestic law (``SCOPE_SERIOUS_CRIME``).
SERIOUS = "serious"
#: The minimum of the maximum penalty, in years of deprivation of liberty, that makes a crime serious.
SERIOUS_CRIME_MIN_YEARS = 4

OFFENCES: dict[str, Offence] = {o.code: o for o in (
    Offence("7", "7", "Illegal access", core=True),
    Offence("8", "8", "Illegal interception", core=True),
    Offence("9", "9", "Interference with electronic data", core=True),
    Offence("10", "10", "Interference with an ICT system", core=True),
    Offence("11", "11", "Misuse of devices (authorised testing and protection excluded)", core=True),
    Offence("12", "12", "ICT-related forgery", core=False),
    Offence("13", "13", "ICT-related theft or fraud", core=False),
    Offence("14", "14", "Online child sexual abuse or exploitation material", core=False),
    Offence("15", "15", "Solicitation or grooming of a child", core=False),
    Offence("16", "16", "Non-consensual dissemination of intimate images", core=False),
    Offence("17", "17", "Laundering of proceeds of crime", core=False),
    Offence(SERIOUS, f"{SERIOUS_CRIME.article}, {SCOPE_SERIOUS_CRIME.article}",
            f"Other serious crime (maximum penalty of at least {SERIOUS_CRIME_MIN_YEARS} years)", core=False),
)}

_NUMBERED = sorted(int(code) for code in OFFENCES if code != SERIOUS)
#: The Convention's own offences as a range of articles, for messages: "7-17".
CONVENTION_OFFENCES = f"{_NUMBERED[0]}-{_NUMBERED[-1]}"
_OFFENCE_OBJECT = (f'{{"article": "{_NUMBERED[0]}".."{_NUMBERED[-1]}"}} for a Convention offence, or '
                   f'{{"article": "{SERIOUS}", "domestic_offence": "...", "max_penalty_years": N}} for another '
                   f"serious crime (N at least {SERIOUS_CRIME_MIN_YEARS})")

# --- Languages -------------------------------------------------------------------------------------------

#: The six languages of the Convention, equally authentic: BCP 47 tag -> English name.
UN_LANGUAGES: dict[str, str] = {
    "ar": "Arabic", "zh": "Chinese", "en": "English", "fr": "French", "ru": "Russian", "es": "Spanish",
}


def is_un_language(tag: str) -> bool:
    """Whether a BCP 47 tag is in one of the six UN languages (``zh-Hans`` and ``fr-CA`` count)."""
    return tag.split("-", 1)[0].lower() in UN_LANGUAGES


# --- Priorities and clocks -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Priority:
    """How fast a request must be handled; ``acknowledge_within`` is the desk's target to acknowledge it."""

    name: str
    title: str
    description: str
    article: str
    acknowledge_within: timedelta


#: Shown with the acknowledgement targets, which the Convention does not set.
ACKNOWLEDGEMENT_NOTE = ("Acknowledgement targets are desk policy defaults, not treaty text: the Convention asks "
                        f"for expedited handling (Art. {POINT_OF_CONTACT.article}, {PRESERVATION_ARTICLE.article}, "
                        f"{TRAFFIC_DISCLOSURE_ARTICLE.article}) without fixing hours.")

EMERGENCY_PRIORITY = "emergency"
URGENT = "urgent"
NORMAL = "normal"

PRIORITIES: dict[str, Priority] = {p.name: p for p in (
    Priority(EMERGENCY_PRIORITY, "Emergency",
             "A significant and imminent risk to the life or safety of a natural person.",
             f"{EMERGENCY.article}, {POINT_OF_CONTACT.article}", timedelta(hours=1)),
    Priority(URGENT, "Urgent", "Data may be lost or a suspect may escape unless the desk acts today.",
             "", timedelta(hours=4)),
    Priority(NORMAL, "Normal", "Expedited handling, without a specific risk of loss.", "", timedelta(hours=24)),
)}


@dataclass(frozen=True, slots=True)
class PreservationClock:
    """When preserved data may lapse.

    ``minimum`` and ``counted_from`` are treaty text; ``default_extension`` (which the requesting State may
    change) and ``warnings`` (how long before the lapse the desk is reminded) are desk policy.
    """

    minimum: timedelta
    counted_from: str
    article: str
    default_extension: timedelta
    warnings: tuple[timedelta, ...]
    note: str


_PRESERVATION_MINIMUM = timedelta(days=60)

PRESERVATION_CLOCK = PreservationClock(
    minimum=_PRESERVATION_MINIMUM,
    counted_from="preserved_at",
    article=PRESERVATION_ARTICLE.article,
    default_extension=timedelta(days=60),
    warnings=(timedelta(days=14), timedelta(days=7), timedelta(days=1)),
    note=f"Data are preserved for not less than {_PRESERVATION_MINIMUM.days} days from the moment preservation "
         "took effect, and then until the request for mutual legal assistance is decided. The extension and the "
         "warnings are desk policy defaults; the requesting State may ask for another extension.",
)

# --- Request fields and kinds ----------------------------------------------------------------------------

FieldType = Literal["text", "longtext", "bool", "offence", "state", "datetime", "list", "object"]

#: What each field type accepts, for forms and error messages.
FIELD_TYPES: dict[str, str] = {
    "text": "a line of text",
    "longtext": "free text, several lines allowed",
    "bool": "true or false",
    "offence": f'an offence object: {_OFFENCE_OBJECT}; "domestic_offence" may also name the domestic offence '
               "matching a Convention offence",
    "state": "an ISO 3166-1 alpha-3 State code, e.g. VNM",
    "datetime": "an RFC 3339 date and time with its offset, e.g. 2026-11-23T04:00:00+01:00 or "
                "2026-11-23T03:00:00Z; it is sent as the UTC instant 2026-11-23T03:00:00.000Z",
    "list": "a list of lines of text",
    "object": "an object with the fields listed under it",
}


@dataclass(frozen=True, slots=True)
class TextFormat:
    """A form a text value must have, e.g. a request reference; ``pattern`` is a regular expression."""

    name: str
    description: str
    pattern: str


#: The reference a node gives a request (docs/protocol.md section 10.2): the requesting State, year, number.
REQUEST_REF = TextFormat("request_ref", "a request reference such as VNM-2026-0007",
                         r"^[A-Z]{3}-[0-9]{4}-[0-9]{4,8}$")
#: An IANA time zone name, or UTC.
TIME_ZONE = TextFormat("time_zone", "an IANA time zone name such as Asia/Ho_Chi_Minh or Europe/Paris, or UTC",
                       r"^(UTC|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+){1,2})$")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a request or of a result: what to write, and the article that asks for it."""

    name: str
    label: str
    article: str
    type: FieldType
    help: str
    required: bool = True
    uncertain: bool = False
    #: For text fields: the only values accepted.
    choices: tuple[str, ...] = ()
    #: For bool fields that are a statement the request must make (e.g. that an MLA request will follow).
    must_be_true: bool = False
    #: For object fields: the fields of the object.
    fields: tuple[FieldSpec, ...] = ()
    #: For text fields: the form the value must have (e.g. a request reference).
    format: TextFormat | None = None
    #: For datetime fields: a sibling datetime field this one must come strictly before (a period's start).
    before: str = ""
    #: For optional fields: a sibling field that must be given with this one (a deadline and its reason).
    needs: str = ""


@dataclass(frozen=True, slots=True)
class RequestKind:
    """A kind of request between desks, with the fields it carries and the result its execution returns."""

    name: str
    title: str
    article: str
    summary: str
    default_priority: str
    priorities: tuple[str, ...]
    #: Whether executing it starts the preservation clock (:data:`PRESERVATION_CLOCK`).
    preservation_clock: bool
    fields: tuple[FieldSpec, ...]
    results: tuple[FieldSpec, ...]
    uncertain: bool = False
    #: The desks that send and receive it (desk ids such as ``CA``); empty: any desk.
    desks: tuple[str, ...] = ()
    #: Whether the requested State must consult the requesting one before refusing or postponing it (Art. 40):
    #: the request machine's consultation, postponement and resumption apply to it.
    requires_consultation: bool = False


#: The desk ids the kinds name (the standard desks every node has, see ``hanoinet.states``).
CENTRAL_AUTHORITY_DESK = "CA"
POINT_OF_CONTACT_DESK = "247"
DESK_TITLES = {CENTRAL_AUTHORITY_DESK: "central authority", POINT_OF_CONTACT_DESK: "24/7 point of contact"}

REQUEST_KINDS: dict[str, RequestKind] = {}
_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
_DESK_ID = re.compile(r"^[A-Za-z0-9]{2,16}$")


def _check_fields(kind: str, specs: tuple[FieldSpec, ...]) -> None:
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"request kind {kind!r}: a field name appears twice in {names}")
    by_name = {s.name: s for s in specs}
    for spec in specs:
        if (spec.type == "object") != bool(spec.fields):
            raise ValueError(f"request kind {kind!r}: field {spec.name!r} has sub-fields only if it is an object")
        if (spec.choices and spec.type not in ("text", "list")) or (spec.must_be_true and spec.type != "bool") \
                or (spec.format is not None and spec.type != "text") or (spec.before and spec.type != "datetime"):
            raise ValueError(f"request kind {kind!r}: field {spec.name!r} has a constraint its type cannot carry")
        if spec.before and (spec.before not in by_name or by_name[spec.before].type != "datetime"):
            raise ValueError(f"request kind {kind!r}: field {spec.name!r} comes before {spec.before!r}, which is "
                             "no datetime field beside it")
        if spec.needs and (spec.required or spec.needs not in by_name):
            raise ValueError(f"request kind {kind!r}: field {spec.name!r} needs {spec.needs!r}: it must be "
                             "optional and the other field beside it")
        _check_fields(kind, spec.fields)


def register(kind: RequestKind) -> RequestKind:
    """Add a request kind to :data:`REQUEST_KINDS`; names are unique lower_snake_case.

    Raises ``ValueError`` when the kind is inconsistent (unknown priority, duplicated field, a preservation
    clock without the result field it starts from), so a mistake shows at import time.
    """
    if not _KIND_NAME.fullmatch(kind.name):
        raise ValueError(f"request kind name {kind.name!r} must be lower_snake_case")
    if kind.name in REQUEST_KINDS and REQUEST_KINDS[kind.name] is not kind:
        raise ValueError(f"request kind {kind.name!r} is already registered")
    unknown = [p for p in kind.priorities if p not in PRIORITIES]
    if unknown or kind.default_priority not in kind.priorities:
        raise ValueError(f"request kind {kind.name!r}: priorities {kind.priorities} must be known and include "
                         f"the default {kind.default_priority!r}")
    if len(set(kind.desks)) != len(kind.desks) or not all(_DESK_ID.fullmatch(d) for d in kind.desks):
        raise ValueError(f"request kind {kind.name!r}: desks {kind.desks} must be distinct desk ids")
    _check_fields(kind.name, kind.fields)
    _check_fields(kind.name, kind.results)
    if kind.preservation_clock and not any(
            r.name == PRESERVATION_CLOCK.counted_from and r.type == "datetime" and r.required for r in kind.results):
        raise ValueError(f"request kind {kind.name!r} has a preservation clock, so its results need a required "
                         f"datetime {PRESERVATION_CLOCK.counted_from!r}")
    REQUEST_KINDS[kind.name] = kind
    return kind


_ALL_PRIORITIES = (EMERGENCY_PRIORITY, URGENT, NORMAL)
_OFFENCE_HELP = f"The offence: {_OFFENCE_OBJECT}."

#: What the requested State returns when it traces a communication (Art. 43); also the ``disclosure`` of a
#: preservation result that found a provider in another State.
TRAFFIC_DISCLOSURE_RESULTS = (
    FieldSpec("provider", "Service provider", "43", "text",
              "The name of the service provider the traffic data point to."),
    FieldSpec("provider_state", "Provider's State", "43", "state",
              "The State of that provider (ISO alpha-3): the next State to ask."),
    FieldSpec("path", "Path of the communication", "43", "list",
              "Each hop of the communication, in order: network, provider or address."),
    FieldSpec("traffic_data", "Traffic data", "43", "longtext",
              "The traffic data disclosed: origin, destination, route, times with time zone, size, service."),
    FieldSpec("next_step", "Next step", "43", "text",
              "What to ask next and of whom, if the requested desk can say.", required=False),
)

#: What a preservation request says when the requested State reserved dual criminality for its offence.
DUAL_CRIMINALITY_STATEMENT = FieldSpec(
    "dual_criminality", "Dual criminality statement", "35, 42", "longtext",
    "Needed when the requested State reserved dual criminality for this offence: state that the conduct is also "
    "an offence under its law, naming that offence if known.", required=False)

PRESERVATION = register(RequestKind(
    name="preservation",
    title="Expedited preservation of stored electronic data",
    article=PRESERVATION_ARTICLE.article,
    summary="Ask another State to have stored data preserved at once, pending a request for mutual legal "
            "assistance to obtain them.",
    default_priority=URGENT,
    priorities=_ALL_PRIORITIES,
    preservation_clock=True,
    fields=(
        FieldSpec("requesting_authority", "Requesting authority", "42(a)", "text",
                  "The authority seeking preservation: name, unit and a contact reachable at any hour."),
        FieldSpec("offence", "Offence", "42(b)", "offence", _OFFENCE_HELP),
        FieldSpec("facts", "Summary of facts", "42(b)", "longtext",
                  "A brief summary of the facts of the investigation or proceeding."),
        FieldSpec("data", "Data to preserve", "42(c)", "longtext",
                  "The stored electronic data to preserve: accounts, identifiers, services and time range."),
        FieldSpec("data_relation", "Relation to the offence", "42(c)", "longtext",
                  "How these data relate to the offence."),
        FieldSpec("custodian", "Custodian or location of the system", "42(d)", "longtext",
                  "Where known: who holds the data (service provider, custodian) or where the ICT system is.",
                  required=False),
        FieldSpec("necessity", "Why preservation is necessary", "42(e)", "longtext",
                  "Why the data must be preserved now, e.g. the provider deletes them after a retention period."),
        FieldSpec("mla_to_follow", "A request for mutual legal assistance will follow", "42(f)", "bool",
                  "Confirm (true) that a request for mutual legal assistance to obtain the data will follow.",
                  must_be_true=True),
        FieldSpec("confidential", "Keep the request confidential", "42", "bool",
                  "True if the request itself must be kept confidential.", required=False, uncertain=True),
        FieldSpec("do_not_notify", "Do not notify the user", "42", "bool",
                  "True if the user of the data must not be told of the preservation.",
                  required=False, uncertain=True),
        DUAL_CRIMINALITY_STATEMENT,
    ),
    results=(
        FieldSpec("preserved_at", "Preserved at", "42", "datetime",
                  "When preservation took effect; the minimum preservation period runs from here."),
        FieldSpec("provider", "Provider or custodian", "42", "text",
                  "Who holds the preserved data."),
        FieldSpec("what_preserved", "What was preserved", "42", "longtext",
                  "What was preserved (accounts, identifiers, time range), and anything that could not be."),
        FieldSpec("disclosure", "Provider in another State", "43", "object",
                  "If a provider in another State took part in the communication: the traffic data identifying "
                  "it and the path of the communication.", required=False, fields=TRAFFIC_DISCLOSURE_RESULTS),
    ),
))

def _confidentiality(article: str) -> tuple[FieldSpec, FieldSpec]:
    """The confidentiality and "do not notify the user" flags a requesting State may set on any request."""
    return (
        FieldSpec("confidential", "Keep the request confidential", article, "bool",
                  "True if the request's fact and substance must be kept confidential; the requested State "
                  "says at once if it cannot comply.", required=False, uncertain=True),
        FieldSpec("do_not_notify", "Do not notify the user", article, "bool",
                  "True if the user of the data must not be told of the request.", required=False, uncertain=True),
    )


TRAFFIC_DISCLOSURE = register(RequestKind(
    name="traffic_disclosure",
    title="Expedited disclosure of preserved traffic data",
    article=TRAFFIC_DISCLOSURE_ARTICLE.article,
    summary="Ask for enough traffic data to identify the service providers and the path of a communication.",
    default_priority=URGENT,
    priorities=_ALL_PRIORITIES,
    preservation_clock=False,
    fields=(
        FieldSpec("requesting_authority", "Requesting authority", "43", "text",
                  "The authority asking: name, unit and a contact reachable at any hour."),
        FieldSpec("offence", "Offence", "43", "offence", _OFFENCE_HELP),
        FieldSpec("facts", "Summary of facts", "43", "longtext",
                  "A brief summary of the facts of the investigation or proceeding."),
        FieldSpec("preservation_ref", "Preservation request", "42, 43", "text",
                  "The reference of the preservation request these data were preserved under, if any.",
                  required=False),
        FieldSpec("data", "Communication to trace", "43", "longtext",
                  "The communication to trace: identifiers (IP address and port, account, number) and times "
                  "with time zone."),
        FieldSpec("necessity", "Why disclosure is needed now", "43", "longtext",
                  "Why the provider and path must be identified quickly."),
        *_confidentiality(CONFIDENTIALITY.article),
    ),
    results=TRAFFIC_DISCLOSURE_RESULTS,
))

EMERGENCY_DISCLOSURE = register(RequestKind(
    name="emergency_disclosure",
    title="Electronic data to avert an emergency",
    article=POINT_OF_CONTACT.article,
    summary="Ask the 24/7 point of contact for data needed at once to avert a significant and imminent risk to "
            "the life or safety of a person.",
    default_priority=EMERGENCY_PRIORITY,
    priorities=(EMERGENCY_PRIORITY,),
    preservation_clock=False,
    fields=(
        FieldSpec("requesting_authority", "Requesting authority", "41", "text",
                  "The authority asking: name, unit and a contact reachable at any hour."),
        FieldSpec("emergency", "The emergency", "2, 41", "longtext",
                  "The significant and imminent risk to the life or safety of a natural person: what threatens, "
                  "whom, and how soon."),
        FieldSpec("persons_at_risk", "Persons at risk", "2, 41", "longtext",
                  "Who is at risk: how many, their age, what is known of them."),
        FieldSpec("justification", "Why these data avert it", "41", "longtext",
                  "How disclosing these data averts the risk, and why it cannot wait for a request for mutual "
                  "legal assistance."),
        FieldSpec("data", "Data needed", "41", "longtext",
                  "Exactly which data are needed: identifiers, services, time range."),
        FieldSpec("custodian", "Custodian", "41", "longtext",
                  "Where known: who holds the data (service provider, custodian).", required=False),
        FieldSpec("offence", "Offence", "41", "offence", _OFFENCE_HELP, required=False),
        *_confidentiality(CONFIDENTIALITY.article),
    ),
    results=(
        FieldSpec("data_disclosed", "Data disclosed", "41", "longtext", "The data obtained, as disclosed."),
        FieldSpec("provider", "Provider", "41", "text", "Who provided the data.", required=False),
        FieldSpec("source", "Source", "41", "text",
                  "How the data were obtained (order, voluntary disclosure, own records).", required=False),
    ),
))

LOCATION_QUERY = register(RequestKind(
    name="location_query",
    title="Where are the data or the service provider",
    article=f"{POINT_OF_CONTACT.article}, {PRESERVATION_ARTICLE.article}",
    summary="Ask the 24/7 point of contact where data are stored or which service provider holds them, before "
            "asking for preservation.",
    default_priority=URGENT,
    priorities=(URGENT, NORMAL),
    preservation_clock=False,
    fields=(
        FieldSpec("requesting_authority", "Requesting authority", "41", "text",
                  "The authority asking: name, unit and a contact reachable at any hour."),
        FieldSpec("subject", "Subject", "41", "longtext",
                  "The identifiers to locate: IP address, domain, account, number, with times if relevant."),
        FieldSpec("question", "Question", "41", "text",
                  "What to find: data_location (where the data are), provider (who holds them) or both.",
                  choices=("data_location", "provider", "both")),
        FieldSpec("offence", "Offence", "41", "offence", _OFFENCE_HELP, required=False),
        FieldSpec("facts", "Summary of facts", "41", "longtext",
                  "A brief summary of the facts of the investigation or proceeding."),
        *_confidentiality(CONFIDENTIALITY.article),
    ),
    results=(
        FieldSpec("provider", "Service provider", "41", "text", "The provider holding the data, if found.",
                  required=False),
        FieldSpec("location_state", "State where the data are", "41", "state",
                  "The State where the data or the provider are (ISO alpha-3), if found.", required=False),
        FieldSpec("details", "Details", "41", "longtext",
                  "What was found and how sure it is; say so if nothing was found."),
    ),
))

# --- Mutual legal assistance (Art. 40, 44-48) ------------------------------------------------------------

#: Mutual legal assistance goes between central authorities, never through the 24/7 point of contact.
MLA_DESKS = (CENTRAL_AUTHORITY_DESK,)

_ART40 = CENTRAL_AUTHORITY.article
_DEADLINE = "deadline"
_DEADLINE_REASON = "deadline_reason"

#: What every request for mutual legal assistance contains (Art. 40), shared by every kind that is one.
MLA_CONTENTS: tuple[FieldSpec, ...] = (
    FieldSpec("requesting_authority", "Requesting authority", _ART40, "text",
              "The authority making the request: name, functions, address, and a contact person with phone and "
              "e-mail."),
    FieldSpec("proceeding_stage", "Stage of the matter", _ART40, "text",
              "Whether the request relates to an investigation, a prosecution or a judicial proceeding.",
              choices=("investigation", "prosecution", "judicial_proceeding")),
    FieldSpec("proceeding", "Subject and nature of the matter", _ART40, "longtext",
              "The subject and nature of the investigation, prosecution or proceeding the request relates to."),
    FieldSpec("conducting_authority", "Authority conducting it", _ART40, "text",
              "Name and functions of the authority conducting the investigation, prosecution or proceeding "
              "(e.g. investigating judge, public prosecutor's office, police unit)."),
    FieldSpec("offence", "Offence", f"{DUAL_CRIMINALITY.article}, {_ART40}", "offence",
              f"{_OFFENCE_HELP} Dual criminality, where it applies, is judged on the conduct the facts describe."),
    FieldSpec("facts", "Summary of the relevant facts", _ART40, "longtext",
              "A summary of the relevant facts: what happened, when (with time zone), where, who is involved, and "
              "the link to the requested State."),
    FieldSpec("assistance_sought", "Assistance sought", _ART40, "longtext",
              "Precisely what the requested State is asked to do, for each item: which data, documents, persons "
              "or objects, and what to do with them."),
    FieldSpec("procedure", "Particular procedure to follow", _ART40, "longtext",
              "Any procedure the requesting State wants followed so the evidence is admissible at home, e.g. "
              "certification of records, chain of custody, presence of its officials, an oath.", required=False),
    FieldSpec("persons", "Persons concerned", _ART40, "longtext",
              "Where possible: the identity, location and nationality of each person concerned (suspect, witness, "
              "victim, account holder) and their role.", required=False),
    FieldSpec("purpose", "Purpose", _ART40, "longtext",
              "What the evidence, information or action is sought for. What is received may be used only for "
              "it unless the requested State consents."),
)

#: What practitioners' templates add (Council of Europe T-CY) and the Art. 40 options of the requesting State:
#: a deadline with its reason, and confidentiality.
MLA_PRACTICE: tuple[FieldSpec, ...] = (
    FieldSpec("time_zone", "Requesting authority's time zone", _ART40, "text",
              "The time zone of the requesting authority, so the requested State knows when it can be reached.",
              required=False, format=TIME_ZONE),
    FieldSpec("office_hours", "Office hours", _ART40, "text",
              "When the requesting authority can be reached, in its time zone, e.g. Mon-Fri 08:00-17:00, and "
              "how to reach it outside those hours.", required=False),
    FieldSpec("reply_channel", "Preferred channel for the answer", _ART40, "text",
              "How the answer and the evidence should reach the requesting authority: through this network, or "
              "another channel with its address (e.g. originals by diplomatic bag).", required=False),
    FieldSpec("court_reference", "Court or prosecution reference", _ART40, "text",
              "The file number of the court or prosecution office handling the matter.", required=False),
    FieldSpec("earlier_requests", "Earlier requests in the same matter", _ART40, "list",
              "Earlier preservation or mutual legal assistance requests in the same matter, one per item: kind, "
              "reference, date and the State asked.", required=False),
    FieldSpec(_DEADLINE, "Deadline requested", _ART40, "datetime",
              "When the requesting State needs the assistance by. Give the reason with it.", required=False,
              needs=_DEADLINE_REASON),
    FieldSpec(_DEADLINE_REASON, "Reason for the deadline", _ART40, "longtext",
              "Why the deadline matters, e.g. a trial date, a custody time limit, data about to be deleted.",
              required=False, needs=_DEADLINE),
    FieldSpec("confidential", "Keep the request confidential", CONFIDENTIALITY.article, "bool",
              "True if the fact and substance of the request must be kept confidential, except as needed to "
              "execute it; the requested State says promptly if it cannot comply.", required=False),
    FieldSpec("do_not_notify", "Do not notify the person concerned", CONFIDENTIALITY.article, "bool",
              "True if the person whose data are sought must not be told of the request.", required=False,
              uncertain=True),
)


def _mla(*names: str) -> tuple[FieldSpec, ...]:
    """The shared fields with these names, in the order given (for a kind that carries only some of them)."""
    shared = {f.name: f for f in (*MLA_CONTENTS, *MLA_PRACTICE)}
    return tuple(shared[name] for name in names)


def _period(article: str, start: str, end: str, what: str, *, required: bool = True) -> tuple[FieldSpec, ...]:
    """A period as two datetime fields: ``start`` must come before ``end``."""
    return (
        FieldSpec(start, f"Start of {what}", article, "datetime", f"When {what} begins.", required=required,
                  before=end),
        FieldSpec(end, f"End of {what}", article, "datetime", f"When {what} ends; after its start.",
                  required=required),
    )


_STORED_MEASURES = ("search", "seizure", "disclosure")
_MEASURES_HELP = ("search (search or similarly access), seizure (seize or similarly secure), disclosure (disclose "
                  "the data)")

STORED_DATA = register(RequestKind(
    name="stored_data",
    title="Access to stored electronic data",
    article=STORED_DATA_ACCESS.article,
    summary="Ask another State's central authority to search or similarly access, seize or similarly secure, and "
            "disclose stored electronic data, including data it preserved on an earlier preservation request.",
    default_priority=NORMAL,
    priorities=_ALL_PRIORITIES,
    preservation_clock=False,
    desks=MLA_DESKS,
    requires_consultation=True,
    fields=(
        *MLA_CONTENTS,
        FieldSpec("measures", "Measures sought", STORED_DATA_ACCESS.article, "list",
                  f"One or more of: {_MEASURES_HELP}.", choices=_STORED_MEASURES),
        FieldSpec("data", "Stored data sought", STORED_DATA_ACCESS.article, "longtext",
                  "The stored electronic data: accounts, identifiers, services, kinds of data (subscriber, "
                  "traffic, content) and time range with time zone."),
        FieldSpec("custodian", "Custodian or location of the data", STORED_DATA_ACCESS.article, "longtext",
                  "Where known: the service provider or custodian holding the data, or where the ICT system is.",
                  required=False),
        FieldSpec("preservation_ref", "Preservation request", f"{PRESERVATION_ARTICLE.article}, "
                  f"{STORED_DATA_ACCESS.article}", "text",
                  "The reference of the preservation request under which the requested State preserved these data, "
                  "if any; the preservation then lasts until this request is decided.", required=False,
                  format=REQUEST_REF),
        FieldSpec("expedite", "Why the data are vulnerable to loss", STORED_DATA_ACCESS.article, "longtext",
                  "If the data are particularly vulnerable to loss or modification: why, so the request is "
                  "expedited.", required=False),
        *MLA_PRACTICE,
    ),
    results=(
        FieldSpec("measures_taken", "Measures taken", STORED_DATA_ACCESS.article, "list",
                  f"What was done: {_MEASURES_HELP}.", choices=_STORED_MEASURES),
        FieldSpec("data_obtained", "Data obtained", STORED_DATA_ACCESS.article, "longtext",
                  "What was obtained (accounts, kinds of data, time range) and how it is delivered."),
        FieldSpec("provider", "Provider or custodian", STORED_DATA_ACCESS.article, "text",
                  "Who held the data.", required=False),
        FieldSpec("not_obtained", "What could not be obtained", STORED_DATA_ACCESS.article, "longtext",
                  "Anything asked for that was not obtained, and why.", required=False),
    ),
))

_TARGET_HELP = ("The communications concerned: identifiers (account, number, IP address), service and provider, "
                "specified so that only they are covered.")

REAL_TIME_TRAFFIC_DATA = register(RequestKind(
    name="real_time_traffic",
    title="Real-time collection of traffic data",
    article=REAL_TIME_TRAFFIC.article,
    summary="Ask another State's central authority to collect in real time the traffic data of specified "
            "communications in its territory, for a stated period and with a justification.",
    default_priority=NORMAL,
    priorities=_ALL_PRIORITIES,
    preservation_clock=False,
    desks=MLA_DESKS,
    requires_consultation=True,
    fields=(
        *MLA_CONTENTS,
        FieldSpec("communications", "Communications concerned", REAL_TIME_TRAFFIC.article, "longtext", _TARGET_HELP),
        *_period(REAL_TIME_TRAFFIC.article, "period_start", "period_end", "the collection"),
        FieldSpec("justification", "Justification", REAL_TIME_TRAFFIC.article, "longtext",
                  "Why real-time collection is needed, and why for this period."),
        *MLA_PRACTICE,
    ),
    results=(
        *_period(REAL_TIME_TRAFFIC.article, "collected_from", "collected_until", "what was collected",
                 required=False),
        FieldSpec("traffic_data", "Traffic data collected", REAL_TIME_TRAFFIC.article, "longtext",
                  "What was collected and how it is delivered; say so if the collection continues."),
        FieldSpec("provider", "Provider", REAL_TIME_TRAFFIC.article, "text", "Who carried out the collection.",
                  required=False),
    ),
))

CONTENT_INTERCEPTION = register(RequestKind(
    name="interception",
    title="Interception of content data",
    article=INTERCEPTION.article,
    summary="Ask another State's central authority to collect or record the content of specified communications, "
            "as far as the treaties and domestic law that bind it allow, for a stated period and with a "
            "justification and the legal basis at home.",
    default_priority=NORMAL,
    priorities=_ALL_PRIORITIES,
    preservation_clock=False,
    desks=MLA_DESKS,
    requires_consultation=True,
    fields=(
        *MLA_CONTENTS,
        FieldSpec("communications", "Communications concerned", INTERCEPTION.article, "longtext", _TARGET_HELP),
        *_period(INTERCEPTION.article, "period_start", "period_end", "the interception"),
        FieldSpec("justification", "Justification", INTERCEPTION.article, "longtext",
                  "Why interception is needed, why other means will not do, and why for this period."),
        FieldSpec("legal_basis", "Legal basis in the requesting State", INTERCEPTION.article, "longtext",
                  "The provision of the requesting State's law that allows this interception, and the order "
                  "authorising it: authority, date, reference."),
        *MLA_PRACTICE,
    ),
    results=(
        *_period(INTERCEPTION.article, "intercepted_from", "intercepted_until", "what was intercepted",
                 required=False),
        FieldSpec("content_data", "Content data intercepted", INTERCEPTION.article, "longtext",
                  "What was intercepted and how it is delivered; say so if the interception continues."),
        FieldSpec("provider", "Provider", INTERCEPTION.article, "text", "Who carried out the interception.",
                  required=False),
    ),
))

#: Forms of general assistance; read from the Convention at article level, the paragraph's list is recollection.
ASSISTANCE_TYPES = ("evidence_or_statements", "service_of_documents", "search_and_seizure",
                    "examining_objects_and_sites", "information_and_records", "locating_persons",
                    "voluntary_appearance", "other")
_ASSISTANCE_TYPES_HELP = (
    "evidence_or_statements (taking evidence or statements), service_of_documents (effecting service of judicial "
    "documents), search_and_seizure (executing searches and seizures, and freezing), examining_objects_and_sites "
    "(examining objects and sites), information_and_records (providing information, evidentiary items, expert "
    "evaluations, originals or certified copies of documents and records), locating_persons (identifying or "
    "tracing persons, proceeds, property or instrumentalities), voluntary_appearance (facilitating the voluntary "
    "appearance of persons in the requesting State), other (any other assistance the requested State's law "
    "allows; describe it under assistance_sought)")

GENERAL_ASSISTANCE = register(RequestKind(
    name="general_assistance",
    title="Mutual legal assistance",
    article=CENTRAL_AUTHORITY.article,
    summary="Ask another State's central authority for any other form of mutual legal assistance: evidence or "
            "statements, service of documents, searches, examinations, records, locating persons, facilitating "
            "a voluntary appearance.",
    default_priority=NORMAL,
    priorities=_ALL_PRIORITIES,
    preservation_clock=False,
    desks=MLA_DESKS,
    requires_consultation=True,
    fields=(
        *MLA_CONTENTS,
        FieldSpec("assistance_types", "Forms of assistance", _ART40, "list",
                  f"One or more of: {_ASSISTANCE_TYPES_HELP}.", uncertain=True, choices=ASSISTANCE_TYPES),
        *MLA_PRACTICE,
    ),
    results=(
        FieldSpec("assistance_given", "Assistance given", _ART40, "longtext",
                  "What was done and what is delivered: statements, documents, records, findings."),
        FieldSpec("types_given", "Forms of assistance given", _ART40, "list",
                  f"One or more of: {_ASSISTANCE_TYPES_HELP}.", required=False, uncertain=True,
                  choices=ASSISTANCE_TYPES),
        FieldSpec("not_given", "What could not be done", _ART40, "longtext",
                  "Anything asked for that was not done, and why.", required=False),
    ),
))

#: Forms of law-enforcement cooperation; the list is recollection, kept at article level.
COOPERATION_TYPES = ("persons", "proceeds", "items", "methods", "liaison", "other")
_COOPERATION_HELP = (
    "persons (the identity, whereabouts and activities of persons), proceeds (the movement of proceeds of crime "
    "or property), items (items, data or instrumentalities for analysis or investigation), methods (means and "
    "methods used to commit offences), liaison (coordination, exchange of personnel or liaison officers), other")

LAW_ENFORCEMENT_COOPERATION = register(RequestKind(
    name="law_enforcement",
    title="Law-enforcement cooperation",
    article=LAW_ENFORCEMENT.article,
    summary="Ask another State's authorities for police cooperation: locating persons and proceeds, exchanging "
            "information and items, coordinating through liaison officers.",
    default_priority=NORMAL,
    priorities=_ALL_PRIORITIES,
    preservation_clock=False,
    # Police-to-police cooperation, not mutual legal assistance: the 24/7 point of contact may carry it too.
    desks=(CENTRAL_AUTHORITY_DESK, POINT_OF_CONTACT_DESK),
    fields=(
        *MLA_CONTENTS,
        FieldSpec("cooperation", "Forms of cooperation", LAW_ENFORCEMENT.article, "list",
                  f"One or more of: {_COOPERATION_HELP}.", uncertain=True, choices=COOPERATION_TYPES),
        *MLA_PRACTICE,
    ),
    results=(
        FieldSpec("information", "Information provided", LAW_ENFORCEMENT.article, "longtext",
                  "What the requested State's authorities found or provide."),
        FieldSpec("contact", "Contact for follow-up", LAW_ENFORCEMENT.article, "text",
                  "The officer or unit to deal with directly from now on.", required=False),
    ),
))

JOINT_INVESTIGATION = register(RequestKind(
    name="joint_investigation",
    title="Proposal of a joint investigation",
    article=JOINT_INVESTIGATIONS.article,
    summary="Propose to another State a joint investigative body for a matter under investigation or "
            "prosecution in both; its answer (agreed, declined, counter-proposal) is the result.",
    default_priority=NORMAL,
    priorities=(URGENT, NORMAL),
    preservation_clock=False,
    desks=MLA_DESKS,
    fields=(
        *MLA_CONTENTS,
        FieldSpec("participants", "Proposed participants", JOINT_INVESTIGATIONS.article, "longtext",
                  "The authorities proposed to take part from each State, and who would lead the team."),
        *_period(JOINT_INVESTIGATIONS.article, "team_start", "team_end", "the joint investigation"),
        FieldSpec("arrangement", "Basis of the joint investigation", JOINT_INVESTIGATIONS.article, "longtext",
                  "The agreement the team would rest on, or the case-by-case arrangement proposed.",
                  required=False, uncertain=True),
        *MLA_PRACTICE,
    ),
    results=(
        FieldSpec("answer", "Answer", JOINT_INVESTIGATIONS.article, "text",
                  "agreed, declined or counter_proposal.", choices=("agreed", "declined", "counter_proposal")),
        FieldSpec("terms", "Terms or reasons", JOINT_INVESTIGATIONS.article, "longtext",
                  "The terms agreed, the counter-proposal, or why the proposal is declined."),
        FieldSpec("contact", "Contact for the team", JOINT_INVESTIGATIONS.article, "text",
                  "Who speaks for the requested State in the team.", required=False),
    ),
))

SPONTANEOUS = register(RequestKind(
    name="spontaneous_information",
    title="Information sent without a request",
    article=SPONTANEOUS_INFORMATION.article,
    summary="Send another State's central authority information that could help its inquiries or proceedings, or "
            "lead it to make a request, with the conditions it must respect.",
    default_priority=NORMAL,
    priorities=_ALL_PRIORITIES,
    preservation_clock=False,
    desks=MLA_DESKS,
    fields=(
        *_mla("requesting_authority", "offence", "facts"),
        FieldSpec("information", "Information", SPONTANEOUS_INFORMATION.article, "longtext",
                  "The information sent: what it is and where it comes from."),
        FieldSpec("relevance", "Why it is sent", SPONTANEOUS_INFORMATION.article, "longtext",
                  "Why it could help the receiving State's inquiries or proceedings, or lead it to make a request."),
        FieldSpec("use_conditions", "Conditions of use", SPONTANEOUS_INFORMATION.article, "longtext",
                  "Any conditions the receiving State must respect: what the information may not be used for, to "
                  "whom it may not be disclosed, for how long it may be kept.", required=False),
        *_mla("persons", "time_zone", "office_hours", "reply_channel", "court_reference", "earlier_requests",
              "confidential"),
    ),
    results=(
        FieldSpec("conditions_accepted", "Conditions respected", SPONTANEOUS_INFORMATION.article, "bool",
                  "Whether the receiving State can respect the conditions; if not, it says so before it uses the "
                  "information."),
        FieldSpec("note", "Note", SPONTANEOUS_INFORMATION.article, "longtext",
                  "What the receiving State does with the information, or why it cannot respect the conditions.",
                  required=False),
    ),
))

# --- Refusal grounds -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefusalGround:
    """A ground on which the requested State may refuse, and the request kinds it may be used for."""

    code: str
    article: str
    title: str
    description: str
    kinds: tuple[str, ...]
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class NotAGround:
    """A reason the Convention says is not a ground for refusal, so a refusal citing it is refused."""

    code: str
    article: str
    title: str
    description: str


#: Why the grounds apply to the kinds they do: a reading to confirm against the official text.
GROUNDS_NOTE = (f"The grounds of Art. {CENTRAL_AUTHORITY.article} are written for mutual legal assistance (Art. "
                f"{CENTRAL_AUTHORITY.article}, {STORED_DATA_ACCESS.article}-{INTERCEPTION.article}); the node also "
                f"applies them to the assistance given through the 24/7 network (Art. {POINT_OF_CONTACT.article}, "
                f"{TRAFFIC_DISCLOSURE_ARTICLE.article}) and to law-enforcement cooperation (Art. "
                f"{LAW_ENFORCEMENT.article}). Preservation (Art. {PRESERVATION_ARTICLE.article}) may be "
                "refused only for prejudice to essential interests or, where the requested State made the "
                "reservation, for want of dual criminality. A joint investigation proposal (Art. "
                f"{JOINT_INVESTIGATIONS.article}) and information sent without a request have no ground: the "
                "receiving State answers them with their result.")

#: The kinds that are mutual legal assistance proper, refused only on the grounds of Art. 40.
MLA_KINDS = (STORED_DATA.name, REAL_TIME_TRAFFIC_DATA.name, CONTENT_INTERCEPTION.name, GENERAL_ASSISTANCE.name)
_ASSISTANCE_KINDS = (TRAFFIC_DISCLOSURE.name, EMERGENCY_DISCLOSURE.name, LOCATION_QUERY.name, *MLA_KINDS,
                     LAW_ENFORCEMENT_COOPERATION.name)

DUAL_CRIMINALITY_NOT_MET = "dual_criminality_not_met"

REFUSAL_GROUNDS: dict[str, RefusalGround] = {g.code: g for g in (
    RefusalGround("not_in_conformity", "40", "Request not in conformity",
                  "The request does not contain what the Convention requires for it.", _ASSISTANCE_KINDS),
    RefusalGround("prejudice_sovereignty", "40, 42", "Prejudice to sovereignty or essential interests",
                  "Executing the request is likely to prejudice the sovereignty, security, ordre public or other "
                  "essential interests of the requested State.", (PRESERVATION.name, *_ASSISTANCE_KINDS)),
    RefusalGround("domestic_law_forbids", "40", "Domestic law forbids the action",
                  "The requested State's law would forbid its authorities to take the same action in a similar "
                  "domestic case.", _ASSISTANCE_KINDS),
    RefusalGround("contrary_to_legal_system", "40", "Contrary to the legal system",
                  "Granting the request would be contrary to the requested State's legal system on mutual legal "
                  "assistance.", _ASSISTANCE_KINDS),
    RefusalGround("discrimination", "40", "Prosecution on discriminatory grounds",
                  "There are substantial grounds to believe the request aims to prosecute or punish a person on "
                  "account of sex, race, language, religion, nationality, ethnic origin or political opinions.",
                  _ASSISTANCE_KINDS, uncertain=True),
    RefusalGround(DUAL_CRIMINALITY_NOT_MET, PRESERVATION_ARTICLE.article, "Dual criminality not met",
                  "The requested State reserved the right to require dual criminality for preservation, the "
                  "offence is not one of the attacks on ICT systems and data its reservation excepts, and the "
                  "conduct is not an offence under its law.", (PRESERVATION.name,)),
)}

NOT_GROUNDS: dict[str, NotAGround] = {g.code: g for g in (
    NotAGround("fiscal_matters", "40", "The offence also involves fiscal matters",
               "A request may not be refused on the sole ground that the offence is also considered to involve "
               "fiscal matters."),
)}

# --- Declarations the rules apply ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Effect:
    """A declaration effect the rules apply (docs/protocol.md section 8); any other effect is ignored."""

    name: str
    article: str
    params: str
    description: str


DUAL_CRIMINALITY_REQUIRED = Effect(
    "dual_criminality_required", PRESERVATION_ARTICLE.article,
    "applies_to_preservation (bool), except_articles (list of offence articles)",
    "The State requires dual criminality for preservation, except for the offences listed; a preservation "
    "request for any other offence must carry a dual criminality statement.")
ACCEPTED_LANGUAGES = Effect(
    "accepted_languages", REQUEST_LANGUAGE.article, "languages (list of BCP 47 tags)",
    "The languages in which the State accepts requests.")

EFFECTS: dict[str, Effect] = {e.name: e for e in (DUAL_CRIMINALITY_REQUIRED, ACCEPTED_LANGUAGES)}
