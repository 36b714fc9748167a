"""The access log never records a request to the victims' page or API (their addresses would identify them), nor
a query string or a secret in a path."""

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


def test_query_strings_are_not_logged_and_secrets_in_paths_are_redacted() -> None:
    private = PrivatePathFilter()
    token = "hnt_" + "A1b2C3d4" * 5
    for path, logged in ((f"/api/v1/alarms?token={token}&state=open", "/api/v1/alarms?[redacted]"),
                         (f"/api/v1/officers/{token}", "/api/v1/officers/[redacted]"),
                         ("/api/v1/requests/FRA-2026-0001", "/api/v1/requests/FRA-2026-0001")):
        record = _record(path)
        assert private.filter(record)
        assert record.getMessage() == f'203.0.113.9:5000 - "POST {logged} HTTP/1.1" 200'
