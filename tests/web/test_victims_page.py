"""The victims' page (``/victims/``) in Debian's Chromium, against a node's application served on loopback.

A victim's whole path: the page hashes test images from ``../shared/testdata/pdq`` in the browser and sends
only JSON of hashes and qualities, which must be the server's own hashes of the same files
(``hanoinet.hashbank.pdq.dihedral_hashes``, within the conformance suite's 10 bits); the case number and
secret appear; the status shows the images; one image is withdrawn, and a platform's ``POST /api/v1/match``
stops finding it. Every request body is captured twice, as the browser sent it and as the node received it,
and none may hold image data. Also: the page in every language and at a phone's width, the lock and the rate
limit in plain words, the translations themselves, and the static route's refusals and headers.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pycountry
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from hanoinet import clock
from hanoinet.api import victims, victims_page
from hanoinet.api.app import create_app
from hanoinet.clock import format_instant, now
from hanoinet.crypto.keys import KeyPair
from hanoinet.db.models import TakedownStatus, VictimCase, VictimImage
from hanoinet.hashbank import platforms
from hanoinet.hashbank.pdq import DIHEDRAL_ORDER, dihedral_hashes
from hanoinet.hashbank.takedown_rules import VictimStatus
from hanoinet.network.ratelimit import RateLimiter
from hanoinet.node.node import Node
from hanoinet.victims.cases import LANGUAGES
from tests.support import make_node, publish
from tests.web.conformance import SOURCES, distance, launched_browser, require_browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Request

STATIC = victims_page.STATIC
MESSAGES = {language: json.loads((STATIC / "i18n" / f"{language}.json").read_text(encoding="utf-8"))
            for language in LANGUAGES}
PICKED = [SOURCES / "bridge-mods" / "aaa-orig.jpg", SOURCES / "reg-test-input" / "pen-and-coaster.png",
          SOURCES / "misc-images" / "c.png"]
#: The pinned instant of the lockout test: a December evening, when month names leave ASCII in French.
LOCKED_AT = datetime(2026, 12, 7, 22, 10, tzinfo=UTC)
# Quality 0 (a nearly flat picture): the page shows it as not usable and never sends it.
FLAT = SOURCES / "misc-images" / "small.jpg"


def pictures(folder: Path) -> tuple[list[Path], Path]:
    """Three photographs and a flat picture: the shared test images, or, where they are not beside the project,
    pictures drawn here (smooth shapes and texture, which PDQ hashes with high quality), so the path runs
    everywhere."""
    if all(path.is_file() for path in [*PICKED, FLAT]):
        return PICKED, FLAT
    from PIL import Image, ImageDraw, ImageFilter

    drawn = []
    for seed, suffix in ((1, "jpg"), (2, "png"), (3, "png")):
        generator = random.Random(seed)
        image = Image.new("RGB", (400, 300), (generator.randrange(256), 120, generator.randrange(256)))
        draw = ImageDraw.Draw(image)
        for _ in range(30):
            x, y, radius = generator.randrange(400), generator.randrange(300), generator.randrange(15, 90)
            draw.ellipse((x - radius, y - radius, x + radius, y + radius),
                         fill=(generator.randrange(256), generator.randrange(256), generator.randrange(256)))
        path = folder / f"photo-{seed}.{suffix}"
        image.filter(ImageFilter.GaussianBlur(2)).save(path)
        drawn.append(path)
    flat = folder / "flat.jpg"
    Image.new("RGB", (64, 64), (128, 128, 128)).save(flat)
    return drawn, flat


# What image files and their base64 and data: URLs start with (JPEG, PNG, WebP, GIF).
IMAGE_SIGNS = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"GIF8", b"/9j/", b"iVBORw0KGgo", b"UklGR", b"R0lGOD",
               b"data:", b"base64")
# Longer than a hash: any such run of base64 or hexadecimal characters could be encoded content.
LONG_RUN = re.compile(rb"[A-Za-z0-9+/=_-]{65,}")
HASH = re.compile(r"^[0-9a-f]{64}$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Received:
    """One request as the node received it."""

    method: str
    path: str
    body: bytes


class Recorder:
    """Wraps an ASGI application and keeps every HTTP request it receives, body included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[Received] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
            return message

        try:
            await self.app(scope, receiving, send)
        finally:
            self.requests.append(Received(scope["method"], scope["path"], bytes(body)))


