"""Bring any picture of digits to the MNIST convention, one 28x28 image per digit.

MNIST digits are light ink on black, size-normalized to fit a 20x20 box with their aspect ratio
kept, and placed so that their centre of mass is at the centre of the 28x28 frame. Photos and
drawings are nothing like that: dark ink on light paper, any size, off-centre, tinted, noisy,
transparent. The steps, each a function below:

    decode_image     bytes -> PIL image: size limit, first frame, EXIF orientation
    to_gray          PIL image (any mode) -> float32 (H, W) in [0, 1]; alpha onto a contrasting background
    ink_image        -> light ink on black, background and noise removed (Otsu threshold)
    find_digits      -> one mask per digit (connected components, grouped when they overlap in x)
    to_mnist         -> float32 (28, 28) in [0, 1]: cropped, 20 px box, centred by mass

Pillow, NumPy and SciPy only (no TensorFlow); every failure is an ``ImageError``.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

MAX_PIXELS = 40_000_000  # refuse larger images: decompression bombs
MAX_DIGITS = 40  # more separate marks than this is no number: refuse rather than spend seconds
ANALYSIS_MAX_SIDE = 1024  # larger images are reduced first; digits need no more


class ImageError(ValueError):
    """The input is not a usable image (empty, corrupt, too large, not an image...)."""


class NotAnImageError(ImageError):
    """The bytes are no image format that Pillow knows."""


def decode_image(raw: bytes) -> Image.Image:
    """Decode image bytes with Pillow; first frame of an animation; EXIF orientation applied."""
    if not raw:
        raise ImageError("empty input: 0 bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"image of {width}x{height} pixels is over the limit of "
                                 f"{MAX_PIXELS // 1_000_000} megapixels")
            image.seek(0)
            image.load()
            return ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"image refused as a decompression bomb ({exc})") from None
    except Image.UnidentifiedImageError:
        raise NotAnImageError("not an image: Pillow cannot identify the bytes as any image format") from None
    except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, ValueError, struct.error...
        raise ImageError(f"corrupt or truncated image ({type(exc).__name__}: {exc})") from None


def to_gray(image: Image.Image) -> np.ndarray:
    """Any Pillow image -> float32 (H, W) luminance in [0, 1].

    Transparent pixels are composited onto a background that contrasts with the opaque ink
    (white behind dark strokes, black behind light ones), so a transparent drawing never
    becomes black on black. 16-bit and 32-bit images keep their full range.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    try:
        return _to_gray(image)
    except (ValueError, OSError) as exc:  # modes Pillow cannot convert, such as CIELab
        raise ImageError(f"unsupported image mode {image.mode} ({exc})") from None


def _to_gray(image: Image.Image) -> np.ndarray:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3]
        gray = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        opaque = alpha > 0.5
        if opaque.any() and not opaque.all():
            background = 1.0 if gray[opaque].mean() < 0.5 else 0.0
            gray = alpha * gray + (1 - alpha) * background
        return gray.astype(np.float32)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def reduce_for_analysis(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """Shrink an image whose longest side exceeds ANALYSIS_MAX_SIDE; return it and the scale used."""
    longest = max(gray.shape)
    if longest <= ANALYSIS_MAX_SIDE:
        return gray, 1.0
    scale = ANALYSIS_MAX_SIDE / longest
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    reduced = Image.fromarray(gray, mode="F").resize(size, Image.Resampling.BOX)
    return np.asarray(reduced, dtype=np.float32), scale


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]: the cut that maximizes the between-class variance."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(hist)
    weight_high = weight_low[-1] - weight_low
    mean_low = np.cumsum(hist * centres) / np.maximum(weight_low, 1)
    mean_high = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[np.argmax(between)])


