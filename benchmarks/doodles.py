"""Doodles of kinds that no model here trained on, drawn on the web page's canvas: how many are
answered with no digit, per kind and per model, in one run; then letters, and words.

    python benchmarks/doodles.py [--count 30] [--models A.onnx B.onnx ...] [--baseline-ref REF]

The default model learns "not a digit" from the marks of ``digitcnn.nondigits.KINDS`` (outlier
exposure); the question here is how far that reaches to things people draw that it never saw: 13
kinds drawn here (a few resemble its kinds: a house is a box under a triangle, a wave a rounded
zigzag, a check mark half an arrow), each with a finger-sized pen (8-17 px), and the 10 of
``nondigits.DOODLES`` (no model here trains on them), drawn 240 px with their own pen. Each is
turned up to 15 degrees, scaled 0.8-1.1x and placed anywhere on a white 560x280 canvas, then read
whole by ``DigitReader`` (its preprocessing, both models and its reading rules). Seeded: every
model reads the same pictures. Words (``WORDS``, common ones, some written only with letters shaped
like digits: "zoo", "Bob") are read by this revision with and without its rule that a line of
letters the digit model refuses is a word (``predict.is_word``), and so are numbers with a unit or
a label beside them (``WITH_UNITS``: "5cm", "7pm"), which the rule must not take for words.
"""

import argparse
import sys
import tempfile
from pathlib import Path
from unittest import mock

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from PIL import Image, ImageDraw, ImageFont
from serve_load import exported_tree

from digitcnn import DigitReader, nondigits, predict

CENTRE = 140  # doodles are drawn on a 280x280 square, then placed on the canvas


def _line(canvas, points, pen, closed=False):
    cv2.polylines(canvas, [np.asarray(points, np.float64).round().astype(np.int32)], closed, 255, pen, cv2.LINE_AA)


def fish(canvas, rng, pen):
    cv2.ellipse(canvas, (130, 140), (int(rng.uniform(45, 60)), int(rng.uniform(25, 35))), 0, 0, 360, 255, pen)
    _line(canvas, [(182, 140), (215, 112), (215, 168)], pen, closed=True)


def infinity(canvas, rng, pen):
    t = np.linspace(0, 2 * np.pi, 100)
    size = rng.uniform(65, 85)
    _line(canvas, np.stack([140 + size * np.cos(t) / (1 + np.sin(t) ** 2),
                            140 + size * np.sin(t) * np.cos(t) / (1 + np.sin(t) ** 2)], 1), pen, closed=True)


def house(canvas, rng, pen):
    roof = rng.uniform(50, 75)
    _line(canvas, [(80, 210), (80, 130), (140, roof), (200, 130), (200, 210)], pen, closed=True)
    _line(canvas, [(80, 130), (200, 130)], pen)


def umbrella(canvas, rng, pen):
    cv2.ellipse(canvas, (140, 120), (75, int(rng.uniform(40, 55))), 0, 180, 360, 255, pen, cv2.LINE_AA)
    _line(canvas, [(65, 120), (215, 120)], pen)
    _line(canvas, [(140, 120), (140, 210)], pen)
    cv2.ellipse(canvas, (125, 210), (15, 15), 0, 0, 180, 255, pen, cv2.LINE_AA)


def key(canvas, rng, pen):
    cv2.circle(canvas, (85, 140), int(rng.uniform(22, 30)), 255, pen, cv2.LINE_AA)
    _line(canvas, [(112, 140), (215, 140)], pen)
    for x in (180, 205):
        _line(canvas, [(x, 140), (x, 165)], pen)


def cup(canvas, rng, pen):
    _line(canvas, [(85, 80), (95, 200), (175, 200), (185, 80)], pen)
    cv2.ellipse(canvas, (190, 140), (22, 30), 0, -90, 90, 255, pen, cv2.LINE_AA)


def glasses(canvas, rng, pen):
    radius = int(rng.uniform(28, 36))
    for x in (140 - radius - 12, 140 + radius + 12):
        cv2.circle(canvas, (x, 150), radius, 255, pen, cv2.LINE_AA)
    cv2.ellipse(canvas, (140, 150), (12, 10), 0, 180, 360, 255, pen, cv2.LINE_AA)


def balloon(canvas, rng, pen):
    cv2.ellipse(canvas, (140, 100), (int(rng.uniform(35, 45)), 50), 0, 0, 360, 255, pen, cv2.LINE_AA)
    t = np.linspace(0, 1, 30)
    _line(canvas, np.stack([140 + 12 * np.sin(t * 4 * np.pi), 150 + 90 * t], 1), pen)


def car(canvas, rng, pen):
    _line(canvas, [(50, 170), (50, 140), (90, 140), (110, 100), (180, 100), (200, 140), (235, 140), (235, 170)],
          pen, closed=True)
    for x in (90, 195):
        cv2.circle(canvas, (x, 175), 18, 255, pen, cv2.LINE_AA)


