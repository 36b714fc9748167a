"""What every CLI test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    # The app configures structlog for the whole process before each command; later tests must not inherit it.
    yield
    structlog.reset_defaults()
