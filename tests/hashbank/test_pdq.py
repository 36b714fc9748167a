"""PDQ hashing of image files: conformance with Meta's reference images, EXIF orientation, and refusals."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pdqhash  # type: ignore[import-untyped]
import pytest
from PIL import Image, ImageOps, features

from hanoinet.errors import ValidationError
from hanoinet.hashbank.kinds import PDQ
from hanoinet.hashbank.pdq import (
    DIHEDRAL_ORDER,
    HASHED_MAX_SIDE,
    MAX_IMAGE_BYTES,
    SUPPORTED_FORMATS,
    PdqResult,
    dihedral_hashes,
    hash_image,
)

# ThreatExchange's pdq/data folder (README.md beside it says where it comes from); read in place, never copied.
# The shared test data sits beside the project (../shared/testdata); HANOINET_TESTDATA names it elsewhere.
_SHARED = Path(__file__).resolve().parents[3] / "shared" / "testdata"
TESTDATA = Path(os.environ.get("HANOINET_TESTDATA") or _SHARED) / "pdq"
BRIDGE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"

# Distances to the original observed with pdqhash 0.2.8 and Pillow 13.0; the test only asserts <= 31.
BRIDGE_MODS = {
    "blur-a-little.jpg": 2, "blur-a-lot.jpg": 4, "high-contrast.jpg": 6, "high-saturation.jpg": 2,
    "sharpen-a-little.jpg": 4, "sharpen-a-lot.jpg": 12, "shrink-a-little.jpg": 2, "shrink-a-lot.jpg": 16,
    "square-128x128.jpg": 10, "square-256x256.jpg": 12, "square-512x512.jpg": 8,
}
# The same photograph saved from each Pillow mode; observed distances to the original: 0 or 2.
MODES = ["1.png", "CMYK.jpg", "F.webp", "HSV.webp", "I.webp", "L.png", "LA.png", "LAB.webp", "P.png", "PA.webp",
         "RGB.jpg", "RGBA.png", "YCbCr.jpg"]
# reg-test-input/dih: the original rotated and flipped, in DIHEDRAL_ORDER. Observed distances to the matching
# dihedral hash of the original: 0, 2, 8, 8, 8, 2, 0, 8; to the seven others: 102 or more.
DIHEDRAL_FILES = ["bridge-1-original.jpg", "bridge-2-rotate-90.jpg", "bridge-3-rotate-180.jpg",
                  "bridge-4-rotate-270.jpg", "bridge-5-flipx.jpg", "bridge-6-flipy.jpg", "bridge-7-flip-plus-1.jpg",
                  "bridge-8-flip-minus-1.jpg"]
# Hashes of the stored pixels (EXIF orientation ignored) printed by Meta's C++ pdq-photo-hasher for
# reg-test-input/exif-rotn (ThreatExchange, pdq/README-mysql.md), keyed by the file's orientation tag, with the
# index in DIHEDRAL_ORDER that turns the upright image back into the stored pixels. Four different shots of
# one desk, so their upright hashes differ too (110 to 138 bits apart). Observed distances of that dihedral
# hash to the reference: 0, 6, 8, 2; of the upright hash to it (orientations 3, 6, 8): 104 or more.
EXIF_ROTATIONS = {
    1: ("f439d924da56a1d4c63973a56acfc926cd53d9341b18367d318666cf9b142649", 0),
    3: ("3acfa3cfab36b95e39cfa0023946790af441f1417d850401f7616005ffc17ff2", DIHEDRAL_ORDER.index("rotate_180")),
    6: ("e9782aad54ae0b6365315ac278592d68d4b5434a5fcd7471f7abcb594b481a94", DIHEDRAL_ORDER.index("rotate_90")),
    8: ("6b507c23b4adb07ec2fe2b4db52038b15e0c970fcaf3f049058ae8687bf9251e", DIHEDRAL_ORDER.index("rotate_270")),
}
# The Pillow transposition producing each entry of DIHEDRAL_ORDER.
TRANSPOSITIONS = [None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270,
                  Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.TRANSPOSE,
                  Image.Transpose.TRANSVERSE]


def distance(a: bytes, b: bytes) -> int:
    """Hamming distance of two hashes."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def reference(image: Image.Image) -> bytes:
    """PDQ as python-threatexchange computes it (RGB pixels straight into pdqhash), EXIF applied."""
    vector, _ = pdqhash.compute(np.asarray(ImageOps.exif_transpose(image).convert("RGB")))
    return np.packbits(vector.astype(np.uint8)).tobytes()


