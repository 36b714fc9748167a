"""The reason every read of personal data needs: one line, given by the officer, kept in the access log.

Pure, so that the CLI's client commands check it before they call the node without loading the database code.
"""

from __future__ import annotations

from hanoinet import text
from hanoinet.errors import ValidationError

#: A reason is one line: enough to name a request, a case and a purpose, short enough to read in a list.
MAX_REASON = 500


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
    if len(reason.strip()) > MAX_REASON:
        raise ValidationError(f"the reason is {len(reason.strip())} characters long; at most {MAX_REASON}",
                              hint="say why in fewer words: the request or case, and the purpose",
                              code="reason_too_long")
    return reason.strip()
