// PDQ perceptual hashes of images, computed in the browser so that only hashes leave the device.
//
// A port of Meta's reference PDQ hasher in facebook/ThreatExchange, pdq/cpp: hashing/pdqhashing.cpp,
// downscaling/downscaling.cpp and hashing/torben.cpp (algorithm: pdq/hashing.pdf). The structure of the luma,
// Jarosz box filter, decimation, quality metric, DCT, dihedral transforms and median below follows that
// code, which is Copyright (c) Meta Platforms, Inc. and affiliates, under the BSD licence (ThreatExchange's
// LICENSE); torben.cpp is N. Devillard's public-domain implementation of Torben Mogensen's median.
//
// The reference computes in 32-bit floats. Every intermediate here is rounded to float32 at the same step
// (Math.fround, Float32Array stores) and in the same order, so on the same pixels the hashes and quality
// are those of the `pdqhash` Python package (which wraps that C++), bit for bit in practice. The server
// (hanoinet.hashbank.pdq) hashes with `pdqhash`; tests/web/test_pdq_js.py checks the two agree.
//
// Hashes are 64 lower-case hex characters, most significant bit first: the bit for DCT coefficient (i, j)
// of the 16x16 block is bit i*16+j of the 256, so the first character holds bits 255-252. This is the
// reference's Hash256 format and the order of `pdqhash`'s bit vector packed by the server.

const fround = Math.fround;

/** Longer side, in pixels, beyond which an image file is reduced before hashing (as the server does). */
export const HASHED_MAX_SIDE = 2048;

/** The transformations of pdqDihedralFromRGBA's hashes, in order (the server's DIHEDRAL_ORDER). */
export const DIHEDRAL_ORDER = Object.freeze([
  "original", "rotate_90", "rotate_180", "rotate_270", "flip_x", "flip_y", "flip_plus_1", "flip_minus_1",
]);

// Images smaller than this on either side hash to all zeros with quality 0, as in the reference.
const MIN_HASHABLE_DIM = 5;
// Two X then Y passes of box filters make a tent filter (Jarosz, "Fast Image Convolutions", SIGGRAPH 2001).
const JAROSZ_XY_PASSES = 2;

// Rows 1..16 of the 64-point DCT-II matrix (row 0, the mean, is not used): 16 x 64, row-major, float32.
const DCT_MATRIX = (() => {
  const matrix = new Float32Array(16 * 64);
  const scale = fround(Math.sqrt(2 / 64));
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      matrix[i * 64 + j] = scale * Math.cos((Math.PI / 2 / 64) * (i + 1) * (2 * j + 1));
    }
  }
  return matrix;
})();

/**
 * The PDQ hash of an image given as RGBA pixels (an ImageData's data, row-major, 4 bytes a pixel).
 * Alpha is ignored. Returns {hash: 64 hex characters, quality: 0-100}; a quality below 50 means the
 * hash is too unreliable to be matched.
 */
export function pdqFromRGBA(data, width, height) {
  const luma = lumaFromRGBA(data, width, height);
  if (width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM) {
    return { hash: "0".repeat(64), quality: 0 };
  }
  let block;
  if (width === 64 && height === 64) {
    // The reference's single-hash entry point takes a 64x64 input as already downsampled.
    block = luma;
  } else {
    block = downsample64(luma, width, height);
  }
  return { hash: hashFromDct(dct64To16(block)), quality: qualityMetric(block) };
}

/**
 * The PDQ hashes of an image given as RGBA pixels and of its seven rotations and flips, in DIHEDRAL_ORDER,
 * computed from the DCT of the image as the reference's pdqDihedralHash256esFromFloatLuma does.
 * Returns {hashes: [8 x 64 hex characters], quality: 0-100}; the quality is shared by all eight.
 */
export function pdqDihedralFromRGBA(data, width, height) {
  const luma = lumaFromRGBA(data, width, height);
  if (width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM) {
    return { hashes: DIHEDRAL_ORDER.map(() => "0".repeat(64)), quality: 0 };
  }
  // Unlike the single hash, the reference's dihedral entry point filters 64x64 inputs too.
  const block = downsample64(luma, width, height);
  const dct = dct64To16(block);
  const hashes = DIHEDRAL_TRANSFORMS.map((transform) => hashFromDct(transform(dct)));
  return { hashes, quality: qualityMetric(block) };
}

