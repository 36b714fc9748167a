"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with their scripts served by the node itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and ReDoc its fonts from Google), so on a node
without internet access, which is how many States run them, the pages stay blank. The node serves the files
shipped by the ``fastapi-offline`` package (Swagger UI and ReDoc, MIT licences) from ``/docs/assets/NAME``
instead; the pages then load nothing from anywhere but the node, and their Content-Security-Policy holds them
to that (ReDoc would otherwise fetch its logo from its vendor). A file is read when first asked for and kept in
memory; a name that is not one of them is 404.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from functools import cache

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

from hanoinet.api.inputs import CheckedRoute
from hanoinet.errors import ConfigurationError, NotFound

#: The package that ships the files, and the files the two pages load, with their media types.
PACKAGE = "fastapi_offline"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
PREFIX = "/docs/assets"

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def content_security_policy(html: bytes) -> str:
    """The policy of a documentation page: scripts, styles, images and calls from this node only, plus the
    page's own inline scripts by their hash. Styles may be inline: both libraries set them at run time."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
                      for script in (m.encode() for m in _INLINE_SCRIPT.findall(html.decode())))
    return "; ".join((
        "default-src 'none'",
        f"script-src 'self' {hashes}".rstrip(),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ))


def _page(html: Response) -> Response:
    html.headers["content-security-policy"] = content_security_policy(bytes(html.body))
    html.headers["x-content-type-options"] = "nosniff"
    return html


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the documentation pages, held in memory, with an ETag from its SHA-256."""

    body: bytes
    media_type: str
    etag: str


@cache
def asset(name: str) -> Asset:
    """The file ``name`` of :data:`ASSETS`, read from the installed package once."""
    try:
        body = (importlib.resources.files(PACKAGE) / "static" / name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        raise ConfigurationError(f"the API documentation's file {name} is not installed on this node",
                                 hint="install hanoinet with its dependencies (the package fastapi-offline)",
                                 code="docs_assets_missing") from None
    return Asset(body, ASSETS[name], f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def install(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` on ``app``, which must be built with ``docs_url=None, redoc_url=None``."""
    app.include_router(router)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


@router.get("/docs")
def swagger_ui(request: Request) -> Response:
    """Swagger UI for the node's OpenAPI schema."""
    root = _root(request)
    return _page(get_swagger_ui_html(openapi_url=f"{root}{request.app.openapi_url}",
                               title=f"{request.app.title} - Swagger UI",
                               swagger_js_url=f"{root}{PREFIX}/swagger-ui-bundle.js",
                               swagger_css_url=f"{root}{PREFIX}/swagger-ui.css",
                               swagger_favicon_url=f"{root}{PREFIX}/favicon.png",
                               swagger_ui_parameters=request.app.swagger_ui_parameters))


@router.get("/redoc")
def redoc(request: Request) -> Response:
    """ReDoc for the node's OpenAPI schema, without Google's fonts."""
    root = _root(request)
    return _page(get_redoc_html(openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - ReDoc",
                          redoc_js_url=f"{root}{PREFIX}/redoc.standalone.js",
                          redoc_favicon_url=f"{root}{PREFIX}/favicon.png", with_google_fonts=False))


@router.get(PREFIX + "/{name}")
def asset_file(name: str, request: Request) -> Response:
    """A script, style sheet or icon of the documentation pages; 404 for any other name."""
    if name not in ASSETS:
        raise NotFound("the API documentation has no such file", hint="the documentation is at /docs and /redoc")
    file = asset(name)
    headers = {"etag": file.etag, "cache-control": "no-cache", "x-content-type-options": "nosniff"}
    if request.headers.get("if-none-match") == file.etag:
        return Response(status_code=304, headers=headers)
    return Response(file.body, media_type=file.media_type, headers=headers)
