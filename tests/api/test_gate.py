"""The gate: a route's token is checked before its body is received, and every route has a body limit."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import event

from hanoinet.api.app import body_limits, create_app
from hanoinet.api.gate import JSON_BODY, Gate, api_routes, credential_of_route
from hanoinet.api.officers import Credential
from hanoinet.crypto.keys import KeyPair
from hanoinet.node.node import Node
from tests.support import make_node, officer_token, publish

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def vnm(tmp_path_factory: pytest.TempPathFactory, authority: KeyPair) -> Iterator[Node]:
    node = make_node(tmp_path_factory.mktemp("gate"), "VNM", authority)
    publish([node], authority)
    yield node
    node.close()


@pytest.fixture(scope="module")
def app(vnm: Node) -> FastAPI:
    return create_app(vnm, background=False)


def _gate(app: FastAPI) -> Gate:
    found = [m for m in app.user_middleware if m.cls is Gate]
    assert len(found) == 1
    gate: Gate = Gate(app.router, **found[0].kwargs)
    return gate


def _bodied(app: FastAPI) -> list[tuple[str, str, Credential | None, int]]:
    """(method, path, credential, limit) of every route and method that takes a body."""
    gate = _gate(app)
    return [(method, route.path, policy.credential, policy.limit)
            for route in api_routes(app.routes) for method in sorted(route.methods)
            if (policy := gate.policy(route, method)).limit > 0]


def _concrete(path: str) -> str:
    # Any value reaches the route: path parameters are validated after the body is read, not before.
    return re.sub(r"\{[^}]+\}", "1", path)


class Sender:
    """An ASGI request whose body the application pulls in 64 KiB pieces; counts what it pulled."""

    def __init__(self, size: int, *, declared: bool) -> None:
        self.left = size
        self.pulled = 0
        self.declared = declared
        self.size = size
        self.messages: list[dict[str, Any]] = []

    def scope(self, method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
        sent = {"content-type": "application/json", **headers}
        if self.declared:
            sent["content-length"] = str(self.size)
        return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                "headers": [(k.encode(), v.encode()) for k, v in sent.items()],
                "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}

    async def receive(self) -> dict[str, Any]:
        piece = min(self.left, 64 * 1024)
        self.left -= piece
        self.pulled += piece
        return {"type": "http.request", "body": b"\0" * piece, "more_body": self.left > 0}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def status(self) -> int:
        return int(self.messages[0]["status"])

    def body(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(b"".join(m.get("body", b"") for m in self.messages[1:]))
        return found


def call(app: FastAPI, method: str, path: str, size: int, *, declared: bool = True,
         headers: dict[str, str] | None = None) -> Sender:
    sender = Sender(size, declared=declared)
    asyncio.run(app(sender.scope(method, path, headers or {}), sender.receive, sender.send))
    return sender


def test_every_route_has_a_body_limit_that_names_a_route(app: FastAPI, vnm: Node) -> None:
    routes = {f"{method} {route.path}" for route in api_routes(app.routes) for method in route.methods}
    assert set(body_limits(vnm.settings.max_envelope_bytes)) <= routes, "a listed limit names no route"
    gate = _gate(app)
    for route in api_routes(app.routes):
        for method in route.methods:
            limit = gate.policy(route, method).limit
            assert 0 <= limit <= 16 * MIB, (method, route.path, limit)
            if route.body_field is not None:
                assert limit > 0, (method, route.path)
    # Routes that read their body themselves, without a model, are listed, or they could read nothing.
    assert gate.policy(next(r for r in api_routes(app.routes) if r.path == "/api/v1/directory"
                            and "POST" in r.methods), "POST").limit == 4 * MIB


def test_officer_routes_and_only_they_take_a_token(app: FastAPI) -> None:
    for route in api_routes(app.routes):
        credential = credential_of_route(route)
        assert (credential is not None) == route.path.startswith("/api/v1/"), route.path
    by_path = {route.path: credential_of_route(route) for route in api_routes(app.routes)}
    assert by_path["/api/v1/requests"] is Credential.OFFICER
    assert by_path["/api/v1/match"] is Credential.OFFICER_OR_PLATFORM
    assert by_path["/api/v1/hashbank/reports"] is Credential.OFFICER_OR_PLATFORM


def test_no_route_receives_a_body_without_a_token(app: FastAPI) -> None:
    bodied = [(method, path, limit) for method, path, credential, limit in _bodied(app) if credential is not None]
    assert ("POST", "/api/v1/requests", JSON_BODY) in bodied and len(bodied) > 15
    for method, path, limit in bodied:
        for declared in (True, False):
            sent = call(app, method, _concrete(path), 256 * MIB, declared=declared,
                        headers={"authorization": "Bearer hnt_unknown"} if declared else {})
            assert sent.status() == 401, (method, path, sent.messages[:1])
            assert sent.body()["code"] == "unauthenticated"
            assert sent.pulled == 0, (method, path, sent.pulled, limit)


def test_an_officer_body_is_received_only_up_to_the_limit(app: FastAPI, vnm: Node) -> None:
    token = {"authorization": f"Bearer {officer_token(vnm, 'admin')}"}
    declared = call(app, "POST", "/api/v1/messages", 256 * MIB, headers=token)
    assert (declared.status(), declared.body()["code"], declared.pulled) == (413, "too_large", 0)
    chunked = call(app, "POST", "/api/v1/messages", 256 * MIB, declared=False, headers=token)
    assert (chunked.status(), chunked.body()["code"]) == (413, "too_large")
    assert JSON_BODY < chunked.pulled <= JSON_BODY + 64 * 1024
    assert f"limit of {JSON_BODY} bytes" in chunked.body()["detail"]
    # A route that reads no body never receives one: it answers as it would without.
    unread = call(app, "DELETE", "/api/v1/rota/1", 256 * MIB, headers=token)
    assert (unread.status(), unread.body()["code"], unread.pulled) == (404, "not_found", 0)
    # Under the limit, the route reads and answers it (a body of zeros is no JSON).
    assert call(app, "POST", "/api/v1/messages", 100, headers=token).status() == 422


def test_public_routes_keep_their_own_limits(app: FastAPI) -> None:
    status = call(app, "POST", "/victims/v1/cases/status", 17 * 1024, declared=False)
    assert (status.status(), status.body()["code"]) == (413, "too_large")
    assert status.pulled <= 16 * 1024 + 64 * 1024


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[tuple[str, int]]:
    listening = socket.create_server(("127.0.0.1", 0))
    running = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    while not running.started:
        time.sleep(0.01)
    try:
        yield listening.getsockname()[:2]
    finally:
        running.should_exit = True
        thread.join()
        listening.close()


@pytest.mark.parametrize("path", ["/api/v1/requests", "/api/v1/messages", "/api/v1/rota", "/api/v1/match"])
def test_a_real_server_answers_401_before_the_body_is_sent(server: tuple[str, int], path: str) -> None:
    """As reported: 256 MiB without a token. The 401 comes after the headers, while the body is still owed."""
    with socket.create_connection(server, timeout=10) as connection:
        connection.sendall(f"POST {path} HTTP/1.1\r\nhost: node\r\ncontent-type: application/json\r\n"
                           f"content-length: {256 * MIB}\r\n\r\n".encode() + b"[" * 65536)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            piece = connection.recv(65536)
            if not piece:
                break
            answer += piece
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 "), head
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["code"] == "unauthenticated"


def test_a_real_server_refuses_a_chunked_body_without_a_token(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=10) as connection:
        connection.sendall(b"POST /api/v1/requests HTTP/1.1\r\nhost: node\r\ncontent-type: application/json\r\n"
                           b"transfer-encoding: chunked\r\n\r\n" + b"10000\r\n" + b"[" * 65536 + b"\r\n")
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]


def test_the_gate_checks_each_token_once(app: FastAPI, vnm: Node) -> None:
    """The gate keeps the caller it looked up; the route's dependencies use it rather than look again."""
    token = {"authorization": f"Bearer {officer_token(vnm, 'duty_officer')}"}
    queries: list[str] = []
    engine = vnm.db.engine

    def listener(*args: Any) -> None:
        queries.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        sent = call(app, "POST", "/api/v1/alarms/999/acknowledge", 2, headers=token)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert sent.status() in (404, 422), sent.messages
    assert sum("FROM officers" in q for q in queries) == 1, queries
