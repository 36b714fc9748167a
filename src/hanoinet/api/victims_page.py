"""``/victims/``: the victims' page and its static files, served by the node itself under a strict policy.

The page (``hanoinet/web/static/victims.html``) hashes images in the browser with ``pdq.js`` and calls the
public routes of :mod:`hanoinet.api.victims`; it loads nothing from anywhere else, and its Content-Security-Policy
lets it load and send nothing but to this node (docs/victims.md, "The page"). The files are read once, when the
application is built, and served from memory by name: a path that is not one of them is 404, whatever dots or
slashes it holds. None of these routes takes a token, and none is in the OpenAPI schema.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response

from hanoinet.api.inputs import CheckedRoute
from hanoinet.errors import NotFound

#: The folder of the page and of everything it loads.
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
PAGE = "victims.html"
#: Files the page loads, by suffix. Module scripts must be served as JavaScript or the browser refuses them.
#: (The page has its own icon so that the browser does not ask for /favicon.ico, a path the access log keeps.)
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}

#: Scripts, styles, workers and calls from this node only; images only as local previews (blob: URLs made from
#: the files the victim picks); no forms that navigate (a form sent without the script would put the secret in
#: a URL), no frames, no plugins.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob:",
    "connect-src 'self'",
    "worker-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
))
_COMMON_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}
# The page is never kept in a cache: a shared device's cache, or a proxy's, would show that a victim came here.
_PAGE_HEADERS = {
    **_COMMON_HEADERS,
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "cross-origin-opener-policy": "same-origin",
    "x-frame-options": "DENY",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "cache-control": "no-store",
}
# The policy goes with the files too: a worker is bound by the policy its own script is served with.
# Files are checked again on every load (cheaply, by ETag), so that the page and its scripts never come from
# two versions of the node.
_FILE_HEADERS = {**_COMMON_HEADERS, "content-security-policy": CONTENT_SECURITY_POLICY, "cache-control": "no-cache"}

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file of the page, held in memory: its bytes, media type and ETag."""

    body: bytes
    media_type: str
    etag: str

    @classmethod
    def read(cls, path: Path, media_type: str) -> StaticFile:
        """The file at ``path``, with an ETag from its SHA-256."""
        body = path.read_bytes()
        return cls(body=body, media_type=media_type, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')


@dataclass(frozen=True, slots=True)
class Site:
    """The page and the files it may load, by their path under the static folder (``i18n/en.json``)."""

    page: StaticFile
    files: dict[str, StaticFile]


def load(folder: Path = STATIC) -> Site:
    """Read the page and every file under ``folder`` with a suffix of :data:`MEDIA_TYPES`."""
    files = {path.relative_to(folder).as_posix(): StaticFile.read(path, MEDIA_TYPES[path.suffix])
             for path in sorted(folder.rglob("*")) if path.suffix in MEDIA_TYPES and path.is_file()}
    return Site(page=StaticFile.read(folder / PAGE, "text/html; charset=utf-8"), files=files)


def install(app: FastAPI) -> None:
    """Serve the page at ``/victims/`` and its files at ``/victims/static/NAME`` on ``app``."""
    app.state.victims_site = load()
    app.include_router(router)


def _site(request: Request) -> Site:
    site: Site = request.app.state.victims_site
    return site


def _answer(request: Request, file: StaticFile, headers: dict[str, str]) -> Response:
    if request.headers.get("if-none-match") == file.etag:
        return Response(status_code=304, headers={**headers, "etag": file.etag})
    return Response(file.body, media_type=file.media_type, headers={**headers, "etag": file.etag})


@router.get("/victims/")
def page(request: Request) -> Response:
    """The victims' page, with its Content-Security-Policy; never cached."""
    return _answer(request, _site(request).page, _PAGE_HEADERS)


@router.get("/victims/static/{name:path}")
def static_file(name: str, request: Request) -> Response:
    """A script, style sheet or translation of the page; 404 for any other name."""
    file = _site(request).files.get(name)
    if file is None:
        raise NotFound("the victims' page has no such file", hint="the page is at /victims/")
    return _answer(request, file, _FILE_HEADERS)