/**
 * Decode an image file (a File or Blob) into upright RGBA pixels as the server would hash them:
 * {data: Uint8ClampedArray, width, height}. Rejects when the browser cannot decode the file.
 *
 * - The EXIF orientation is applied (imageOrientation "from-image"), as on the server.
 * - Colour profiles are not applied (colorSpaceConversion "none"): the server's decoder (Pillow) ignores
 *   them too, so a Display P3 photograph gives the same samples on both sides.
 * - An image whose longer side exceeds maxSide (default HASHED_MAX_SIDE) is reduced to the size the server
 *   hashes it at (see hashedSize), drawn with the browser's high-quality smoothing. The server's filter
 *   differs (its JPEG decoder scales by 1/2, 1/4 or 1/8 in the DCT domain, then blocks of pixels are
 *   averaged), so the hash of such an image may differ from the server's by a few bits: 0 to 4 of 256 on
 *   photographs of 4032x3024 to 8000x5000 pixels. Images up to maxSide are never resampled.
 * - Fully transparent pixels read back from a canvas as black, where the server keeps their colour (canvas
 *   pixels are stored premultiplied by alpha); this matters only for images with transparency.
 * - Browsers that defend against canvas fingerprinting (e.g. private browsing in Safari, Firefox with
 *   resistFingerprinting, Brave) may add slight noise to the pixels read back; PDQ tolerates it.
 */
export async function rgbaFromImageFile(file, maxSide = HASHED_MAX_SIDE) {
  const bitmap = await createImageBitmap(file, {
    imageOrientation: "from-image",
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
  });
  try {
    const [width, height] = hashedSize(bitmap.width, bitmap.height, await isJpeg(file), maxSide);
    const reduced = width !== bitmap.width || height !== bitmap.height;
    // OffscreenCanvas also works in a Worker; fall back to a DOM canvas where it is missing.
    const canvas = typeof OffscreenCanvas === "function"
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement("canvas"), { width, height });
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.imageSmoothingEnabled = reduced;
    context.imageSmoothingQuality = "high";
    context.drawImage(bitmap, 0, 0, width, height);
    return { data: context.getImageData(0, 0, width, height).data, width, height };
  } finally {
    bitmap.close();
  }
}

/**
 * The size, [width, height], at which the server (hanoinet.hashbank.pdq) hashes an image of width x height
 * pixels: unchanged up to maxSide pixels a side; beyond, a JPEG is first decoded at the smallest scale of 1,
 * 1/2, 1/4 and 1/8 that keeps it at least 1/factor of its size (Pillow's draft), then any image is reduced
 * by the whole factor that brings its longer side to maxSide or less, each side rounded up (Image.reduce).
 */
export function hashedSize(width, height, jpeg, maxSide = HASHED_MAX_SIDE) {
  let factor = Math.ceil(Math.max(width, height) / maxSide);
  if (factor > 1 && jpeg) {
    const ratio = Math.min(
      Math.trunc(width / Math.max(1, Math.trunc(width / factor))),
      Math.trunc(height / Math.max(1, Math.trunc(height / factor))),
    );
    const scale = [8, 4, 2, 1].find((s) => ratio >= s);
    width = Math.ceil(width / scale);
    height = Math.ceil(height / scale);
    factor = Math.ceil(Math.max(width, height) / maxSide);
  }
  return factor > 1 ? [Math.ceil(width / factor), Math.ceil(height / factor)] : [width, height];
}

// JPEG files (and MPO, JPEGs with several pictures) start with an SOI marker followed by another marker.
async function isJpeg(file) {
  const head = new Uint8Array(await file.slice(0, 3).arrayBuffer());
  return head.length === 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;
}

/** The PDQ hash and quality of an image file (see rgbaFromImageFile and pdqFromRGBA). */
export async function pdqFromImageFile(file) {
  const { data, width, height } = await rgbaFromImageFile(file);
  return pdqFromRGBA(data, width, height);
}

/** The eight dihedral PDQ hashes and quality of an image file (see rgbaFromImageFile, pdqDihedralFromRGBA). */
export async function pdqDihedralFromImageFile(file) {
  const { data, width, height } = await rgbaFromImageFile(file);
  return pdqDihedralFromRGBA(data, width, height);
}

