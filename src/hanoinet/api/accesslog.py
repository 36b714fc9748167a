"""Keep victims' addresses out of the access log: uvicorn logs the client address and path of every request."""

from __future__ import annotations

import logging

#: Paths whose requests are not logged: the victims' page and its API. A victim's address next to a case
#: would identify them, and the node keeps nothing identifying a victim (docs/victims.md).
PRIVATE_PREFIXES = ("/victims",)


class PrivatePathFilter(logging.Filter):
    """Drop uvicorn access records (args: client, method, path, HTTP version, status) of private paths."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            return not args[2].startswith(PRIVATE_PREFIXES)
        return True


def install() -> None:
    """Filter uvicorn's access logger; its logging configuration, applied later, keeps logger filters."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, PrivatePathFilter) for f in access.filters):
        access.addFilter(PrivatePathFilter())
