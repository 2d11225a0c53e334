"""Handwritten numbers made from MNIST digits, for training and testing the line reader.

People write numbers fast: digits touch and overlap, loops join, sizes and baselines wander,
the line slants, thousands are set off with ``.`` ``,`` ``'`` or a space, and amounts on
cheques are closed with dashes and underlined on printed, patterned paper. ``make_line`` writes
such a number with MNIST digits on a synthetic paper, as a grey photo crop (dark ink on light
paper, uint8), and returns the text it shows. Nothing here comes from real handwriting: the
training set is MNIST's training digits, the test set MNIST's test digits.

The steps, each a function below:

    place_digits   digits side by side: spacing from overlapping to apart, size and baseline jitter;
                   in some lines marks that are not digits (letters, scribbles, shapes) instead or beside
    add_marks      separators between groups of three, leading or closing dashes, other closing marks,
                   an underline
    slant          one shear for the whole line
    on_paper       ruled, patterned or plain paper, uneven light, ink colour, blur, noise, JPEG
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from .augment import cross_seven, flag_one, hook_nine
from .nondigits import KINDS, mark_ink
from .sequence import slant
from .synthetic import crop_to_ink

DIGIT_HEIGHT = 40  # px: digits are placed at about this height, the whole line is rescaled later


@dataclass(frozen=True)
class LineStyle:
    """How varied the synthetic numbers are (each draw is uniform in its range)."""

    digits: tuple[int, int] = (1, 7)  # digits per number
    touching_share: float = 0.55  # numbers whose digits touch or overlap, the rest have gaps
    overlap: tuple[float, float] = (-0.3, 0.05)  # gap of touching digits, share of the digit width
    gap: tuple[float, float] = (0.05, 0.5)  # gap of separate digits
    separator_share: float = 0.4  # numbers of 4+ digits written with thousands separators
    dash_share: float = 0.25  # numbers with a leading dash, and (separately) with a closing dash
    underline_share: float = 0.2
    flag_one: float = 0.5  # 1s written with a flag (half of them with a base too), as much of Europe and Latin America writes them
    flag_length: tuple[float, float] = (0.25, 0.45)  # the flag, share of the 1's height
    flag_angle: tuple[float, float] = (20, 60)  # degrees below the horizontal
    small_tail: float = 0.0  # numbers whose digits after the first are written smaller (0.55-0.9), as "1.000" often is
    # More conventions of writers MNIST lacks, common on Latin American and European cheques
    # (no draw at all when 0: sets drawn before them stay as they were):
    long_one: float = 0.0  # 1s written as one long stroke, slanted more, reaching below the baseline
    hook_nine: float = 0.0  # 9s whose tail ends in a hook to the left
    cross_seven: float = 0.0  # 7s with a bar across the stem
    closing_marks: float = 0.0  # lines without a closing dash closed by another mark: ",-" ".-" "~" or a short low dash
    round_amounts: float = 0.0  # numbers of 4+ digits ending in "000" (or "00"), as amounts of money often do
    looped_zeros: float = 0.0  # of those, the share whose last zeros are a chain of fast loops (``looped_zero``)
    slant: tuple[float, float] = (-0.35, 0.35)  # shear
    line_height: tuple[int, int] = (24, 72)  # px of the final image's digits
    edge_share: float = 0.3  # crops that end right at the first or last digit's ink
    jpeg_share: float = 0.5
    papers: tuple[str, ...] = ("plain", "ruled", "wavy", "grid", "noise")  # drawn from evenly
    # Outlier exposure for the line reader: lines of 1-4 marks that are not digits (text ""), and
    # numbers with such a mark before or after them (a "$", a letter, a star), so that it learns to
    # read nothing in a scribble or a word rather than the digits they look most like.
    mark_share: float = 0.0
    stray_share: float = 0.0


SEPARATORS = (".", ",", "'", " ")
LINE_MARKS = tuple(k for k in KINDS if k not in ("dot", "dash", "underline"))  # those a line has as separators and dashes
# The line reader's cheque stages (LineConfig.style "cheque"): 1s with long, steep flags, up to a
# lead-in stroke from the baseline as fast writers make them, and amounts whose tail is written smaller.
CHEQUE = LineStyle(flag_one=0.7, flag_length=(0.3, 1.0), flag_angle=(25, 75), small_tail=0.3)
# The same with the other conventions too (LineConfig.style "mixed-writers", the eighth stage).
CHEQUE_WRITERS = dataclasses.replace(CHEQUE, long_one=0.35, hook_nine=0.35, cross_seven=0.25)
# ... and amounts closed as cheque writers close them (",-", "~"...: style "mixed-closing").
CHEQUE_CLOSING = dataclasses.replace(CHEQUE_WRITERS, closing_marks=0.4)
# "_" is a short dash low beside the last digit. Not "/" nor a lone ",": taught as closing marks, they
# taught the reader to leave out a last 1 (RESULTS, twenty-fifth session).
CLOSING_MARKS = (",-", ".-", "~", "_")
# ... and round amounts, "25.000" (style "mixed-round"): random digits end in "000" once in a
# thousand numbers, a cheque's amount once in six, often written as a quick chain of small loops
CHEQUE_ROUND = dataclasses.replace(CHEQUE_CLOSING, round_amounts=0.35, looped_zeros=0.5)
# Numbers as the web page's canvas gets them: touching digits, no dashes or underlines, plain paper.
CANVAS = LineStyle(touching_share=1.0, separator_share=0.0, dash_share=0.0, underline_share=0.0,
                   line_height=(40, 72), jpeg_share=0.0, papers=("plain",))


def _scaled(digit: np.ndarray, height: int, aspect: float) -> np.ndarray:
    crop = crop_to_ink(digit)  # a 1 given a flag is float
    if crop.dtype != np.uint8:
        crop = np.round(np.clip(crop, 0, 1) * 255).astype(np.uint8)
    width = max(2, round(crop.shape[1] * height / crop.shape[0] * aspect))
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0


def _room(digit: np.ndarray, below: int = 14, left: int = 14) -> np.ndarray:
    """An MNIST digit (28x28 uint8) at 56x56 float32 in [0, 1], with ``below`` and ``left`` px of
    paper added for strokes drawn on it (a hook, a flag)."""
    big = cv2.resize(digit.astype(np.float32) / 255, (56, 56), interpolation=cv2.INTER_LINEAR)
    return np.pad(big, ((0, below), (left, 0)))


def _stroke(length: int, thickness: int, tilt: float, rng: np.random.Generator) -> np.ndarray:
    """A hand-drawn straight stroke (dash, underline, comma): float32 (H, W) in [0, 1]."""
    height = thickness + abs(int(tilt * length)) + 2
    mark = np.zeros((height, length + 2), np.float32)
    y0 = 1 + (abs(int(tilt * length)) if tilt > 0 else 0)
    y1 = y0 - int(tilt * length)
    wobble = int(rng.integers(-1, 2))
    cv2.line(mark, (1, y0), (length, y1 + wobble), 1.0, thickness, cv2.LINE_AA)
    return mark


def _dot(size: int) -> np.ndarray:
    mark = np.zeros((size + 2, size + 2), np.float32)
    cv2.circle(mark, (size // 2 + 1, size // 2 + 1), max(1, size // 2), 1.0, -1, cv2.LINE_AA)
    return mark


def separator_mark(separator: str, pen: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The ink of a separator and where its top sits, as a share of the digit height from the top."""
    if separator == ".":
        return _dot(max(3, int(pen * rng.uniform(1.0, 1.8)))), rng.uniform(0.8, 0.95)
    if separator == ",":
        return _stroke(int(DIGIT_HEIGHT * rng.uniform(0.15, 0.3)), pen, rng.uniform(-2.5, -1.2), rng), \
            rng.uniform(0.8, 0.95)
    if separator == "'":
        return _stroke(int(DIGIT_HEIGHT * rng.uniform(0.15, 0.3)), pen, rng.uniform(-2.5, -1.2), rng), \
            rng.uniform(-0.1, 0.1)
    return np.zeros((1, int(DIGIT_HEIGHT * rng.uniform(0.3, 0.6))), np.float32), 0.5  # a space