def mnist_like(images: np.ndarray) -> np.ndarray:
    """For float images (N, 28, 28) in [0, 1]: bool (N,), True where an image already follows
    MNIST (dark 2-pixel border, some bright ink) and can go to the model as it is.

    The border mean is summed from four slices (208 pixels), 2x quicker than a boolean mask on
    the large batches of ``DigitReader.read_batch``.
    """
    border = (images[:, :2].sum(axis=(1, 2)) + images[:, -2:].sum(axis=(1, 2))
              + images[:, 2:-2, :2].sum(axis=(1, 2)) + images[:, 2:-2, -2:].sum(axis=(1, 2))) / 208
    return (border < 0.1) & (images.max(axis=(1, 2)) > 0.3)


def is_mnist_like(gray: np.ndarray) -> bool:
    """True for one float image (H, W) that is 28x28 and already follows MNIST (see mnist_like)."""
    return gray.shape == (28, 28) and bool(mnist_like(gray[np.newaxis])[0])


def ink_image(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Light-ink-on-black version of ``gray`` (H, W) in [0, 1], and the ink mask.

    The background polarity comes from the image border (paper surrounds writing). An Otsu
    threshold separates ink from background; the ink is rescaled so that the background is 0
    and solid ink is 1, keeping the soft edges that MNIST digits have.
    """
    from scipy import ndimage

    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 0.5:
        gray = 1.0 - gray
    # A median filter removes salt-and-pepper noise before thresholding; not on tiny images.
    smooth = ndimage.median_filter(gray, size=3) if min(gray.shape) >= 48 else gray
    if float(smooth.max() - smooth.min()) < 0.1:  # flat: no ink at all
        return np.zeros_like(gray), np.zeros(gray.shape, dtype=bool)
    threshold = otsu_threshold(smooth)
    mask = smooth > threshold
    background = float(np.median(smooth[~mask])) if (~mask).any() else 0.0
    solid = float(np.percentile(smooth[mask], 90)) if mask.any() else 1.0
    ink = np.clip((smooth - background) / max(solid - background, 1e-3), 0.0, 1.0)
    # Keep the soft edge next to the strokes, nothing far from them.
    ink[~ndimage.binary_dilation(mask, iterations=1)] = 0.0
    return ink.astype(np.float32), mask


def find_digits(mask: np.ndarray) -> list[np.ndarray]:
    """Group the ink of ``mask`` (H, W) bool into digits, left to right.

    Connected components (8-connected) are digits or parts of digits. Tall parts that overlap
    horizontally by a good share belong together; a short part (the bar of a broken 5, the
    stroke of a 4 drawn in two) joins the digit it overlaps most. Specks are noise.
    Returns one bool mask per digit.
    """
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return []
    slices = ndimage.find_objects(labels)
    areas = np.bincount(labels.ravel())[1:]
    spans = [(s[1].start, s[1].stop) for s in slices]
    heights = np.array([s[0].stop - s[0].start for s in slices])
    tallest = heights.max()

    def overlap(a, b):
        return min(a[1], b[1]) - max(a[0], b[0])

    # Tall parts, left to right, merged into the current group while they overlap enough.
    groups: list[tuple[list[int], tuple[int, int]]] = []
    for i in sorted((i for i in range(count) if heights[i] >= 0.5 * tallest), key=lambda i: spans[i][0]):
        if groups:
            members, span = groups[-1]
            if overlap(spans[i], span) > 0.3 * min(spans[i][1] - spans[i][0], span[1] - span[0]):
                groups[-1] = (members + [i], (min(span[0], spans[i][0]), max(span[1], spans[i][1])))
                continue
        groups.append(([i], spans[i]))
    # Short parts join the group they overlap most; alone, they are a digit only if not a speck.
    for i in (i for i in range(count) if heights[i] < 0.5 * tallest):
        best = max(range(len(groups)), key=lambda g: overlap(spans[i], groups[g][1]))
        if overlap(spans[i], groups[best][1]) > 0:
            groups[best][0].append(i)
        elif heights[i] >= 0.25 * tallest and areas[i] >= 0.05 * areas.max():
            groups.append(([i], spans[i]))
    groups.sort(key=lambda group: group[1][0])
    if len(groups) > MAX_DIGITS:
        raise ImageError(f"{len(groups)} separate marks found, more than the {MAX_DIGITS} digits read at most")
    return [np.isin(labels, [i + 1 for i in members]) for members, _ in groups]


def to_mnist(ink: np.ndarray, digit_mask: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """One digit to the MNIST convention: float32 (28, 28) in [0, 1], and its box [x, y, w, h].

    The digit is cropped to its ink, thickened if scaling would make its strokes thinner than
    MNIST's, scaled so that its longest side is 20 px, and placed so that its centre of mass is
    at the centre of the 28x28 frame.
    """
    from scipy import ndimage

    rows, cols = np.nonzero(digit_mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    region = ndimage.binary_dilation(digit_mask, iterations=1)[top:bottom, left:right]
    crop = np.where(region, ink[top:bottom, left:right], 0.0).astype(np.float32)
    height, width = crop.shape
    scale = 20.0 / max(height, width)

    # Stroke width from the distance transform; MNIST strokes are about 2-3 px at 20 px.
    stroke = 2.0 * float(np.mean(ndimage.distance_transform_edt(digit_mask[top:bottom, left:right])
                                 [digit_mask[top:bottom, left:right]]) + 0.5)
    if stroke * scale < 2.0 and scale < 1.0:
        grow = int(np.ceil((2.0 / scale - stroke) / 2))
        crop = ndimage.grey_dilation(crop, size=(2 * grow + 1, 2 * grow + 1))

    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.asarray(Image.fromarray(crop, mode="F").resize(new_size, Image.Resampling.LANCZOS),
                       dtype=np.float32)
    small = np.clip(small, 0.0, None)
    if small.max() > 0:
        small = np.clip(small / np.percentile(small[small > 0.05 * small.max()], 95), 0.0, 1.0)

    frame = np.zeros((28, 28), dtype=np.float32)
    com_row, com_col = ndimage.center_of_mass(small) if small.sum() > 0 else (small.shape[0] / 2, small.shape[1] / 2)
    top_out = int(np.clip(round(14 - com_row), 0, 28 - small.shape[0]))
    left_out = int(np.clip(round(14 - com_col), 0, 28 - small.shape[1]))
    frame[top_out:top_out + small.shape[0], left_out:left_out + small.shape[1]] = small
    return frame, [int(left), int(top), int(right - left), int(bottom - top)]


def frame_to_png(frame: np.ndarray) -> bytes:
    """A float image (28, 28[, 1]) in [0, 1], such as one the model saw, as PNG bytes."""
    out = io.BytesIO()
    Image.fromarray((np.squeeze(frame) * 255).round().astype(np.uint8), mode="L").save(out, format="PNG")
    return out.getvalue()


def image_to_digits(image: Image.Image | np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """The whole path: an image -> float32 (K, 28, 28, 1) in [0, 1], one per digit left to right,
    and their boxes [x, y, w, h] in the image's own pixels. K is 0 when no digit is found.
    """
    gray = array_to_gray(image) if isinstance(image, np.ndarray) else to_gray(image)
    if is_mnist_like(gray):
        return gray[np.newaxis, :, :, np.newaxis].astype(np.float32), [[0, 0, 28, 28]]
    analysed, scale = reduce_for_analysis(gray)
    ink, mask = ink_image(analysed)
    digits, boxes = [], []
    for digit_mask in find_digits(mask):
        frame, box = to_mnist(ink, digit_mask)
        digits.append(frame)
        boxes.append([round(v / scale) for v in box])
    if not digits:
        return np.zeros((0, 28, 28, 1), dtype=np.float32), []
    return np.stack(digits)[..., np.newaxis], boxes


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
    if array.dtype == np.bool_:
        array = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / (65535.0 if array.dtype == np.uint16 else 255.0)
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    else:
        raise ImageError(f"expected a numeric image array, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ImageError("image array holds NaN or infinite values")
    array = np.clip(array, 0.0, 1.0)
    if array.ndim == 2:
        return array
    image = Image.fromarray((array * 255).round().astype(np.uint8), mode="RGBA" if array.shape[2] == 4 else "RGB")
    return to_gray(image)
