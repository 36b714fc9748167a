"""``/victims/v1`` (the victims' page) and ``/api/v1/victims`` (advocates): cases, secrets, limits, withdrawal."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from sqlalchemy import select

from hanoinet.api import victims
from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import TakedownStatus, VictimCase, VictimImage
from hanoinet.hashbank import platforms
from hanoinet.network.ratelimit import RateLimiter
from hanoinet.node.node import Node
from tests.support import auth, make_node, officer_token, publish

SECRET = re.compile(r"^[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){4}$")


def served(node: Node) -> FastAPI:
    """The node's app, without its background workers."""
    return create_app(node, background=False)


@pytest.fixture
def vnm(tmp_path: Path, authority: KeyPair) -> Iterator[Node]:
    node = make_node(tmp_path, "VNM", authority, port=8401)
    publish([node], authority)
    yield node
    node.close()


@pytest.fixture
def app(vnm: Node) -> FastAPI:
    return served(vnm)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as made:
        yield made


def officer(node: Node, role: str) -> dict[str, str]:
    return auth(officer_token(node, role))


def images(count: int = 1, quality: int = 90) -> list[dict[str, Any]]:
    return [{"hashes": [secrets.token_hex(32) for _ in range(8)], "quality": quality} for _ in range(count)]


def open_case(client: TestClient, **body: Any) -> dict[str, Any]:
    answer = client.post("/victims/v1/cases", json={"about_a_child": False, "language": "en", "images": images(),
                                                    **body})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def wrong(secret: str) -> str:
    return ("2222" if not secret.startswith("2222") else "3333") + secret[4:]


def test_a_victim_opens_a_case_and_reads_its_status(client: TestClient) -> None:
    answer = client.post("/victims/v1/cases", json={"about_a_child": False, "language": "es", "images": images(2)})
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    created = answer.json()
    assert re.fullmatch(r"VNM-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", created["number"])
    assert SECRET.fullmatch(created["secret"])
    assert (created["category"], created["language"], created["images"]) == ("art16", "es", 2)

    status = client.post("/victims/v1/cases/status", json={"number": created["number"].lower(),
                                                           "secret": created["secret"].replace("-", " ")})
    assert status.status_code == 200, status.text
    assert status.headers["cache-control"] == "no-store"
    assert status.json() == {
        "number": created["number"], "category": "art16", "language": "es", "created_at": created["created_at"],
        "images": [{"position": p, "status": "active", "withdrawn_at": None, "takedowns": []} for p in (1, 2)]}


def test_a_case_about_a_child_is_art14_whatever_category_is_named(client: TestClient) -> None:
    assert open_case(client, about_a_child=True, category="art16")["category"] == "art14"
    assert open_case(client, about_a_child=None, category="art14")["category"] == "art14"


@pytest.mark.parametrize(("body", "status", "code", "words"), [
    ({"language": "de"}, 422, "bad_language", "language 'de'"),
    ({"about_a_child": None}, 422, "bad_category", "category is missing"),
    ({"images": []}, 422, "no_images", "no images"),
    ({"images": images(101)}, 422, "too_many_images", "at most 100"),
    ({"images": images(1) + images(1, quality=30)}, 422, "low_quality", "image 2"),
    ({"images": [{"hashes": ["ab" * 32, "ZZ"], "quality": 90}]}, 422, "bad_hash", "image 1, hash 2 (rotate_90)"),
    ({"images": [{"hashes": ["ab" * 32]}]}, 422, "invalid", "quality"),
    ({"name": "A person"}, 422, "invalid", "name"),
])
def test_bad_cases_are_refused_with_a_code_the_page_can_translate(client: TestClient, body: dict[str, Any],
                                                                 status: int, code: str, words: str) -> None:
    answer = client.post("/victims/v1/cases", json={"about_a_child": False, "language": "en", "images": images(),
                                                    **body})
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code and words in answer.json()["detail"]


def test_an_unknown_number_and_a_wrong_secret_get_the_same_answer(client: TestClient) -> None:
    created = open_case(client)
    unknown = client.post("/victims/v1/cases/status", json={"number": "VNM-2222-2222", "secret": created["secret"]})
    wrong_secret = client.post("/victims/v1/cases/status",
                               json={"number": created["number"], "secret": wrong(created["secret"])})
    assert unknown.status_code == wrong_secret.status_code == 401
    assert unknown.json() == wrong_secret.json()
    assert unknown.json()["code"] == "case_not_found_or_wrong_secret"
    assert created["number"] not in wrong_secret.text


def test_what_cannot_be_a_number_or_a_secret_is_refused_without_counting(client: TestClient, vnm: Node) -> None:
    created = open_case(client)
    for body, code in (({"number": created["number"], "secret": "0000-OOOO"}, "bad_secret"),
                       ({"number": "case 12", "secret": created["secret"]}, "bad_case_number")):
        answer = client.post("/victims/v1/cases/status", json=body)
        assert answer.status_code == 422 and answer.json()["code"] == code
    with vnm.db.transaction(readonly=True) as uow:
        assert uow.session.scalars(select(VictimCase.failed_attempts)).one() == 0


