"""Bring any picture of digits to the MNIST convention, one 28x28 image per digit.

MNIST digits are light ink on black, size-normalized to fit a 20x20 box with their aspect ratio
kept, and placed so that their centre of mass is at the centre of the 28x28 frame. Photos and
drawings are nothing like that: dark ink on light paper, any size, off-centre, tinted, noisy,
transparent. The steps, each a function below:

    decode_image     bytes -> PIL image (or, for a plain 8-bit PNG, a uint8 array): size limit,
                        first frame, EXIF orientation
    to_gray          PIL image (any mode; array_to_gray for arrays) -> float32 (H, W) in [0, 1]; alpha
                        onto a contrasting background
    sheet_alone      -> a sheet of paper photographed on a dark desk or at an angle: the desk painted
                        the sheet's grey
    ink_image        -> light ink on black (the polarity from light_ink: a page partly in a shadow,
                        or in dim light, is no dark page): the paper's uneven light removed, then
                        Otsu's threshold; a notebook's printed lines, the frames around writing and
                        what a faint frame leaves (upright hairlines) taken out
    find_digits      -> one mask per digit (near pieces joined, marks grouped when they overlap in x)
    to_mnist         -> float32 (28, 28) in [0, 1]: cropped, MNIST stroke width, 20 px box, centred by mass

Pillow, pyspng, NumPy and OpenCV only (no TensorFlow, no SciPy: it costs 0.4 s to import); every failure
is an ``ImageError``.
"""

from __future__ import annotations

import io
import warnings
import zlib
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import pyspng
from PIL import Image, ImageOps, PngImagePlugin

from .errors import DigitcnnError

MAX_PIXELS = 40_000_000  # refuse larger images: decompression bombs
# Transparent images decode to 4 bytes a pixel, and a GIF's logical screen costs memory even when
# its frame is 1x1: a lower limit keeps one request under about 100 MB. (Drawings are far smaller.)
MAX_TRANSPARENT_PIXELS = 16_000_000
# WebP has no reduced decode (a big JPEG is decoded at 1/2 to 1/8): libwebp and Pillow hold about
# 15 bytes a pixel, 600 MB for a 40-megapixel WebP of 100 kB; 16 megapixels, about 250 MB.
MAX_WEBP_PIXELS = 16_000_000
# An ICO's pictures are at most 256x256 (its directory has a byte a side), but the PNG or bitmap an
# entry holds says its own size, and Pillow decodes it as it opens the file, before any limit here
# is read: a 250 kB ICO holding a 64-megapixel PNG took 250 MB.
MAX_ICON_SIDE = 256
MAX_ICON_ENTRIES = 64  # an icon holds a few sizes (16 to 256 px, in a few colour depths)
# The formats decoded; no other Pillow plugin is ever tried (EPS would run Ghostscript on a host that has it).
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF", "PPM", "ICO")
PNG_CHANNELS = {0: "L", 2: "RGB", 6: "RGBA"}  # the PNG colour types libspng decodes here (decode_png)
# ... in PNGs with these chunks only: no transparent colour (tRNS), no animation (acTL), no EXIF,
# XMP or text that may turn the picture; the colour chunks are ignored, as Pillow ignores them.
PLAIN_PNG = {b"IHDR", b"IDAT", b"IEND", b"sRGB", b"gAMA", b"cHRM", b"iCCP", b"pHYs", b"sBIT", b"tIME", b"bKGD"}
MAX_DIGITS = 40  # more separate marks than this is no number: refuse rather than spend seconds
ANALYSIS_MAX_SIDE = 1024  # larger images are reduced first (JPEGs while decoding); digits need no more
FILE_SIZE = "digitcnn.file_size"  # image.info key: (width, height) in the file, upright; boxes use these pixels
FRAME = 28  # MNIST's image side
COARSE_SIDE = 256  # the first, coarse look at an image, to find how large its writing is
WORKING_HEIGHT = 80  # the tallest mark is analysed at about this height: 4x the digit box, no more
REUSE_COARSE = 0.75  # the coarse copy is the working image when that is this share of its size to its inverse
MAX_CROP = 2 * WORKING_HEIGHT  # to_mnist pools larger digits down to this size first
DIGIT_BOX = 20  # MNIST's digits fit a 20x20 box inside the frame
# MNIST's stroke width in frame pixels (2 * area / boundary at threshold 0.5, 2,000 training
# digits): 5th percentile 2.1, median 2.8, 95th percentile 4.5. Outside [2.0, 4.5], strokes are
# brought to the median.
MNIST_STROKE = (2.0, 2.8, 4.5)
MIN_SHADED_SIDE = 64  # smaller images are crops or small drawings: their paper is one shade
SHEET_SIDE = 128  # a sheet of paper on a desk is looked for on a copy this size
CLOSER_SIDE = 256  # ... and writing on it, when that copy shows none, on a copy of the sheet this size
SHEET_BORDER = 0.25  # a sheet on a desk is looked for when this share of the picture's border is dark
SHEET_SHARE, SHEET_FILL, SHEET_PAPER = 0.1, 0.9, 0.7  # a sheet: this share of the picture, of its convex hull; of paper
NOTCHED_FILL = 0.85  # ... counting writing cut by the picture's edge as sheet, the rest at least this share of it
# ... and with no writing on it, on a desk, a sheet when its sides are this close (a bold light 1 is
# narrower), it is this share paper (a bold light 0's, 6's, 8's or 9's hole is more), a rectangle
# fills SHEET_FILL of its box (a bold light digit's outline is rounder, a lamp's pool of light round),
# and no dark stroke lies on it (a lone 1 is too short or thin for written_on)
BLANK_SHEET, BLANK_PAPER = 0.5, 0.97
# (a big digit on a sticky note is a quarter of it; a note 15% of a photo's height is 1.7% of it)
SMALL_SHEET_SHARE, SMALL_SHEET_FILL = 0.015, 0.85  # a smaller sheet: this share of the picture, of its box (a card)
DESK_BORDER = 0.75  # ... looked for, and writing on a sheet looked for closer, where this share of the border is dark
SHEET_STROKE = 0.25  # ... and its ink strokes, no wider than this share of their length
SHEET_WRITING, SHEET_BENT = 0.5, 0.95  # seen closer: no longer than this share of the sheet's width, and bent
SHEET_LINE = 0.18  # ... or a straight stroke no wider than this share of its length (a slit is wider)
BACKGROUND_SIDE = 256  # the paper's light varies slowly: it is estimated on a copy this size
BACKGROUND_WINDOW = 0.15  # opening window, share of the longest side: wider than strokes, narrower than shading
FRAME_CONTENT, FRAME_HOLE = 0.3, 0.6  # a frame's content: share of its height; its hole: share of its area
HAIRLINE, STRAIGHT = 0.25, 0.1  # a tall straight mark this thin beside the writing is a printed line's piece
# A box around writing: lines within BOX_EDGE of its mark's edges, BOX_SPAN of its width or height
# long, drifting at most BOX_TILT of their length (a photo a degree askew) (box_lines)
BOX_EDGE, BOX_SPAN, BOX_TILT = 0.12, 0.8, 0.02
PRINTED_LINE = 0.2  # ... its lines, printed, are at most a tenth of its shorter side thick (twice that: a disk over them)
STROKE_WINDOW = 0.05  # the polarity test's window, share of the longest side: wider than a pen's strokes
LIT_BORDER = 0.1  # a dark border with less than this share of it light is a dark page's...
INK_STEP, DIM_INK = 0.1, 2.0  # ... unless what stands out from it is mostly darker: paper in dim light
DIM_WINDOW = 0.25  # ... or from the paper around it, this share of the longest side: a page lit in its middle
DIM_COPY_SIDE = 64  # px: the paper's light varies slowly, its medians are taken on a copy this long (paper_around)
# A picture under MIN_SHADED_SIDE in dim light: what stands out darker covers at most this share of it,
# in strokes (a thin_strokes window of this share of its side); a light digit on a darker patch (a
# key, a badge) has the patch stand out darker, broad
SMALL_INK_SHARE, SMALL_STROKE_WINDOW = 0.3, 0.2
SHADOW_EDGE = 0.05  # where the paper's opening stands this far above its blur, a sharp edge is
ONE_SHADE = 1 / 255  # paper whose border is this close to one grey, all round, is drawn on a screen
PAPER_SPREAD = 0.3  # the paper estimate is at most this much darker than its median: the shaded photos of
# the real and synthetic sets read the same with the cap (benchmarks/RESULTS.md, sixth session)
MIN_CONTRAST = 0.1  # below this difference from the paper, nothing is ink ...
FAINT_CONTRAST, FAINT_NOISE = 0.03, 8.0  # ... unless it is at least this and this many times the paper's grain
MIN_INK_SHARE = 0.25  # ink is at least this share of the strongest ink: noise is not ink
PAGE_SPAN = 0.8  # ink across this share of a picture's width or height may hold lines printed on the paper
WRITING_SHARE = 0.5  # ... taken out only when no mark left is this share of the picture (a close-up is left as it is)
LINE_BAND, LINE_COVER = 0.05, 0.5  # a printed line: within a band this share of the picture, across this share of it
LONG_LINE, LINE_GAP = 0.3, 0.02  # ... or straight at any angle, this share of its longer side, gaps this share
SPAN_LINE = 0.7  # a thin straight line this share of the picture's shorter side long is printed, whatever its shade
PAGE_SIDE = 256  # ... in a picture at least this size (a page; a crop of a line is smaller)
ASKEW_MARKS = 4  # lines at any angle are looked for where the ink holds this many marks or more
MAX_SEGMENTS = 256  # ... and at most this many straight segments are looked at (bounded time)
ASKEW_INK = 0.1  # ... nor where ink covers this share of the picture or more
SPECK = 0.01  # a mark under this share of the largest mark's area, and short, is noise
CROWD_HEIGHT = 0.25  # ... and among hundreds of marks (find_digits), any mark under this share of the tallest's height
JOIN_GAP = 0.04  # pieces closer than this share of the tallest piece are one mark (broken strokes)
CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


class ImageError(DigitcnnError, ValueError):
    """The input is not a usable image (empty, corrupt, too large, not an image...)."""


class NotAnImageError(ImageError):
    """The bytes are no image format that Pillow knows."""