def looped_zero(rng: np.random.Generator) -> np.ndarray:
    """A 0 written fast in a chain of them (the "000" closing an amount): a loop, often flat or
    leaning, with a stroke out of its top to the right that joins the next. uint8 (28, 28), ink
    bright, as an MNIST digit."""
    big = np.zeros((56, 56), np.float32)
    height = rng.uniform(24, 40)
    width = height * rng.uniform(0.6, 1.3)
    centre = (26, 30)
    cv2.ellipse(big, centre, (round(width / 2), round(height / 2)), rng.uniform(-25, 10), 0, 360, 1.0,
                thickness=int(rng.integers(3, 6)), lineType=cv2.LINE_AA)
    if rng.random() < 0.7:
        start = (round(centre[0] + width * 0.25), round(centre[1] - height * rng.uniform(0.3, 0.5)))
        cv2.line(big, start, (55, round(centre[1] - height * rng.uniform(0.0, 0.5))), 1.0,
                 thickness=int(rng.integers(3, 5)), lineType=cv2.LINE_AA)
    return np.round(cv2.resize(big, (28, 28), interpolation=cv2.INTER_AREA).clip(0, 1) * 255).astype(np.uint8)


def round_amount(glyphs: list[np.ndarray], texts: list[int], images: np.ndarray, labels: np.ndarray,
                 rng: np.random.Generator, style: LineStyle) -> None:
    """For a share of the numbers of 4+ digits (``style.round_amounts``), make the last three
    digits (or two) zeros, in place: MNIST's, or for ``style.looped_zeros`` of them a chain of
    ``looped_zero``. No draw at all when the share is 0: sets drawn before it stay as they were."""
    count = len(glyphs)
    if not style.round_amounts or count < 4 or rng.random() >= style.round_amounts:
        return
    zeros = 3 if rng.random() < 0.7 else 2
    looped = rng.random() < style.looped_zeros
    pool = np.flatnonzero(labels == 0)
    for k in range(count - zeros, count):
        glyphs[k] = looped_zero(rng) if looped else images[int(rng.choice(pool))]
        texts[k] = 0