def cat(canvas, rng, pen):
    cv2.circle(canvas, (140, 150), int(rng.uniform(50, 60)), 255, pen, cv2.LINE_AA)
    _line(canvas, [(95, 115), (100, 60), (125, 97)], pen)
    _line(canvas, [(155, 97), (180, 60), (185, 115)], pen)
    for x in (120, 160):
        cv2.circle(canvas, (x, 140), 6, 255, -1, cv2.LINE_AA)
    for dy in (-8, 8):
        _line(canvas, [(60, 170 + dy), (110, 170)], max(2, pen // 2))
        _line(canvas, [(170, 170), (220, 170 + dy)], max(2, pen // 2))


def crown(canvas, rng, pen):
    _line(canvas, [(70, 190), (70, 90), (105, 140), (140, 80), (175, 140), (210, 90), (210, 190)], pen, closed=True)


def check(canvas, rng, pen):
    _line(canvas, [(85, 140), (125, rng.uniform(180, 195)), (205, 80)], pen)


def wave(canvas, rng, pen):
    t = np.linspace(0, 4 * np.pi, 100)
    _line(canvas, np.stack([60 + t * 13, 140 + rng.uniform(20, 35) * np.sin(t)], 1), pen)


def from_nondigits(kind: str):
    """A drawing function for one of ``nondigits.DOODLES`` (drawn 96 px, with its own pen and slant)."""
    def draw(canvas, rng, pen):
        mark = cv2.resize(nondigits.mark_ink(kind, rng), (240, 240), interpolation=cv2.INTER_LINEAR)
        np.maximum(canvas[20:260, 20:260], mark, out=canvas[20:260, 20:260])
    return draw


KINDS = {"fish": fish, "infinity": infinity, "house": house, "umbrella": umbrella, "key": key, "cup": cup,
         "glasses": glasses, "balloon": balloon, "car": car, "cat": cat, "crown": crown, "check mark": check,
         "wave": wave, **{kind: from_nondigits(kind) for kind in nondigits.DOODLES}}


def doodle_png(draw, rng: np.random.Generator) -> bytes:
    """One doodle as the web page sends it: black strokes on a white 560x280 canvas, PNG bytes."""
    square = np.zeros((280, 280), np.uint8)
    draw(square, rng, int(rng.integers(8, 18)))
    turn = cv2.getRotationMatrix2D((CENTRE, CENTRE), rng.uniform(-15, 15), rng.uniform(0.8, 1.1))
    square = cv2.warpAffine(square, turn, (280, 280))
    page = np.full((280, 560), 255, np.uint8)
    left = int(rng.integers(0, 280))
    page[:, left:left + 280] = 255 - square
    return cv2.imencode(".png", page)[1].tobytes()


def letter(font: str | None, character: str, size: int):
    """A drawing function for ``character`` in ``font`` (``nondigits.letter_ink``), 240 px."""
    def draw(canvas, rng, pen):
        ink = nondigits.letter_ink(character, font, size)
        mark = cv2.resize(ink, (240, 240), interpolation=cv2.INTER_LINEAR)
        np.maximum(canvas[20:260, 20:260], mark, out=canvas[20:260, 20:260])
    return draw


def letters(fonts: tuple[str | None, ...], seed: int = 71_000) -> dict[str, list[bytes]]:
    """Every one of ``nondigits.LETTERS`` that each of ``fonts`` (paths, those installed; None:
    Pillow's own) has, on the canvas; each font from its own seed, whichever others are installed."""
    pictures = {}
    for k, font in enumerate(fonts):
        rng = np.random.default_rng(seed + k)
        if font in nondigits.installed(fonts):
            pictures[Path(font).stem if font else "Pillow's own"] = [
                doodle_png(letter(font, character, int(rng.integers(50, 72))), rng) for character in nondigits.LETTERS
                if font is None or character not in nondigits.lacking(font)]
    return pictures


WORDS = ("hello", "name", "date", "total", "yes", "no", "ok", "cat", "dog", "sun", "love", "test", "Hi", "One",
         "zoo", "go", "Bob", "tree", "house", "paper", "world", "happy", "we", "me", "and", "the", "box", "pen",
         "sum", "Ana")

WITH_UNITS = ("5cm", "12 kg", "7pm", "4mm", "9am", "2nd", "3rd", "250 g", "8h", "6 ml", "No 5", "$40")


def word_png(word: str, font: str, rng: np.random.Generator) -> bytes:
    """``word`` written in ``font`` (a path) across the web page's 560x280 canvas, 80-120 px, turned
    up to 8 degrees: PNG bytes."""
    size = int(rng.integers(80, 121))
    face = ImageFont.truetype(font, size)
    left, _, right, _ = face.getbbox(word, anchor="mm")
    if right - left > 500:  # a long word in a wide hand: smaller, to fit
        face = ImageFont.truetype(font, int(size * 500 / (right - left)))
    page = Image.new("L", (560, 280), 255)
    ImageDraw.Draw(page).text((280 + rng.uniform(-20, 20), 140 + rng.uniform(-20, 20)), word, fill=0, font=face,
                              anchor="mm")
    page = page.rotate(rng.uniform(-8, 8), resample=Image.BILINEAR, fillcolor=255)
    return cv2.imencode(".png", np.asarray(page))[1].tobytes()


def words(fonts: tuple[str, ...], seed: int = 72_000, texts: tuple[str, ...] = WORDS) -> dict[str, list[bytes]]:
    """Every one of ``texts`` in each of ``fonts`` installed, each font from its own seed."""
    return {Path(font).stem: [word_png(text, font, rng) for text in texts]
            for k, font in enumerate(fonts) if font in nondigits.installed(fonts)
            for rng in [np.random.default_rng(seed + k)]}


class WithoutWordRule:
    """A DigitReader that reads every line of letters as a number, as it did before ``predict.is_word``."""

    def __init__(self, reader: DigitReader):
        self.reader = reader

    def read(self, picture: bytes):
        with mock.patch.object(predict, "is_word", lambda by_marks: False):
            return self.reader.read(picture)


def doodles(count: int, seed: int = 70_000) -> dict[str, list[bytes]]:
    """``count`` pictures of every kind, each kind from its own seed."""
    return {name: [doodle_png(draw, rng) for _ in range(count)]
            for k, (name, draw) in enumerate(KINDS.items()) for rng in [np.random.default_rng(seed + k)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30, help="doodles of each kind")
    parser.add_argument("--baseline-ref", default="fcfe690", help="git revision whose default model is 'previous'")
    parser.add_argument("--models", nargs="*", type=Path, default=[], help="also these digit models (.onnx)")
    args = parser.parse_args()
    pictures = doodles(args.count)
    with tempfile.TemporaryDirectory() as tmp:
        previous = exported_tree(args.baseline_ref, Path(tmp)) / "models" / "digitcnn.onnx"
        readers = {f"previous ({args.baseline_ref})": DigitReader(previous), "digitcnn": DigitReader(),
                   **{str(path): DigitReader(path) for path in args.models}}
        print(f"{len(KINDS)} kinds of doodle no model here trained on, {args.count} each, drawn on a canvas and read "
              "whole (this revision's reading, each digit model with the shipped line reader): answered no digit")
        no_digit_table(pictures, readers)
        held_out, trained = letters(nondigits.HELD_OUT_FONTS), letters((None,) + nondigits.LETTER_FONTS)
        print(f"\nthe {len(nondigits.LETTERS)} letters and symbols of nondigits.LETTERS in handwriting fonts no model "
              "here trained on (nondigits.HELD_OUT_FONTS), drawn on the canvas the same way: answered no digit")
        no_digit_table(held_out, readers)
        print("\nthe same in the fonts the letters are trained in (nondigits.LETTER_FONTS and Pillow's)")
        no_digit_table(trained, readers)
        shipped = readers["digitcnn"]
        word_readers = {"digitcnn": shipped, "without the word rule": WithoutWordRule(shipped)}
        print(f"\n{len(WORDS)} words (WORDS) in the held-out fonts, read by this revision with and without "
              "its word rule: answered no digit")
        no_digit_table(words(nondigits.HELD_OUT_FONTS), word_readers)
        print("\nthe same in the fonts the letters are trained in")
        no_digit_table(words(nondigits.LETTER_FONTS), word_readers)
        print(f"\n{len(WITH_UNITS)} numbers with a unit or a label (WITH_UNITS) in all these fonts: answered no "
              "digit (the number lost; lower is better)")
        no_digit_table(words(nondigits.HELD_OUT_FONTS + nondigits.LETTER_FONTS, 73_000, WITH_UNITS), word_readers)
        if len(held_out) < len(nondigits.HELD_OUT_FONTS):
            print(f"\nonly {len(held_out)} of {len(nondigits.HELD_OUT_FONTS)} held-out fonts are installed "
                  f"(apt-get install {' '.join(nondigits.HELD_OUT_PACKAGES)})")
    return 0


def no_digit_table(pictures: dict[str, list[bytes]], readers: dict) -> None:
    """Print, per kind of picture and per reader, the share read whole as no digit, and over all."""
    widths = {name: max(22, len(name) + 2) for name in readers}
    first = max([11] + [len(kind) + 2 for kind in pictures])
    print(f"{'kind':<{first}}" + "".join(f"{name:>{widths[name]}}" for name in readers))
    totals = {name: 0 for name in readers}
    for kind, kind_pictures in pictures.items():
        row = f"{kind:<{first}}"
        for name, reader in readers.items():
            none = sum(reader.read(picture).digits == "" for picture in kind_pictures)
            totals[name] += none
            row += f"{none / len(kind_pictures):>{widths[name]}.0%}"
        print(row, flush=True)
    total = sum(len(kind_pictures) for kind_pictures in pictures.values())
    print(f"{'all':<{first}}" + "".join(f"{totals[name] / max(total, 1):>{widths[name]}.1%}" for name in readers))


if __name__ == "__main__":
    sys.exit(main())
