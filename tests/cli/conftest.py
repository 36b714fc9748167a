"""What every CLI test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import reset_logs


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    # The app configures the logs of the whole process before each command; later tests must not inherit them.
    yield
    reset_logs()
