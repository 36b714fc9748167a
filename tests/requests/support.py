"""Two nodes whose officers hold API tokens, for the tests of the request API and of ``hanoinet request``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hanoinet import clock
from hanoinet.crypto.keys import KeyPair
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal, add_officer
from hanoinet.requests import commands, inbound, jobs, views
from tests.support import make_node, publish

#: An emergency disclosure (Art. 41) asked of France's 24/7 desk.
EMERGENCY: dict[str, Any] = {
    "requesting_authority": "Viet Nam MPS, child protection unit, +84 24 0000 0001",
    "emergency": "A 14-year-old announced on a forum that she will harm herself tonight.",
    "persons_at_risk": "One child, 14, location unknown.",
    "justification": "The subscriber's address locates her; a request for assistance would take weeks.",
    "data": "Subscriber information of account @example on example-forum.org.",
}


def preservation_result(preserved_at: str) -> dict[str, Any]:
    """What France reports when it has preserved the data of a preservation request (Art. 42)."""
    return {"preserved_at": preserved_at, "provider": "ExampleHost SAS",
            "what_preserved": "Access and connection logs of 203.0.113.7, 2026-11-22/23"}


@dataclass(frozen=True)
class Officers:
    """Tokens of the officers of both nodes: Viet Nam asks, France is asked."""

    lan: str  # VNM, duty officer, desk 247
    vnm_admin: str  # VNM, admin
    camille: str  # FRA, duty officer, desk 247
    lawyer: str  # FRA, central authority, desk CA
    chief: str  # FRA, supervisor, desk CA (supervisors read every desk)
    fra_admin: str  # FRA, admin


def token(node: Node, role: str, *, desk: str = "247", name: str = "Officer") -> str:
    """A new officer's API token."""
    with node.db.transaction() as uow:
        _, value = add_officer(uow.session, name=name, role=role, desk=desk, desks=node.settings.desk_ids)
    return value


def two_nodes(root: Path, authority: KeyPair) -> tuple[dict[str, Node], Officers]:
    """Viet Nam's and France's nodes (SQLite) in one published directory, with their officers."""
    vnm = make_node(root, "VNM", authority)
    fra = make_node(root, "FRA", authority)
    publish([vnm, fra], authority)
    officers = Officers(
        lan=token(vnm, "duty_officer", name="Nguyen Thi Lan"),
        vnm_admin=token(vnm, "admin", name="Operator VNM"),
        camille=token(fra, "duty_officer", name="Camille Martin"),
        lawyer=token(fra, "central_authority", desk="CA", name="Paul Lawyer"),
        chief=token(fra, "supervisor", desk="CA", name="Claire Chief"),
        fra_admin=token(fra, "admin", name="Operator FRA"),
    )
    return {"VNM": vnm, "FRA": fra}, officers


def staffed_pair(root: Path, authority: KeyPair, database_urls: Callable[[], str],
                 staff: Callable[[str], Sequence[Principal]]) -> dict[str, Node]:
    """Viet Nam's and France's nodes on the databases ``database_urls`` gives, each with the officers
    ``staff(state)`` names (their ids in that order), who may act for desks 247 and CA."""
    nodes = {state: make_node(root, state, authority, database_url=database_urls()) for state in ("VNM", "FRA")}
    publish(list(nodes.values()), authority)
    for state, node in nodes.items():
        with node.db.transaction() as uow:
            for p in staff(state):
                add_officer(uow.session, name=p.name, role=p.role.value, desk=p.desk, desks={"247", "CA"})
    return nodes


def move_clock(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    """Let the request modules believe ``by`` has passed (acknowledgement targets, overdue marks)."""
    for module in (commands, views, inbound, jobs):
        monkeypatch.setattr(module, "now", lambda: clock.now() + by)
