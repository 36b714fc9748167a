"""pdq.js, the browser's PDQ hasher, hashes as Meta's reference (``pdqhash``) does, run in Debian's Chromium.

The image set and the comparison are in ``tests/web/conformance.py``; ``pytest -s`` prints the figures as
JSON, as ``bench/pdq_js_conformance.py`` does. Measured with Chromium 156 and pdqhash 0.2.8: 196 images (the
49 test images and 147 variants; 177 of quality 80 or more), 1,764 hashes compared (each image's hash and
its eight dihedral hashes), distance histogram ``{"0": 1764}`` and every quality equal: pdq.js rounds to
float32 exactly where the C++ does. The assertions leave room (10 bits; PDQ matches up to 31) for a browser
whose ``Math.cos`` differs from the C library's in a last digit. Image files decoded by the browser itself
(``pdqDihedralFromImageFile``) also hash as on the server: 0 bits apart on the files tested here, 0 to 4 on
photographs of 4032x3024 to 8000x5000 pixels, which both sides reduce with different filters.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from hanoinet.hashbank.pdq import HASHED_MAX_SIDE, decode_rgb, dihedral_hashes
from tests.web.conformance import (
    SOURCES,
    browser_page,
    build_cases,
    compare,
    distance,
    hash_files_in_browser,
    require_browser,
    run_with_module,
    sources,
    summary,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """A headless Chromium page; skipped without Chromium or Playwright, except under CI=true (a failure)."""
    require_browser("the browser PDQ tests")
    with browser_page() as page:
        yield page


def test_pdq_js_hashes_as_the_reference_on_a_varied_set(page: Page, tmp_path: Path) -> None:
    # One test for the whole set, so that parallel workers never build and hash it twice.
    if not sources():
        pytest.skip(f"PDQ reference images not found at {SOURCES} (ThreatExchange pdq/data, see its README)")
    outcomes, browser_seconds = compare(page, build_cases(tmp_path))
    print(json.dumps(summary(outcomes, browser_seconds), indent=2))

    assert len(outcomes) >= 100
    assert len({(o.width, o.height) for o in outcomes}) >= 20
    assert sum(o.quality >= 80 for o in outcomes) >= 100
    assert any(o.width == o.height == 64 for o in outcomes)  # the reference's shortcut for 64x64 input
    assert any(o.quality == 0 for o in outcomes)
    for o in outcomes:
        if o.quality >= 80:
            assert o.distance <= 10, o
            assert max(o.dihedral_distances) <= 10, o
        assert abs(o.js_quality - o.quality) <= 1, o
        assert abs(o.js_dihedral_quality - o.quality) <= 1, o
    # Expected identical; a systematic error (bit order, a dihedral transform) would lift the mean far above.
    distances = [d for o in outcomes for d in [o.distance, *o.dihedral_distances]]
    assert sum(distances) / len(distances) <= 0.5


def test_image_files_decoded_by_the_browser_hash_as_on_the_server(page: Page, tmp_path: Path) -> None:
    if not sources():
        pytest.skip(f"PDQ reference images not found at {SOURCES}")
    bridge = Image.open(SOURCES / "bridge-mods" / "aaa-orig.jpg")
    # Reduced by 3 on both sides; for the JPEG, the server's decoder scales by 1/2 first.
    large_png, large_jpeg = tmp_path / "large.png", tmp_path / "large.jpg"
    large_png.write_bytes(_encoded(bridge.resize((4500, 2000), Image.Resampling.BICUBIC), "PNG", compress_level=1))
    large_jpeg.write_bytes(_encoded(bridge.resize((6000, 3800), Image.Resampling.BICUBIC), "JPEG", quality=90))
    files = [
        SOURCES / "bridge-mods" / "aaa-orig.jpg",
        SOURCES / "misc-images" / "modes" / "LAB.webp",
        SOURCES / "misc-images" / "modes" / "P.png",
        SOURCES / "reg-test-input" / "pen-and-coaster.png",
        # 4032x3024 with EXIF orientation 6: turned upright and reduced on both sides.
        SOURCES / "reg-test-input" / "exif-rotn" / "exif-rotn-6.jpg",
        large_png,
        large_jpeg,
    ]
    browser = hash_files_in_browser(page, files)
    for path, js in zip(files, browser, strict=True):
        server = dihedral_hashes(path.read_bytes())
        distances = [distance(s.code.hex(), h) for s, h in zip(server, js["hashes"], strict=True)]
        assert max(distances) <= 10, (path.name, distances)
        assert abs(js["quality"] - server[0].quality) <= 1, path.name


def test_colour_profiles_are_ignored_as_on_the_server(page: Page, tmp_path: Path) -> None:
    # A wide-gamut profile, as phones embed: a browser applying it would shift these pixels by up to 38 levels.
    ramp = np.linspace(0, 255, 160).astype(np.uint8)
    rgb = np.dstack([np.tile(ramp, (100, 1)), np.tile(ramp[::-1], (100, 1)), np.full((100, 160), 200, np.uint8)])
    path = tmp_path / "wide-gamut.png"
    path.write_bytes(_encoded(Image.fromarray(rgb), "PNG", icc_profile=_wide_gamut_profile()))
    rgba = run_with_module(page, """async (url) => {
      const pdq = await import("/pdq.js");
      const { data } = await pdq.rgbaFromImageFile(await (await fetch(url)).blob());
      return Array.from(data);
    }""", "/file/0", {"/file/0": path})
    assert np.array_equal(np.array(rgba, np.uint8).reshape(100, 160, 4)[:, :, :3], decode_rgb(path.read_bytes()))


def test_large_images_are_reduced_to_the_servers_size(page: Page) -> None:
    cases = [(HASHED_MAX_SIDE, 1000, "JPEG"), (HASHED_MAX_SIDE + 1, 1000, "JPEG"), (HASHED_MAX_SIDE + 1, 7, "JPEG"),
             (4000, 6100, "JPEG"), (16385, 300, "JPEG"), (4097, 3000, "PNG"), (300, 6145, "WEBP")]
    expected = []
    for width, height, fmt in cases:
        rows, columns, _ = decode_rgb(_encoded(Image.new("RGB", (width, height), "teal"), fmt)).shape
        expected.append([columns, rows])
    sizes = run_with_module(page, """async (cases) => {
      const pdq = await import("/pdq.js");
      return cases.map(([width, height, fmt]) => pdq.hashedSize(width, height, fmt === "JPEG"));
    }""", cases)
    assert sizes == expected


def test_pixels_must_match_the_size(page: Page) -> None:
    errors = run_with_module(page, """async () => {
      const pdq = await import("/pdq.js");
      const errors = [];
      for (const [length, width, height] of [[10 * 10 * 3, 10, 10], [0, 0, 0], [8, 1.5, 2]]) {
        try { pdq.pdqFromRGBA(new Uint8ClampedArray(length), width, height); errors.push("none"); }
        catch (e) { errors.push(e.name); }
      }
      return errors;
    }""")
    assert errors == ["RangeError"] * 3


def test_a_flat_image_has_quality_zero(page: Page) -> None:
    result = run_with_module(page, """async () => {
      const pdq = await import("/pdq.js");
      return pdq.pdqFromRGBA(new Uint8ClampedArray(300 * 200 * 4).fill(255), 300, 200);
    }""")
    assert result["quality"] == 0


def _encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def _wide_gamut_profile() -> bytes:
    """An ICC v2 matrix/TRC display profile with Display P3's primaries (D50-adapted) and a 2.2 gamma."""
    def fixed(x: float) -> bytes:
        return struct.pack(">i", round(x * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + fixed(x) + fixed(y) + fixed(z)

    gamma = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    name = b"wide gamut\0"
    tags = [
        (b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + bytes(8 + 2 + 1 + 67)),
        (b"cprt", b"text\0\0\0\0none\0\0\0\0"),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.5151, 0.2412, -0.0011)),
        (b"gXYZ", xyz(0.2920, 0.6922, 0.0419)),
        (b"bXYZ", xyz(0.1571, 0.0666, 0.7841)),
        (b"rTRC", gamma), (b"gTRC", gamma), (b"bTRC", gamma),
    ]
    table, data = b"", b""
    start = 128 + 4 + 12 * len(tags)
    for signature, body in tags:
        data += bytes(-len(data) % 4)
        table += signature + struct.pack(">II", start + len(data), len(body))
        data += body
    size = start + len(data)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ " + bytes(12)
              + b"acspAPPL" + bytes(24) + fixed(0.9642) + fixed(1.0) + fixed(0.8249) + b"lcms" + bytes(44))
    return header + struct.pack(">I", len(tags)) + table + data
