"""What uvicorn's access log may say of a request: never a victim's, never a query string, never a secret.

uvicorn logs the client address, method, path with its query string, HTTP version and status of every request.
"""

from __future__ import annotations

import logging

from hanoinet.logs import REDACTED, redact_text

#: Paths whose requests are not logged: the victims' page and its API. A victim's address next to a case
#: would identify them, and the node keeps nothing identifying a victim (docs/victims.md).
PRIVATE_PREFIXES = ("/victims",)


class PrivatePathFilter(logging.Filter):
    """Drop uvicorn access records (args: client, method, path, HTTP version, status) of private paths; log the
    others' paths without their query string (a secret passed as a parameter, by mistake or by a client that
    knows no better, must not land in the log) and with secret-shaped path segments redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a private path; otherwise True, with the path of ``record`` made safe in place."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            if args[2].startswith(PRIVATE_PREFIXES):
                return False
            path, query_mark, _query = args[2].partition("?")
            record.args = (*args[:2], redact_text(path) + (f"?{REDACTED}" if query_mark else ""), *args[3:])
        return True


def install() -> None:
    """Filter uvicorn's access logger; its logging configuration, applied later, keeps logger filters."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, PrivatePathFilter) for f in access.filters):
        access.addFilter(PrivatePathFilter())
