"""Conformance of the browser PDQ hasher (``src/hanoinet/web/static/pdq.js``) with Meta's reference hasher.

Builds the image set of ``tests/web/conformance.py`` (the 49 PDQ test images of ``../shared/testdata/pdq``,
or HANOINET_TESTDATA, and three variants of each: re-encodings, resizes, crops, greyscale, palette,
rotations, flips, EXIF orientation, PNG and WebP, tiny and 64x64 images) in a temporary folder, decodes each
as the server does, and hashes the same pixels with ``pdqhash`` and with pdq.js in headless Debian Chromium
(``/usr/bin/chromium`` through Playwright). Prints one JSON document: the number of images, the histogram of
Hamming distances over every image's hash and its eight dihedral hashes, their maximum and mean, the largest
quality difference, and the browser's time.

Measured on the project's 2-core machine (Chromium 156, pdqhash 0.2.8, Playwright 1.65): 196 images (177 of
quality 80 or more, 94.7 megapixels), 1,764 hashes compared, histogram ``{"0": 1764}``: maximum 0, mean 0.0,
qualities all equal; the page fetched and hashed the set with both entry points in 11.7 s, 20 s in all.

Usage: .venv/bin/python bench/pdq_js_conformance.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

# The image set and the comparison are shared with the test suite.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    """Measure and print one JSON document."""
    import pdqhash  # type: ignore[import-untyped]
    from tests.web.conformance import (
        SOURCES,
        browser_page,
        browser_problem,
        build_cases,
        compare,
        sources,
        summary,
    )

    problem = browser_problem()
    if problem is not None:
        sys.exit(problem)
    if not sources():
        sys.exit(f"PDQ test images not found at {SOURCES} (set HANOINET_TESTDATA)")
    with tempfile.TemporaryDirectory() as scratch, browser_page() as page:
        outcomes, browser_seconds = compare(page, build_cases(Path(scratch)))
        version = page.context.browser.version if page.context.browser else "unknown"
    figures = {"chromium": version, "pdqhash": pdqhash.__version__, **summary(outcomes, browser_seconds)}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