def decode_image(raw: bytes, max_side: int = ANALYSIS_MAX_SIDE) -> Image.Image | np.ndarray:
    """Decode image bytes: a Pillow image, first frame of an animation, EXIF orientation applied;
    or, for a plain 8-bit PNG no larger than the analysis needs (a canvas drawing), the uint8 array
    of ``decode_png``.

    A JPEG larger than the analysis needs (``max_side`` px) is decoded reduced, in grayscale;
    ``info[FILE_SIZE]`` holds the size in the file, so that boxes are still given in the pixels of
    the original image.
    """
    if not raw:
        raise ImageError("empty input: 0 bytes")
    try:
        with warnings.catch_warnings():
            # Pillow warns, and reads on, about damaged metadata (a TIFF tag past the file's end,
            # corrupt EXIF): the picture is read or refused with an ImageError, and the warning
            # would only print its source line under the CLI's answer and in a server's log.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if raw[:4] == b"\0\0\1\0":  # an ICO (Pillow's test): its pictures' sizes are checked first
                check_icon(raw)
            image = Image.open(io.BytesIO(raw), formats=FORMATS)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"image of {width}x{height} pixels is over the limit of "
                                 f"{MAX_PIXELS // 1_000_000} megapixels")
            transparent = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
            if transparent and width * height > MAX_TRANSPARENT_PIXELS:
                raise ImageError(f"image with transparency of {width}x{height} pixels is over the limit of "
                                 f"{MAX_TRANSPARENT_PIXELS // 1_000_000} megapixels")
            if image.format == "WEBP" and width * height > MAX_WEBP_PIXELS:
                raise ImageError(f"WebP image of {width}x{height} pixels is over the limit of "
                                 f"{MAX_WEBP_PIXELS // 1_000_000} megapixels (a WebP is decoded whole)")
            image.seek(0)
            if image.format == "PNG" and raw[24] == 8 and raw[25] in PNG_CHANNELS and max(width, height) <= max_side:
                pixels = decode_png(raw)
                if pixels is not None:  # (else Pillow decodes it, and says what is wrong with it)
                    return pixels
            if image.format in ("JPEG", "MPO") and max(width, height) > max_side:
                # Decode a big photo at 1/2, 1/4 or 1/8 of its size, straight from the JPEG's
                # coefficients: a 12-megapixel phone photo decodes 10x quicker in a tenth the memory.
                # (draft picks the smallest scale still at least the size asked: ask a little
                # under the analysis size, so that a 4000x3000 photo decodes at 1000x750.)
                shrink = 0.9 * max_side / max(width, height)
                image.draft("L", (max(1, round(width * shrink)), max(1, round(height * shrink))))
            image.load()
            decoded = image.size
            ImageOps.exif_transpose(image, in_place=True)  # (not in place, it copies every unturned image)
            turned = image.size != decoded  # EXIF turned it a quarter: x and y swapped
            image.info[FILE_SIZE] = (height, width) if turned else (width, height)
            return image
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"image refused as a decompression bomb (over {MAX_PIXELS // 1_000_000} megapixels "
                         "once decoded)") from None
    except Image.UnidentifiedImageError:
        raise NotAnImageError(f"not an image: the bytes are none of the formats read ({', '.join(FORMATS)})") from None
    except Exception as exc:  # noqa: BLE001  (Pillow's decoders raise OSError, SyntaxError, ValueError, struct.error...)
        raise ImageError(f"corrupt or truncated image ({type(exc).__name__}: {exc})") from None


def decode_png(raw: bytes) -> np.ndarray | None:
    """An 8-bit grey, RGB or RGBA PNG (bit depth 8 and colour type 0, 2 or 6 in its header) of
    PLAIN_PNG chunks only, decoded by libspng: uint8 (H, W), (H, W, 3) or (H, W, 4); None for any
    other PNG, or one that is truncated or has a wrong CRC (Pillow then decodes it, or says what
    is wrong). A canvas drawing decodes in half Pillow's time, with no array copy after it: a
    tenth of its read. (libspng checks neither the CRCs nor the zlib stream's checksum: a stream
    damaged inside chunks whose CRCs were made for it decodes to wrong pixels, not an error.)"""
    if not png_chunks(raw) <= PLAIN_PNG:
        return None
    try:
        return pyspng.load(raw, PNG_CHANNELS[raw[25]])
    except RuntimeError:
        return None


def check_icon(raw: bytes) -> None:
    """Raise ImageError when a picture of the ICO ``raw`` is larger than MAX_ICON_SIDE a side, as
    Pillow would find it: a PNG's size from its chunks as Pillow's PNG reader walks them (the last
    IHDR before the pixels), without decoding them; a bitmap's from its info header (a core header's
    16-bit sides; the height counts the picture and its mask). A PNG entry that cannot be read so is
    refused too (Pillow's ICO reader reads it the same way)."""
    entries = int.from_bytes(raw[4:6], "little")
    if entries > MAX_ICON_ENTRIES:
        raise ImageError(f"an ICO of {entries} pictures, more than the {MAX_ICON_ENTRIES} read at most")
    for entry in range(entries):
        offset = int.from_bytes(raw[18 + 16 * entry:22 + 16 * entry], "little")
        if offset < 6 + 16 * entries:
            raise ImageError("corrupt or truncated image (an ICO's picture inside its directory)")
        data = raw[offset:offset + 24]
        if len(data) < 24:
            continue
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            try:
                width, height = PngImagePlugin.PngImageFile(io.BytesIO(raw[offset:])).size
            except Exception as exc:  # noqa: BLE001  (Pillow's PNG reader raises SyntaxError, OSError...)
                raise ImageError(f"corrupt or truncated image (an ICO's PNG: {exc})") from None
        elif int.from_bytes(data[:4], "little") == 12:  # BITMAPCOREHEADER
            width, height = int.from_bytes(data[4:6], "little"), int.from_bytes(data[6:8], "little") // 2
        else:
            width = abs(int.from_bytes(data[4:8], "little", signed=True))
            height = abs(int.from_bytes(data[8:12], "little", signed=True)) // 2
        if max(width, height) > MAX_ICON_SIDE:
            raise ImageError(f"icon picture of {width}x{height} pixels: an ICO holds pictures of at most "
                             f"{MAX_ICON_SIDE}x{MAX_ICON_SIDE}")


def png_chunks(raw: bytes) -> set[bytes]:
    """The chunk types of the PNG ``raw`` (b"IHDR", b"IDAT"...), when its chunks follow each other
    whole, each with its right CRC, up to IEND; {b"damaged"} when not (truncated, a wrong CRC)."""
    view, start, kinds = memoryview(raw), 8, set()
    while start + 12 <= len(raw):
        length = int.from_bytes(view[start:start + 4], "big")
        end = start + 12 + length
        if end > len(raw) or zlib.crc32(view[start + 4:end - 4]) != int.from_bytes(view[end - 4:end], "big"):
            break
        kinds.add(bytes(view[start + 4:start + 8]))
        if kinds.issuperset({b"IHDR", b"IEND"}):
            return kinds
        start = end
    return {b"damaged"}


def to_gray(image: Image.Image) -> np.ndarray:
    """Any Pillow image -> float32 (H, W) luminance in [0, 1].

    Transparent pixels are composited onto a background that contrasts with the opaque ink
    (white behind dark strokes, black behind light ones), so a transparent drawing never
    becomes black on black. 16-bit and 32-bit images keep their full range.
    """
    if min(image.size) < 1:
        raise ImageError(f"empty image: {image.size[0]}x{image.size[1]} pixels")
    if image.mode in ("I;16", "I;16B", "I;16L"):  # as array_to_gray reads uint16: on 0-65535
        return np.asarray(image, dtype=np.float32) * np.float32(1 / 65535)
    if image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        if not np.isfinite(values).all():
            raise ImageError("image holds NaN or infinite values")
        low, high = float(values.min()), float(values.max())
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    try:
        return _to_gray(image)
    except (ValueError, OSError) as exc:  # modes Pillow cannot convert, such as CIELab
        raise ImageError(f"unsupported image mode {image.mode} ({exc})") from None


def _to_gray(image: Image.Image) -> np.ndarray:
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info)
    if not has_alpha:
        return np.asarray(image.convert("L"), dtype=np.float32) * np.float32(1 / 255)
    if image.mode == "RGBA":  # no conversion by Pillow, OpenCV from the array
        return rgba_to_gray(np.asarray(image))
    la = np.asarray(image.convert("LA"))  # uint8: a quarter of a float RGBA copy
    return over_background(np.ascontiguousarray(la[..., 0]), np.ascontiguousarray(la[..., 1]))


def rgba_to_gray(rgba: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 4) RGBA -> float32 (H, W) in [0, 1], composited as ``to_gray`` says."""
    return over_background(cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY), cv2.extractChannel(rgba, 3))


def over_background(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 (H, W) grey levels and their alpha -> float32 (H, W) in [0, 1], the transparent
    pixels onto white behind dark ink, onto black behind light ink."""
    opaque = (alpha > 127).view(np.uint8)
    coverage = cv2.countNonZero(opaque)
    if coverage in (0, opaque.size):
        return gray.astype(np.float32) * np.float32(1 / 255)
    weight = alpha.astype(np.float32) * np.float32(1 / 255)
    if cv2.mean(gray, mask=opaque)[0] < 127.5:  # dark ink: white behind it (cv2: no boolean-indexed copy)
        return 1 - (255 - gray.astype(np.float32)) * weight * np.float32(1 / 255)
    return gray.astype(np.float32) * weight * np.float32(1 / 255)


