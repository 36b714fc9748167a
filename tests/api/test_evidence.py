"""``/api/v1/evidence``: resumable uploads, the evidence list and offers, as an officer's client uses them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.node.node import Node
from tests.support import auth, make_node, officer_token, publish

CASE = "VNM-2026-0042"
UPLOADS = "/api/v1/evidence/uploads"


@pytest.fixture
def vnm(tmp_path: Path, authority: KeyPair) -> Iterator[Node]:
    """A node with a directory listing itself and FRA, so offers have somewhere to go."""
    node = make_node(tmp_path, "VNM", authority, port=8401)
    fra = make_node(tmp_path, "FRA", authority, port=8402)
    publish([node, fra], authority)
    yield node
    node.close()
    fra.close()


@pytest.fixture
def client(vnm: Node) -> Iterator[TestClient]:
    """A client of the node's API, without its background workers."""
    with TestClient(create_app(vnm, background=False)) as made:
        yield made


@pytest.fixture
def examiner(vnm: Node) -> dict[str, str]:
    """Headers of a forensic examiner's requests."""
    return auth(officer_token(vnm, "examiner"))


def _put(client: TestClient, upload_id: str, offset: int, data: bytes, headers: dict[str, str]) -> httpx.Response:
    sent = {**headers, "upload-offset": str(offset), "content-type": "application/octet-stream"}
    answer: httpx.Response = client.put(f"{UPLOADS}/{upload_id}", content=data, headers=sent)
    return answer


def test_an_upload_in_pieces_becomes_listed_evidence(client: TestClient, examiner: dict[str, str]) -> None:
    data = os.urandom(250_001)
    started = client.post(UPLOADS, json={"case": CASE, "name": "chat.db", "size": len(data),
                                         "media_type": "application/vnd.sqlite3"}, headers=examiner)
    assert started.status_code == 201, started.text
    upload = started.json()
    assert (upload["received"], upload["size"], upload["case"]) == (0, len(data), CASE)
    offset = 0
    for size in (1, 99_999, 150_001):
        answer = _put(client, upload["id"], offset, data[offset:offset + size], examiner)
        assert answer.status_code == 200, answer.text
        offset += size
        assert answer.json()["received"] == offset
        assert client.get(f"{UPLOADS}/{upload['id']}", headers=examiner).json()["received"] == offset

    done = client.post(f"{UPLOADS}/{upload['id']}/complete", headers=examiner)

    assert done.status_code == 201, done.text
    item = done.json()
    assert item["sha256"] == hashlib.sha256(data).hexdigest()
    assert (item["size"], item["name"], item["case"], item["media_type"]) == (
        len(data), "chat.db", CASE, "application/vnd.sqlite3")
    assert item["ingested_by"].startswith("officer:") and item["shredded_at"] is None
    listed = client.get("/api/v1/evidence", params={"case": CASE}, headers=examiner)
    assert listed.status_code == 200 and listed.json() == [item]
    assert client.get("/api/v1/evidence", params={"case": "OTHER-1"}, headers=examiner).json() == []
    gone = client.get(f"{UPLOADS}/{upload['id']}", headers=examiner)
    assert (gone.status_code, gone.json()["code"]) == (404, "upload_not_found")


def test_a_piece_at_the_wrong_offset_is_a_409_problem(client: TestClient, examiner: dict[str, str]) -> None:
    upload = client.post(UPLOADS, json={"case": CASE, "name": "a.bin", "size": 10}, headers=examiner).json()
    assert _put(client, upload["id"], 0, b"12345", examiner).status_code == 200
    wrong = _put(client, upload["id"], 3, b"67890", examiner)
    assert wrong.status_code == 409
    assert wrong.headers["content-type"] == "application/problem+json"
    problem = wrong.json()
    assert problem["code"] == "offset_mismatch" and problem["status"] == 409
    assert "resume from offset 5" in problem["hint"]
    early = client.post(f"{UPLOADS}/{upload['id']}/complete", headers=examiner)
    assert (early.status_code, early.json()["code"]) == (409, "upload_incomplete")
    missing = client.put(f"{UPLOADS}/{upload['id']}", content=b"67890", headers=examiner)
    assert missing.status_code == 422 and "upload-offset" in missing.json()["detail"]


def test_cancel_answers_204_and_the_upload_is_gone(client: TestClient, examiner: dict[str, str]) -> None:
    upload = client.post(UPLOADS, json={"case": CASE, "name": "a.bin", "size": 10}, headers=examiner).json()
    cancelled = client.delete(f"{UPLOADS}/{upload['id']}", headers=examiner)
    assert cancelled.status_code == 204 and cancelled.content == b""
    again = client.delete(f"{UPLOADS}/{upload['id']}", headers=examiner)
    assert (again.status_code, again.json()["code"]) == (404, "upload_not_found")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/evidence"), ("POST", UPLOADS), ("GET", f"{UPLOADS}/{'a' * 32}"),
    ("PUT", f"{UPLOADS}/{'a' * 32}"), ("POST", f"{UPLOADS}/{'a' * 32}/complete"),
    ("DELETE", f"{UPLOADS}/{'a' * 32}"), ("POST", "/api/v1/evidence/offers"), ("GET", "/api/v1/evidence/offers"),
])
def test_every_route_needs_a_token(client: TestClient, method: str, path: str) -> None:
    answer = client.request(method, path, json={"case": CASE, "name": "a.bin", "size": 1},
                            headers={"upload-offset": "0"})
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "unauthenticated"


def test_bad_upload_requests_get_problems_naming_the_field(client: TestClient, examiner: dict[str, str]) -> None:
    bad_case = client.post(UPLOADS, json={"case": "no?case", "name": "a.bin", "size": 1}, headers=examiner)
    assert (bad_case.status_code, bad_case.json()["code"]) == (422, "bad_case")
    bad_name = client.post(UPLOADS, json={"case": CASE, "name": "../a.bin", "size": 1}, headers=examiner)
    assert (bad_name.status_code, bad_name.json()["code"]) == (422, "bad_file_name")
    negative = client.post(UPLOADS, json={"case": CASE, "name": "a.bin", "size": -1}, headers=examiner)
    assert negative.status_code == 422 and "size" in negative.json()["detail"]
    not_an_id = client.get(f"{UPLOADS}/..%2F..%2Fkeys", headers=examiner)
    assert not_an_id.status_code in {404, 422}


def test_an_offer_of_a_case_without_evidence_is_refused_with_a_code(client: TestClient,
                                                                   examiner: dict[str, str]) -> None:
    answer = client.post("/api/v1/evidence/offers", json={"case": "VNM-UNKNOWN-1", "to": "FRA/247",
                                                          "purpose": "request FRA-2026-0001"}, headers=examiner)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "case_empty" and "VNM-UNKNOWN-1" in answer.json()["detail"]
    assert client.get("/api/v1/evidence/offers", headers=examiner).json() == []


def test_a_read_only_supervisor_cannot_upload_evidence(vnm: Node, client: TestClient) -> None:
    supervisor = auth(officer_token(vnm, "supervisor"))
    answer = client.post(UPLOADS, json={"case": CASE, "name": "a.bin", "size": 1}, headers=supervisor)
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "forbidden"

