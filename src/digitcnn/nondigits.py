"""Marks that are not digits, drawn procedurally, for training a "not a digit" class (outlier exposure).

A page, a canvas or a photo holds more than digits: dots, dashes, underlines, scribbles, doodles,
letters and symbols. Without having seen any, a digit classifier must call each of them some digit
(a dot "0", an A "4"). ``draw`` makes one such mark and brings it to the MNIST convention with the
code that prepares real inputs (``imaging.to_mnist``), so that the model sees what the reading
pipeline would give it.

KINDS lists what is drawn. Shapes that *are* digits are left out: no plain ring (0), no single
vertical stroke (1), and no letters that read as digits (O o D Q I l i S s Z z B G g b q T J j).
DOODLES are drawn the same way and trained on by no model here: a heart, a lightning bolt, a crescent
moon, a quaver, a cloud, a sun, a flower, a tree, an eye, a spiral of two turns or more. The default
model reads a heart and an eye as 0, a tree as 8, a bolt as 4; trained with them as marks, it read
MNIST and optdigits worse (RESULTS.md, nineteenth session). ``benchmarks/doodles.py`` measures them.
Letters and symbols come from Pillow's bundled font and from the handwriting fonts of
LETTER_FONTS (Debian packages; those not installed are skipped, and ``scripts/make_default_model.py``
asks for them all), then slanted and rotated like handwriting. HELD_OUT_FONTS, other hands from
other packages, are trained on by no model: ``benchmarks/doodles.py`` reads letters in them.
NumPy, OpenCV and Pillow only; everything is seeded.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .imaging import to_mnist

SIDE = 96  # marks are drawn at this size, then brought to 28x28 like real inputs
LETTERS = "ACEFHKMNPRUVWXYacefhkmnprtuvwxy#%&@?!*+=<>$"
KINDS = ("dot", "dash", "underline", "scribble", "zigzag", "star", "box", "triangle", "cross", "smiley",
         "arrow", "letter")
DOODLES = ("heart", "bolt", "moon", "note", "cloud", "sun", "flower", "tree", "eye", "spiral")
# Handwriting fonts the letters are drawn in, beside Pillow's, from Debian's LETTER_FONT_PACKAGES: a
# model that saw one font's letters answered no digit to 72% of other hands' (RESULTS.md, twentieth session).
FONTS = "/usr/share/fonts"
# (the packages that hold LETTER_FONTS below; .ci/run installs the same list: change them together)
LETTER_FONT_PACKAGES = ("fonts-bwht", "fonts-comic-neue", "fonts-dancingscript", "fonts-dkg-handwriting",
                        "fonts-humor-sans")
LETTER_FONTS = tuple(f"{FONTS}/{path}" for path in (
    "opentype/bwht/BecauseWeBuild-Regular.otf", "opentype/bwht/BecauseWeConnect-Regular.otf",
    "opentype/bwht/BecauseWeCreate-Regular.otf", "opentype/bwht/BecauseWeLearn-Regular.otf",
    "opentype/comic-neue/ComicNeue-Regular.otf", "opentype/comic-neue/ComicNeue-Italic.otf",
    "opentype/dancingscript/DancingScript-Regular.otf", "truetype/fifthhorseman/dkg.ttf",
    "truetype/fifthhorseman/dkgIt.ttf", "truetype/humor-sans/Humor-Sans.ttf"))
# Other hands, for measuring only: HELD_OUT_PACKAGES (fonts-bwht's other two, and a school cursive,
# a brush script, a Polish script and Purisa's Latin letters from other packages)
HELD_OUT_PACKAGES = ("fonts-bwht", "fonts-breip", "fonts-femkeklaver", "fonts-joscelyn", "fonts-ecolier-court",
                     "fonts-kaushanscript", "fonts-havana", "fonts-tlwg-purisa")
HELD_OUT_FONTS = tuple(f"{FONTS}/{path}" for path in (
    "opentype/bwht/BecauseWeMentor-Regular.otf", "opentype/bwht/BecauseWeOrganize-Regular.otf",
    "truetype/breip/Breip.ttf", "truetype/femkeklaver/femkeklaver.ttf", "opentype/joscelyn/Joscelyn-Regular.otf",
    "truetype/ecolier-court/Ecolier-court.ttf", "opentype/kaushanscript/KaushanScript-Regular.otf",
    "opentype/havana/Havana-Regular.otf", "truetype/tlwg/Purisa.ttf"))


@cache
def installed(fonts: tuple[str | None, ...]) -> tuple[str | None, ...]:
    """The ``fonts`` (paths; None, Pillow's own, is always there) that are on this machine."""
    return tuple(path for path in fonts if path is None or Path(path).is_file())


def missing_letter_fonts() -> list[str]:
    """The LETTER_FONTS not installed here: the letters are then drawn in fewer hands than the
    shipped model's (``scripts/make_default_model.py`` stops, ``digitcnn train`` says so)."""
    return [font for font in LETTER_FONTS if font not in installed(LETTER_FONTS)]


@cache
def lacking(font: str) -> str:
    """The LETTERS that ``font`` (a path) draws as nothing or as its missing-glyph box."""
    missing = _glyph_ink("\ue000", font, 60)  # a private-use character: none of these fonts has it
    return "".join(letter for letter in LETTERS
                   if not (ink := _glyph_ink(letter, font, 60)).any() or np.array_equal(ink, missing))


@lru_cache(maxsize=256)
def _font(path: str | None, size: int):
    return ImageFont.load_default(size=size) if path is None else ImageFont.truetype(path, size)


def letter_ink(letter: str, font: str | None, size: int) -> np.ndarray:
    """``letter`` in ``font`` (a path; None: Pillow's own), about ``size`` px, its ink centred on
    a uint8 (SIDE, SIDE) canvas, ink 255 on 0; a font's larger glyph is drawn smaller to fit (a few
    px clear of each edge), and a letter the font lacks (fonts-bwht has no < or >) is drawn in Pillow's."""
    return _glyph_ink(letter, None if font is not None and letter in lacking(font) else font, size)


def _glyph_ink(letter: str, font: str | None, size: int) -> np.ndarray:
    image = Image.new("L", (SIDE, SIDE), 0)
    left, top, right, bottom = _font(font, size).getbbox(letter, anchor="mm")
    fit = min(1.0, (SIDE - 12) / max(right - left, bottom - top, 1))
    sized = _font(font, int(size * fit))
    # the glyph's ink centred, not its line's box: a script font's ink sits far off that box's centre
    left, top, right, bottom = sized.getbbox(letter, anchor="mm")
    ImageDraw.Draw(image).text((SIDE / 2 - (left + right) / 2, SIDE / 2 - (top + bottom) / 2), letter, fill=255,
                               font=sized, anchor="mm")
    return np.asarray(image).copy()


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
    elif kind == "heart":
        size = rng.uniform(2.0, 2.6)
        t = np.linspace(0, 2 * np.pi, 60)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        heart = np.stack([48 + size * x, 46 + size * y], axis=1)
        cv2.polylines(canvas, [heart.astype(np.int32)], True, 255, pen, cv2.LINE_AA)
    elif kind == "bolt":  # lightning: a zigzag down, whose middle runs back
        top, bottom = rng.uniform(52, 70), rng.uniform(24, 42)
        bolt = [(top, 8), (rng.uniform(26, 40), rng.uniform(44, 54)), (rng.uniform(56, 70), rng.uniform(40, 50)), (bottom, 88)]
        cv2.polylines(canvas, [np.array(bolt, np.int32)], False, 255, pen, cv2.LINE_AA)
    elif kind == "moon":  # a crescent: two arcs that meet at its tips
        radius = int(rng.uniform(30, 40))
        cv2.ellipse(canvas, centre, (radius, radius), 0, 50, 310, 255, pen, cv2.LINE_AA)
        inner = int(radius * rng.uniform(0.55, 0.8))
        tip_x = int(48 + radius * np.cos(np.deg2rad(50)))
        cv2.ellipse(canvas, (tip_x, 48), (max(4, tip_x - 48 + inner // 2), int(radius * np.sin(np.deg2rad(50)))),
                    0, 90, 270, 255, pen, cv2.LINE_AA)
    elif kind == "note":  # a quaver: a filled head, a stem and a flag
        head = (int(rng.uniform(30, 40)), int(rng.uniform(70, 78)))
        cv2.ellipse(canvas, head, (11, 8), -25, 0, 360, 255, -1, cv2.LINE_AA)
        stem_x = head[0] + 10
        cv2.line(canvas, (stem_x, head[1]), (stem_x, 12), 255, max(2, pen // 2), cv2.LINE_AA)
        cv2.line(canvas, (stem_x, 12), (stem_x + int(rng.uniform(18, 28)), int(rng.uniform(26, 36))), 255,
                 max(2, pen // 2), cv2.LINE_AA)
    elif kind == "cloud":  # bumps along the top of a flat base, the outer ones down its sides
        bumps = int(rng.integers(3, 5))
        for x in np.linspace(26, 70, bumps):
            r = int(rng.uniform(12, 18))
            cv2.ellipse(canvas, (int(x), 62), (r, int(r * rng.uniform(1.2, 1.8))), 0, 180, 360, 255,
                        max(2, pen // 2), cv2.LINE_AA)
        cv2.line(canvas, (12, 62), (84, 62), 255, max(2, pen // 2), cv2.LINE_AA)
    elif kind == "sun":  # a ring and its rays
        radius = int(rng.uniform(14, 22))
        cv2.circle(canvas, centre, radius, 255, max(2, pen // 2), cv2.LINE_AA)
        for angle in np.linspace(0, 2 * np.pi, int(rng.integers(6, 12)), endpoint=False) + rng.uniform(0, 1):
            inner, outer = radius + 6, radius + rng.uniform(16, 24)
            cv2.line(canvas, (int(48 + inner * np.cos(angle)), int(48 + inner * np.sin(angle))),
                     (int(48 + outer * np.cos(angle)), int(48 + outer * np.sin(angle))), 255, max(2, pen // 2), cv2.LINE_AA)
    elif kind == "flower":  # petals round a centre, on a stem
        cv2.circle(canvas, (48, 36), 8, 255, max(2, pen // 2), cv2.LINE_AA)
        for angle in np.linspace(0, 360, int(rng.integers(5, 8)), endpoint=False):
            a = np.deg2rad(angle)
            cv2.ellipse(canvas, (int(48 + 18 * np.cos(a)), int(36 + 18 * np.sin(a))), (10, 6), angle, 0, 360, 255,
                        max(2, pen // 2), cv2.LINE_AA)
        cv2.line(canvas, (48, 54), (48, 90), 255, max(2, pen // 2), cv2.LINE_AA)
    elif kind == "tree":  # a round crown on a trunk of two lines
        crown = int(rng.uniform(20, 28))
        cv2.circle(canvas, (48, 8 + crown), crown, 255, pen, cv2.LINE_AA)
        half = int(rng.uniform(4, 9))
        for x in (48 - half, 48 + half):
            cv2.line(canvas, (x, 8 + 2 * crown - 2), (x, 90), 255, pen, cv2.LINE_AA)
    elif kind == "eye":  # an almond and a filled pupil
        width, height = rng.uniform(34, 42), rng.uniform(14, 22)
        cv2.ellipse(canvas, centre, (int(width), int(height)), 0, 0, 360, 255, max(2, pen // 2), cv2.LINE_AA)
        cv2.circle(canvas, (int(48 + rng.uniform(-8, 8)), 48), int(rng.uniform(6, 11)), 255, -1, cv2.LINE_AA)
    elif kind == "spiral":  # two to three turns: a 6 or a 0 makes one
        turns = rng.uniform(2.0, 3.0)
        t = np.linspace(0, 2 * np.pi * turns, 200)
        radius = 4 + 36 * t / t[-1]
        spiral = np.stack([48 + radius * np.cos(t), 48 + radius * np.sin(t)], axis=1)
        cv2.polylines(canvas, [spiral.astype(np.int32)], False, 255, max(2, pen // 2), cv2.LINE_AA)
    elif kind == "letter":
        size, letter = int(rng.integers(50, 72)), str(rng.choice(list(LETTERS)))
        fonts = (None,) + installed(LETTER_FONTS)  # (none installed: no extra draw, the same marks as before)
        canvas = letter_ink(letter, fonts[int(rng.integers(len(fonts)))] if len(fonts) > 1 else None, size)
        if rng.uniform() < 0.5:
            canvas = cv2.dilate(canvas, np.ones((3, 3), np.uint8))
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS + DOODLES)}")
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


def make_set(count: int, seed: int, kinds: tuple[str, ...] = KINDS) -> tuple[np.ndarray, np.ndarray]:
    """``count`` marks of each of ``kinds`` in turn: float32 (count, 28, 28) in [0, 1], and their kind names."""
    rng = np.random.default_rng(seed)
    kinds = [kinds[i % len(kinds)] for i in range(count)]
    return np.stack([draw(kind, rng) for kind in kinds]), np.array(kinds)
