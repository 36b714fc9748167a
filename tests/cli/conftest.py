"""What every CLI test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    # run() points structlog at the (captured) stderr of the moment; later tests must not inherit it.
    yield
    structlog.reset_defaults()