@dataclass
class Site:
    """The node, its application and where it listens."""

    node: Node
    app: FastAPI
    origin: str
    recorder: Recorder


@dataclass
class Tab:
    """A page of a fresh browser context, every request the context sent, and the page's errors (a script's,
    or the policy's refusals, which the console reports)."""

    page: Page
    sent: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def posts(self) -> list[Request]:
        return [r for r in self.sent if r.method != "GET" or r.post_data_buffer]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, authority: KeyPair) -> Iterator[Site]:
    node = make_node(tmp_path_factory.mktemp("victims-page"), "VNM", authority)
    publish([node], authority)
    app = create_app(node, background=False)
    recorder = Recorder(app)
    listening = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(recorder, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield Site(node, app, f"http://127.0.0.1:{listening.getsockname()[1]}", recorder)
    finally:
        server.should_exit = True
        thread.join()
        listening.close()
        node.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium; skipped without it or Playwright, except under CI=true (a failure), as in test_pdq_js."""
    require_browser("the victims' page tests")
    with launched_browser() as launched:
        yield launched


@pytest.fixture
def fresh_limits(site: Site) -> Iterator[None]:
    """New rate limiters before and after the test, so that tests never share or drain each other's buckets."""

    def renew() -> None:
        site.app.state.victim_limiters = victims.Limiters(
            create=RateLimiter(victims.CREATE_PER_SECOND, victims.CREATE_BURST),
            access=RateLimiter(victims.ACCESS_PER_SECOND, victims.ACCESS_BURST))

    renew()
    yield
    renew()


@pytest.fixture
def contexts(browser: Browser, site: Site) -> Iterator[Callable[..., BrowserContext]]:
    """A factory of browser contexts that refuse every request off the node, closed after the test."""
    made: list[BrowserContext] = []

    def new(**options: Any) -> BrowserContext:
        context = browser.new_context(**options)
        context.route(lambda url: not url.startswith(f"{site.origin}/"), lambda route: route.abort())
        made.append(context)
        return context

    yield new
    for context in made:
        context.close()


def open_page(context: BrowserContext, site: Site, query: str = "") -> Tab:
    """The page, once its texts are in place; every request of the context (workers too) is recorded."""
    sent: list[Request] = []
    # A lambda, not sent.append: Playwright tags its handlers with an attribute, which built-ins cannot take.
    context.on("request", lambda request: sent.append(request))  # noqa: PLW0108
    tab = Tab(context.new_page(), sent)
    tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.page.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
    tab.page.goto(f"{site.origin}/victims/{query}")
    tab.page.wait_for_selector("body[data-ready]")
    return tab


def assert_no_image_data(body: bytes, images: int) -> None:
    """JSON, small, and without anything that could carry an image's bytes."""
    json.loads(body)
    assert len(body) <= 200 + 700 * images, len(body)
    for sign in IMAGE_SIGNS:
        assert sign not in body, sign
    assert LONG_RUN.search(body) is None


# --- the victim's path


def test_a_victim_sends_only_hashes_then_follows_and_withdraws(site: Site, contexts: Callable[..., BrowserContext],
                                                               fresh_limits: None, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    picked, flat = pictures(tmp_path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not an image")
    started = len(site.recorder.requests)
    context = contexts()
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    tab = open_page(context, site)
    page = tab.page
    expect(page.locator(".promise")).to_contain_text("Your images never leave this device")

    page.check("input[name=child][value=no]")
    page.set_input_files("#files", [str(p) for p in [*picked, flat, broken]])
    expect(page.locator("#progress")).to_have_text("Fingerprints ready. Images that can be sent: 3 of 5.")
    expect(page.locator("#images .state-unusable")).to_have_count(1)
    expect(page.locator("#images .state-unreadable")).to_have_count(1)
    expect(page.locator("#images img.thumbnail:visible")).to_have_count(0)  # previews only when asked for
    assert [worker.url for worker in page.workers] == [f"{site.origin}/victims/static/victims-worker.js"]
    assert tab.posts() == [], "nothing leaves before the victim presses send"

    page.click("#send")
    expect(page.locator("#created-number")).to_have_text(re.compile(r"^VNM-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$"))
    number, secret = page.inner_text("#created-number"), page.inner_text("#created-secret")
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){4}", secret)
    expect(page.locator("#created-images li")).to_have_count(3)
    page.click("#copy")
    expect(page.locator("#copy-status")).to_have_text(MESSAGES["en"]["copied"])
    assert page.evaluate("() => navigator.clipboard.readText()") == f"Case number: {number}\nSecret code: {secret}"

    [create] = tab.posts()
    assert create.url == f"{site.origin}/victims/v1/cases"
    assert create.headers["content-type"] == "application/json"
    body = create.post_data_buffer
    assert body is not None
    assert_no_image_data(body, images=3)
    sent = json.loads(body)
    assert sent.keys() == {"about_a_child", "language", "images"}
    assert sent["about_a_child"] is False and sent["language"] == "en"
    distances = []
    for path, image in zip(picked, sent["images"], strict=True):
        assert image.keys() == {"hashes", "quality"}
        assert len(image["hashes"]) == len(DIHEDRAL_ORDER) and all(HASH.fullmatch(h) for h in image["hashes"])
        server = dihedral_hashes(path.read_bytes())
        distances += [distance(s.code.hex(), h) for s, h in zip(server, image["hashes"], strict=True)]
        assert abs(image["quality"] - server[0].quality) <= 1, path.name
    print(json.dumps({"hashes_compared": len(distances), "distance_max": max(distances)}))
    assert max(distances) <= 10  # the conformance rule; 0 expected (tests/web/test_pdq_js.py)

    # The status, with one platform's report on image 2, in a country named in the page's language.
    with site.node.db.transaction() as uow:
        entries = {position: entry for position, entry in uow.session.execute(
            select(VictimImage.position, VictimImage.entry_row).join(VictimCase, VictimCase.id == VictimImage.case_id)
            .where(VictimCase.number == number))}
        uow.session.add(TakedownStatus(entry_row=entries[2], state="FRA", platform="Example Photos",
                                       status="removed", reason=None, updated_at=now()))
    page.fill("#secret", secret.lower().replace("-", " "))
    page.click("#show")
    expect(page.locator("#status .case-image")).to_have_count(3)
    expect(page.locator("#status .case-image > .state-active")).to_have_count(3)
    report = page.locator("#status .case-image").nth(1).locator(".takedowns")
    expect(report).to_contain_text("France")
    expect(report).to_contain_text("Example Photos")
    expect(report).to_contain_text("Removed.")
    expect(page.locator("#status .case-image").nth(0)).to_contain_text("No platform has reported a copy yet.")
    assert page.input_value("#secret") == "", "the secret does not stay on screen"

    token = _platform_token(site)
    hashes = [image["hashes"][0] for image in sent["images"]]
    assert _matched(site, token, hashes) == [True, True, True]

    page.get_by_role("button", name="Withdraw image 1").click()
    expect(page.locator("#confirm")).to_contain_text("Withdraw image 1?")
    page.click("#confirm button[value=withdraw]")
    expect(page.locator("#status .case-image").nth(0).locator(".state-withdrawn")).to_be_visible()
    expect(page.locator("#status .case-image > .state-active")).to_have_count(2)
    assert _matched(site, token, hashes) == [False, True, True]

    posts = tab.posts()
    assert [p.url.removeprefix(site.origin) for p in posts] == [
        "/victims/v1/cases", "/victims/v1/cases/status", "/victims/v1/cases/withdraw"]
    access = json.loads(posts[1].post_data_buffer or b"")
    assert access.keys() == {"number", "secret"} and access["number"] == number
    assert json.loads(posts[2].post_data_buffer or b"") == {"number": number, "secret": access["secret"],
                                                            "images": [1]}
    for post in posts[1:]:
        assert_no_image_data(post.post_data_buffer or b"", images=0)
    # The node received exactly these bodies, and no other request of the page had one.
    received = [r for r in site.recorder.requests[started:] if r.path.startswith("/victims/") and r.body]
    assert [r.body for r in received] == [p.post_data_buffer for p in posts]
    assert not any("secret" in r.url.lower() or secret.replace("-", "") in r.url.upper() for r in tab.sent)
    assert tab.errors == []


def _platform_token(site: Site) -> str:
    with site.node.db.transaction() as uow:
        _, token = platforms.register(uow.session, name="Example Photos", email=None, actor="test")
    return token


def _matched(site: Site, token: str, hashes: list[str]) -> list[bool]:
    """Whether a platform's match request finds each hash in the bank."""
    answer = httpx.post(f"{site.origin}/api/v1/match", headers={"authorization": f"Bearer {token}"},
                        json={"items": [{"ref": str(i), "hashes": [h]} for i, h in enumerate(hashes)]})
    assert answer.status_code == 200, answer.text
    return [bool(item["matches"]) for item in answer.json()["items"]]


def test_wrong_secrets_get_one_neutral_answer_then_the_lock_in_plain_words(
        site: Site, contexts: Callable[..., BrowserContext], fresh_limits: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect

    # December, whose French name ("décembre") is no ASCII word: the time is read whole, not by pattern.
    monkeypatch.setattr(clock, "now", lambda: LOCKED_AT)
    created = httpx.post(f"{site.origin}/victims/v1/cases", json={
        "about_a_child": True, "language": "fr", "images": [{"hashes": ["ab" * 32], "quality": 80}]}).json()
    page = open_page(contexts(timezone_id="Europe/Paris"), site, "?lang=fr").page
    page.fill("#number", created["number"])
    wrong = ("2222" if not created["secret"].startswith("2222") else "3333") + created["secret"][4:]
    for _ in range(4):
        page.fill("#secret", wrong)
        with page.expect_response("**/victims/v1/cases/status"):
            page.click("#show")
        expect(page.locator("#status-message")).to_have_text(MESSAGES["fr"]["error_case_not_found_or_wrong_secret"])
    page.fill("#secret", wrong)
    page.click("#show")
    expect(page.locator("#status-message")).to_contain_text("Pour la protéger, cette demande est en pause")
    # Locked for 15 minutes from 22:10 UTC: 23:25 in Paris, written out in French.
    expect(page.locator("#status-message")).to_contain_text("7 décembre 2026")
    expect(page.locator("#status-message")).to_contain_text("23:25")
    expect(page.locator("#status")).to_be_empty()


#: Two instants in each month of a year, as the node sends them: mid-month, and the month's last half hour in
#: UTC, which is already the next month (and day) in Paris; winter and summer time both.
DATED = [datetime(2026, month, 15, 13, 5, tzinfo=UTC) for month in range(1, 13)] + [
    datetime(2026 + month // 12, month % 12 + 1, 1, tzinfo=UTC) - timedelta(minutes=30) for month in range(1, 13)]


def _spaced(text: str) -> str:
    """Text with its no-break spaces as plain ones (CLDR versions differ in which space sits before "PM")."""
    return re.sub(r"[\u00a0\u202f]", " ", text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_date_of_the_year_reads_right_in_each_language(
        site: Site, contexts: Callable[..., BrowserContext], language: str) -> None:
    """The page's dates (``dates.js``) against CLDR's as Babel writes them, for every month, in the device's zone."""
    from babel.dates import format_date, format_time

    paris = ZoneInfo("Europe/Paris")
    page = open_page(contexts(timezone_id="Europe/Paris"), site, f"?lang={language}").page
    shown = page.evaluate("""async ([instants, language]) => {
        const { formatDate } = await import("./static/dates.js");
        return instants.map((instant) => formatDate(instant, language));
    }""", [[format_instant(t) for t in DATED], language])
    for t, text in zip(DATED, shown, strict=True):
        local = t.astimezone(paris)
        assert _spaced(format_date(local, "long", locale=language)) in _spaced(text), (t, text)
        assert _spaced(format_time(local, "short", locale=language)) in _spaced(text), (t, text)
    assert len(set(shown)) == len(DATED)
    assert page.evaluate("""async () => (await import("./static/dates.js")).formatDate("no date", "fr")""") == ""


def test_the_rate_limit_is_explained(site: Site, contexts: Callable[..., BrowserContext], fresh_limits: None) -> None:
    from playwright.sync_api import expect

    site.app.state.victim_limiters = victims.Limiters(create=RateLimiter(1e-9, 0), access=RateLimiter(1e-9, 0))
    page = open_page(contexts(), site, "?lang=es").page
    page.fill("#number", "VNM-2222-2222")
    page.fill("#secret", "2222-2222-2222-2222-2222")
    page.click("#show")
    expect(page.locator("#status-message")).to_have_text(MESSAGES["es"]["error_rate_limited"])


# --- languages, phones


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_in_each_language_fits_a_phone(site: Site, contexts: Callable[..., BrowserContext],
                                               language: str) -> None:
    context = contexts(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True,
                       device_scale_factor=2)
    page = open_page(context, site, f"?lang={language}").page
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == [
        language, "rtl" if language == "ar" else "ltr"]
    assert page.title() == MESSAGES[language]["page_title"]
    shown = page.eval_on_selector_all("[data-i18n]", "els => els.map(e => [e.dataset.i18n, e.textContent])")
    assert shown and all(text == MESSAGES[language][key] for key, text in shown), shown
    assert page.input_value("#language") == language
    # No horizontal scrolling, and every control a finger can hit (at least 44 CSS pixels high).
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    # Radio buttons and check boxes are hit through their labels; the file input through its label.
    small = page.evaluate("""() => [...document.querySelectorAll(
        "button, select, input[id]:not([type=checkbox], .visually-hidden), label.choice, .picker label")]
      .filter((e) => e.offsetParent !== null)
      .map((e) => [e.id || e.className, e.getBoundingClientRect().height])
      .filter(([, height]) => height < 44)""")
    assert small == []


def test_the_language_follows_the_browser_then_english_and_can_be_changed(
        site: Site, contexts: Callable[..., BrowserContext]) -> None:
    from playwright.sync_api import expect

    assert open_page(contexts(locale="vi-VN"), site).page.evaluate("document.documentElement.lang") == "vi"
    assert open_page(contexts(locale="de-DE"), site).page.evaluate("document.documentElement.lang") == "en"
    page = open_page(contexts(locale="fr-FR"), site, "?lang=zh").page
    assert page.evaluate("document.documentElement.lang") == "zh"
    page.select_option("#language", "ar")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.inner_text("h1") == MESSAGES["ar"]["title"]
    assert page.url.endswith("/victims/?lang=ar")


# --- the translations themselves


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_every_language_has_every_message_with_the_same_placeholders() -> None:
    english = MESSAGES["en"]
    for language, messages in MESSAGES.items():
        assert messages.keys() == english.keys(), language
        for key, text in messages.items():
            assert text.strip(), (language, key)
            assert _placeholders(text) == _placeholders(english[key]), (language, key)


def test_every_text_and_code_the_page_shows_is_translated() -> None:
    english = MESSAGES["en"]
    html = (STATIC / "victims.html").read_text(encoding="utf-8")
    script = (STATIC / "victims.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n="(\w+)"', html))
    used |= set(re.findall(r'\bt\("(\w+)"', script)) | set(re.findall(r'say\([^,]+, "(\w+)"', script))
    used |= set(re.findall(r'return "(error_\w+)"', script))
    used |= {f"takedown_{status.value}" for status in VictimStatus}
    used |= {f"case_image_{status}" for status in ("active", "withdrawn")}
    used |= {f"category_{category}" for category in ("art14", "art16")}
    used |= {f"image_{status}" for status in ("waiting", "hashing", "ready", "unusable", "unreadable", "duplicate")}
    used |= {f"error_{code}" for code in ("case_not_found_or_wrong_secret", "case_locked", "rate_limited",
                                          "bad_case_number", "bad_secret", "too_many_images", "network", "other")}
    assert used - english.keys() == set()
    assert english.keys() - used == set(), "messages nothing shows"


def test_the_country_codes_are_iso_3166s() -> None:
    regions = json.loads((STATIC / "countries.json").read_text(encoding="utf-8"))
    assert regions == {country.alpha_3: country.alpha_2 for country in pycountry.countries}


# --- serving


def test_the_page_is_served_with_its_policy_and_never_cached(site: Site) -> None:
    client = TestClient(site.app)
    answer = client.get("/victims/")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    policy = dict(part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["connect-src"] == policy["style-src"] == "'self'"
    assert policy["img-src"] == "'self' blob:"
    assert policy["form-action"] == policy["frame-ancestors"] == "'none'"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert client.get("/victims", follow_redirects=False).headers["location"].endswith("/victims/")
    # Nothing from elsewhere: every URL the page names is relative to the node.
    assert not re.search(r'(src|href)="(https?:)?//', answer.text)
    paths = site.app.openapi()["paths"]
    assert "/victims/v1/cases" in paths and not {"/victims/", "/victims/static/{name}"} & paths.keys()


@pytest.mark.parametrize(("name", "media_type"), [
    ("pdq.js", "text/javascript; charset=utf-8"), ("victims.js", "text/javascript; charset=utf-8"),
    ("victims-worker.js", "text/javascript; charset=utf-8"), ("victims.css", "text/css; charset=utf-8"),
    ("i18n/ar.json", "application/json"), ("countries.json", "application/json"),
])
def test_the_pages_files_are_served_with_their_media_type(site: Site, name: str, media_type: str) -> None:
    client = TestClient(site.app)
    answer = client.get(f"/victims/static/{name}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == media_type
    assert answer.content == (STATIC / name).read_bytes()
    assert answer.headers["cache-control"] == "no-cache"
    again = client.get(f"/victims/static/{name}", headers={"if-none-match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize("path", [
    "/victims/static/../api/victims_page.py", "/victims/static/../../../pyproject.toml",
    "/victims/static/%2e%2e/%2e%2e/api/victims.py", "/victims/static/..%2f..%2fapi%2fvictims.py",
    "/victims/static//etc/passwd", "/victims/static/i18n/../pdq.js", "/victims/static/i18n/..\\..\\pdq.js",
    "/victims/static/victims.html", "/victims/static/", "/victims/static/pdq.js%00.html",
    "/victims/static/PDQ.JS", "/victims/static/i18n",
])
def test_nothing_but_the_pages_files_is_served(site: Site, path: str) -> None:
    # Sent as written (http.client does not tidy paths), to the running server.
    host, port = site.origin.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    # 422: a path holding a control character is refused by the one text rule before any route looks at it.
    assert answer.status in (400, 404, 422), (path, answer.status)
    assert b"import" not in body and b"[tool" not in body