def reference_file(relative: str) -> bytes:
    """A file of the reference image set; the test is skipped when the set is not checked out beside the project."""
    path = TESTDATA / relative
    if not TESTDATA.is_dir():
        pytest.skip(f"PDQ reference images not found at {TESTDATA} (ThreatExchange pdq/data, see its README)")
    return path.read_bytes()


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    """``image`` saved in ``fmt`` in memory."""
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def textured(width: int, height: int) -> Image.Image:
    """A synthetic image of smooth shapes, whatever its size: a quality-100 hash, and no symmetry."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    grey = (128 + 50 * np.sin(2 * np.pi * (3 * x + 0.2)) * np.cos(2 * np.pi * 2 * y * y)
            + 40 * np.sin(2 * np.pi * (x + 2 * y) * 1.5) + 35 * ((x - 0.3) ** 2 + (y - 0.6) ** 2 < 0.04))
    return Image.fromarray(np.stack([grey, grey * 0.8 + 40 * x, 255 - grey], axis=2).clip(0, 255).astype(np.uint8))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` RGB pixels, followed by almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def bridge() -> bytes:
    """The original photograph of ThreatExchange's bridge-mods set."""
    return reference_file("bridge-mods/aaa-orig.jpg")


# --- conformance with the reference images


def test_bridge_hashes_to_the_published_value(bridge: bytes) -> None:
    result = hash_image(bridge)
    assert result == PdqResult(bytes.fromhex(BRIDGE), 100)
    assert PDQ.format(result.code) == BRIDGE


@pytest.mark.parametrize("name", sorted(BRIDGE_MODS))
def test_modified_copies_stay_within_the_match_distance(name: str) -> None:
    result = hash_image(reference_file(f"bridge-mods/{name}"))
    assert distance(result.code, bytes.fromhex(BRIDGE)) <= PDQ.max_distance
    assert result.quality >= PDQ.min_quality


def test_other_photographs_are_beyond_the_match_distance() -> None:
    for name in ["q0003.jpg", "q0004.jpg", "q0122.jpg", "q0291.jpg", "q0746.jpg", "q1050.jpg", "q2821.jpg"]:
        code = hash_image(reference_file(f"reg-test-input/labelme-subset/{name}")).code
        assert distance(code, bytes.fromhex(BRIDGE)) > PDQ.max_distance, name


@pytest.mark.parametrize("name", MODES)
def test_colour_modes_hash_as_the_reference_does(name: str) -> None:
    data = reference_file(f"misc-images/modes/{name}")
    result = hash_image(data)
    assert result.code == reference(Image.open(io.BytesIO(data)))
    assert distance(result.code, bytes.fromhex(BRIDGE)) <= 2
    assert result.quality == 100


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # python-threatexchange's PdqSignal.get_examples() for pdq/data/misc-images.
        ("misc-images/c.png", "e64cc9d91c623882f8d1f1d9a398e78c9f199b3bd83924f2b7e11e0bf861b064"),
        ("misc-images/wee.jpg", "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d"),
    ],
)
def test_threatexchange_examples(name: str, expected: str) -> None:
    assert PDQ.format(hash_image(reference_file(name)).code) == expected


def test_low_quality_hashes_are_returned_but_refused_for_the_bank() -> None:
    result = hash_image(reference_file("misc-images/small.jpg"))
    assert result.quality < PDQ.min_quality  # observed: 0 (a nearly flat gradient)
    assert len(result.code) == 32
    with pytest.raises(ValidationError) as info:
        PDQ.require_quality(result.quality)
    assert info.value.code == "low_quality"


def test_a_flat_image_has_quality_zero() -> None:
    assert hash_image(encoded(Image.new("RGB", (300, 200), "white"), "PNG")).quality == 0


# --- rotations and flips


def test_dihedral_hashes_start_with_the_plain_hash(bridge: bytes) -> None:
    hashes = dihedral_hashes(bridge)
    assert len(hashes) == len(DIHEDRAL_ORDER) == 8
    assert hashes[0] == hash_image(bridge)
    assert {h.quality for h in hashes} == {100}
    assert len({h.code for h in hashes}) == 8


def test_dihedral_hashes_match_the_rotated_and_flipped_files(bridge: bytes) -> None:
    hashes = [h.code for h in dihedral_hashes(bridge)]
    for index, name in enumerate(DIHEDRAL_FILES):
        code = hash_image(reference_file(f"reg-test-input/dih/{name}")).code
        distances = [distance(code, h) for h in hashes]
        assert distances[index] <= PDQ.max_distance, (name, distances)
        assert min(d for i, d in enumerate(distances) if i != index) > PDQ.max_distance, (name, distances)


