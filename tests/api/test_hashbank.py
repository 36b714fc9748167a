"""``/api/v1/match`` and ``/api/v1/hashbank``: platforms and officers matching, the platforms' delta feed."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from hanoinet.hashbank import bank, pdq, platforms, takedown
from hanoinet.hashbank.bank import NewHash
from hanoinet.node.node import Node
from tests.support import auth, make_node, officer_token, publish

# The shared test data sits beside the project (../shared/testdata); HANOINET_TESTDATA names it elsewhere.
TESTDATA = Path(os.environ.get("HANOINET_TESTDATA") or Path(__file__).resolve().parents[3] / "shared" / "testdata")
DIHEDRAL = TESTDATA / "pdq" / "reg-test-input" / "dih"


def flipped(code: str, bits: int) -> str:
    """``code`` with its first ``bits`` bits inverted: at Hamming distance exactly ``bits``."""
    value = np.frombuffer(bytes.fromhex(code), dtype=np.uint8).copy()
    unpacked = np.unpackbits(value)
    unpacked[:bits] ^= 1
    return np.packbits(unpacked).tobytes().hex()


@pytest.fixture
def vnm(tmp_path: Path, authority: KeyPair) -> Iterator[Node]:
    node = make_node(tmp_path, "VNM", authority, port=8401)
    publish([node], authority)
    yield node
    node.close()


@pytest.fixture
def client(vnm: Node) -> Iterator[TestClient]:
    with TestClient(create_app(vnm, background=False)) as made:
        yield made


@pytest.fixture
def platform(vnm: Node) -> dict[str, str]:
    with vnm.db.transaction() as uow:
        _, token = platforms.register(uow.session, name="Example Photos", email="safety@photos.example",
                                      actor="test")
    return auth(token)


@pytest.fixture
def officer(vnm: Node) -> dict[str, str]:
    return auth(officer_token(vnm, "examiner", name="An examiner"))


def add(node: Node, codes: list[str], category: str = "art16") -> list[bank.Entry]:
    with node.db.transaction() as uow:
        return bank.add(uow.session, node.state, [NewHash(hash=c, quality=90, category=category) for c in codes],
                        actor="test")


def test_a_match_is_answered_exactly_at_the_edge_of_the_distance(client: TestClient, vnm: Node,
                                                                 platform: dict[str, str]) -> None:
    code = secrets.token_hex(32)
    [entry] = add(vnm, [code])
    items = [{"ref": f"d{d}", "hashes": [flipped(code, d)]} for d in (0, 1, 15, 16, 31, 32)]
    answer = client.post("/api/v1/match", json={"items": items}, headers=platform)
    assert answer.status_code == 200, answer.text
    found = {item["ref"]: item["matches"] for item in answer.json()["items"]}
    for distance in (0, 1, 15, 16, 31):
        assert found[f"d{distance}"] == [{"entry": entry.entry_id, "kind": "pdq", "category": "art16",
                                          "origin": "VNM", "distance": distance, "variant": 0,
                                          "quarantined": False, "trust": 0.5}]
    assert found["d32"] == []


def test_the_closest_of_eight_variants_is_reported(client: TestClient, vnm: Node, platform: dict[str, str]) -> None:
    code = secrets.token_hex(32)
    [entry] = add(vnm, [code])
    variants = [secrets.token_hex(32) for _ in range(8)]
    variants[5], variants[2] = flipped(code, 3), flipped(code, 20)
    [item] = client.post("/api/v1/match", json={"items": [{"hashes": variants}]}, headers=platform).json()["items"]
    assert item["matches"] == [{"entry": entry.entry_id, "kind": "pdq", "category": "art16", "origin": "VNM",
                                "distance": 3, "variant": 5, "quarantined": False, "trust": 0.5}]
    assert item["hashes"] == variants


def test_withdrawn_entries_stop_matching_at_once(client: TestClient, vnm: Node, officer: dict[str, str]) -> None:
    code = secrets.token_hex(32)
    kept, gone = add(vnm, [code, flipped(code, 2)])
    assert len(client.post("/api/v1/match", json={"items": [{"hashes": [code]}]},
                           headers=officer).json()["items"][0]["matches"]) == 2
    with vnm.db.transaction() as uow:
        bank.withdraw(uow.session, "VNM", [gone.entry_id], actor="test")
    [item] = client.post("/api/v1/match", json={"items": [{"hashes": [code]}]}, headers=officer).json()["items"]
    assert [m["entry"] for m in item["matches"]] == [kept.entry_id]


def test_matches_say_when_an_entry_is_quarantined_and_how_far_it_is_trusted(client: TestClient, vnm: Node,
                                                                           platform: dict[str, str]) -> None:
    code = secrets.token_hex(32)
    [entry] = add(vnm, [code])
    # Three platforms' matches rejected by a reviewer: four sources of false positives (docs/takedown.md).
    for name in ("Photos A", "Photos B", "Photos C"):
        with vnm.db.transaction() as uow:
            row, _ = platforms.register(uow.session, name=name, email=None, actor="test")
            reporter = platforms.PlatformPrincipal(id=row.id, name=row.name)
            made, _ = takedown.report(vnm, uow, reporter, entry_id=entry.entry_id, content_ref="upload-1",
                                      distance=0, action="under_review")
            takedown.review(vnm, uow, made.id, decision="reject", actor="officer:1")
    [item] = client.post("/api/v1/match", json={"items": [{"hashes": [code]}]}, headers=platform).json()["items"]
    [match] = item["matches"]
    assert match["entry"] == entry.entry_id and match["quarantined"] and match["trust"] < 0.5
    with vnm.db.transaction() as uow:
        takedown.release(uow, entry.entry_id, actor="officer:1")
    [item] = client.post("/api/v1/match", json={"items": [{"hashes": [code]}]}, headers=platform).json()["items"]
    assert [(m["quarantined"], m["trust"]) for m in item["matches"]] == [(False, 0.5)], \
        "a release clears the false positives counted so far"


@pytest.mark.skipif(not DIHEDRAL.is_dir(), reason="the shared PDQ test images are not beside the project")
def test_an_image_is_hashed_by_the_node_and_rotated_copies_match(client: TestClient, vnm: Node,
                                                                 platform: dict[str, str]) -> None:
    original = (DIHEDRAL / "bridge-1-original.jpg").read_bytes()
    reference = pdq.hash_image(original)
    [entry] = add(vnm, [reference.code.hex()])
    files = sorted(DIHEDRAL.iterdir())
    items = [{"ref": f.name, "image": base64.b64encode(f.read_bytes()).decode()} for f in files]
    answer = client.post("/api/v1/match", json={"items": items}, headers=platform).json()["items"]
    assert answer[0]["matches"][0]["distance"] == 0 and answer[0]["matches"][0]["variant"] == 0
    assert answer[0]["quality"] == reference.quality and len(answer[0]["hashes"]) == 8
    for item in answer:
        assert [m["entry"] for m in item["matches"]] == [entry.entry_id], item["ref"]
    assert {item["matches"][0]["variant"] for item in answer[1:]} - {0}, "rotated copies match rotated hashes"


@pytest.mark.parametrize(("item", "code"), [
    ({"hashes": ["zz" * 32]}, "bad_hash"),
    ({"hashes": ["ab" * 31]}, "bad_hash"),
    ({"hashes": []}, "bad_match"),
    ({"hashes": ["ab" * 32] * 9}, "bad_match"),
    ({}, "bad_match"),
    ({"hashes": ["ab" * 32], "image": "AAAA"}, "bad_match"),
    ({"image": "not base64!"}, "bad_match"),
    ({"image": base64.b64encode(b"GIF89a but not really an image").decode()}, "not_an_image"),
])
def test_bad_items_are_refused_naming_the_item(client: TestClient, platform: dict[str, str],
                                               item: dict[str, object], code: str) -> None:
    answer = client.post("/api/v1/match", json={"items": [{"hashes": ["ab" * 32]}, {"ref": "x", **item}]},
                         headers=platform)
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["code"] == code
    assert "item 2" in answer.json()["detail"]


def test_batches_are_bounded(client: TestClient, platform: dict[str, str], officer: dict[str, str]) -> None:
    too_many = {"items": [{"hashes": ["ab" * 32]}] * 1001}
    answer = client.post("/api/v1/match", json=too_many, headers=platform)
    assert answer.status_code == 422 and answer.json()["code"] == "too_many_items"
    huge = b'{"items": [{"image": "' + b"A" * (17 * 1024 * 1024) + b'"}]}'
    answer = client.post("/api/v1/match", content=huge, headers={**platform, "content-type": "application/json"})
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"
    # Without a token, refused before it is received: the token is checked first (api/gate.py).
    assert client.post("/api/v1/match", content=huge, headers={"content-type": "application/json"}).status_code == 401
    report = b'{"entry": "' + b"0" * (65 * 1024) + b'"}'
    assert client.post("/api/v1/hashbank/reports", content=report,
                       headers={**platform, "content-type": "application/json"}).status_code == 413
    assert client.post("/api/v1/reviews/1", content=report,
                       headers={**officer, "content-type": "application/json"}).status_code == 413
    long_hash = {"items": [{"hashes": ["a" * 100_000]}]}
    answer = client.post("/api/v1/match", json=long_hash, headers=platform)
    assert answer.status_code == 422, "a hash is bounded in length before it is read"


def test_the_feed_pages_with_checkpoints_and_hides_withdrawn_hashes(client: TestClient, vnm: Node,
                                                                    platform: dict[str, str]) -> None:
    entries = add(vnm, [secrets.token_hex(32) for _ in range(5)])
    with vnm.db.transaction() as uow:
        bank.withdraw(uow.session, "VNM", [entries[1].entry_id], actor="test")
    first = client.get("/api/v1/hashbank/feed", params={"limit": 3}, headers=platform).json()
    assert [c["id"] for c in first["changes"]] == [entries[0].entry_id, entries[2].entry_id]
    assert all(c["op"] == "add" and len(c["hash"]) == 64 for c in first["changes"])
    assert first["more"] and first["checkpoint"]["seq"] == 3
    rest = client.get("/api/v1/hashbank/feed", params={"after": 3, "chain": first["checkpoint"]["chain"]},
                      headers=platform).json()
    assert [(c["op"], c["id"]) for c in rest["changes"]] == [
        ("add", entries[3].entry_id), ("add", entries[4].entry_id), ("withdraw", entries[1].entry_id)]
    assert "hash" not in rest["changes"][-1] and not rest["more"]
    again = client.get("/api/v1/hashbank/feed", params={"after": 6}, headers=platform).json()
    assert again["changes"] == [] and again["checkpoint"] == rest["checkpoint"]


def test_a_checkpoint_from_another_log_is_refused(client: TestClient, vnm: Node, platform: dict[str, str]) -> None:
    add(vnm, [secrets.token_hex(32)])
    for params in ({"after": 5}, {"after": 1, "chain": "0" * 64}):
        answer = client.get("/api/v1/hashbank/feed", params=params, headers=platform)
        assert answer.status_code == 409 and answer.json()["code"] == "feed_diverged"


def test_hash_lists_go_to_platforms_only(client: TestClient, vnm: Node, officer: dict[str, str],
                                         platform: dict[str, str]) -> None:
    add(vnm, [secrets.token_hex(32)])
    answer = client.get("/api/v1/hashbank/feed", headers=officer)
    assert answer.status_code == 403 and answer.json()["code"] == "platforms_only"
    assert client.get("/api/v1/hashbank/feed").status_code == 401
    assert client.get("/api/v1/hashbank/feed", headers=auth("hnp_" + "x" * 43)).status_code == 401
    stats = client.get("/api/v1/hashbank/stats", headers=officer).json()
    assert stats["active"] == 1 and "hash" not in str(stats).replace("hashbank", "")
    with vnm.db.transaction() as uow:
        platforms.disable(uow.session, "Example Photos", actor="test")
    assert client.get("/api/v1/hashbank/feed", headers=platform).status_code == 401
    assert client.post("/api/v1/match", json={"items": [{"hashes": ["ab" * 32]}]},
                       headers=platform).status_code == 401