def test_five_wrong_secrets_lock_the_case_and_the_right_one_is_refused_until_it_ends(client: TestClient) -> None:
    created = open_case(client)
    bad = {"number": created["number"], "secret": wrong(created["secret"])}
    codes = [client.post("/victims/v1/cases/status", json=bad).json()["code"] for _ in range(5)]
    assert codes == ["case_not_found_or_wrong_secret"] * 4 + ["case_locked"]
    right = client.post("/victims/v1/cases/withdraw", json={"number": created["number"], "secret": created["secret"]})
    assert right.status_code == 429, right.text
    problem = right.json()
    assert problem["code"] == "case_locked" and "retry_at" in problem
    retry_at = datetime.fromisoformat(problem["retry_at"].replace("Z", "+00:00"))
    assert 14 * 60 < (retry_at - datetime.now(UTC)).total_seconds() <= 15 * 60
    assert 14 * 60 < int(right.headers["retry-after"]) <= 15 * 60
    assert "withdrawn" not in client.post("/victims/v1/cases/status", json=bad).text


def test_status_shows_this_case_per_platform_and_country_and_nothing_of_another(client: TestClient,
                                                                                vnm: Node) -> None:
    mine, theirs = open_case(client, images=images(2)), open_case(client)
    at = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    with vnm.db.transaction() as uow:
        for number, position, entry in uow.session.execute(
                select(VictimCase.number, VictimImage.position, VictimImage.entry_row)
                .join(VictimImage, VictimImage.case_id == VictimCase.id)):
            uow.session.add(TakedownStatus(entry_row=entry, state="FRA", platform=f"Photos for {number}",
                                           status="removed", reason=None, updated_at=at))
            if number == mine["number"] and position == 2:
                uow.session.add(TakedownStatus(entry_row=entry, state="BRA", platform="Video Site",
                                               status="not_removed", reason="not found on the service",
                                               updated_at=at))
    answer = client.post("/victims/v1/cases/status", json={"number": mine["number"], "secret": mine["secret"]})
    shown = answer.json()
    assert [[(t["state"], t["platform"], t["status"]) for t in i["takedowns"]] for i in shown["images"]] == [
        [("FRA", f"Photos for {mine['number']}", "removed")],
        [("BRA", "Video Site", "not_removed"), ("FRA", f"Photos for {mine['number']}", "removed")]]
    assert shown["images"][1]["takedowns"][0]["reason"] == "not found on the service"
    assert shown["images"][0]["takedowns"][0]["updated_at"] == "2026-11-24T03:00:00.000Z"
    assert theirs["number"] not in answer.text


def test_withdrawn_images_stop_matching_at_once(client: TestClient, vnm: Node) -> None:
    with vnm.db.transaction() as uow:
        _, token = platforms.register(uow.session, name="Example Photos", email=None, actor="test")
    platform = auth(token)
    submitted = images(2)
    created = open_case(client, images=submitted)

    def matched() -> list[int]:
        items = [{"ref": str(p), "hashes": [image["hashes"][0]]} for p, image in enumerate(submitted, start=1)]
        answer = client.post("/api/v1/match", json={"items": items}, headers=platform)
        assert answer.status_code == 200, answer.text
        return [int(item["ref"]) for item in answer.json()["items"] if item["matches"]]

    assert matched() == [1, 2]
    access = {"number": created["number"], "secret": created["secret"]}
    answer = client.post("/victims/v1/cases/withdraw", json={**access, "images": [2]})
    assert answer.status_code == 200, answer.text
    assert [i["status"] for i in answer.json()["images"]] == ["active", "withdrawn"]
    assert matched() == [1]
    again = client.post("/victims/v1/cases/withdraw", json={**access, "images": [2]})
    assert again.json()["images"][1] == answer.json()["images"][1], "withdrawing twice changes nothing"
    everything = client.post("/victims/v1/cases/withdraw", json=access)
    assert [i["status"] for i in everything.json()["images"]] == ["withdrawn", "withdrawn"]
    assert matched() == []
    bad = client.post("/victims/v1/cases/withdraw", json={**access, "images": [3]})
    assert bad.status_code == 422 and bad.json()["code"] == "bad_position"


def test_opening_cases_is_rate_limited_per_address_apart_from_using_secrets(client: TestClient) -> None:
    created = [client.post("/victims/v1/cases", json={"about_a_child": False, "language": "en", "images": images()})
               for _ in range(victims.CREATE_BURST + 1)]
    assert [a.status_code for a in created] == [201] * victims.CREATE_BURST + [429]
    assert created[-1].json()["code"] == "rate_limited"
    first = created[0].json()
    status = client.post("/victims/v1/cases/status", json={"number": first["number"], "secret": first["secret"]})
    assert status.status_code == 200, "a separate bucket"


