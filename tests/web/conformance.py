"""The browser PDQ hasher (``hanoinet/web/static/pdq.js``) against the reference, on a varied set of images.

Shared by ``tests/web/test_pdq_js.py`` and ``bench/pdq_js_conformance.py``. The set is derived at run time
from ThreatExchange's PDQ test images (``../shared/testdata/pdq``, read in place): every file as it is, plus
three variants of each (JPEG at several qualities, resizes up and down, crops, greyscale, palette, rotations,
flips, EXIF orientation, PNG and WebP, tiny and exactly 64x64 images), written to a temporary folder.

Each image is decoded by the server's own decoder (``hanoinet.hashbank.pdq``: EXIF orientation applied,
large images reduced), hashed by ``pdqhash`` (Meta's C++), and the same RGB pixels, as RGBA, are hashed by
pdq.js in headless Chromium. The page, the module and the pixels come from a server on 127.0.0.1; pixels
travel as raw bytes, not through Playwright's JSON, and all images are hashed in one ``page.evaluate``.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pdqhash  # type: ignore[import-untyped]
import pytest
from PIL import Image

import hanoinet
from hanoinet.hashbank.pdq import decode_rgb

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PDQ_JS = Path(hanoinet.__file__).parent / "web" / "static" / "pdq.js"
CHROMIUM = Path("/usr/bin/chromium")
# The shared test data sits beside the project (../shared/testdata); HANOINET_TESTDATA names it elsewhere.
TESTDATA = Path(os.environ.get("HANOINET_TESTDATA") or Path(__file__).resolve().parents[3] / "shared" / "testdata")
SOURCES = TESTDATA / "pdq"
IMAGE_SUFFIXES = (".jpg", ".png", ".webp")


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None when Chromium and Playwright are installed."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (Debian package chromium; `make install` installs it as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is missing (`make install`)"
    return None


# --- the image set


def _encoded(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    return _encoded(image, "PNG", compress_level=1)


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS if factor < 1 else Image.Resampling.BICUBIC)


def _cropped(image: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = image.size
    return image.crop((round(w * left), round(h * top), round(w * right), round(h * bottom)))


def _with_orientation(image: Image.Image) -> bytes:
    # Stored rotated a quarter turn with EXIF orientation 6, so the decoder must turn it back upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encoded(image.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=92, exif=exif)


def _with_alpha(image: Image.Image) -> bytes:
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(image.size))
    return _png(rgba)


# name -> (file suffix, encoder of an upright RGB image); the variants of each source are taken in turn.
VARIANTS: dict[str, tuple[str, Callable[[Image.Image], bytes]]] = {
    "jpeg-q20": (".jpg", lambda im: _encoded(im, "JPEG", quality=20)),
    "jpeg-q50": (".jpg", lambda im: _encoded(im, "JPEG", quality=50)),
    "jpeg-q85": (".jpg", lambda im: _encoded(im, "JPEG", quality=85)),
    "jpeg-q97-444": (".jpg", lambda im: _encoded(im, "JPEG", quality=97, subsampling=0)),
    "half": (".png", lambda im: _png(_scaled(im, 0.5))),
    "quarter-jpeg": (".jpg", lambda im: _encoded(_scaled(im, 0.25), "JPEG", quality=90)),
    "enlarged-2.7x": (".jpg", lambda im: _encoded(_scaled(im, 2.7), "JPEG", quality=90)),
    "crop-centre-80": (".png", lambda im: _png(_cropped(im, 0.1, 0.1, 0.9, 0.9))),
    "crop-corner": (".jpg", lambda im: _encoded(_cropped(im, 0.0, 0.05, 0.6, 0.75), "JPEG", quality=88)),
    "greyscale": (".png", lambda im: _png(im.convert("L"))),
    "palette-64": (".png", lambda im: _png(im.quantize(64, Image.Quantize.FASTOCTREE))),
    "rotate-90-webp": (".webp", lambda im: _encoded(im.transpose(Image.Transpose.ROTATE_90), "WEBP", quality=80)),
    "rotate-10-degrees": (".jpg", lambda im: _encoded(im.rotate(10, Image.Resampling.BICUBIC, expand=True), "JPEG")),
    "mirrored-webp-lossless": (
        ".webp", lambda im: _encoded(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "WEBP", lossless=True, method=0),
    ),
    "exif-orientation-6": (".jpg", _with_orientation),
    "alpha-gradient": (".png", _with_alpha),
    "thumbnail-40": (".png", lambda im: _png(_scaled(im, 40 / max(im.size)))),
    "exactly-64x64": (".png", lambda im: _png(im.resize((64, 64), Image.Resampling.LANCZOS))),
    "strip-333x77": (".webp", lambda im: _encoded(im.resize((333, 77), Image.Resampling.LANCZOS), "WEBP")),
    "below-minimum-4x6": (".png", lambda im: _png(im.resize((4, 6), Image.Resampling.BOX))),
}
VARIANTS_PER_SOURCE = 3
# Variants are made from the source reduced to at most this many pixels a side, which keeps the set quick to
# hash; the sources themselves (up to 4032x3024) and the enlarged variants cover the larger sizes.
VARIANT_SIDE = 768


@dataclass(frozen=True)
class Case:
    """One image of the set: its name and the encoded file the server would receive."""

    name: str
    path: Path


def sources() -> list[Path]:
    """The test images under :data:`SOURCES`, sorted; empty when the shared test data is not there."""
    if not SOURCES.is_dir():
        return []
    return sorted(p for p in SOURCES.rglob("*") if p.suffix in IMAGE_SUFFIXES)


def build_cases(folder: Path) -> list[Case]:
    """Every source image as it is, and :data:`VARIANTS_PER_SOURCE` variants of each written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    names = list(VARIANTS)
    cases: list[Case] = []
    for index, source in enumerate(sources()):
        label = source.relative_to(SOURCES).as_posix()
        cases.append(Case(label, source))
        upright = Image.fromarray(decode_rgb(source.read_bytes()))
        upright.thumbnail((VARIANT_SIDE, VARIANT_SIDE))
        for k in range(VARIANTS_PER_SOURCE):
            variant = names[(index * VARIANTS_PER_SOURCE + k) % len(names)]
            suffix, encode = VARIANTS[variant]
            path = folder / f"{len(cases):03d}-{variant}{suffix}"
            path.write_bytes(encode(upright))
            cases.append(Case(f"{label} {variant}", path))
    return cases


