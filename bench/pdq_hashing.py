"""PDQ hashing throughput of 512x512 images: the node's safe path against the bare reference hasher.

``hanoinet.hashbank.pdq.hash_image`` (decode from bytes with its format, size and pixel checks, EXIF
orientation, RGB conversion, then Meta's PDQ) and ``dihedral_hashes`` (the eight rotations and flips a match
request needs), side by side with ``pdqhash.compute`` on pixels already decoded (the floor: no decoding, no
checks). Images are synthetic 512x512 photograph-like gradients with noise, JPEG-encoded at quality 90 and
PNG-encoded; one process, one thread.

Usage: .venv/bin/python bench/pdq_hashing.py [--images 200]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time

import numpy as np
import pdqhash  # type: ignore[import-untyped]
from PIL import Image

from hanoinet.hashbank.pdq import dihedral_hashes, hash_image


def _images(count: int, fmt: str) -> list[bytes]:
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 255, 512, dtype=np.float32)
    encoded = []
    for i in range(count):
        base = (ramp[None, :, None] * (i % 7 + 1) / 7 + ramp[:, None, None] / 3) % 256
        pixels = np.clip(base + rng.normal(0, 24, (512, 512, 3)), 0, 255).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        encoded.append(out.getvalue())
    return encoded


def _rate(work: list[bytes], hasher: object) -> float:
    start = time.perf_counter()
    for data in work:
        hasher(data)  # type: ignore[operator]
    return round(len(work) / (time.perf_counter() - start), 1)


def main() -> None:
    """Measure and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    figures: dict[str, object] = {"images": args.images, "size": "512x512", "cores": os.cpu_count()}
    for fmt in ("JPEG", "PNG"):
        work = _images(args.images, fmt)
        decoded = [np.asarray(Image.open(io.BytesIO(d)).convert("RGB")) for d in work]
        start = time.perf_counter()
        for pixels in decoded:
            pdqhash.compute(pixels)
        floor = round(len(decoded) / (time.perf_counter() - start), 1)
        figures[fmt.lower()] = {
            "bytes_per_image": sum(map(len, work)) // len(work),
            "hash_image_per_s": _rate(work, hash_image),
            "dihedral_hashes_per_s": _rate(work, dihedral_hashes),
            "baseline_pdqhash_compute_on_decoded_pixels_per_s": floor,
        }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