// Luma as float32, row-major. The coefficients are the reference's; the sum is taken in double precision
// and then rounded, as `pdqhash` does (numpy) before handing the luma to the C++.
function lumaFromRGBA(data, width, height) {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`invalid image size ${width}x${height}`);
  }
  if (data.length !== width * height * 4) {
    throw new RangeError(`expected ${width * height * 4} RGBA bytes for ${width}x${height}, got ${data.length}`);
  }
  const luma = new Float32Array(width * height);
  for (let i = 0, p = 0; i < luma.length; i++, p += 4) {
    luma[i] = data[p] * 0.299 + data[p + 1] * 0.587 + data[p + 2] * 0.114;
  }
  return luma;
}

// Blur with the Jarosz tent filter, then keep the pixels at the centres of a 64x64 grid.
function downsample64(luma, width, height) {
  const scratch = new Float32Array(luma.length);
  const windowAlongRows = jaroszWindowSize(width, 64);
  const windowAlongCols = jaroszWindowSize(height, 64);
  for (let pass = 0; pass < JAROSZ_XY_PASSES; pass++) {
    for (let i = 0; i < height; i++) {
      box1D(luma, scratch, i * width, width, windowAlongRows);
    }
    boxAlongColumns(scratch, luma, width, height, windowAlongCols);
  }
  const block = new Float32Array(64 * 64);
  for (let i = 0; i < 64; i++) {
    const row = Math.trunc(((i + 0.5) * height) / 64);
    for (let j = 0; j < 64; j++) {
      block[i * 64 + j] = luma[row * width + Math.trunc(((j + 0.5) * width) / 64)];
    }
  }
  return block;
}

// Half of the input pixels per output pixel, rounded up: two passes of this window cover a full block.
function jaroszWindowSize(oldDimension, newDimension) {
  return Math.trunc((oldDimension + 2 * newDimension - 1) / (2 * newDimension));
}

// Moving average along one row, the window centred and shrunk at the edges; the running sum is a
// float32 updated by adds and subtracts in the reference's order, since that order decides the rounding.
function box1D(input, output, start, length, windowSize) {
  const halfWindow = Math.trunc((windowSize + 2) / 2);
  let left = start;
  let right = start;
  let out = start;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < halfWindow - 1; i++) {
    sum = fround(sum + input[right]);
    count++;
    right++;
  }
  for (let i = 0; i < windowSize - halfWindow + 1; i++) {
    sum = fround(sum + input[right]);
    count++;
    output[out] = sum / count;
    right++;
    out++;
  }
  for (let i = 0; i < length - windowSize; i++) {
    sum = fround(sum + input[right]);
    sum = fround(sum - input[left]);
    output[out] = sum / count;
    left++;
    right++;
    out++;
  }
  for (let i = 0; i < halfWindow - 1; i++) {
    sum = fround(sum - input[left]);
    count--;
    output[out] = sum / count;
    left++;
    out++;
  }
}

// box1D down every column at once, row by row (memory order, far faster than one column at a time);
// each column's float32 sum sees the same adds and subtracts in the same order as in box1D.
function boxAlongColumns(input, output, width, height, windowSize) {
  const halfWindow = Math.trunc((windowSize + 2) / 2);
  const sums = new Float32Array(width);
  let right = 0;
  let left = 0;
  let out = 0;
  let count = 0;
  for (let i = 0; i < halfWindow - 1; i++, right++) {
    addRow(sums, input, right * width, width);
    count++;
  }
  for (let i = 0; i < windowSize - halfWindow + 1; i++, right++, out++) {
    addRow(sums, input, right * width, width);
    count++;
    writeRow(sums, output, out * width, width, count);
  }
  for (let i = 0; i < height - windowSize; i++, left++, right++, out++) {
    slideRow(sums, input, right * width, left * width, output, out * width, width, count);
  }
  for (let i = 0; i < halfWindow - 1; i++, left++, out++) {
    subtractRow(sums, input, left * width, width);
    count--;
    writeRow(sums, output, out * width, width, count);
  }
}

function addRow(sums, input, start, width) {
  for (let j = 0; j < width; j++) sums[j] += input[start + j];
}

function slideRow(sums, input, addStart, subtractStart, output, outStart, width, count) {
  for (let j = 0; j < width; j++) {
    const sum = fround(fround(sums[j] + input[addStart + j]) - input[subtractStart + j]);
    sums[j] = sum;
    output[outStart + j] = sum / count;
  }
}

function subtractRow(sums, input, start, width) {
  for (let j = 0; j < width; j++) sums[j] -= input[start + j];
}

