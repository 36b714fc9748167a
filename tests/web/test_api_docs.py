"""``/docs`` and ``/redoc`` load nothing but from the node: checked in the HTML, then in Debian's Chromium with
every request off the node refused (a node without internet access), where both pages must show the API's
operations."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import uvicorn
from fastapi.testclient import TestClient

from hanoinet.api import apidocs
from hanoinet.api.app import create_app
from hanoinet.crypto.keys import KeyPair
from tests.support import make_node
from tests.web.conformance import launched_browser, require_browser

if TYPE_CHECKING:
    from fastapi import FastAPI
    from playwright.sync_api import Request

# Operations of the node's API that each page must show (their summaries, as in the OpenAPI schema).
OPERATIONS = ["Prometheus metrics", "The officer behind the token"]
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, authority: KeyPair) -> Iterator[FastAPI]:
    node = make_node(tmp_path_factory.mktemp("api-docs"), "VNM", authority)
    try:
        yield create_app(node, background=False)
    finally:
        node.close()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_pages_name_only_files_of_the_node_and_the_node_serves_them(app: FastAPI, page: str) -> None:
    client = TestClient(app)
    html = client.get(page)
    assert html.status_code == 200
    urls = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)""", html.text) + re.findall(r"url: '([^']+)'", html.text)
    assert urls and not [url for url in urls if not url.startswith("/") or url.startswith("//")], urls
    assert "https://" not in html.text and "http://" not in html.text
    for url in urls:
        answer = client.get(url)
        assert answer.status_code == 200, url
        if url.startswith(apidocs.PREFIX):
            name = url.removeprefix(apidocs.PREFIX + "/")
            assert answer.headers["content-type"] == apidocs.ASSETS[name] and len(answer.content) > 1000
            assert client.get(url, headers={"if-none-match": answer.headers["etag"]}).status_code == 304
    assert client.get(f"{apidocs.PREFIX}/../../pyproject.toml").status_code == 404
    assert client.get(f"{apidocs.PREFIX}/core.py").status_code == 404


@pytest.fixture(scope="module")
def origin(app: FastAPI) -> Iterator[str]:
    listening = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        listening.close()


@pytest.mark.parametrize(("page", "operation"), [("/docs", ".opblock-summary-description"),
                                                  ("/redoc", "h2")])
def test_the_pages_show_the_operations_with_every_request_off_the_node_refused(origin: str, page: str,
                                                                              operation: str) -> None:
    require_browser("the API documentation pages' tests")
    sent: list[Request] = []
    with launched_browser() as browser:
        context = browser.new_context()
        context.route(lambda url: not url.startswith(f"{origin}/"), lambda route: route.abort())
        context.on("request", lambda request: sent.append(request))  # noqa: PLW0108
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        tab.goto(f"{origin}{page}")
        for summary in OPERATIONS:
            tab.locator(operation, has_text=summary).first.wait_for(timeout=30_000)
        shown = tab.locator(operation).count()
        off_node = {r.url: r.failure for r in sent if not r.url.startswith(f"{origin}/")}
        context.close()
    assert shown > 20  # the node has many more operations than the two looked for
    # Nothing was asked of another host but ReDoc's logo on its vendor's site, which the page's policy refused
    # before it left the browser (its script asks for it unconditionally; the page needs nothing of it).
    assert off_node == ({} if page == "/docs" else {REDOC_LOGO: "csp"}), off_node
    assert [e for e in errors if REDOC_LOGO not in e] == []
