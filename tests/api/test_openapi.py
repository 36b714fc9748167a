"""The OpenAPI document declares every error answer of every operation as a problem document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hanoinet.api.app import create_app
from hanoinet.api.problems import PROBLEM_MEDIA_TYPE
from hanoinet.crypto.keys import KeyPair
from tests.support import make_node, publish

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory, authority: KeyPair) -> dict[str, Any]:
    node = make_node(Path(tmp_path_factory.mktemp("openapi")), "VNM", authority)
    publish([node], authority)
    with TestClient(create_app(node, background=False)) as client:
        found: dict[str, Any] = client.get("/openapi.json").json()
    node.close()
    return found


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def test_every_error_of_every_operation_is_a_problem_document(document: dict[str, Any]) -> None:
    walked = 0
    for method, path, operation in operations(document):
        walked += 1
        responses = operation["responses"]
        statuses = {int(status) for status in responses}
        assert 500 in statuses, (method, path)
        if path.startswith("/api/v1/"):
            assert {401, 403} <= statuses, (method, path)
        if "{" in path:
            assert 404 in statuses, (method, path)
        if "requestBody" in operation:
            assert {413, 422} <= statuses, (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"] == {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}, \
                    (method, path, status)
                assert response["description"] != "Validation Error", (method, path, status)
    assert walked > 50
    assert "HTTPValidationError" not in json.dumps(document)
    assert set(document["components"]["schemas"]["Problem"]["required"]) == {"type", "title", "status", "detail",
                                                                             "code"}


def test_each_route_states_its_body_limit_and_its_own_refusals(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert "limit of 16777216 bytes" in paths["/api/v1/match"]["post"]["responses"]["413"]["description"]
    assert "limit of 1048576 bytes" in paths["/api/v1/requests"]["post"]["responses"]["413"]["description"]
    assert "limit of 16384 bytes" in paths["/victims/v1/cases/status"]["post"]["responses"]["413"]["description"]
    assert "401" not in paths["/victims/v1/cases/status"]["post"]["responses"]
    assert "429" in paths["/victims/v1/cases/status"]["post"]["responses"]
    assert {"409", "415", "429"} <= set(paths["/federation/v1/envelopes"]["post"]["responses"])
    assert "409" in paths["/api/v1/requests/{ref}/{action}"]["post"]["responses"]