function writeRow(sums, output, start, width, count) {
  for (let j = 0; j < width; j++) output[start + j] = sums[j] / count;
}

// Sum of significant gradients between neighbouring pixels of the 64x64 block, scaled and capped at 100.
function qualityMetric(block) {
  let gradientSum = 0;
  for (let i = 0; i < 63; i++) {
    for (let j = 0; j < 64; j++) {
      gradientSum += quantizedDifference(block[i * 64 + j], block[(i + 1) * 64 + j]);
    }
  }
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 63; j++) {
      gradientSum += quantizedDifference(block[i * 64 + j], block[i * 64 + j + 1]);
    }
  }
  return Math.min(100, Math.trunc(gradientSum / 90));
}

function quantizedDifference(u, v) {
  return Math.abs(Math.trunc(fround(fround(fround(u - v) * 100) / 255)));
}

// Coefficients (1..16) x (1..16) of the 2-D DCT of the 64x64 block, as D A D^T with T = D A first;
// each product and partial sum is rounded to float32 in the reference's order.
function dct64To16(block) {
  const t = new Float32Array(16 * 64);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) {
        sum = fround(sum + fround(DCT_MATRIX[i * 64 + k] * block[k * 64 + j]));
      }
      t[i * 64 + j] = sum;
    }
  }
  const dct = new Float32Array(16 * 16);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) {
        sum = fround(sum + fround(t[i * 64 + k] * DCT_MATRIX[j * 64 + k]));
      }
      dct[i * 16 + j] = sum;
    }
  }
  return dct;
}

// The DCT of a rotated or flipped image is the DCT of the image with some coefficients negated and, for
// the transformations that swap axes, transposed. Each function maps A (16x16) to B as in the reference.
function dihedral(transpose, negate) {
  return (a) => {
    const b = new Float32Array(256);
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 16; j++) {
        const value = negate(i, j) ? -a[i * 16 + j] : a[i * 16 + j];
        b[transpose ? j * 16 + i : i * 16 + j] = value;
      }
    }
    return b;
  };
}

const DIHEDRAL_TRANSFORMS = [
  (a) => a,
  dihedral(true, (i, j) => (j & 1) === 0),
  dihedral(false, (i, j) => ((i + j) & 1) === 1),
  dihedral(true, (i) => (i & 1) === 0),
  dihedral(false, (i) => (i & 1) === 0),
  dihedral(false, (i, j) => (j & 1) === 0),
  dihedral(true, () => false),
  dihedral(true, (i, j) => ((i + j) & 1) === 1),
];

// One bit per coefficient: set when it exceeds the median of the 256, as 64 hex characters from bit 255.
function hashFromDct(dct) {
  const median = torbenMedian(dct);
  let hex = "";
  for (let nibble = 63; nibble >= 0; nibble--) {
    let value = 0;
    for (let bit = 3; bit >= 0; bit--) {
      value = (value << 1) | (dct[nibble * 4 + bit] > median ? 1 : 0);
    }
    hex += value.toString(16);
  }
  return hex;
}

// Torben Mogensen's median by bisection on values (N. Devillard's implementation, public domain), kept
// rather than a sort because its answer for ties and for an even count is what the reference thresholds at.
function torbenMedian(values) {
  const n = values.length;
  const half = Math.trunc((n + 1) / 2);
  let min = values[0];
  let max = values[0];
  for (let i = 1; i < n; i++) {
    if (values[i] < min) min = values[i];
    if (values[i] > max) max = values[i];
  }
  let less;
  let equal;
  let guess;
  let maxLessThanGuess;
  let minGreaterThanGuess;
  for (;;) {
    guess = fround((min + max) / 2);
    less = 0;
    let greater = 0;
    equal = 0;
    maxLessThanGuess = min;
    minGreaterThanGuess = max;
    for (let i = 0; i < n; i++) {
      const value = values[i];
      if (value < guess) {
        less++;
        if (value > maxLessThanGuess) maxLessThanGuess = value;
      } else if (value > guess) {
        greater++;
        if (value < minGreaterThanGuess) minGreaterThanGuess = value;
      } else {
        equal++;
      }
    }
    if (less <= half && greater <= half) break;
    if (less > greater) {
      max = maxLessThanGuess;
    } else {
      min = minGreaterThanGuess;
    }
  }
  if (less >= half) return maxLessThanGuess;
  if (less + equal >= half) return guess;
  return minGreaterThanGuess;
}
