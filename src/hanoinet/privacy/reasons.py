"""The reason every read of personal data needs: one line, given by the officer, kept in the access log.

Pure, so that the CLI's client commands check it before they call the node without loading the database code.
"""

from __future__ import annotations

import re
import unicodedata

from hanoinet import text
from hanoinet.errors import ValidationError

#: A reason is one line: enough to name a request, a case and a purpose, short enough to read in a list.
MAX_REASON = 500
#: Bidirectional embeddings, overrides and isolates: they make a reason read differently from what it holds.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
#: Letters that show nothing (the Hangul fillers): a reason of these alone looks empty.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def check_reason(reason: str | None, *, add: str) -> str:
    """``reason`` without surrounding blanks, if it is one: a line of text of at most :data:`MAX_REASON` characters.

    ``add`` says how to give one where it is missing (``the query parameter reason``, ``--reason TEXT``).
    """
    if reason is None or not reason.strip():
        raise ValidationError(
            "a reason is required to read personal data, and none was given",
            hint=f"add {add}, saying why you read it: the request you answer, the case you work on. It is kept in "
                 "the access log with your name (docs/privacy.md)", code="reason_required")
    text.check_line(reason, "the reason")
    if _BIDI_CONTROLS.search(reason):
        raise ValidationError("the reason holds a character that reverses or reorders the text around it "
                              "(U+202A-U+202E, U+2066-U+2069)", hint="write the reason as plain text",
                              code="invalid_text")
    if not any(unicodedata.category(c)[0] in "LN" and c not in _BLANK_LETTERS for c in reason):
        raise ValidationError("the reason holds no word: only spaces, marks or invisible characters",
                              hint="say why you read it: the request you answer, the case you work on",
                              code="reason_required")
    if len(reason.strip()) > MAX_REASON:
        raise ValidationError(f"the reason is {len(reason.strip())} characters long; at most {MAX_REASON}",
                              hint="say why in fewer words: the request or case, and the purpose",
                              code="reason_too_long")
    return reason.strip()
