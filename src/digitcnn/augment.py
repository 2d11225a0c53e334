"""Make MNIST digits look like other people's writing, for training the default model.

MNIST is 500 American writers of 1990s census forms. Real users slant more or less, write wider
or narrower, press harder or lighter, lift the pen mid-stroke, and write a 1 with a flag and a
base, a 7 with a bar, a 9 ending in a hook. ``vary`` draws such variations on MNIST training
digits, then brings each one back to the MNIST convention with the very code that prepares real
inputs (``imaging.to_mnist``), so that the model trains on what the reading pipeline will give it.

Every ingredient has a switch in ``config.Augmentation`` so that each can be measured alone (RESULTS.md).
NumPy and OpenCV only: the same function feeds training under any Keras backend.
"""

from __future__ import annotations

import cv2
import numpy as np

from .config import Augmentation
from .imaging import to_mnist

UPSCALE = 2  # drawn at 56x56: thickening and breaks at 28x28 are too coarse
# px of paper added on every side of a 9 at 56x56 before its hook is drawn, so that the hook is not
# cut; equal sides keep the frame square and the digit centred, as _affine turns about the middle
HOOK_ROOM = 14


def _affine(image: np.ndarray, rng: np.random.Generator, aug: Augmentation) -> np.ndarray:
    size = image.shape[0]
    angle = np.deg2rad(rng.uniform(-aug.rotation, aug.rotation))
    shear = rng.uniform(-aug.shear, aug.shear)
    stretch = rng.uniform(1 - aug.aspect, 1 + aug.aspect)
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotate @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([stretch, 1.0])
    centre = np.array([size / 2, size / 2])
    offset = centre - matrix @ centre
    return cv2.warpAffine(image, np.hstack([matrix, offset[:, None]]), (size, size), flags=cv2.INTER_LINEAR)