def reduction_factor(longest: int, max_side: int) -> int:
    """The whole factor a picture whose longest side is ``longest`` px is reduced by to at most
    ``max_side`` (``reduce_image``, ``reduce_for_analysis``)."""
    return -(-longest // max_side)


def reduce_image(image: Image.Image, max_side: int = ANALYSIS_MAX_SIDE) -> Image.Image:
    """Shrink a Pillow image whose longest side exceeds ``max_side``, before any pixel is
    converted (a 40-megapixel image as float RGBA would be 640 MB). Callers measure scales from
    sizes (image_to_digits, per axis), so none is returned.
    """
    longest = max(image.size)
    if longest <= max_side:
        return image
    factor = reduction_factor(longest, max_side)
    if image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):  # a palette: pick pixels, convert the few left
        return image.resize((max(1, image.size[0] // factor), max(1, image.size[1] // factor)),
                            Image.Resampling.NEAREST)
    return image.reduce(factor)


def _shrink(gray: np.ndarray, scale: float, exact: bool = False) -> np.ndarray:
    """``gray`` (H, W) resized by ``scale`` < 1, averaging (INTER_AREA), at least 1x1: first over
    k x k blocks, k the whole part of 1 / scale, then to the size (by what is left, under 2).
    OpenCV averages whole blocks 5-10x quicker than other factors; the last rows and columns that
    make no whole block, fewer than k, are left out, unless ``exact`` (a copy whose pixels are
    mapped back onto the picture's)."""
    height, width = gray.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    factor = int(1 / scale)
    if exact or factor < 2 or min(height, width) < factor:
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    blocks = cv2.resize(gray[:height // factor * factor, :width // factor * factor],
                        (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    return blocks if (blocks.shape[1], blocks.shape[0]) == size else cv2.resize(blocks, size, interpolation=cv2.INTER_AREA)


def reduce_for_analysis(gray: np.ndarray, max_side: int = ANALYSIS_MAX_SIDE) -> np.ndarray:
    """Shrink a float image (H, W) whose longest side exceeds ``max_side`` by the whole factor
    ``reduce_image`` shrinks a file's by (averaging k x k blocks), so that a picture read from a
    NumPy array is analysed at the size it is analysed at from its file."""
    longest = max(gray.shape)
    if longest <= max_side:
        return gray
    factor = reduction_factor(longest, max_side)
    height, width = gray.shape  # (a last block short of the factor is averaged over what it holds, as Pillow's)
    padded = gray if not (height % factor or width % factor) else cv2.copyMakeBorder(
        gray, 0, -height % factor, 0, -width % factor, cv2.BORDER_REPLICATE)
    return cv2.resize(padded, (padded.shape[1] // factor, padded.shape[0] // factor), interpolation=cv2.INTER_AREA)


def working_ink(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, Components]:
    """``gray`` (H, W) float32 in [0, 1] brought to the working resolution, where its tallest mark
    is about WORKING_HEIGHT px, with its ink, ink mask and the mask's ``components`` there (see
    ink_image).

    A 20-pixel digit needs no 200-pixel source: a coarse look (a copy COARSE_SIDE px wide) finds
    the tallest mark and its stroke width, and the image is reduced so that the mark stays
    WORKING_HEIGHT px tall and its strokes at least 2 px wide. Every later step then works on a
    quarter to a sixteenth of the pixels of a canvas drawing or a photo. Strokes too thin to see
    at the coarse size (a fine pen, a hairline) keep the full resolution. When the working size
    would be REUSE_COARSE to 1 / REUSE_COARSE of the coarse copy's (a canvas drawing's digit fills
    most of its height; when its height sets the scale, it is then 60-107 px tall), the coarse copy is the working
    image: its ink is already found, and shrinking again and finding the ink a second time would
    cost a fifth of a canvas read.
    """
    def ink_at(image, retry=False):
        flat, mask, marks = find_ink(image, retry)
        return image, scale_ink(flat, mask), mask, marks

    longest = max(gray.shape)
    if longest <= 2 * WORKING_HEIGHT:
        return ink_at(gray)
    coarse_scale = min(1.0, COARSE_SIDE / longest)
    coarse = _shrink(gray, coarse_scale)
    flat, mask, (pieces, stats) = find_ink(coarse)
    if len(stats) <= 1:  # (a hairline, or the grain of a blank photo, which is strongest at full size)
        return ink_at(gray, retry=True)
    tallest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_HEIGHT]))
    stroke = stroke_width(pieces == tallest)
    if stroke <= 2.0:  # thin at the coarse size: its real width is unknown, keep every pixel
        return ink_at(gray)
    scale = max(WORKING_HEIGHT * coarse_scale / stats[tallest, cv2.CC_STAT_HEIGHT], 2.0 * coarse_scale / stroke)
    if scale > 0.75:
        return ink_at(gray)
    if REUSE_COARSE * coarse_scale <= scale <= coarse_scale / REUSE_COARSE:
        return coarse, scale_ink(flat, mask), mask, Components(pieces, stats)
    return ink_at(_shrink(gray, scale))


def mnist_like(images: np.ndarray) -> np.ndarray:
    """For float images (N, 28, 28) in [0, 1]: bool (N,), True where an image already follows
    MNIST (dark 2-pixel border, ink that reaches full brightness, as every MNIST digit's does)
    and can go to the model as it is. A faint 28x28 drawing takes the full path, which
    stretches its ink.

    The border mean is summed from four slices (208 pixels), 2x quicker than a boolean mask on
    the large batches of ``DigitReader.read_batch``.
    """
    border = (images[:, :2].sum(axis=(1, 2)) + images[:, -2:].sum(axis=(1, 2))
              + images[:, 2:-2, :2].sum(axis=(1, 2)) + images[:, 2:-2, -2:].sum(axis=(1, 2))) / 208
    return (border < 0.1) & (images.max(axis=(1, 2)) > 0.8)


def is_mnist_like(gray: np.ndarray) -> bool:
    """True for one float image (H, W) that is 28x28 and already follows MNIST (see mnist_like)."""
    return gray.shape == (28, 28) and bool(mnist_like(gray[np.newaxis])[0])


def _odd(value: float) -> int:
    return max(3, int(value) // 2 * 2 + 1)


def sheet_alone(gray: np.ndarray) -> np.ndarray:
    """``gray`` (H, W) float32 in [0, 1] with a sheet of paper photographed on a darker surface
    (a desk) left alone: the surface around the sheet painted the sheet's own grey. ``gray``
    itself when there is no such sheet.

    A dark border makes the paper look like light ink on a dark page, and the sheet's edge like a
    stroke around the digits; the wedges of desk in the corners of a page photographed at an angle
    come out as strokes. So where SHEET_BORDER of the border or more is dark, a sheet is looked
    for: the largest bright region of a small copy (Otsu's threshold), its outline filled, when
    that covers SHEET_SHARE of the picture or more, fills SHEET_FILL of its convex hull (a sheet
    seen askew or in perspective is a convex quadrilateral, cut by the picture's edges; most bold
    light digits are not convex; writing cut by the picture's edge notches it, and counts as sheet,
    ``edge_notches``, when the rest fills NOTCHED_FILL), is at least SHEET_PAPER above the
    threshold with some ink on it, in strokes (``written_on``: a bold 0's hole is a blob, a bold 1
    has none; the ink of the notches counts), with no writing
    beside it (a page partly in a shadow has its lit part), and is light paper (a dim one would
    still look like a dark page). A sheet with nothing written on it, lying on a desk (BLANK_SHEET:
    a rectangle, solid paper, no dark stroke on it), is the whole picture painted its grey: what
    was left of the desk at the picture's edge read as 1s. With a dark stroke on it (a lone 1, or
    writing too small for the small copies to show), it is written on. What is painted is around the
    outline's convex hull, so that ink across the sheet's edge stays, and a little inside it, about
    max(H, W) / 64 px. Light strokes on a dark canvas are none of these and are left as they are.

    Where DESK_BORDER of the border is dark (a sheet lying on a desk; the bright region of a sheet
    held in a hand can take in some of the hand), a smaller sheet is one too, SMALL_SHEET_SHARE of
    the picture filling SMALL_SHEET_FILL of its box (a card, a sticky note); its outline is taken
    with thin dark strokes closed over (writing at its edge runs into the desk on the small copy);
    writing that the small copy does not show is looked for on a closer copy of the sheet
    (``closer_holes``); and the desk is painted with the sheet's paper carried on past its edge
    (``paper_plane``), not one grey.
    """
    height, width = gray.shape
    if min(height, width) < MIN_SHADED_SIDE or not dark_border(gray, SHEET_BORDER):
        return gray
    scale = min(1.0, SHEET_SIDE / max(height, width))
    small = _shrink(gray, scale, exact=True)  # the sheet is mapped back onto it
    level, bright = cv2.threshold(np.round(small * 255).astype(np.uint8), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    on_a_desk = dark_border(gray, DESK_BORDER)  # not in a hand, nor beside a wall
    region = bright
    if on_a_desk:
        # writing at the edge of a sheet on a desk runs into the desk on this copy and notches the
        # sheet's outline: the outline is taken with strokes a pixel or two wide closed over (not
        # the desk along the picture's edge: beyond it is desk too). Only there: the bright paper
        # of a cheque between the lines of its printed pattern would be one region.
        region = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8),
                                  borderType=cv2.BORDER_CONSTANT, borderValue=0) | bright
    labels, stats = components(region.view(bool))
    if len(stats) <= 1:
        return gray
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    contours, _ = cv2.findContours((labels == largest).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline = max(contours, key=cv2.contourArea)
    sheet = np.zeros_like(bright)
    cv2.drawContours(sheet, [outline], -1, 1, thickness=cv2.FILLED)
    inside, paper = int(sheet.sum()), int(np.count_nonzero(sheet & bright))
    hull = cv2.convexHull(outline)
    hull_area = cv2.contourArea(hull)
    narrow, long = sorted(cv2.minAreaRect(hull)[1])  # the sheet's sides on ``small``
    too_small = inside < SHEET_SHARE * small.size and (
        not on_a_desk or inside < SMALL_SHEET_SHARE * small.size or inside < SMALL_SHEET_FILL * narrow * long)
    notches = edge_notches(sheet, hull)
    filled = cv2.contourArea(outline)
    if (too_small or filled < NOTCHED_FILL * hull_area or filled + np.count_nonzero(notches) < SHEET_FILL * hull_area
            or paper < SHEET_PAPER * inside):
        return gray
    written = written_on((sheet.view(bool) | notches) & ~bright.view(bool)) or on_a_desk and written_on(
        *closer_holes(gray, sheet, scale, level / 255, SHEET_WRITING * narrow))
    blank = (not written and on_a_desk and narrow >= BLANK_SHEET * long and inside >= SHEET_SHARE * small.size
             and paper >= BLANK_PAPER * inside and hull_area >= SHEET_FILL * narrow * long)
    if not (written or blank):
        return gray
    cv2.drawContours(sheet, [hull], -1, 1, thickness=cv2.FILLED)  # ink across the edge stays
    window = _odd(max(small.shape) * STROKE_WINDOW)
    dark = thin_strokes(small, window)[1]
    beside = dark > MIN_CONTRAST
    beside &= ~cv2.dilate(sheet, np.ones((window, window), np.uint8)).view(bool)  # off the sheet's rim
    beside[[0, -1]] = beside[:, [0, -1]] = False  # and off the picture's edge (a wedge of desk ends there)
    if written_on(beside):
        return gray  # writing beside the bright region: a page partly in a shadow, not a sheet on a desk
    if blank and (dark > MIN_CONTRAST)[cv2.erode(sheet, np.ones((window, window), np.uint8)).view(bool)].any():
        # a stroke on it, too short or too thin for written_on: a lone 1, or writing a few hundredths
        # of the picture's height, which the small copies blur away: written on, its desk painted
        blank = False
    # a small copy's pixel is several of the picture's: the sheet's rim, and the desk it half covers, go too
    sheet = cv2.erode(sheet, np.ones((5, 5), np.uint8))
    around = paper_plane(small + dark, sheet.view(bool), scale, (height, width)) if on_a_desk and not blank else None
    sheet = cv2.resize(sheet, (width, height), interpolation=cv2.INTER_NEAREST).view(bool)
    if not sheet.any():
        return gray
    level = percentile(gray[sheet], 50)
    if level <= 0.5:  # a dim sheet would still look like a dark page: nothing gained
        return gray
    if blank:  # nothing written: slivers of desk left along the picture's edge would read as 1s
        return np.full_like(gray, level)
    return np.where(sheet, gray, np.float32(level) if around is None else around)


def edge_notches(sheet: np.ndarray, hull: np.ndarray) -> np.ndarray:
    """Where writing cut by the picture's edge notches a ``sheet`` (H, W) uint8, its outline filled:
    the parts of its convex ``hull`` (a contour) outside it that touch the picture's edge, bool (H, W).
    Such writing is no hole in the sheet, and a sheet with only that on it looked blank."""
    inside = np.zeros_like(sheet)
    cv2.drawContours(inside, [hull], -1, 1, thickness=cv2.FILLED)
    labels, stats = components(inside.view(bool) & ~sheet.view(bool))
    height, width = sheet.shape
    x, y, w, h = (stats[:, k] for k in range(4))
    touching = (x == 0) | (y == 0) | (x + w == width) | (y + h == height)
    touching[0] = False
    return touching[labels]


def paper_plane(paper: np.ndarray, sheet: np.ndarray, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """The light of a sheet's ``paper`` (H, W) float32, its ink closed over, where ``sheet`` (H, W)
    bool, as a plane a + b x + c y fitted to it, on a picture of ``shape`` that ``paper`` is a copy
    of, shrunk by ``scale``: float32 ``shape``, within the sheet's lightest and darkest paper. Painted
    around the sheet, it carries the sheet's shading on past its edge: painted one grey, the edge of
    a sheet shaded darker than its middle came out as a stroke beside the digit."""
    rows, columns = np.nonzero(sheet)
    values = paper[rows, columns]
    terms = np.column_stack([np.ones(rows.size), columns, rows])
    (a, b, c), *_ = np.linalg.lstsq(terms, values, rcond=None)
    ys = np.arange(shape[0], dtype=np.float32)[:, np.newaxis] * scale
    xs = np.arange(shape[1], dtype=np.float32)[np.newaxis, :] * scale
    return np.clip(np.float32(a) + np.float32(b) * xs + np.float32(c) * ys, values.min(), values.max())


def closer_holes(gray: np.ndarray, sheet: np.ndarray, scale: float, level: float,
                 longest: float) -> tuple[np.ndarray, float]:
    """The dark holes (below ``level``) in a ``sheet`` found on a copy of ``gray`` shrunk by ``scale``,
    seen on a copy of the sheet's own box CLOSER_SIDE long, and ``longest`` px of ``sheet`` in that
    copy's pixels: on the picture's small copy a sheet that fills half its height or less shows its
    digits a dozen pixels tall, their strokes run together."""
    x, y, w, h = cv2.boundingRect(sheet)
    box = gray[int(y / scale):int((y + h) / scale), int(x / scale):int((x + w) / scale)]
    closer = _shrink(box, min(1.0, CLOSER_SIDE / max(box.shape)))
    inside = cv2.resize(sheet[y:y + h, x:x + w], (closer.shape[1], closer.shape[0]), interpolation=cv2.INTER_NEAREST)
    rim = 2 * int(np.ceil(closer.shape[0] / h)) + 1  # a small copy's pixel at the sheet's edge is half desk
    inside = cv2.erode(inside, np.ones((rim, rim), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return inside.view(bool) & (closer < level), longest * closer.shape[0] / h


def written_on(holes: np.ndarray, longest: float = np.inf) -> bool:
    """True when the largest of the dark ``holes`` (H, W) bool in a bright region is a stroke of
    writing, no wider than SHEET_STROKE of its length, and not a blob (the hole of a bold 0). With
    ``longest`` (px, a closer look), also no longer than that, and bent (filling less than
    SHEET_BENT of its convex hull) or a straight stroke no wider than SHEET_LINE of its length: the
    holes of a bold digit, white on black, seen closer, are straight slits wider than that."""
    labels, stats = components(holes)
    if len(stats) <= 1:
        return False
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    length = max(stats[largest, cv2.CC_STAT_WIDTH], stats[largest, cv2.CC_STAT_HEIGHT])
    shape = labels == largest
    width = stroke_width(shape)
    if length > longest or width > SHEET_STROKE * length:
        return False
    if longest == np.inf or width <= SHEET_LINE * length:  # a pen's 1
        return True
    outlines, _ = cv2.findContours(shape.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return stats[largest, cv2.CC_STAT_AREA] < SHEET_BENT * cv2.contourArea(cv2.convexHull(np.concatenate(outlines)))


def border(gray: np.ndarray) -> np.ndarray:
    """The pixels on the edges of ``gray`` (H, W), one row or column each: (2 (H + W),)."""
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def dark_border(gray: np.ndarray, share: float = 0.5) -> bool:
    """True when ``share`` or more of the border of ``gray`` (H, W) in [0, 1] is dark (0.5 or
    less): light ink on a dark page, a sheet on a desk, or a page in a shadow (``light_ink`` tells
    them apart)."""
    edge = border(gray)
    return np.count_nonzero(edge <= 0.5) >= share * edge.size


def background_copy(gray: np.ndarray, side: int = BACKGROUND_SIDE) -> np.ndarray:
    """``gray`` (H, W) shrunk by a whole factor to about ``side`` px (averaging): the copy the
    paper's light and the picture's polarity are read on."""
    height, width = gray.shape
    factor = max(1, max(height, width) // side)
    return cv2.resize(gray, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)


def thin_strokes(small: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """What a grey opening and a grey closing of ``small`` (H, W) float32 with a square ``window``
    take away: its light strokes and its dark strokes narrower than the window, as two float32
    (H, W) >= 0 (top-hats). Anything wider (paper, a shadow, a desk, their edges) is 0 in both."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    light = small - cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
    dark = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE) - small
    return light, dark


def light_ink(gray: np.ndarray) -> bool:
    """True when the ink of ``gray`` (H, W) in [0, 1] is lighter than its paper (chalk on a board,
    a white-on-black drawing). The polarity of every picture is read here.

    Paper surrounds writing, so a light border is a light page, and a border dark all round (all
    but LIT_BORDER of it) a dark page, unless it is paper in dim light (``dim_paper``: what stands
    out from the border, or from the paper around it (``paper_around``) where the page is lit in
    its middle, is mostly darker). A border dark in part and light in part may be a page partly in a shadow (a
    phone's, a hand's): it is a dark page only when the picture's thin strokes are light, thin
    strokes being ``thin_strokes`` with a window of STROKE_WINDOW of the longest side, on the
    ``background_copy`` (a shadow's edge is wider than the window). Pictures under MIN_SHADED_SIDE
    have one shade of paper: a dark border is a dark page, unless what stands out from it is
    mostly darker, covers at most SMALL_INK_SHARE of the picture, and its thin strokes are dark.
    """
    if not dark_border(gray):
        return False
    if min(gray.shape) < MIN_SHADED_SIDE:
        return not (dim_paper(gray, most=SMALL_INK_SHARE) and dark_strokes(gray, SMALL_STROKE_WINDOW))
    small = background_copy(gray)
    if dark_border(gray, 1 - LIT_BORDER):
        return not (dim_paper(small) or dim_paper(small, paper_around(small)))
    return not dark_strokes(small, STROKE_WINDOW)


def dark_strokes(small: np.ndarray, window: float) -> bool:
    """True when the thin strokes of ``small`` (H, W) in [0, 1] (``thin_strokes``, a window of
    ``window`` of its longest side) are more dark than light: dark ink on paper."""
    light, dark = thin_strokes(small, _odd(max(small.shape) * window))
    return float(dark.sum()) > float(light.sum())


def dim_paper(small: np.ndarray, paper: float | np.ndarray | None = None, most: float = 1.0) -> bool:
    """True when ``small`` (H, W) in [0, 1], a picture with a dark border (its ``background_copy``,
    or a picture under MIN_SHADED_SIDE itself), is light paper photographed in dim light: what
    stands out from the paper's level (by INK_STEP or more) is mostly darker than it (DIM_INK
    times as many pixels), as ink on paper is, and covers at most ``most`` of the picture (ink is
    strokes). Light ink on a dark page (chalk, a white-on-black drawing) stands out lighter; a
    sheet on a dark desk stands out lighter too, and stays the dark page it was.

    ``paper``: the paper's level, the border's median by default, or one per pixel
    (``paper_around``: a page lit in its middle stands out lighter than its border, paper and all)."""
    if paper is None:
        paper = percentile(border(small), 50)
    darker = cv2.countNonZero((small < paper - INK_STEP).view(np.uint8))
    lighter = cv2.countNonZero((small > paper + INK_STEP).view(np.uint8))
    return DIM_INK * lighter < darker <= most * small.size


def paper_around(small: np.ndarray) -> np.ndarray:
    """The paper's level around each pixel of ``small`` (H, W) float32 in [0, 1], whichever the
    ink's shade: a median over DIM_WINDOW of the longest side, on a ``background_copy``
    DIM_COPY_SIDE px long (the paper's light varies slowly), brought back to (H, W)."""
    coarse = background_copy(small, DIM_COPY_SIDE)
    level = np.round(coarse * 255).astype(np.uint8)  # (OpenCV's wide medians take 8 bits)
    paper = cv2.medianBlur(level, _odd(max(coarse.shape) * DIM_WINDOW)).astype(np.float32) * np.float32(1 / 255)
    return cv2.resize(paper, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_LINEAR)


def remove_background(gray: np.ndarray) -> np.ndarray:
    """Light ink on black from ``gray`` (H, W) float32 in [0, 1]: the paper flattened to 0.

    The polarity comes from ``light_ink``. The paper's own light, which a phone photo shades from
    one corner to another, is estimated by a grey opening with a window wider than any stroke (it
    keeps what is wider than a stroke: the paper) on a reduced copy, smoothed, and subtracted. A
    global threshold then separates ink from paper even where the paper is in shadow, which a
    threshold of the raw image cannot do.
    """
    ink = gray if light_ink(gray) else 1.0 - gray
    height, width = ink.shape
    if max(height, width) < MIN_SHADED_SIDE:
        edge = border(gray)
        return np.clip(ink - min(percentile(ink.ravel(), 50), percentile(np.minimum(edge, 1.0 - edge), 50)), 0.0, 1.0)
    small = background_copy(ink)
    window = _odd(max(small.shape) * BACKGROUND_WINDOW)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    level = float(small[0, 0])
    if float(np.abs(border(small) - level).max()) <= ONE_SHADE and not cv2.erode(
            (np.abs(small - level) > ONE_SHADE).view(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE).any():
        # Paper of one grey (a canvas drawing: no light to even out) and nothing off it as wide as
        # the window: the opening below would give that grey, at a tenth of the read's cost.
        return np.clip(ink - np.float32(level), 0.0, 1.0)
    opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
    paper = cv2.blur(opened, (window, window), borderType=cv2.BORDER_REPLICATE)
    paper = np.where(shadow_edges(opened, paper), opened, paper)
    # A solid blob wider than the window (a big dot, a filled-in loop) survives the opening as if it
    # were shaded paper, and would come out hollow: paper is never much darker than most of the page is.
    # (No paper over the cap when its whole range is under PAPER_SPREAD, as on a plain canvas: no median.)
    if float(paper.max()) - float(paper.min()) > PAPER_SPREAD:
        paper = np.minimum(paper, percentile(paper.ravel(), 50) + PAPER_SPREAD)
    if paper.shape != ink.shape:
        paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(ink - np.minimum(paper, ink), 0.0, 1.0)


def shadow_edges(opened: np.ndarray, blurred: np.ndarray) -> np.ndarray:
    """Where the paper estimate must keep its opening ``opened`` rather than its blur ``blurred``
    (both (H, W) float32, ink light): along the sharp edge of a shadow, whose dark side the blur
    would leave as a band of ink. A shadow comes from outside the picture (a phone, a hand): the
    opening stands SHADOW_EDGE above its blur, in a region darker than the paper that reaches the
    picture's edge. A big filled dot's edge is as sharp, and lies inside the picture."""
    steep = opened - blurred > SHADOW_EDGE
    if not steep.any():
        return steep
    shaded = (opened > percentile(opened.ravel(), 5) + SHADOW_EDGE).view(np.uint8)  # darker than the lit paper
    _, labels = cv2.connectedComponents(shaded, connectivity=8)
    outside = np.unique(border(labels))
    return steep & np.isin(labels, outside[outside > 0])


def find_ink(gray: np.ndarray, retry: bool = False) -> tuple[np.ndarray, np.ndarray, Components]:
    """The paper removed from ``gray`` (H, W) in [0, 1] (light ink on black, float32), the ink
    mask (bool) and its ``components``: Otsu's threshold, never below MIN_INK_SHARE of the
    strongest ink, so that a page with little ink does not turn its noise into ink. No ink at all
    when the strongest is under MIN_CONTRAST, unless it is faint ink (FAINT_CONTRAST or more) on
    ``even_paper`` that ``stands_out`` of the paper's grain. ``retry``: the full-size look at a
    picture whose coarse copy holds no ink (``working_ink``, for a hairline), where the grain is
    strongest: there ink must stand out of it even over MIN_CONTRAST. Lines printed on the paper (a
    notebook's rules, its squares) are not ink, nor are the lines of a box or a comb field around
    writing. The components are labelled once and handed on while the mask stays the same: each
    labelling costs a tenth of a canvas drawing's read."""
    gray = gray.astype(np.float32, copy=False)
    flat = remove_background(gray)
    strongest = float(flat.max())
    if retry:
        has_ink = strongest >= MIN_CONTRAST and stands_out(gray, flat, strongest)
    else:
        has_ink = strongest >= MIN_CONTRAST or (
            strongest >= FAINT_CONTRAST and even_paper(gray) and stands_out(gray, flat, strongest))
    if not has_ink:
        mask = np.zeros(flat.shape, dtype=bool)
        return flat, mask, components(mask)
    as_bytes = np.round(flat * 255).astype(np.uint8)
    otsu, _ = cv2.threshold(as_bytes, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    threshold = max(otsu / 255.0, MIN_INK_SHARE * strongest)
    found = flat > threshold
    marks = components(found)
    mask = without_printed_lines(as_bytes, found, marks.stats)
    if mask is not found:
        marks = components(mask)
    unboxed = without_box_lines(mask, marks)
    if unboxed is not mask:
        mask, marks = unboxed, components(unboxed)
    kept = without_frames(mask, marks)
    return flat, kept, (marks if kept is mask else components(kept))


def even_paper(gray: np.ndarray) -> bool:
    """True when the paper of ``gray`` (H, W) float32 in [0, 1] leaves no faint shapes once
    removed: a picture under MIN_SHADED_SIDE (one paper level, no estimate), or paper of one grey
    all round (drawn on a screen). A photo's paper estimate, and its shrunk copies', leaves the
    soft edges of shadows and stains, folds and what shows through from the back of the sheet, as
    faint as a light pencil and read as 1s and 0s: there, ink is MIN_CONTRAST or more."""
    if max(gray.shape) < MIN_SHADED_SIDE:
        return True
    edge = border(gray)
    return float(edge.max()) - float(edge.min()) <= ONE_SHADE


def stands_out(gray: np.ndarray, flat: np.ndarray, strongest: float) -> bool:
    """True when the strongest ink of ``flat`` (``find_ink``'s paper removed from ``gray``, both
    (H, W) float32 in [0, 1]; ``strongest`` its maximum) is FAINT_NOISE times the paper's grain or more: writing, and not the
    grain of a blank photo (a sensor's noise, its JPEG blocks), whose strongest, once the paper is
    removed, is 5-8 times its spread.

    In a picture under MIN_SHADED_SIDE (a crop, a small drawing), ink may be a third of the pixels
    and the paper is one level: the grain's spread is that of ``gray`` around its median (1.4826
    times the median absolute deviation). A larger picture is mostly paper, shaded: the spread is
    that of the paper left in ``flat``, whose estimate lies near the grain's middle and clips its
    lower half to 0, so it is measured on the upper half, between the median and the upper
    quartile. (A blank photo's JPEG blocks leave most of its pixels near their block's level and
    its grain in a heavy tail, which the median absolute deviation misses: a seventh of this
    spread in the coarse copy of one.)"""
    if max(gray.shape) < MIN_SHADED_SIDE:
        middle = 0.0
        spread = 1.4826 * percentile(np.abs(gray.ravel() - percentile(gray.ravel(), 50)), 50)
    else:
        values = flat.ravel()
        middle = percentile(values, 50)
        spread = (percentile(values, 75) - middle) / 0.6745
    return strongest - middle >= FAINT_NOISE * max(spread, 0.5 / 255)


class Components(NamedTuple):
    """The marks of a mask, as cv2.connectedComponentsWithStats finds them (8-connected):
    ``labels`` int32 (H, W), 0 off the marks, and ``stats`` (K + 1, 5), a row of left, top, width,
    height and area per label, the background's first."""

    labels: np.ndarray
    stats: np.ndarray


def components(mask: np.ndarray) -> Components:
    """The ``Components`` of ``mask`` (H, W) bool."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    return Components(labels, stats)


def without_frames(mask: np.ndarray, marks: Components | None = None) -> np.ndarray:
    """``mask`` (H, W) bool (its ``components`` ``marks``, when known) without the frames around
    writing and without ``hairlines``; ``mask`` itself when it has none. A ring (a
    printed box of a form, a circle drawn around a digit), its hole FRAME_HOLE of its area or more,
    with a mark in the hole at least FRAME_CONTENT of its height, is no digit, and its pixels are
    dropped. Digits rarely hold a tall mark in their loops (the dot some put in a 0 is small; a 0's
    slash that does not touch the ring would make the ring go); a stroke reaching over the next
    digit (a 1's long lead-in, a 7's bar) closes no hole around it; and a frame lies inside the
    picture: digits joined into a loop by the lines printed across a cheque or a page are not one."""
    labels, stats = marks or components(mask)
    kept = np.flatnonzero(not_specks(stats[1:])) + 1
    marks = stats[kept]
    if not 2 <= len(marks) <= 4 * MAX_DIGITS:  # (more marks than that is refused later, frames or not)
        return mask
    dropped = set(kept[hairlines(marks)].tolist())
    x, y, w, h = (marks[:, i].astype(np.int64)[:, np.newaxis] for i in range(4))
    if ((x < x.T) & (y < y.T) & (x + w > x.T + w.T) & (y + h > y.T + h.T) & (h.T >= FRAME_CONTENT * h)).any():
        dropped |= frames(mask, labels)  # (most pictures have no mark whose box holds a tall mark's: no frame)
    return mask & ~np.isin(labels, list(dropped)) if dropped else mask


def without_box_lines(mask: np.ndarray, marks: Components) -> np.ndarray:
    """``mask`` (H, W) bool, its ``components`` ``marks``, without the straight lines of the boxes
    printed around writing (a form's box, a comb field of joined boxes, one digit in each: its
    sides read as 1s), where ``box_lines`` finds them; ``mask`` itself when there are none. A box
    lies inside the picture: lines that reach its edge are a crop's (a cheque's printed lines)."""
    labels, stats = marks
    kept = np.flatnonzero(not_specks(stats[1:])) + 1 if len(stats) > 1 else []
    unboxed = mask
    for label in kept if len(kept) <= 4 * MAX_DIGITS else []:  # (more marks are refused later)
        x, y, w, h = (int(v) for v in stats[label, :4])
        if at_edge(stats[label], mask.shape) or not boxed(mask[y:y + h, x:x + w]):
            continue
        lines = box_lines((labels[y:y + h, x:x + w] == label).view(np.uint8), mask[y:y + h, x:x + w])
        if lines is not None:
            unboxed = mask.copy() if unboxed is mask else unboxed
            unboxed[y:y + h, x:x + w] &= ~lines
    return unboxed


def at_edge(stat: np.ndarray, shape: tuple[int, int]) -> bool:
    """True when a mark (its cv2 component stats row) touches the edge of a picture of ``shape`` (H, W)."""
    x, y, width, height = (int(v) for v in stat[:4])
    return x == 0 or y == 0 or x + width >= shape[1] or y + height >= shape[0]


def boxed(ink: np.ndarray) -> bool:
    """The quick look of ``box_lines`` at ink (h, w) cropped to a mark's box, bool or 0/1: ink
    across its top and bottom BOX_EDGE, and down its sides. Most marks stop here."""
    h, w = ink.shape
    if min(h, w) < 12:
        return False
    band_h, band_w = max(2, int(BOX_EDGE * h)), max(2, int(BOX_EDGE * w))
    return (ink[-band_h:].any(axis=0).mean() >= BOX_SPAN and ink[:band_h].any(axis=0).mean() >= BOX_SPAN
            and ink[:, :band_w].any(axis=1).mean() >= BOX_SPAN and ink[:, -band_w:].any(axis=1).mean() >= BOX_SPAN)


def box_lines(mark: np.ndarray, ink: np.ndarray) -> np.ndarray | None:
    """For one mark, uint8 (h, w) 0/1 cropped to its box, and all the ink in that box, bool (h, w):
    the pixels of its lines when it is a box or a comb field around writing, bool (h, w); else None.

    A box has ink across the top and bottom BOX_EDGE of the mark and down its sides, and straight
    lines there, found by openings BOX_SPAN of its width (or height) long, on a copy thickened by
    BOX_TILT of that (a page photographed a degree askew); the lines found inside it (a comb's
    walls, as thin as its sides: a digit's upright stroke is thicker) go too. A mark wider than
    tall may be a row of boxes joined by writing that crosses their sides: in a top or bottom band
    that no line crosses whole, lying lines half as long as that for its height are their tops or
    bottoms. Other ink must lie inside (a 0 drawn as a box is left alone, and a box drawn askew:
    what its slanted sides leave lies along its edges, ``remnants`` below). A pen's stroke over or
    along a line (a 7's bar on the box's top) stays where it is thicker than the line."""
    h, w = mark.shape
    if not boxed(mark):
        return None
    band_h, band_w = max(2, int(BOX_EDGE * h)), max(2, int(BOX_EDGE * w))
    drift_h, drift_w = max(1, int(BOX_TILT * w)), max(1, int(BOX_TILT * h))
    nothing = {"borderType": cv2.BORDER_CONSTANT, "borderValue": 0}  # (by default, outside counts as ink)
    drifted = cv2.dilate(mark, np.ones((2 * drift_h + 1, 1), np.uint8))
    lying = cv2.morphologyEx(drifted, cv2.MORPH_OPEN, np.ones((1, int(BOX_SPAN * w)), np.uint8), **nothing)
    upright = cv2.morphologyEx(cv2.dilate(mark, np.ones((1, 2 * drift_w + 1), np.uint8)), cv2.MORPH_OPEN,
                               np.ones((int(BOX_SPAN * h), 1), np.uint8), **nothing)
    if w > h:  # a row of boxes joined by writing that crosses their sides: each one's top and bottom
        for edge in (slice(0, band_h + drift_h), slice(h - band_h - drift_h, h)):
            if not lying[edge].any():  # (no line across the whole mark there)
                lying[edge] = cv2.morphologyEx(drifted[edge], cv2.MORPH_OPEN,
                                               np.ones((1, int(BOX_SPAN * h / 2)), np.uint8), **nothing)
    rows, columns = np.flatnonzero(lying.any(axis=1)), np.flatnonzero(upright.any(axis=0))
    if not (rows.size and columns.size and rows[0] < band_h + drift_h and rows[-1] >= h - band_h - drift_h
            and columns[0] < band_w + drift_w and columns[-1] >= w - band_w - drift_w):
        return None
    # the lines' width, on the box's outer sides (a 7's bar thickens the top); a wall found inside
    # (a comb's) is as thin, and a digit's upright stroke, thicker, is none
    sides = (upright & mark).view(bool)
    inside = slice(band_w + drift_w, max(band_w + drift_w, w - band_w - drift_w))
    outer = sides.copy()
    outer[:, inside] = False
    line_width = run_width(outer)
    pen = int(2 * line_width) + 1
    printed = pen <= PRINTED_LINE * min(h, w)  # thin for the box (the edges of a dark patch are no printed box)
    if printed:
        walls = np.zeros_like(sides)
        walls[:, inside] = sides[:, inside]
        count, labels = cv2.connectedComponents(walls.view(np.uint8))
        for label in range(1, count):
            wall = labels == label
            if run_width(wall) > 1.5 * line_width + 1:
                upright[wall] = 0
    lines = cv2.dilate(((lying | upright) & mark), np.ones((3, 3), np.uint8)).view(bool)
    # a pen's stroke thicker than the printed lines, over or along them (a 7's bar on the box's
    # top), stays: where a disk twice as wide as the lines fits in the mark, it is no line. Not in
    # the side bands (a 2's tail down a side would keep a sliver of it, a 1), nor where the lines
    # are a hairline's (they come and go with the scale) or thick for the box (the edges of a dark
    # patch are no printed box).
    if line_width >= 2 and printed:
        pens = cv2.morphologyEx(mark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (pen, pen)),
                                **nothing).view(bool)
        pens[:, :band_w + drift_w] = pens[:, w - band_w - drift_w:] = False
        lines &= ~pens
    # the writing inside: marks of their own anywhere (a comb's first cells lie in its edge bands),
    # and what the lines leave of the mark itself only clear of twice those bands (there, a box
    # drawn askew leaves its slanted sides, which the openings miss); against the box's height times
    # its shorter side, not its area: one digit in a comb of eight cells is under 2% of its area.
    # (A digit that touches a comb's wall in an edge cell is part of the mark, and is not counted.)
    remnants = (mark.view(bool) & ~lines)[2 * band_h:h - 2 * band_h, 2 * band_w:w - 2 * band_w]
    if np.count_nonzero(ink & ~mark.view(bool)) + np.count_nonzero(remnants) < 0.02 * h * min(h, w):
        return None
    return lines


def run_width(mask: np.ndarray) -> float:
    """The median over ``mask``'s (H, W) bool rows of the mean width of their runs: an upright
    line's thickness (a stroke crossing it widens a few rows only)."""
    runs = np.count_nonzero(mask[:, 1:] & ~mask[:, :-1], axis=1) + mask[:, 0]
    inked = runs > 0
    return float(np.median(np.count_nonzero(mask, axis=1)[inked] / runs[inked])) if inked.any() else 0.0


def frames(mask: np.ndarray, labels: np.ndarray) -> set[int]:
    """The ``labels`` (cv2 components of ``mask``) of the frames around writing (``without_frames``)."""
    contours, hierarchy = cv2.findContours(mask.view(np.uint8), cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    parents = hierarchy[0][:, 3]
    found = set()
    for content, hole in enumerate(parents):
        # a mark's outline inside a hole (the hole's parent is the outline of the mark it is in)
        if hole < 0 or parents[hole] < 0 or is_hole(parents, content):
            continue
        frame = contours[parents[hole]]
        left, top, width, height = cv2.boundingRect(frame)
        if (cv2.boundingRect(contours[content])[3] >= FRAME_CONTENT * height
                and cv2.contourArea(contours[hole]) >= FRAME_HOLE * cv2.contourArea(frame)
                and left > 0 and top > 0 and left + width < mask.shape[1] and top + height < mask.shape[0]):
            found.add(int(labels[frame[0, 0, 1], frame[0, 0, 0]]))
    return found


def hairlines(marks: np.ndarray) -> np.ndarray:
    """For cv2 component stats (K, 5) of two or more marks: bool (K,), True for what is left of a
    frame printed in a hairline (a form's box, faint and broken once thresholded: a side of it
    standing beside the digit reads as a 1): a straight upright mark (its box STRAIGHT or less as
    wide as tall), at least half as tall as the tallest mark, and HAIRLINE or less as thick as the
    thickest, thickness being area over length (one stroke's width for a 1 or a dash, two or three
    for an 8). One pen writes a picture's digits: a 1 beside an 8 is about 0.4 as thick, and a 1
    written upright is as wide as its stroke, a seventh of its height. Lying lines are left alone:
    they read as no digit, and the line reader learned dashes and underlines."""
    widths, heights = marks[:, cv2.CC_STAT_WIDTH], marks[:, cv2.CC_STAT_HEIGHT]
    thickness = marks[:, cv2.CC_STAT_AREA] / np.maximum(widths, heights)
    return ((widths <= STRAIGHT * heights) & (heights >= 0.5 * heights.max())
            & (thickness <= HAIRLINE * thickness.max()))


def is_hole(parents: np.ndarray, contour: int) -> bool:
    """True when ``contour`` of cv2.findContours(..., RETR_TREE) is a hole's outline: its depth in
    ``parents`` (the hierarchy's parent column) is odd."""
    depth = 0
    while parents[contour] >= 0:
        contour, depth = parents[contour], depth + 1
    return depth % 2 == 1


def without_printed_lines(levels: np.ndarray, mask: np.ndarray, stats: np.ndarray | None = None) -> np.ndarray:
    """``mask`` (H, W) bool, the ink of ``levels`` (uint8 (H, W), the ink's strength 0-255, as
    ``find_ink`` thresholds it), without the ruled lines or grid of a notebook's paper when they
    were taken for ink; ``mask`` itself when there are none. ``stats``: the mask's component
    stats (``components``), when known.

    Only when the ink reaches across PAGE_SPAN of the picture, whole or in pieces, is it looked at:
    printed lines are lighter than a pen's ink (Otsu's threshold over the ink's own levels
    separates the two) and run across the page (``printed_lines``). They are taken out only when
    what is left is writing on a page: no mark over WRITING_SHARE of the picture's width or
    height, all of them together not across it (a close-up's digit, a number cropped to its ink,
    fill the picture, and are left as they are). Pictures whose shortest side is under
    MIN_SHADED_SIDE are crops and small drawings, with no page around the writing.
    """
    height, width = mask.shape
    if min(height, width) < MIN_SHADED_SIDE or max(reach(mask)) < PAGE_SPAN:
        return mask
    marks = mark_stats(mask, stats)
    if max(reach(mask, marks)) < PAGE_SPAN:
        return mask
    lightest, _ = cv2.threshold(levels[mask][np.newaxis], 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    light = mask & (levels <= lightest)
    # light ink touching the pen's (a stroke's soft edge, a line where it meets the digit) stays
    beside_pen = cv2.dilate((mask & ~light).view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    # Lines at any angle are looked for among a few marks or more (a canvas's digit or two that
    # fill it need no Hough transform, a fifth of a millisecond each), on a page, not on ink
    # that covers a tenth of the picture or more (noise: the transform's time grows with the ink).
    askew = len(marks) >= ASKEW_MARKS and np.count_nonzero(mask) < ASKEW_INK * mask.size
    on_lines = printed_lines(light, askew) & ~beside_pen
    if askew:
        on_lines |= thin_long_lines(mask)
    if not on_lines.any():
        return mask
    without = mask & ~on_lines
    left = mark_stats(without)
    if (len(left) and max(reach(without, left)) < PAGE_SPAN and (left[:, cv2.CC_STAT_WIDTH] < WRITING_SHARE * width).all()
            and (left[:, cv2.CC_STAT_HEIGHT] < WRITING_SHARE * height).all()):
        return without
    return mask


def printed_lines(light: np.ndarray, askew: bool = True) -> np.ndarray:
    """The pixels of ``light`` (H, W) bool, the lighter ink, that lie on lines across the image,
    bool (H, W): those near the rows where, within a band of LINE_BAND of the image's height (a
    line tilted a few degrees), the light ink covers LINE_COVER of the columns; the same for
    columns, with bands of LINE_BAND of its width; and, with ``askew``, those on straight segments
    at any angle at least LONG_LINE of the image's longer side (a page photographed askew, a
    notebook's margin; uneven light leaves only part of a line above the threshold), found by a
    probabilistic Hough transform that bridges gaps of LINE_GAP of that side."""
    on_lines = np.zeros_like(light)
    for ink, out in ((light, on_lines), (light.T, on_lines.T)):  # rows, then columns (transposed views)
        size, across = ink.shape
        band = np.ones((max(3, round(LINE_BAND * size)), 1), np.uint8)
        covered = np.count_nonzero(cv2.dilate(ink.view(np.uint8), band), axis=1) >= LINE_COVER * across
        if covered.any():
            near = cv2.dilate(covered.astype(np.uint8)[:, np.newaxis], band)[:, 0].view(bool)
            out[near] |= ink[near]
    if not askew:
        return on_lines
    longest = max(light.shape)
    segments = cv2.HoughLinesP(light.view(np.uint8), 1, np.pi / 360, threshold=round(LONG_LINE * longest / 2),
                               minLineLength=round(LONG_LINE * longest), maxLineGap=round(LINE_GAP * longest) + 1)
    if segments is not None:
        drawn = np.zeros(light.shape, np.uint8)
        for x1, y1, x2, y2 in segments.reshape(-1, 4):
            cv2.line(drawn, (int(x1), int(y1)), (int(x2), int(y2)), 1, 3)
        on_lines |= light & drawn.view(bool)
    return on_lines


def thin_long_lines(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` (H, W) bool on straight lines at least SPAN_LINE of the picture's
    shorter side and LONG_LINE of its longer side long, and no thicker than 3 px (a notebook's
    margin, a page's edge: printed, or dark enough in a shadow to pass for a pen's ink), and on
    their run across the picture (uneven light breaks a line), in a picture of a page (PAGE_SIDE
    or more), bool (H, W). A line is thin where the ink within 4 px of it, beyond the
    3 px along it, is under a fifth of the ink on it (a digit crossing it adds a little); a pen's
    long stroke (a close-up's 1) is thicker, and so is the ink it keeps in the line's path (what
    an opening by 5 px leaves)."""
    if min(mask.shape) < PAGE_SIDE:  # a crop of a line of writing: its underline, its digits' strokes
        return np.zeros_like(mask)
    length = max(SPAN_LINE * min(mask.shape), LONG_LINE * max(mask.shape))
    segments = cv2.HoughLinesP(mask.view(np.uint8), 1, np.pi / 360, threshold=round(length / 2),
                               minLineLength=round(length), maxLineGap=round(LINE_GAP * max(mask.shape)) + 1)
    extended = np.zeros(mask.shape, np.uint8)
    for x1, y1, x2, y2 in (segments.reshape(-1, 4)[:MAX_SEGMENTS] if segments is not None else []):
        # thin or not, looked at in the segment's own box (a squared page has a hundred lines)
        left, top = max(0, min(x1, x2) - 6), max(0, min(y1, y2) - 6)
        crop = mask[top:max(y1, y2) + 7, left:max(x1, x2) + 7]
        narrow, wide = np.zeros(crop.shape, np.uint8), np.zeros(crop.shape, np.uint8)
        ends = (int(x1 - left), int(y1 - top)), (int(x2 - left), int(y2 - top))
        cv2.line(narrow, *ends, 1, 3)
        cv2.line(wide, *ends, 1, 11)
        on, beside = crop & narrow.view(bool), crop & wide.view(bool) & ~narrow.view(bool)
        if np.count_nonzero(beside) < 0.2 * np.count_nonzero(on):
            # the line runs on across the page, where uneven light broke it into shorter pieces
            along = np.array([x2 - x1, y2 - y1], np.float64) * sum(mask.shape) / max(1.0, float(np.hypot(x2 - x1, y2 - y1)))
            start, end = (np.array([x1, y1]) - along).round().astype(int), (np.array([x2, y2]) + along).round().astype(int)
            cv2.line(extended, (int(start[0]), int(start[1])), (int(end[0]), int(end[1])), 1, 3)
    # a pen's stroke in the line's path stays: thicker than a printed line, it survives an opening
    pen = cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)).view(bool)
    return mask & extended.view(bool) & ~cv2.dilate(pen.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)


def mark_stats(mask: np.ndarray, stats: np.ndarray | None = None) -> np.ndarray:
    """cv2 component stats (K, 5) of the marks of ``mask`` (H, W) bool, specks left out; from its
    ``components`` ``stats`` (K + 1, 5) when known."""
    if stats is None:
        stats = components(mask).stats
    return stats[1:][not_specks(stats[1:])] if len(stats) > 1 else stats[1:]


def reach(mask: np.ndarray, stats: np.ndarray | None = None) -> tuple[float, float]:
    """How far across the image (H, W) the ink of ``mask`` reaches, as shares of its width and
    height: from its first to its last inked column and row, or those of the marks ``stats``."""
    height, width = mask.shape
    if stats is None:
        columns, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
        if not columns.size:
            return 0.0, 0.0
        return (columns[-1] + 1 - columns[0]) / width, (rows[-1] + 1 - rows[0]) / height
    if not len(stats):
        return 0.0, 0.0
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    return (float((left + stats[:, cv2.CC_STAT_WIDTH]).max() - left.min()) / width,
            float((top + stats[:, cv2.CC_STAT_HEIGHT]).max() - top.min()) / height)


def scale_ink(flat: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The ink of ``find_ink`` rescaled so that solid ink (its 90th percentile under ``mask``) is
    1; only pixels next to the mask keep their soft edge, the rest is 0."""
    if not mask.any():
        return np.zeros_like(flat)
    ink = np.clip(flat / max(percentile(flat[mask], 90), 1e-3), 0.0, 1.0)
    near = cv2.dilate(mask.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    ink[~near] = 0.0
    return ink


def ink_image(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Light-ink-on-black version of ``gray`` (H, W) in [0, 1], and the ink mask (bool).

    After the paper is removed, Otsu's threshold separates ink from what is left of the paper
    and from sensor noise (find_ink); the ink is rescaled so that solid ink is 1, and only pixels
    next to the mask keep their soft edge (scale_ink). No median filter: it erases the 1-pixel
    strokes of canvas drawings (specks are dropped later, by size, in find_digits).
    """
    flat, mask, _ = find_ink(gray)
    return scale_ink(flat, mask), mask


def find_digits(mask: np.ndarray, marks: Components | None = None) -> list[np.ndarray]:
    """Group the ink of ``mask`` (H, W) bool (its ``components`` ``marks``, when known) into
    digits, left to right.

    Pieces closer than JOIN_GAP of the tallest piece's height are one mark (a hairline stroke
    drawn with small gaps, a 5 whose bar was lifted). Tall marks that overlap horizontally by a
    good share belong together; a short mark (the bar of a broken 5, the stroke of a 4 drawn in
    two) joins the digit it overlaps most. Specks are noise, and so are short marks among hundreds
    (CROWD_HEIGHT: the dots of a faint printed grid). Returns one bool mask per digit.
    """
    as_bytes = mask.view(np.uint8) if mask.dtype == np.bool_ else mask.astype(np.uint8)
    pieces, stats = marks or components(as_bytes.view(bool))
    count = len(stats)
    if count <= 1:
        return []
    mark_of_piece = np.arange(count)
    radius = int(JOIN_GAP * stats[1:, cv2.CC_STAT_HEIGHT].max() / 2)  # each piece grows half the gap
    if radius >= 1 and count > 2:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        _, joined = cv2.connectedComponents(cv2.dilate(as_bytes, kernel), connectivity=8)
        ink = as_bytes.astype(bool)
        mark_of_piece[pieces[ink]] = joined[ink]  # every pixel of a piece lies in one joined mark
        _, mark_of_piece = np.unique(mark_of_piece, return_inverse=True)
        stats = _merge_stats(stats, mark_of_piece)
    # Specks (small and short) are noise, dropped before any grouping: a noisy photo has thousands.
    heights, areas = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    kept = np.flatnonzero(not_specks(stats[1:]))
    if len(kept) > 4 * MAX_DIGITS:
        # hundreds of marks around writing: the darker dots where a faint printed grid's lines cross,
        # or a noisy photo's grain. Its short marks are left out (points and dashes with them).
        kept = np.flatnonzero(heights >= CROWD_HEIGHT * heights.max())
    if len(kept) > 4 * MAX_DIGITS:
        raise ImageError(f"{len(kept)} separate marks found, more than the {MAX_DIGITS} digits read at most")
    count = len(kept)
    left, widths = stats[1:, cv2.CC_STAT_LEFT][kept], stats[1:, cv2.CC_STAT_WIDTH][kept]
    heights, areas = heights[kept], areas[kept]
    spans = [(int(x), int(x + w)) for x, w in zip(left, widths)]
    tallest = heights.max()

    def overlap(a, b):
        return min(a[1], b[1]) - max(a[0], b[0])

    # Tall marks, left to right, merged into the current group while they overlap enough.
    groups: list[tuple[list[int], tuple[int, int]]] = []
    for i in sorted((i for i in range(count) if heights[i] >= 0.5 * tallest), key=lambda i: spans[i][0]):
        if groups:
            members, span = groups[-1]
            if overlap(spans[i], span) > 0.3 * min(spans[i][1] - spans[i][0], span[1] - span[0]):
                groups[-1] = (members + [i], (min(span[0], spans[i][0]), max(span[1], spans[i][1])))
                continue
        groups.append(([i], spans[i]))
    # Short marks join the group they overlap most, when no farther from its rows than half the
    # tallest mark (a remnant of a printed line far below a digit is no part of it); alone, they
    # are a mark of their own unless specks.
    tops = stats[1:, cv2.CC_STAT_TOP][kept]
    rows = [(min(tops[m] for m in members), max(tops[m] + heights[m] for m in members)) for members, _ in groups]
    for i in (i for i in range(count) if heights[i] < 0.5 * tallest):
        best = max(range(len(groups)), key=lambda g: overlap(spans[i], groups[g][1]))
        if (overlap(spans[i], groups[best][1]) > 0
                and overlap((tops[i], tops[i] + heights[i]), rows[best]) > -0.5 * tallest):
            groups[best][0].append(i)
        elif areas[i] >= 0.05 * areas.max():  # a dash or a dot of its own: the model says what it is
            groups.append(([i], spans[i]))
            rows.append((tops[i], tops[i] + heights[i]))
    groups.sort(key=lambda group: group[1][0])
    if len(groups) > MAX_DIGITS:
        raise ImageError(f"{len(groups)} separate marks found, more than the {MAX_DIGITS} digits read at most")
    group_of_mark = np.zeros(len(stats), dtype=np.int32)
    for g, (members, _) in enumerate(groups):
        group_of_mark[kept[members] + 1] = g + 1
    grouped = group_of_mark[mark_of_piece][pieces]
    return [grouped == g + 1 for g in range(len(groups))]


def not_specks(stats: np.ndarray) -> np.ndarray:
    """For cv2 component stats (K, 5) of marks (no background row): bool (K,), False for specks,
    marks under SPECK of the largest one's area and under a quarter of the tallest one's height."""
    heights, areas = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    return (areas >= SPECK * areas.max()) | (heights >= 0.25 * heights.max())


def _merge_stats(stats: np.ndarray, mark_of_piece: np.ndarray) -> np.ndarray:
    """cv2 component stats (left, top, width, height, area) of pieces -> stats of the marks they form."""
    marks = int(mark_of_piece.max()) + 1
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right, bottom = left + stats[:, cv2.CC_STAT_WIDTH], top + stats[:, cv2.CC_STAT_HEIGHT]
    merged = np.zeros((marks, 5), dtype=stats.dtype)
    low = np.full((marks, 2), np.iinfo(stats.dtype).max, dtype=stats.dtype)
    high = np.zeros((marks, 2), dtype=stats.dtype)
    np.minimum.at(low, mark_of_piece, np.stack([left, top], axis=1))
    np.maximum.at(high, mark_of_piece, np.stack([right, bottom], axis=1))
    merged[:, cv2.CC_STAT_LEFT], merged[:, cv2.CC_STAT_TOP] = low[:, 0], low[:, 1]
    merged[:, cv2.CC_STAT_WIDTH], merged[:, cv2.CC_STAT_HEIGHT] = high[:, 0] - low[:, 0], high[:, 1] - low[:, 1]
    merged[:, cv2.CC_STAT_AREA] = np.bincount(mark_of_piece, weights=stats[:, cv2.CC_STAT_AREA], minlength=marks)
    return merged


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels of a bool mask: twice its area over its boundary length."""
    as_bytes = mask.view(np.uint8) if mask.dtype == np.bool_ else mask.astype(np.uint8)
    inner = cv2.erode(as_bytes, CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    boundary = int(as_bytes.sum()) - int(inner.sum())
    return 2.0 * float(as_bytes.sum()) / max(boundary, 1)


def to_mnist(ink: np.ndarray, digit_mask: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """One digit to the MNIST convention: float32 (28, 28) in [0, 1], and its box [x, y, w, h].

    The digit is cropped to its ink, its strokes brought to MNIST's width (thickened when
    scaling would make them thinner, thinned when a marker made them thicker), scaled so that
    its longest side is DIGIT_BOX px, and placed so that its centre of mass is at the centre
    of the FRAME x FRAME image.
    """
    rows = np.flatnonzero(digit_mask.any(axis=1))
    cols = np.flatnonzero(digit_mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    mask = digit_mask[top:bottom, left:right]
    near = cv2.dilate(mask.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    crop = np.where(near, ink[top:bottom, left:right], 0.0).astype(np.float32)
    # A digit kept large (fine strokes keep the full resolution) is first max-pooled to about
    # MAX_CROP px: a hairline survives pooling, and thickening it then takes a few pixels, not a
    # 141-pixel kernel over a 1000-pixel crop.
    pool = int(max(crop.shape) // MAX_CROP)
    if pool >= 2:
        crop, mask = _max_pool(crop, pool), _max_pool(mask.view(np.uint8), pool).view(bool)
    scale = DIGIT_BOX / max(crop.shape)

    width = stroke_width(mask)
    if width * scale < MNIST_STROKE[0]:
        radius = int(np.ceil((MNIST_STROKE[1] / scale - width) / 2))
        if radius >= 1:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
            crop = cv2.dilate(cv2.copyMakeBorder(crop, *(radius,) * 4, cv2.BORDER_CONSTANT, value=0), kernel)
    elif width * scale > MNIST_STROKE[2]:
        radius = int((width - MNIST_STROKE[1] / scale) / 2)
        if radius >= 1:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
            thinner = cv2.erode(crop, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            # thinning must not cut the digit into pieces (a marker's strokes are uneven)
            if thinner.max() > 0.5 and _pieces(thinner > 0.5) <= _pieces(mask):
                crop = thinner
    rows = np.flatnonzero(crop.max(axis=1) > 0.05)
    cols = np.flatnonzero(crop.max(axis=0) > 0.05)
    crop = crop[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = DIGIT_BOX / max(crop.shape)

    new_size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    # ufuncs, not np.clip and np.pad: on a 20x20 digit their Python overhead was a third of the step
    small = np.maximum(cv2.resize(crop, new_size, interpolation=method), 0.0)
    if small.max() > 0:
        small = np.minimum(small / percentile(small[small > 0.05 * small.max()], 95), 1.0)

    frame = np.zeros((FRAME, FRAME), dtype=np.float32)
    moments = cv2.moments(small)
    if moments["m00"] > 0:
        com_row, com_col = moments["m01"] / moments["m00"], moments["m10"] / moments["m00"]
    else:
        com_row, com_col = small.shape[0] / 2, small.shape[1] / 2
    top_out = min(max(round(FRAME / 2 - com_row), 0), FRAME - small.shape[0])
    left_out = min(max(round(FRAME / 2 - com_col), 0), FRAME - small.shape[1])
    frame[top_out:top_out + small.shape[0], left_out:left_out + small.shape[1]] = small
    return frame, [int(left), int(top), int(right - left), int(bottom - top)]


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) of a non-empty 1-D array, by partial sort:
    about 15x quicker on the few hundred pixels of one digit, where np.percentile's overhead dominates.
    Also the medians of the reading path (q=50; for an even count of float32 values it can differ
    from np.median in the last bit): np.median's first call imports numpy.ma, 15-20 ms of every
    ``digitcnn predict``."""
    position = q / 100 * (values.size - 1)
    low = int(position)
    high = min(low + 1, values.size - 1)
    ordered = np.partition(values, (low, high))
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def _max_pool(array: np.ndarray, size: int) -> np.ndarray:
    """The maximum of every ``size`` x ``size`` block (the edges padded with zeros)."""
    height, width = -(-array.shape[0] // size) * size, -(-array.shape[1] // size) * size
    padded = np.zeros((height, width), dtype=array.dtype)
    padded[:array.shape[0], :array.shape[1]] = array
    return padded.reshape(height // size, size, width // size, size).max(axis=(1, 3))


def _pieces(mask: np.ndarray) -> int:
    count, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return count - 1


def preview_png(image: Image.Image | np.ndarray, max_side: int = 640) -> bytes:
    """The input picture as a PNG at most ``max_side`` px, for a page to show what was read."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and (image.ndim == 2 or image.ndim == 3 and image.shape[2] in (3, 4)):
        image = Image.fromarray(image)  # a decoded PNG's grey or RGB(A), as it is
    elif isinstance(image, np.ndarray):
        image = Image.fromarray((array_to_gray(image) * 255).round().astype(np.uint8), mode="L")
    reduced = reduce_image(image)  # a new, smaller image: never a copy at full size
    image = reduced.copy() if reduced is image else reduced
    image.thumbnail((max_side, max_side))
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "transparency" in image.info or image.mode in ("PA", "La") else "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def frame_to_png(frame: np.ndarray) -> bytes:
    """A float image (28, 28[, 1]) in [0, 1], such as one the model saw, as PNG bytes."""
    out = io.BytesIO()
    Image.fromarray((np.squeeze(frame) * 255).round().astype(np.uint8), mode="L").save(out, format="PNG")
    return out.getvalue()


@dataclass
class Page:
    """An image analysed once, for every later step: its ink at the working resolution.

    ``gray`` float32 (h, w) in [0, 1] is the image at the working resolution, ``ink`` its light
    ink on black and ``mask`` the ink (bool); ``size`` is the file's (width, height) and
    ``scale`` the working pixels per file pixel, per axis; ``marks`` the mask's ``components``.
    ``frame`` is set instead when the input already is an MNIST digit (float32 (28, 28)).
    """

    gray: np.ndarray
    ink: np.ndarray
    mask: np.ndarray
    size: tuple[int, int]
    scale: tuple[float, float]
    frame: np.ndarray | None = None
    marks: Components | None = None

    def file_box(self, x: int, y: int, w: int, h: int) -> list[int]:
        """A box [x, y, w, h] in working pixels -> the same in the file's pixels, inside the image."""
        (sx, sy), (width, height) = self.scale, self.size
        left, top = min(round(x / sx), width - 1), min(round(y / sy), height - 1)
        return [left, top, max(1, min(round(w / sx), width - left)), max(1, min(round(h / sy), height - top))]


def analyse(image: Image.Image | np.ndarray, max_side: int = ANALYSIS_MAX_SIDE) -> Page:
    """Decode-side reductions (to ``max_side`` px), grey levels, paper removal and the ink mask of
    one image (see the module's steps); an MNIST-like 28x28 input is kept as it is, in ``Page.frame``."""
    if isinstance(image, np.ndarray):
        gray = array_to_gray(image)
        full = (gray.shape[1], gray.shape[0])
        if is_mnist_like(gray):
            return Page(gray, gray, gray > 0.5, full, (1.0, 1.0), frame=gray.astype(np.float32))
        analysed = reduce_for_analysis(gray, max_side)
    else:
        full = image.info.get(FILE_SIZE, image.size)
        analysed = to_gray(reduce_image(image, max_side))
        if is_mnist_like(analysed) and full == (28, 28):
            return Page(analysed, analysed, analysed > 0.5, full, (1.0, 1.0), frame=analysed.astype(np.float32))
    analysed, ink, mask, marks = working_ink(sheet_alone(analysed))
    # Each reduction rounds its sizes: the scale back to the file's pixels is measured per axis.
    return Page(analysed, ink, mask, full, (analysed.shape[1] / full[0], analysed.shape[0] / full[1]), marks=marks)


def mark_frames(page: Page, masks: list[np.ndarray]) -> tuple[np.ndarray, list[list[int]]]:
    """One MNIST frame per mask of ``page``: float32 (K, 28, 28, 1), and the boxes in file pixels."""
    if not masks:
        return np.zeros((0, 28, 28, 1), dtype=np.float32), []
    frames, boxes = [], []
    for digit_mask in masks:
        frame, box = to_mnist(page.ink, digit_mask)
        frames.append(frame)
        boxes.append(page.file_box(*box))
    return np.stack(frames)[..., np.newaxis], boxes


def image_to_digits(image: Image.Image | np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """The whole digit-by-digit path: an image -> float32 (K, 28, 28, 1) in [0, 1], one per digit
    left to right, and their boxes [x, y, w, h] in the image's own pixels. K is 0 when no digit is found.
    """
    page = analyse(image)
    if page.frame is not None:
        return page.frame[np.newaxis, :, :, np.newaxis], [[0, 0, 28, 28]]
    return mark_frames(page, find_digits(page.mask, page.marks))


def in_unit_range(array: np.ndarray) -> None:
    """Raise ImageError unless the float image ``array`` is finite and lies in [0, 1] (give or take
    rounding): values of 0-255 in a float array would be clipped to a black-and-white picture and
    read wrong."""
    if not np.isfinite(array).all():
        raise ImageError("image array holds NaN or infinite values")
    if not array.size:
        return
    low, high = float(array.min()), float(array.max())
    if low < -0.01 or high > 1.01:
        raise ImageError(f"expected a float image array in [0, 1], got values from {low:g} to {high:g} "
                         "(divide 0-255 values by 255, or pass uint8)")


def array_to_gray(array: np.ndarray) -> np.ndarray:
    """A NumPy image -> float32 (H, W) in [0, 1].

    Accepts (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); integer arrays are read as 0-255
    (uint16 as 0-65535), float arrays as 0-1.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or min(array.shape[:2]) < 1:
        raise ImageError(f"expected an image array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                         f"got {array.shape}")
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise ImageError(f"image of {array.shape[1]}x{array.shape[0]} pixels is over the limit")
    if array.dtype == np.uint8 and array.ndim == 3:  # a decoded picture: no float copy of its channels
        array = np.ascontiguousarray(array)
        if array.shape[2] == 4:
            return rgba_to_gray(array)
        return cv2.cvtColor(array, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)
    if array.dtype == np.bool_:
        array = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / (65535.0 if array.dtype == np.uint16 else 255.0)
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
        in_unit_range(array)
    else:
        raise ImageError(f"expected a numeric image array, got dtype {array.dtype}")
    array = np.clip(array, 0.0, 1.0)
    if array.ndim == 2:
        return array
    image = Image.fromarray((array * 255).round().astype(np.uint8), mode="RGBA" if array.shape[2] == 4 else "RGB")
    return to_gray(image)