def test_dihedral_order_is_that_of_pillow_transpositions() -> None:
    image = textured(160, 100)
    hashes = [h.code for h in dihedral_hashes(encoded(image, "PNG"))]
    for index, transposition in enumerate(TRANSPOSITIONS):
        moved = image if transposition is None else image.transpose(transposition)
        distances = [distance(hash_image(encoded(moved, "PNG")).code, h) for h in hashes]
        assert distances.index(min(distances)) == index, (DIHEDRAL_ORDER[index], distances)
        assert distances[index] <= PDQ.max_distance


# --- EXIF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pillow_does(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encoded(textured(120, 80), "PNG", exif=exif)
    expected = reference(Image.open(io.BytesIO(data)))
    assert hash_image(data).code == expected
    if orientation != 1:
        assert hash_image(encoded(textured(120, 80), "PNG")).code != expected


def test_exif_orientation_in_a_jpeg_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encoded(textured(120, 80), "JPEG", exif=exif, quality=95)
    assert hash_image(data).code == reference(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize("orientation", sorted(EXIF_ROTATIONS))
def test_photographs_with_exif_orientation(orientation: int) -> None:
    stored, index = EXIF_ROTATIONS[orientation]
    hashes = dihedral_hashes(reference_file(f"reg-test-input/exif-rotn/exif-rotn-{orientation}.jpg"))
    assert hashes[0].quality == 100
    # The dihedral hash that undoes the orientation is the hash other tools compute from the stored pixels.
    assert distance(hashes[index].code, bytes.fromhex(stored)) <= PDQ.max_distance
    if orientation != 1:
        assert distance(hashes[0].code, bytes.fromhex(stored)) > PDQ.max_distance


# --- formats and sizes


@pytest.mark.parametrize("fmt", SUPPORTED_FORMATS)
def test_every_supported_format_hashes(fmt: str) -> None:
    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    image = textured(200, 140)
    result = hash_image(encoded(image, fmt))
    assert result.quality == 100
    assert distance(result.code, hash_image(encoded(image, "PNG")).code) <= PDQ.max_distance


def test_sixteen_bit_greyscale_keeps_its_top_eight_bits() -> None:
    grey = np.asarray(textured(200, 140).convert("L"))
    wide = Image.fromarray((grey.astype(np.uint16) * 257).astype(np.uint16))
    assert wide.mode.startswith("I;16")
    assert hash_image(encoded(wide, "PNG")).code == hash_image(encoded(Image.fromarray(grey), "PNG")).code


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_large_images_are_reduced_before_hashing(fmt: str, bridge: bytes) -> None:
    large = Image.open(io.BytesIO(bridge)).resize((HASHED_MAX_SIDE + 52, 1318), Image.Resampling.BICUBIC)
    data = encoded(large, fmt, compress_level=1) if fmt == "PNG" else encoded(large, fmt, quality=90)
    # Observed distance to the hash of the full-resolution pixels: 2 for both (0 to 4 on larger photographs).
    assert distance(hash_image(data).code, reference(Image.open(io.BytesIO(data)))) <= 4


# --- refusals


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Hash me, I am an image.\n" * 20,
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
    ],
    ids=["empty", "text", "eps", "png-signature-only"],
)
def test_non_images_are_refused(data: bytes) -> None:
    with pytest.raises(ValidationError) as info:
        hash_image(data)
    assert info.value.code == "not_an_image"
    assert "JPEG" in info.value.hint


def test_unsupported_formats_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        hash_image(encoded(textured(40, 30), "TIFF"))
    assert info.value.code == "not_an_image"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_images_are_refused(fmt: str) -> None:
    data = encoded(textured(300, 200), fmt)
    with pytest.raises(ValidationError) as info:
        hash_image(data[: len(data) // 2])
    assert info.value.code == "not_an_image"
    with pytest.raises(ValidationError):
        dihedral_hashes(data[: len(data) // 2])


def test_a_png_claiming_ten_billion_pixels_is_refused_before_decoding() -> None:
    with pytest.raises(ValidationError) as info:
        hash_image(png_claiming(100_000, 100_000))
    assert info.value.code == "image_too_large"


def test_the_pixel_limit_holds_whatever_pillow_is_set_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    for width, height in [(100_000, 100_000), (8_000, 7_000)]:
        with pytest.raises(ValidationError) as info:
            hash_image(png_claiming(width, height))
        assert info.value.code == "image_too_large"
        assert f"{width}x{height} pixels" in info.value.message


def test_inputs_over_50_mib_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        hash_image(b"\xff\xd8\xff" + bytes(MAX_IMAGE_BYTES - 2))
    assert info.value.code == "image_too_large"
    assert str(MAX_IMAGE_BYTES) in info.value.message
