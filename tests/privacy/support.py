"""A pinned clock for tests of what happens when a period ends."""

from __future__ import annotations

import sys
from datetime import datetime

import pytest

from hanoinet import clock


def pin(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    """Make ``now()`` answer ``at`` in every module of hanoinet and of the tests that reads the clock.

    Modules imported later take the pinned ``now`` from :mod:`hanoinet.clock`; pinning again moves them all.
    """
    current = clock.now

    def pinned() -> datetime:
        return at

    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("hanoinet", "tests") and getattr(module, "now", None) is current:
            monkeypatch.setattr(module, "now", pinned)