def test_using_secrets_is_rate_limited_per_address(app: FastAPI, client: TestClient) -> None:
    created = open_case(client)
    # The bucket's clock stands still: on a slow machine, real seconds between the calls would refill it.
    limiters = app.state.victim_limiters
    app.state.victim_limiters = victims.Limiters(
        create=limiters.create, access=RateLimiter(victims.ACCESS_PER_SECOND, victims.ACCESS_BURST, clock=lambda: 0.0))
    body = {"number": created["number"], "secret": created["secret"]}
    codes = [client.post(path, json=body).status_code
             for path in ["/victims/v1/cases/status", "/victims/v1/cases/withdraw"] * 6]
    assert codes[:victims.ACCESS_BURST] == [200] * victims.ACCESS_BURST
    assert set(codes[victims.ACCESS_BURST:]) == {429}, "status and withdrawal share one bucket"


def test_another_address_has_its_own_bucket(app: FastAPI) -> None:
    app.state.victim_limiters = victims.Limiters(create=RateLimiter(0.0001, 1), access=RateLimiter(0.0001, 1))
    body = {"number": "VNM-2222-2222", "secret": "2222-2222-2222-2222-2222"}
    with TestClient(app, client=("192.0.2.1", 5000)) as first, TestClient(app, client=("192.0.2.2", 5000)) as second:
        assert first.post("/victims/v1/cases/status", json=body).status_code == 401
        assert first.post("/victims/v1/cases/status", json=body).status_code == 429
        assert second.post("/victims/v1/cases/status", json=body).status_code == 401


def test_large_bodies_are_refused_before_they_are_read(client: TestClient) -> None:
    answer = client.post("/victims/v1/cases/status", content=b'{"number": "' + b"A" * 20_000 + b'"}',
                         headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"


def test_advocates_and_admins_open_cases_for_victims(client: TestClient, vnm: Node) -> None:
    body = {"category": "art16", "language": "fr", "images": images(3)}
    for role in ("advocate", "admin"):
        headers = officer(vnm, role)
        answer = client.post("/api/v1/victims/cases", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert SECRET.fullmatch(created["secret"]) and created["images"] == 3
        officer_id = client.get("/api/v1/me", headers=headers).json()["id"]
        with vnm.db.transaction(readonly=True) as uow:
            case = uow.session.scalars(select(VictimCase).where(VictimCase.number == created["number"])).one()
        assert case.created_by == f"officer:{officer_id}"
        status = client.post("/victims/v1/cases/status", json={"number": created["number"],
                                                               "secret": created["secret"]})
        assert status.status_code == 200 and len(status.json()["images"]) == 3
        body = {**body, "images": images(3)}


def test_other_roles_and_callers_without_a_token_cannot_use_the_advocates_route(client: TestClient,
                                                                                vnm: Node) -> None:
    body = {"about_a_child": True, "language": "en", "images": images()}
    for role in ("examiner", "duty_officer", "reviewer", "supervisor"):
        answer = client.post("/api/v1/victims/cases", json=body, headers=officer(vnm, role))
        assert answer.status_code == 403, (role, answer.text)
        assert "advocate" in answer.json()["detail"]
    assert client.post("/api/v1/victims/cases", json=body).status_code == 401
    with vnm.db.transaction() as uow:
        _, token = platforms.register(uow.session, name="Example Photos", email=None, actor="test")
    assert client.post("/api/v1/victims/cases", json=body, headers=auth(token)).status_code == 401
    with vnm.db.transaction(readonly=True) as uow:
        assert uow.session.scalars(select(VictimCase)).all() == []


def test_generated_requests_never_make_a_server_error(vnm: Node) -> None:
    app = served(vnm)
    # Generous buckets: the point is what the routes do with odd bodies, not the rate limit.
    app.state.victim_limiters = victims.Limiters(create=RateLimiter(1000, 1000), access=RateLimiter(1000, 1000))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = officer(vnm, "advocate")
    checked = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        if "victims" not in operation.path:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case: schemathesis.Case[Any]) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])

        no_server_error()
        checked.append(operation.label)
    assert sorted(checked) == ["POST /api/v1/victims/cases", "POST /victims/v1/cases",
                               "POST /victims/v1/cases/status", "POST /victims/v1/cases/withdraw"]


def test_public_cases_are_capped_per_hour_across_every_address(app: FastAPI, vnm: Node) -> None:
    vnm.settings.victims_public_cases_per_hour = 2
    body = {"about_a_child": False, "language": "en", "images": images()}
    answers = []
    for address in ("192.0.2.1", "192.0.2.2", "2001:db8::1"):
        with TestClient(app, client=(address, 5000)) as client:
            answers.append(client.post("/victims/v1/cases", json=body))
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[-1].json()["code"] == "rate_limited" and "advocate" in answers[-1].json()["hint"]
