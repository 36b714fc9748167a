"""Requests for mutual legal assistance between two nodes: central authority to central authority, checked first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hanoinet.convention import ValidationFailed
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import OutboxMessage
from hanoinet.node.node import Node
from hanoinet.node.officers import Principal, Role
from hanoinet.requests import commands, views
from hanoinet.requests.machine import Action
from tests.convention.drafts import REQUESTS, RESULTS
from tests.requests.support import staffed_pair
from tests.support import pump

LAN = Principal(id=1, name="Nguyen Thi Lan", role=Role.DUTY_OFFICER, desk="247")
PAUL = Principal(id=2, name="Paul", role=Role.CENTRAL_AUTHORITY, desk="CA")


@pytest.fixture
def pair(tmp_path: Path, authority: KeyPair, database_urls: Callable[[], str]) -> dict[str, Node]:
    """Viet Nam's and France's nodes, each with a duty officer (desk 247) and a lawyer (desk CA)."""
    return staffed_pair(tmp_path, authority, database_urls, lambda _: (LAN, PAUL))


def new(nodes: dict[str, Node], principal: Principal = PAUL, kind: str = "stored_data", *, to: str = "FRA/CA",
        language: str = "en", fields: dict[str, Any] | None = None) -> dict[str, Any]:
    draft = commands.Draft(kind=kind, to=to, fields=fields or REQUESTS[kind], language=language,
                          case="VNM-CASE-44")
    return commands.create(nodes["VNM"], principal, draft)


def nothing_sent(node: Node) -> bool:
    with node.db.transaction(readonly=True) as uow:
        return uow.session.scalars(select(OutboxMessage)).all() == []


def refused(nodes: dict[str, Node], **kwargs: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        new(nodes, **kwargs)
    assert nothing_sent(nodes["VNM"])
    return [(p.field, p.article, p.message + " " + p.fix) for p in caught.value.problems]


def test_an_article_44_request_travels_between_central_authorities(pair: dict[str, Node]) -> None:
    created = new(pair)
    assert created["state"] == "sent" and created["requesting"] == "VNM/CA" and created["requested"] == "FRA/CA"
    assert pump(pair) == 1
    theirs = views.show(pair["FRA"], PAUL, created["ref"])
    assert theirs["state"] == "received" and theirs["kind"] == "stored_data"
    articles = {f["name"]: f["article"] for f in theirs["fields"]}
    assert articles["purpose"] == "40" and articles["measures"] == "44" and articles["preservation_ref"] == "42, 44"
    for action, data in ((Action.ACKNOWLEDGE, {}), (Action.EXECUTE, {"result": RESULTS["stored_data"]})):
        commands.act(pair["FRA"], PAUL, created["ref"], action, data)
    pump(pair)
    ours = views.show(pair["VNM"], PAUL, created["ref"])
    assert ours["state"] == "executed" and ours["result"]["measures_taken"] == ["disclosure"]


@pytest.mark.parametrize("kind", ["stored_data", "real_time_traffic", "interception", "general_assistance",
                                  "joint_investigation", "spontaneous_information"])
def test_mla_to_the_24_7_desk_is_refused_before_sending_naming_the_central_authority(
        pair: dict[str, Node], kind: str) -> None:
    [(field, article, text)] = refused(pair, kind=kind, to="FRA/247")
    assert (field, article) == ("to", "40") and "Address it to FRA/CA." in text


def test_mla_from_the_24_7_desk_is_refused_before_sending(pair: dict[str, Node]) -> None:
    [(field, article, text)] = refused(pair, principal=LAN)
    assert (field, article) == ("desk", "40") and "not by desk 247" in text and "desk CA" in text


def test_law_enforcement_cooperation_may_go_between_24_7_desks(pair: dict[str, Node]) -> None:
    created = new(pair, LAN, "law_enforcement", to="FRA/247")
    assert created["state"] == "sent" and pump(pair) == 1


def test_a_24_7_kind_may_still_be_sent_by_the_central_authority(pair: dict[str, Node]) -> None:
    created = new(pair, PAUL, "location_query", to="FRA/247")
    assert created["requesting"] == "VNM/CA" and created["state"] == "sent"


def test_an_mla_request_in_a_language_the_central_authority_does_not_accept_is_refused(
        pair: dict[str, Node]) -> None:
    # France's CA desk reads English and French (tests/support.py).
    [(field, article, text)] = refused(pair, language="vi")
    assert (field, article) == ("language", "40") and "Write the request in one of: en, fr." in text
    assert new(pair, language="fr")["state"] == "sent"


def test_every_gap_of_an_mla_request_is_named_before_sending(pair: dict[str, Node]) -> None:
    fields = {k: v for k, v in REQUESTS["interception"].items() if k not in ("legal_basis", "purpose")}
    fields |= {"period_start": "2026-05-01T00:00:00.000Z", "period_end": "2026-04-01T00:00:00.000Z",
               "deadline": "2026-04-20T00:00:00.000Z"}
    problems = refused(pair, kind="interception", fields=fields, to="FRA/247")
    assert [(field, article) for field, article, _ in problems] == [
        ("to", "40"), ("purpose", "40"), ("legal_basis", "46"), ("period_end", "46"), ("deadline_reason", "40")]


def test_a_draft_moved_to_the_24_7_desk_is_refused(pair: dict[str, Node]) -> None:
    draft = commands.Draft(kind="stored_data", to="FRA/CA", fields=REQUESTS["stored_data"])
    created = commands.create(pair["VNM"], PAUL, draft, send=False)
    moved = commands.Draft(kind="stored_data", to="FRA/247", fields=REQUESTS["stored_data"])
    with pytest.raises(ValidationFailed) as caught:
        commands.edit(pair["VNM"], PAUL, created["ref"], moved)
    assert [(p.field, p.fix) for p in caught.value.problems] == [("to", "Address it to FRA/CA.")]
