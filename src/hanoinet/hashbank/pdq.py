"""PDQ hashes of images given as bytes, computed safely from untrusted files.

The hash is Meta's PDQ (``pdq/README.md`` and ``hashing.pdf`` in facebook/ThreatExchange), computed by the
``pdqhash`` bindings of Meta's reference C++ code on the RGB pixels decoded by Pillow, exactly as
ThreatExchange's own Python hasher (``python-threatexchange``, ``signal_type/pdq/pdq_hasher.py``) does, with
these differences, each deliberate:

- **EXIF orientation is applied** (tag 0x0112, CIPA DC-008 / EXIF 2.32, section 4.6.4), so the hash is of the
  image as a person sees it. ThreatExchange's Python hasher and Meta's C++ ``pdq-photo-hasher`` (CImg) hash
  the stored pixels and ignore the tag. The two differ only for files with an orientation other than 1, and
  then by one of the eight rotations and flips: :func:`dihedral_hashes` of such a file contains the other
  convention's hash (see :data:`DIHEDRAL_ORDER`), so a matcher that queries all eight finds both.
- **Large images are reduced before hashing.** When the longer side exceeds :data:`HASHED_MAX_SIDE` pixels,
  JPEG files are decoded at 1/2, 1/4 or 1/8 scale (the DCT scaling of libjpeg) and any remaining excess is
  removed by averaging blocks of pixels (``Image.reduce``). PDQ reduces every image to 64x64 anyway (and
  Meta's C++ hasher first resizes to 512x512), so the hash moves by a few bits (0 to 4 on photographs of
  2 to 24 megapixels) while memory and time stay bounded (hashing 12 megapixels at full resolution takes
  400 MB and a second). Images up to 2048 pixels a side are hashed at full resolution, bit for bit as the
  reference.
- **Every colour mode is converted to RGB by Pillow.** ThreatExchange's hasher passes some modes' raw
  samples, so a palette image hashes its indices and CMYK its inks (on the "modes" test images: 38 and 254
  bits from the RGB original, against 2 here). Transparency is dropped, not composited: an RGBA pixel hashes
  as its RGB colour, as in ThreatExchange. 16-bit greyscale keeps its top 8 bits rather than being clipped.
- **Only the first frame** of an animated GIF, PNG or WebP is hashed.

Untrusted input is bounded before any pixel is decoded (the limits are named below): the byte size, the
container format (a short list of common image formats; Pillow's other plugins are never tried), and the
pixel count declared in the header. Pillow's own decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``) is a
process-wide setting another module may change, so it is not relied on; when it fires first, its error is
reported as ``image_too_large`` too.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pdqhash  # type: ignore[import-untyped]
from PIL import Image, UnidentifiedImageError

from hanoinet.errors import ValidationError

#: Larger inputs are refused before decoding (``image_too_large``): far above any photograph, small enough to
#: hold in memory while it is hashed.
MAX_IMAGE_BYTES: Final = 50 * 1024 * 1024
#: Width times height as declared in the header; larger images are refused before decoding
#: (``image_too_large``). 50 megapixels is above the sensors of current phones; decoded as RGB it is 150 MB.
MAX_IMAGE_PIXELS: Final = 50_000_000
#: Longer side, in pixels, beyond which an image is reduced before hashing (see the module docstring).
HASHED_MAX_SIDE: Final = 2048
#: Formats given to Pillow's decoders; anything else is ``not_an_image``. TIFF, PSD, EPS and the rest are
#: left out: they are rare for photographs and bring large decoders (EPS even runs Ghostscript).
SUPPORTED_FORMATS: Final = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "AVIF")

#: The transformations :func:`dihedral_hashes` returns hashes of, in order, as in Meta's
#: ``pdqDihedralHash256esFromFloatLuma``; the equivalent Pillow ``Image.Transpose`` in brackets:
#: the image as given (orientation applied); rotated 90 degrees counter-clockwise (``ROTATE_90``);
#: rotated 180 degrees (``ROTATE_180``); rotated 270 degrees counter-clockwise (``ROTATE_270``);
#: flipped top to bottom (``FLIP_TOP_BOTTOM``, Meta's "flip X"); mirrored left to right (``FLIP_LEFT_RIGHT``,
#: "flip Y"); flipped about the main diagonal (``TRANSPOSE``, "flip +1"); flipped about the anti-diagonal
#: (``TRANSVERSE``, "flip -1").
DIHEDRAL_ORDER: Final = (
    "original", "rotate_90", "rotate_180", "rotate_270", "flip_x", "flip_y", "flip_plus_1", "flip_minus_1",
)

_ORIENTATION_TAG: Final = 0x0112
#: EXIF orientation value -> the transposition that shows the image upright (CIPA DC-008, 4.6.4, table 6);
#: the same table as Pillow's ``ImageOps.exif_transpose``. 1 and unknown values mean "as stored".
_UPRIGHT: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_NOT_AN_IMAGE_HINT: Final = f"send the image file itself, in one of: {', '.join(SUPPORTED_FORMATS)}"


@dataclass(frozen=True, slots=True)
class PdqResult:
    """A PDQ hash (32 bytes, most significant bit first) and its quality (0-100).

    A quality below 50 means the hash is too unreliable for the bank; ``kinds.PDQ.require_quality`` refuses it.
    """

    code: bytes
    quality: int


def hash_image(data: bytes) -> PdqResult:
    """The PDQ hash of the image file ``data``, whatever its quality.

    Refuses, before decoding pixels: ``image_too_large`` (more than :data:`MAX_IMAGE_BYTES` bytes or
    :data:`MAX_IMAGE_PIXELS` pixels) and ``not_an_image`` (not an image in :data:`SUPPORTED_FORMATS`, or
    damaged).
    """
    vector, quality = pdqhash.compute(decode_rgb(data))
    return PdqResult(_packed(vector), int(quality))


def dihedral_hashes(data: bytes) -> list[PdqResult]:
    """The PDQ hashes of the image file ``data`` and of its seven rotations and flips, in :data:`DIHEDRAL_ORDER`.

    Computed in one pass from the transforms of the image's DCT, not by hashing rotated pixels, so an entry
    may differ by a few bits from the hash of an actually rotated file. All eight share one quality. Refusals
    are those of :func:`hash_image`.
    """
    vectors, quality = pdqhash.compute_dihedral(decode_rgb(data))
    return [PdqResult(_packed(vector), int(quality)) for vector in vectors]


def _packed(vector: npt.NDArray[np.integer[Any]]) -> bytes:
    # pdqhash returns one 0/1 integer per bit, most significant first.
    return np.packbits(vector.astype(np.uint8)).tobytes()


def decode_rgb(data: bytes) -> npt.NDArray[np.uint8]:
    """The upright RGB pixels of ``data`` (height x width x 3, uint8), reduced to :data:`HASHED_MAX_SIDE`: exactly
    what the hashes are computed from (the browser's hasher is checked against them). Refusals are those of
    :func:`hash_image`."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ValidationError(
            f"the image is {len(data)} bytes, more than the {MAX_IMAGE_BYTES} accepted",
            hint="hash a smaller copy of the image (re-encoded or reduced)", code="image_too_large",
        )
    try:
        image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
        _check_size(image.size)
        _draft(image)
        image.load()
        orientation = image.getexif().get(_ORIENTATION_TAG)
        rgb = _rgb(image)
        factor = -(-max(rgb.size) // HASHED_MAX_SIDE)
        if factor > 1:
            rgb = rgb.reduce(factor)
        upright = _UPRIGHT.get(orientation) if isinstance(orientation, int) else None
        if upright is not None:
            rgb = rgb.transpose(upright)
        return np.asarray(rgb)
    except ValidationError:
        raise
    except UnidentifiedImageError:
        raise ValidationError("the data is not an image in a supported format", hint=_NOT_AN_IMAGE_HINT,
                              code="not_an_image") from None
    except Image.DecompressionBombError as exc:
        raise ValidationError(f"the image is too large to decode safely: {exc}",
                              hint="hash a smaller copy of the image", code="image_too_large") from None
    # Pillow's decoders report malformed input with many exception types (OSError, ValueError, SyntaxError,
    # struct.error, EOFError, ...); all of them mean the same thing here.
    except Exception as exc:
        raise ValidationError(f"the data is not an image that can be decoded: {exc}", hint=_NOT_AN_IMAGE_HINT,
                              code="not_an_image") from None


def _check_size(size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise ValidationError(
            f"the image is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS} accepted",
            hint="hash a reduced copy of the image", code="image_too_large",
        )


def _draft(image: Image.Image) -> None:
    """Ask the JPEG decoder for a 1/2, 1/4 or 1/8 scale when the image exceeds :data:`HASHED_MAX_SIDE`."""
    width, height = image.size
    factor = -(-max(width, height) // HASHED_MAX_SIDE)
    # Pillow reports a JPEG carrying several pictures (Multi-Picture Format, common from phones) as "MPO".
    if factor > 1 and image.format in ("JPEG", "MPO"):
        # draft() picks the largest power-of-two scale that keeps the image at least this size.
        image.draft("RGB", (max(1, width // factor), max(1, height // factor)))


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I;16"):
        # Pillow clips 16-bit samples to 0-255 when converting; keep their top 8 bits instead.
        return Image.fromarray((np.asarray(image) >> 8).astype(np.uint8)).convert("RGB")
    if image.mode == "P":
        # Going through RGBA keeps Pillow from warning about palette transparency; the alpha is then dropped.
        image = image.convert("RGBA")
    return image if image.mode == "RGB" else image.convert("RGB")
