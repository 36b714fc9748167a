"""What every CLI test shares."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from hanoinet.crypto.keys import KeyPair
from hanoinet.evidence.package import UseConditions, seal
from hanoinet.evidence.service import EvidenceService
from tests.support import make_node, publish, reset_logs


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    # The app configures the logs of the whole process before each command; later tests must not inherit them.
    yield
    reset_logs()


@pytest.fixture(scope="session")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """BRA's genuine package, and what a newcomer forged: a Secretariat, a "BRA" node and a package of their own.

    FRA's node pins the real Secretariat's key, as every real node does.
    """
    root = tmp_path_factory.mktemp("story")
    real, own = KeyPair.generate("sig"), KeyPair.generate("sig")
    bra, fra = make_node(root / "real", "BRA", real), make_node(root / "real", "FRA", real)
    publish([bra, fra], real)
    fake = make_node(root / "forger", "BRA", own)
    publish([fake], own)
    made = {}
    for name, node in (("genuine", bra), ("forged", fake)):
        service = EvidenceService(node)
        service.ingest(io.BytesIO(b"203.0.113.7 - - [23/Nov/2026:02:10:07] POST /upload\n" * 50),
                       name="access.log", case="BRA-PF-2026-0311", actor="officer:3")
        made[name] = root / f"{name}.zip"
        seal(service, case="BRA-PF-2026-0311", out=made[name], actor="officer:3", recipient="FRA",
             conditions=UseConditions(purpose="request FRA-2026-0001"))
    for node in (bra, fra, fake):
        node.close()
    return {"real": real.kid, "own": own.kid, "fra": root / "real" / "FRA", **made}