def line_marks(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` marks that are not digits, of LINE_MARKS' kinds, as drawn: uint8 (96, 96) each."""
    return [mark_ink(LINE_MARKS[int(kind)], rng) for kind in rng.integers(0, len(LINE_MARKS), count)]


def place_digits(digits: list[np.ndarray], labels: list[int | None], rng: np.random.Generator, style: LineStyle,
                 separator: str | None) -> tuple[np.ndarray, str]:
    """Digits (28x28 uint8, MNIST) side by side on a float32 ink canvas, with the text written.
    A label None is a mark that is not a digit (uint8, any size): placed like a digit, not written."""
    touching = rng.random() < style.touching_share
    tail = rng.uniform(0.55, 0.9) if rng.random() < style.small_tail else 1.0
    pen = max(2, round(DIGIT_HEIGHT / 20 * 2.8))  # MNIST's stroke at this height
    parts, text = [], ""
    written = [index for index, label in enumerate(labels) if label is not None]
    for index, (digit, label) in enumerate(zip(digits, labels)):
        after = len(written) - written.index(index) if label is not None else 0  # this digit and those after it
        if separator is not None and after and after != len(written) and after % 3 == 0:
            mark, top = separator_mark(separator, pen, rng)
            parts.append((mark, top, rng.uniform(0.0, 0.15)))
            text += separator
        if label == 1 and rng.random() < style.flag_one:
            # room on the left for a flag as long as the 1 is tall
            digit = flag_one(_room(digit, below=0, left=56), rng, style.flag_length, style.flag_angle)
        elif label == 9 and style.hook_nine and rng.random() < style.hook_nine:
            digit = hook_nine(_room(digit), rng)
        elif label == 7 and style.cross_seven and rng.random() < style.cross_seven:
            digit = cross_seven(_room(digit), rng)
        height = round(DIGIT_HEIGHT * rng.uniform(0.65, 1.1) * (tail if index else 1.0))
        body = height  # where the digit sits: a long 1 reaches below the others' baseline
        if label == 1 and style.long_one and rng.random() < style.long_one:
            height = round(height * rng.uniform(1.2, 1.6))
        aspect = rng.uniform(0.8, 1.25)
        if height > body:  # a long 1 keeps the pen's width, and slants more
            ink = slant(_scaled(digit, height, aspect * (body / height)), rng.uniform(0.2, 0.5))
        else:
            ink = _scaled(digit, height, aspect)
        gap = rng.uniform(*(style.overlap if touching else style.gap))
        parts.append((ink, rng.normal(0, 0.05) + (DIGIT_HEIGHT - body) / DIGIT_HEIGHT, gap))
        text += "" if label is None else str(label)
    margin = DIGIT_HEIGHT
    width = sum(p[0].shape[1] for p in parts) + len(parts) * DIGIT_HEIGHT + 2 * margin  # room for any gap
    canvas = np.zeros((3 * DIGIT_HEIGHT, width), np.float32)
    x = margin
    for index, (ink, top, gap) in enumerate(parts):
        if index:
            x = max(margin, x + int(gap * DIGIT_HEIGHT * 0.7))
        y = max(0, min(canvas.shape[0] - ink.shape[0], DIGIT_HEIGHT + int(top * DIGIT_HEIGHT)))
        right = min(width, x + ink.shape[1])
        canvas[y:y + ink.shape[0], x:right] = np.maximum(canvas[y:y + ink.shape[0], x:right], ink[:, :right - x])
        x = right
    return canvas[:, :x + margin], text


def add_marks(canvas: np.ndarray, rng: np.random.Generator, style: LineStyle) -> np.ndarray:
    """Leading and closing dashes, other closing marks (``closing_mark``, when the line has no closing
    dash) and an underline, in the ink canvas (they are not in the text)."""
    cols = np.flatnonzero(canvas.max(axis=0) > 0.3)
    if cols.size == 0:
        return canvas
    left, right = int(cols[0]), int(cols[-1])
    pen = max(1, int(rng.integers(2, 6)))
    middle = int(DIGIT_HEIGHT * rng.uniform(1.3, 1.7))
    pad = DIGIT_HEIGHT * 3
    canvas = np.pad(canvas, ((0, 0), (pad, pad)))
    left, right = left + pad, right + pad
    closed = False
    for side in (-1, 1):
        if rng.random() < style.dash_share:
            closed = closed or side > 0
            length = int(DIGIT_HEIGHT * rng.uniform(0.4, 2.0))
            gap = int(DIGIT_HEIGHT * rng.uniform(-0.05, 0.3))
            strokes = 2 if rng.random() < 0.3 else 1  # "=" closes many amounts
            for k in range(strokes):
                mark = _stroke(length, pen, rng.uniform(-0.1, 0.1), rng)
                x = right + gap if side > 0 else left - gap - mark.shape[1]
                y = middle - mark.shape[0] // 2 + (k - (strokes - 1) / 2) * int(DIGIT_HEIGHT * 0.3)
                y = int(y)
                region = canvas[y:y + mark.shape[0], x:x + mark.shape[1]]
                np.maximum(region, mark[:region.shape[0], :region.shape[1]], out=region)
    # (no draw at all when the share is 0: sets drawn before it stay as they were)
    if style.closing_marks and not closed and rng.random() < style.closing_marks:
        closing_mark(canvas, right + int(DIGIT_HEIGHT * rng.uniform(0.0, 0.3)), pen, rng)
    if rng.random() < style.underline_share:
        length = right - left + int(DIGIT_HEIGHT * rng.uniform(0.0, 0.6))
        mark = _stroke(length, pen, rng.uniform(-0.04, 0.04), rng)
        x = max(0, left - int(DIGIT_HEIGHT * rng.uniform(0.0, 0.3)))
        y = int(DIGIT_HEIGHT * rng.uniform(2.0, 2.3))
        region = canvas[y:y + mark.shape[0], x:x + mark.shape[1]]
        np.maximum(region, mark[:region.shape[0], :region.shape[1]], out=region)
    return canvas


def closing_mark(canvas: np.ndarray, x: int, pen: int, rng: np.random.Generator) -> None:
    """One of CLOSING_MARKS drawn into the ink ``canvas`` from column ``x`` on (digits span rows
    DIGIT_HEIGHT to twice that): a comma or a point on the baseline and a dash after it, a tilde at
    mid-height or a short dash low."""
    kind = CLOSING_MARKS[int(rng.integers(0, len(CLOSING_MARKS)))]

    def put(mark: np.ndarray, left: int, top: int) -> int:
        region = canvas[top:top + mark.shape[0], left:left + mark.shape[1]]
        np.maximum(region, mark[:region.shape[0], :region.shape[1]], out=region)
        return left + mark.shape[1]

    baseline = 2 * DIGIT_HEIGHT
    if kind in (",-", ".-"):
        # a comma rises to the right: its tail goes down to the left
        first = _stroke(int(DIGIT_HEIGHT * rng.uniform(0.08, 0.16)), pen, rng.uniform(1.2, 2.5), rng) \
            if kind == ",-" else _dot(max(3, int(pen * rng.uniform(1.0, 1.8))))
        x = put(first, x, baseline - int(DIGIT_HEIGHT * rng.uniform(0.0, 0.15)))
        kind, x = "-", x + int(DIGIT_HEIGHT * rng.uniform(0.0, 0.2))
    if kind in ("-", "_"):
        length = int(DIGIT_HEIGHT * (rng.uniform(0.3, 0.9) if kind == "-" else rng.uniform(0.2, 0.45)))
        middle = DIGIT_HEIGHT * (rng.uniform(1.35, 1.7) if kind == "-" else rng.uniform(1.65, 1.95))
        mark = _stroke(length, pen, rng.uniform(-0.15, 0.1), rng)
        put(mark, x, int(middle) - mark.shape[0] // 2)
    else:  # "~"
        length, amplitude = DIGIT_HEIGHT * rng.uniform(0.4, 1.0), DIGIT_HEIGHT * rng.uniform(0.06, 0.18)
        t = np.linspace(0, 2 * np.pi, 24)
        middle = DIGIT_HEIGHT * rng.uniform(1.2, 1.6)
        points = np.stack([x + t / (2 * np.pi) * length, middle - amplitude * np.sin(t)], 1)
        cv2.polylines(canvas, [points.round().astype(np.int32)], False, 1.0, pen, cv2.LINE_AA)


def _trim(canvas: np.ndarray, rng: np.random.Generator, style: LineStyle) -> np.ndarray:
    """The ink's box with a random margin (none, on a side, in ``edge_share`` of the crops)."""
    rows = np.flatnonzero(canvas.max(axis=1) > 0.2)
    cols = np.flatnonzero(canvas.max(axis=0) > 0.2)
    if rows.size == 0:
        return canvas
    height = rows[-1] - rows[0] + 1
    pad_y = [int(height * rng.uniform(0.05, 0.35)) for _ in range(2)]
    pad_x = [0 if rng.random() < style.edge_share else int(height * rng.uniform(0.05, 0.5)) for _ in range(2)]
    crop = canvas[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return np.pad(crop, ((pad_y[0], pad_y[1]), (pad_x[0], pad_x[1])))


def _paper(shape: tuple[int, int], rng: np.random.Generator, papers: tuple[str, ...]) -> np.ndarray:
    """A paper's grey level (H, W) float32: light, with uneven light and a printed pattern."""
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    paper = np.full(shape, rng.uniform(0.65, 1.0), np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    paper -= rng.uniform(0, 0.25) * ((np.cos(direction) * xx / width + np.sin(direction) * yy / height) % 1.0)
    kind = papers[int(rng.integers(0, len(papers)))]
    strength = rng.uniform(0.05, 0.3)
    if kind == "ruled":
        period = rng.uniform(6, 20)
        paper -= strength * (np.abs((yy + rng.uniform(0, period)) % period) < rng.uniform(0.8, 2.0))
    elif kind == "wavy":  # the guilloche of a cheque: fine wavy lines
        period = rng.uniform(3, 8)
        phase = yy + rng.uniform(2, 8) * np.sin(xx / rng.uniform(5, 25) + rng.uniform(0, 6))
        paper -= strength * (np.abs(np.sin(phase * np.pi / period)) < rng.uniform(0.2, 0.5))
    elif kind == "grid":
        period = rng.uniform(5, 14)
        paper -= strength * ((xx % period < 1) | (yy % period < 1))
    elif kind == "noise":
        texture = cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), rng.uniform(0.6, 2.5))
        paper -= strength * np.clip(texture, 0, None)
    return paper


def on_paper(ink: np.ndarray, rng: np.random.Generator, style: LineStyle) -> np.ndarray:
    """The ink (H, W float32 in [0, 1]) written on paper at a random size: a grey uint8 image."""
    scale = rng.integers(*style.line_height) / DIGIT_HEIGHT
    size = (max(8, round(ink.shape[1] * scale)), max(8, round(ink.shape[0] * scale)))
    ink = cv2.resize(ink, size, interpolation=cv2.INTER_AREA)
    paper = _paper(ink.shape, rng, style.papers)
    darkness = rng.uniform(0.35, 0.95)
    gray = paper * (1 - darkness * np.clip(ink, 0, 1))
    if rng.random() < 0.5:
        gray = cv2.GaussianBlur(gray, (0, 0), rng.uniform(0.3, 1.0))
    gray = gray + rng.normal(0, rng.uniform(0, 0.05), gray.shape).astype(np.float32)
    image = np.clip(gray * 255, 0, 255).astype(np.uint8)
    if rng.random() < style.jpeg_share:
        _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        image = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return image


def pen_width(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thinner (a fine pen, as on most cheques) or thicker strokes than MNIST's."""
    choice = rng.random()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(rng.integers(2, 5)),) * 2)
    if choice < 0.45:
        return cv2.erode(ink, kernel)
    if choice < 0.6:
        return cv2.dilate(ink, kernel)
    return ink


def make_line(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
              style: LineStyle = LineStyle()) -> tuple[np.ndarray, str]:
    """One synthetic handwritten number from MNIST ``images`` (N, 28, 28) uint8 and ``labels`` (N,).

    Returns the grey image (H, W) uint8, dark ink on light paper, and its text: the digits with
    the separators written (``"1.990"``, ``"10 000"``); dashes, underlines and marks that are not
    digits are not text (a line of letters or scribbles reads ``""``).
    """
    if style.mark_share and rng.random() < style.mark_share:  # (no draw at all when 0: sets stay as they were)
        marks = line_marks(int(rng.integers(1, 5)), rng)
        ink, text = place_digits(marks, [None] * len(marks), rng, style, None)
        return finish_line(ink, rng, style), text
    count = int(rng.integers(style.digits[0], style.digits[1] + 1))
    picks = rng.integers(0, len(images), count)
    separator = None
    if count >= 4 and rng.random() < style.separator_share:
        separator = SEPARATORS[int(rng.integers(0, len(SEPARATORS)))]
    glyphs, texts = [images[i] for i in picks], [int(labels[i]) for i in picks]
    round_amount(glyphs, texts, images, labels, rng, style)
    if style.stray_share and rng.random() < style.stray_share:
        stray, at = line_marks(1, rng)[0], int(rng.integers(0, 2)) * count
        glyphs.insert(at, stray)
        texts.insert(at, None)
    ink, text = place_digits(glyphs, texts, rng, style, separator)
    return finish_line(ink, rng, style), text


def finish_line(ink: np.ndarray, rng: np.random.Generator, style: LineStyle) -> np.ndarray:
    """Placed ink -> the grey image: dashes and underline, pen width, slant, crop, paper."""
    ink = pen_width(add_marks(ink, rng, style), rng)
    ink = _trim(slant(ink, rng.uniform(*style.slant)), rng, style)
    return on_paper(ink, rng, style)
