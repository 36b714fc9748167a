"""The access log never records a request to the victims' page or API (their addresses would identify them)."""

from __future__ import annotations

import logging
import logging.config

from hanoinet.api.accesslog import PrivatePathFilter, install


def _record(path: str) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                             ("203.0.113.9:5000", "POST", path, "1.1", 200), None)


def test_victims_requests_are_not_logged_and_others_are() -> None:
    private = PrivatePathFilter()
    assert not private.filter(_record("/victims/v1/cases/status"))
    assert not private.filter(_record("/victims/?lang=vi"))
    assert private.filter(_record("/api/v1/match"))
    assert private.filter(logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "no args", None, None))


def test_installing_twice_adds_one_filter_that_survives_uvicorns_logging_setup() -> None:
    from uvicorn.config import LOGGING_CONFIG

    access = logging.getLogger("uvicorn.access")
    install()
    install()
    logging.config.dictConfig(LOGGING_CONFIG)
    assert sum(isinstance(f, PrivatePathFilter) for f in access.filters) == 1
