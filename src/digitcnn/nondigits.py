"""Marks that are not digits, drawn procedurally, for training a "not a digit" class (outlier exposure).

A page, a canvas or a photo holds more than digits: dots, dashes, underlines, scribbles, doodles,
letters and symbols. Without having seen any, a digit classifier must call each of them some digit
(a dot "0", an A "4"). ``draw`` makes one such mark and brings it to the MNIST convention with the
code that prepares real inputs (``imaging.to_mnist``), so that the model sees what the reading
pipeline would give it.

KINDS lists what is drawn. Shapes that *are* digits are left out: no plain ring (0), no single
vertical stroke (1), and no letters that read as digits (O o D Q I l i S s Z z B G g b q T J j).
Letters and symbols come from Pillow's bundled font, then slanted and rotated like handwriting.
NumPy, OpenCV and Pillow only; everything is seeded.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .imaging import to_mnist

SIDE = 96  # marks are drawn at this size, then brought to 28x28 like real inputs
LETTERS = "ACEFHKMNPRUVWXYacefhkmnprtuvwxy#%&@?!*+=<>$"
KINDS = ("dot", "dash", "underline", "scribble", "zigzag", "star", "box", "triangle", "cross", "smiley",
         "arrow", "letter")


def _pen(rng) -> int:
    return int(rng.integers(3, 10))


def _points(rng, count: int) -> np.ndarray:
    return rng.uniform(12, SIDE - 12, (count, 2)).astype(np.int32)


def _draw_kind(kind: str, rng: np.random.Generator) -> np.ndarray:
    canvas = np.zeros((SIDE, SIDE), dtype=np.uint8)
    pen = _pen(rng)
    centre = (SIDE // 2, SIDE // 2)
    if kind == "dot":
        cv2.circle(canvas, centre, int(rng.integers(3, 12)), 255, -1, cv2.LINE_AA)
    elif kind in ("dash", "underline"):
        angle = np.deg2rad(rng.uniform(-25, 25))
        half = rng.uniform(15, 42) if kind == "dash" else 44
        dx, dy = half * np.cos(angle), half * np.sin(angle)
        cv2.line(canvas, (int(48 - dx), int(48 - dy)), (int(48 + dx), int(48 + dy)), 255, pen, cv2.LINE_AA)
    elif kind == "scribble":
        walk = np.cumsum(rng.normal(0, 9, (int(rng.integers(12, 30)), 2)), axis=0)
        walk = (walk - walk.mean(axis=0)) / max(np.abs(walk).max(), 1) * 36 + 48
        cv2.polylines(canvas, [walk.astype(np.int32)], False, 255, max(2, pen // 2), cv2.LINE_AA)
    elif kind == "zigzag":
        count = int(rng.integers(4, 9))
        xs = np.linspace(12, 84, count)
        ys = 48 + np.where(np.arange(count) % 2 == 0, -1, 1) * rng.uniform(8, 25)
        cv2.polylines(canvas, [np.stack([xs, ys], axis=1).astype(np.int32)], False, 255, pen, cv2.LINE_AA)
    elif kind == "star":
        spikes = int(rng.integers(5, 8))
        angles = np.linspace(0, 2 * np.pi, 2 * spikes, endpoint=False) + rng.uniform(0, np.pi)
        radii = np.where(np.arange(2 * spikes) % 2 == 0, 40, rng.uniform(12, 20))
        star = np.stack([48 + radii * np.cos(angles), 48 + radii * np.sin(angles)], axis=1)
        cv2.polylines(canvas, [star.astype(np.int32)], True, 255, max(2, pen // 2), cv2.LINE_AA)
    elif kind == "box":
        width, height = rng.uniform(20, 40, 2)
        cv2.rectangle(canvas, (int(48 - width), int(48 - height)), (int(48 + width), int(48 + height)), 255, pen)
    elif kind == "triangle":
        corners = _points(rng, 3)
        while abs(cv2.contourArea(corners)) < 900:  # a flat triangle is a stroke: a 1 or a 7
            corners = _points(rng, 3)
        cv2.polylines(canvas, [corners], True, 255, pen, cv2.LINE_AA)
    elif kind == "cross":
        cv2.line(canvas, (14, 14), (82, 82), 255, pen, cv2.LINE_AA)
        cv2.line(canvas, (82, 14), (14, 82), 255, pen, cv2.LINE_AA)
    elif kind == "smiley":
        cv2.circle(canvas, centre, 38, 255, max(2, pen // 2), cv2.LINE_AA)
        for eye in (34, 62):
            cv2.circle(canvas, (eye, 36), 5, 255, -1, cv2.LINE_AA)
        cv2.ellipse(canvas, (48, 54), (20, 14), 0, 10, 170, 255, max(2, pen // 2), cv2.LINE_AA)
    elif kind == "arrow":
        cv2.arrowedLine(canvas, (12, 48), (84, 48), 255, pen, cv2.LINE_AA, tipLength=0.35)
    elif kind == "letter":
        image = Image.new("L", (SIDE, SIDE), 0)
        font = ImageFont.load_default(size=int(rng.integers(50, 72)))
        ImageDraw.Draw(image).text((48, 48), str(rng.choice(list(LETTERS))), fill=255, font=font, anchor="mm")
        canvas = np.asarray(image).copy()
        if rng.uniform() < 0.5:
            canvas = cv2.dilate(canvas, np.ones((3, 3), np.uint8))
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return canvas


def _slant(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angle = np.deg2rad(rng.uniform(-15, 15))
    shear = rng.uniform(-0.3, 0.3)
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotate @ np.array([[1.0, shear], [0.0, 1.0]])
    offset = np.array([48.0, 48.0]) - matrix @ np.array([48.0, 48.0])
    return cv2.warpAffine(canvas, np.hstack([matrix, offset[:, None]]), (SIDE, SIDE), flags=cv2.INTER_LINEAR)


def mark_ink(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One mark of ``kind`` as drawn, slanted and turned like handwriting: uint8 (SIDE, SIDE), ink 255 on 0."""
    return _slant(_draw_kind(kind, rng), rng)


def draw(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One mark of ``kind``: float32 (28, 28) in [0, 1], in the MNIST convention."""
    canvas = mark_ink(kind, rng).astype(np.float32) / 255
    mask = canvas > 0.3
    if mask.sum() < 3:
        mask = canvas > 0
    frame, _ = to_mnist(canvas, mask)
    return frame


def make_set(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` marks of every kind in turn: float32 (count, 28, 28) in [0, 1], and their kind names."""
    rng = np.random.default_rng(seed)
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    return np.stack([draw(kind, rng) for kind in kinds]), np.array(kinds)