def _elastic(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    size = image.shape[0]
    field = rng.uniform(-1, 1, (2, 6, 6)).astype(np.float32) * strength
    dx, dy = (cv2.resize(f, (size, size), interpolation=cv2.INTER_CUBIC) for f in field)
    grid_x, grid_y = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    return cv2.remap(image, grid_x + dx, grid_y + dy, interpolation=cv2.INTER_LINEAR)


def flag_one(image: np.ndarray, rng: np.random.Generator, length_range=(0.25, 0.45),
             angle_range=(20, 60)) -> np.ndarray:
    """A European 1: a flag down-left from the top of the stem (``length_range`` of its height,
    ``angle_range`` degrees below the horizontal), sometimes a base."""
    rows, cols = np.nonzero(image > 0.5)
    if len(rows) == 0:
        return image
    top = rows.min()
    height = rows.max() - top
    stem_x = int(np.median(cols[rows < top + max(2, height // 5)]))
    width = max(2, round(float(np.median(np.sum(image > 0.5, axis=1)[image.max(axis=1) > 0.5]))))
    length = rng.uniform(*length_range) * height
    angle = np.deg2rad(rng.uniform(*angle_range))  # below the horizontal
    end = (int(stem_x - length * np.cos(angle)), int(top + length * np.sin(angle)))
    out = image.copy()
    cv2.line(out, (stem_x, int(top)), end, 1.0, thickness=width, lineType=cv2.LINE_AA)
    if rng.uniform() < 0.5:
        bottom = int(rows.max())
        bottom_x = int(np.median(cols[rows > bottom - max(2, height // 5)]))
        half = int(rng.uniform(0.2, 0.35) * height)
        cv2.line(out, (bottom_x - half, bottom), (bottom_x + half, bottom), 1.0, thickness=width,
                 lineType=cv2.LINE_AA)
    return out


def stroke_width(image: np.ndarray) -> int:
    """The pen width of a digit (H, W) float in [0, 1], ink bright: twice the distance from the
    middle of its strokes to the paper (95th percentile, so that crossings count little)."""
    ink = (image > 0.5).astype(np.uint8)
    if not ink.any():
        return 2
    distance = cv2.distanceTransform(ink, cv2.DIST_L2, 3)
    return max(2, round(2 * float(np.percentile(distance[ink > 0], 95))))


def hook_nine(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 9 whose tail ends in a hook to the left, as many fast writers end it (MNIST's 9s end
    straight): an arc from the lowest ink, down, left and back up. ``image`` (H, W) float in
    [0, 1], ink bright, with room below and on the left."""
    rows, cols = np.nonzero(image > 0.5)
    if len(rows) == 0:
        return image
    bottom, height = int(rows.max()), int(rows.max() - rows.min())
    x = int(np.median(cols[rows > bottom - max(2, height // 10)]))
    radius = max(2, round(rng.uniform(0.12, 0.25) * height))
    out = image.copy()
    cv2.ellipse(out, (x - radius, bottom), (radius, max(1, round(radius * rng.uniform(0.5, 0.9)))), 0, 0,
                rng.uniform(150, 240), 1.0, thickness=stroke_width(image), lineType=cv2.LINE_AA)
    return out


def cross_seven(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 7 with a bar across its stem, as most of Europe and Latin America writes it. ``image`` (H, W)
    float in [0, 1], ink bright."""
    rows, cols = np.nonzero(image > 0.5)
    if len(rows) == 0:
        return image
    top, height = int(rows.min()), int(rows.max() - rows.min())
    y = top + round(rng.uniform(0.45, 0.6) * height)
    across = cols[rows == y]
    if across.size == 0:
        return image
    x, half = int(np.median(across)), rng.uniform(0.15, 0.3) * height
    tilt = rng.uniform(-0.15, 0.15) * half
    out = image.copy()
    cv2.line(out, (round(x - half), round(y + tilt)), (round(x + half), round(y - tilt)), 1.0,
             thickness=stroke_width(image), lineType=cv2.LINE_AA)
    return out


def _breaks(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows, cols = np.nonzero(image > 0.5)
    out = image.copy()
    if len(rows) == 0:
        return out
    for _ in range(int(rng.integers(1, 3))):
        k = int(rng.integers(len(rows)))
        cv2.circle(out, (int(cols[k]), int(rows[k])), int(rng.integers(2, 4)), 0.0, thickness=-1)
    return out


def vary(image: np.ndarray, label: int, rng: np.random.Generator, aug: Augmentation) -> np.ndarray:
    """One MNIST digit (28, 28) float32 in [0, 1] -> a varied digit in the MNIST convention."""
    big = cv2.resize(image, (28 * UPSCALE, 28 * UPSCALE), interpolation=cv2.INTER_LINEAR)
    if label == 1 and rng.uniform() < aug.flag_one:
        big = flag_one(big, rng)
    # The bar and the hook (added after the flag) draw nothing when off, so that a run with them at
    # 0 draws the pool that runs drew before they existed.
    if label == 7 and aug.cross_seven and rng.uniform() < aug.cross_seven:
        big = cross_seven(big, rng)
    if label == 9 and aug.hook_nine and rng.uniform() < aug.hook_nine:
        big = hook_nine(np.pad(big, HOOK_ROOM), rng)
    big = _affine(big, rng, aug)
    if aug.elastic:
        big = _elastic(big, rng, aug.elastic)
    if rng.uniform() < aug.thickness:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        big = cv2.dilate(big, kernel) if rng.uniform() < 0.5 else cv2.erode(big, kernel)
    if rng.uniform() < aug.breaks:
        big = _breaks(big, rng)
    mask = big > 0.3
    if mask.sum() < 4:
        return image
    frame, _ = to_mnist(np.clip(big, 0.0, 1.0), mask)
    return frame


def _draw_chunk(images, labels, seed, aug) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([vary(image, int(label), rng, aug) for image, label in zip(images, labels)])


def _star(args):
    function, arguments = args
    return function(*arguments)


def map_chunks(function, chunks: list, workers: int | None = None):
    """``[function(*chunk) for chunk in chunks]`` in worker processes (spawned, not forked: the caller
    may have started TensorFlow's threads). Results that are tuples of arrays come back joined,
    element by element, into one tuple; anything else as a list."""
    import multiprocessing
    import os

    with multiprocessing.get_context("spawn").Pool(workers or os.cpu_count()) as pool:
        parts = pool.map(_star, [(function, chunk) for chunk in chunks])
    if parts and isinstance(parts[0], tuple):
        return tuple(np.concatenate(items) for items in zip(*parts))
    return parts


def draw_pool(images: np.ndarray, labels: np.ndarray, aug: Augmentation, seed: int,
              workers: int | None = None) -> np.ndarray:
    """``aug.copies`` varied versions of every image: float32 (copies, N, 28, 28) in [0, 1].

    Drawn once per run, in worker processes (about 1 ms an image on one core); training then
    picks among them each epoch (``epoch_images``).
    """
    images = np.asarray(images, dtype=np.float32).reshape(len(images), 28, 28)
    copies = aug.copies
    step = 2000
    chunks = [(images[i:i + step], labels[i:i + step], [seed, k, i], aug)
              for k in range(copies) for i in range(0, len(images), step)]
    parts = map_chunks(_draw_chunk, chunks, workers)
    per_copy = len(parts) // copies
    return np.stack([np.concatenate(parts[k * per_copy:(k + 1) * per_copy]) for k in range(copies)])


def epoch_images(images: np.ndarray, labels: np.ndarray, pool: np.ndarray, share: float,
                 marks: np.ndarray, marks_share: float, rng: np.random.Generator, not_a_digit: int = 10):
    """One epoch's training set: float32 images (M, 28, 28) and int labels (M,).

    A ``share`` of the digits is replaced by one of their pooled variations (``draw_pool``); then
    ``marks_share`` x N non-digit marks drawn from ``marks`` are added with the label ``not_a_digit``.
    """
    out = np.array(images, dtype=np.float32, copy=True).reshape(pool.shape[1:])
    varied = np.flatnonzero(rng.uniform(size=len(out)) < share)
    out[varied] = pool[rng.integers(0, len(pool), len(varied)), varied]
    if not marks_share or len(marks) == 0:
        return out, np.asarray(labels)
    picks = rng.integers(0, len(marks), int(marks_share * len(out)))
    return (np.concatenate([out, marks[picks]]),
            np.concatenate([labels, np.full(len(picks), not_a_digit, dtype=np.asarray(labels).dtype)]))