# --- hashing on both sides


def _hex(vector: npt.NDArray[np.integer[Any]]) -> str:
    # As the server packs pdqhash's bit vector (hanoinet.hashbank.pdq._packed).
    return np.packbits(vector.astype(np.uint8)).tobytes().hex()


def distance(a: str, b: str) -> int:
    """Hamming distance of two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass(frozen=True)
class Reference:
    """``pdqhash``'s hash, dihedral hashes and quality of one image's pixels."""

    hash: str
    hashes: list[str]
    quality: int


def reference(pixels: npt.NDArray[np.uint8]) -> Reference:
    """Meta's C++ hasher (through ``pdqhash``) on RGB pixels."""
    vector, quality = pdqhash.compute(pixels)
    vectors, dihedral_quality = pdqhash.compute_dihedral(pixels)
    assert dihedral_quality == quality
    return Reference(_hex(vector), [_hex(v) for v in vectors], int(quality))


class _Files(BaseHTTPRequestHandler):
    """Serves a fixed map of paths to (file or bytes, content type) and nothing else."""

    routes: dict[str, tuple[Path | bytes, str]]

    def do_GET(self) -> None:
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body, content_type = route
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if isinstance(body, bytes) else body.stat().st_size))
        self.end_headers()
        if isinstance(body, bytes):
            self.wfile.write(body)
        else:
            with body.open("rb") as file:
                self.connection.sendfile(file)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(routes: dict[str, tuple[Path | bytes, str]]) -> Iterator[str]:
    """A web server on 127.0.0.1 for ``routes`` while the block runs; yields its origin."""
    handler = type("Files", (_Files,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def require_browser(what: str) -> None:
    """Skip the calling test without Chromium or Playwright; under CI=true that is a failure instead."""
    problem = browser_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} need Chromium and Playwright under CI=true: {problem}")
        pytest.skip(problem)


@contextmanager
def launched_browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_page() -> Iterator[Page]:
    """A page of :func:`launched_browser`; every request off 127.0.0.1 is refused."""
    from playwright.sync_api import Route

    with launched_browser() as browser:
        page = browser.new_page()

        def refuse(route: Route) -> None:
            route.abort()

        page.route(lambda url: not url.startswith("http://127.0.0.1:"), refuse)
        yield page


# The page fetches the pixels while a module worker hashes them (fetching and hashing on one thread would
# take turns); at most a few images are in flight, the worker answers in order, and an error in the worker
# (an exception, or the module failing to load) rejects the evaluation rather than leaving it waiting.
_WORKER = b"""import { pdqFromRGBA, pdqDihedralFromRGBA } from "/pdq.js";
onmessage = ({ data: { pixels, width, height } }) => {
  const data = new Uint8ClampedArray(pixels);
  postMessage({ single: pdqFromRGBA(data, width, height), dihedral: pdqDihedralFromRGBA(data, width, height) });
};
"""

_HASH_PIXELS = """async (cases) => {
  const worker = new Worker("/worker.js", { type: "module" });
  const results = [];
  const waiting = [];
  let failure = null;
  worker.onmessage = ({ data }) => { results.push(data); waiting.shift().resolve(); };
  worker.onerror = (event) => {
    failure = new Error(`pdq.js worker: ${event.message || "failed to load"}`);
    for (const { reject } of waiting.splice(0)) reject(failure);
  };
  const answered = () => new Promise((resolve, reject) => {
    if (failure) reject(failure); else waiting.push({ resolve, reject });
  });
  const start = performance.now();
  const inFlight = [];
  for (const c of cases) {
    const pixels = await (await fetch(c.url)).arrayBuffer();
    inFlight.push(answered());
    worker.postMessage({ pixels, width: c.width, height: c.height }, [pixels]);
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
  worker.terminate();
  return { results, milliseconds: performance.now() - start };
}"""

_HASH_FILES = """async (urls) => {
  const pdq = await import("/pdq.js");
  const results = [];
  for (const url of urls) {
    results.push(await pdq.pdqDihedralFromImageFile(await (await fetch(url)).blob()));
  }
  return results;
}"""


_BLANK_PAGE = b"<!doctype html><meta charset=utf-8><title>PDQ</title>\n"


def run_with_module(page: Page, script: str, arg: object = None,
                    files: dict[str, Path] | None = None) -> Any:
    """Evaluate ``script`` (an async function given ``arg``) in a page served from 127.0.0.1 beside pdq.js.

    The script imports the module as ``/pdq.js``; each of ``files`` is served at its key.
    """
    routes: dict[str, tuple[Path | bytes, str]] = {"/": (_BLANK_PAGE, "text/html"),
                                                   "/pdq.js": (PDQ_JS, "text/javascript"),
                                                   "/worker.js": (_WORKER, "text/javascript")}
    routes.update({url: (path, "application/octet-stream") for url, path in (files or {}).items()})
    with serving(routes) as origin:
        page.goto(f"{origin}/")
        return page.evaluate(script, arg)


@dataclass(frozen=True)
class Outcome:
    """One image compared: the distances of pdq.js's hashes to the reference's, and both qualities."""

    name: str
    width: int
    height: int
    quality: int
    js_quality: int
    js_dihedral_quality: int
    distance: int
    dihedral_distances: list[int]


def compare(page: Page, cases: Sequence[Case]) -> tuple[list[Outcome], float]:
    """Hash every case with the reference and with pdq.js on the same pixels; also the browser's time, in s.

    The RGBA pixels wait in a temporary folder, removed at the end (hundreds of megabytes), and the
    reference hashes are computed on a second thread while the browser works.
    """
    images: list[npt.NDArray[np.uint8]] = []
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(1) as pool:
        files: dict[str, Path] = {}
        for index, case in enumerate(cases):
            pixels = decode_rgb(case.path.read_bytes())
            images.append(pixels)
            height, width, _ = pixels.shape
            files[f"/rgba/{index}"] = Path(scratch) / f"{index:03d}.rgba"
            files[f"/rgba/{index}"].write_bytes(np.dstack([pixels, np.full((height, width), 255, np.uint8)]).tobytes())
        sizes = [(pixels.shape[1], pixels.shape[0]) for pixels in images]
        specs = [{"url": url, "width": w, "height": h} for url, (w, h) in zip(files, sizes, strict=True)]
        references = pool.submit(lambda: [reference(pixels) for pixels in images])
        answer = run_with_module(page, _HASH_PIXELS, specs, files)
        outcomes = [
            Outcome(
                name=case.name, width=width, height=height, quality=ref.quality,
                js_quality=js["single"]["quality"], js_dihedral_quality=js["dihedral"]["quality"],
                distance=distance(ref.hash, js["single"]["hash"]),
                dihedral_distances=[distance(a, b) for a, b in zip(ref.hashes, js["dihedral"]["hashes"], strict=True)],
            )
            for case, (width, height), ref, js in zip(cases, sizes, references.result(), answer["results"], strict=True)
        ]
    return outcomes, answer["milliseconds"] / 1000


def hash_files_in_browser(page: Page, paths: Sequence[Path]) -> list[dict[str, Any]]:
    """pdq.js's ``pdqDihedralFromImageFile`` on encoded files: decoded, oriented and reduced by the browser."""
    files = {f"/file/{i}": path for i, path in enumerate(paths)}
    results: list[dict[str, Any]] = run_with_module(page, _HASH_FILES, list(files), files)
    return results


def summary(outcomes: Sequence[Outcome], browser_seconds: float) -> dict[str, object]:
    """Figures of a comparison: how many images and hashes, the distance histogram, maximum and mean."""
    distances = [d for o in outcomes for d in [o.distance, *o.dihedral_distances]]
    quality_gaps = [max(abs(o.js_quality - o.quality), abs(o.js_dihedral_quality - o.quality)) for o in outcomes]
    return {
        "images": len(outcomes),
        "images_quality_at_least_80": sum(o.quality >= 80 for o in outcomes),
        "hashes_compared": len(distances),
        "distance_histogram": {str(k): v for k, v in sorted(Counter(distances).items())},
        "distance_max": max(distances),
        "distance_mean": round(sum(distances) / len(distances), 4),
        "quality_difference_max": max(quality_gaps),
        "pixels_hashed_megapixels": round(sum(o.width * o.height for o in outcomes) / 1e6, 1),
        "browser_seconds": round(browser_seconds, 2),
    }
