"""The Convention as data, and the rules that apply it to requests, results and refusals.

``articles`` holds every article reference the node makes; ``rules`` checks drafts against them and returns
every problem at once. Both are pure: no I/O, nothing created at import time beyond the data.
"""

from hanoinet.convention.articles import (
    CONSULT_BEFORE_REFUSING,
    NOT_GROUNDS,
    OFFENCES,
    PRESERVATION_CLOCK,
    PRIORITIES,
    PROVISIONS,
    REFUSAL_GROUNDS,
    REQUEST_KINDS,
    SERIOUS,
    UN_LANGUAGES,
    FieldSpec,
    Offence,
    Priority,
    Provision,
    RefusalGround,
    RequestKind,
    is_un_language,
    register,
)
from hanoinet.convention.rules import (
    Problem,
    ValidationFailed,
    canonical_fields,
    canonical_result,
    catalogue,
    describe,
    grounds_for,
    validate_consultation,
    validate_refusal,
    validate_request,
    validate_result,
)

__all__ = [
    "CONSULT_BEFORE_REFUSING", "NOT_GROUNDS", "OFFENCES", "PRESERVATION_CLOCK", "PRIORITIES", "PROVISIONS",
    "REFUSAL_GROUNDS", "REQUEST_KINDS", "SERIOUS", "UN_LANGUAGES", "FieldSpec", "Offence", "Priority", "Provision",
    "RefusalGround",
    "RequestKind", "is_un_language", "register",
    "Problem", "ValidationFailed", "canonical_fields", "canonical_result", "catalogue", "describe", "grounds_for",
    "validate_consultation", "validate_refusal", "validate_request", "validate_result",
]
