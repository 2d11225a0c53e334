"""Read a whole line of handwritten digits without cutting it: the line reader's input and output.

Cutting ink into connected components fails as soon as digits touch, which is how people write
quickly. The line reader (a CNN + BiGRU trained with CTC, see ``train_lines``) reads the whole
line instead. This module is its prediction side, NumPy, OpenCV and ONNX Runtime only:

    find_lines     ink mask -> the lines of writing, top to bottom (row bands of ink)
    line_input     a line's grey crop -> float32 (LINE_HEIGHT, W): light ink on black, fixed height
    decode         the model's per-column logits -> digits, their probabilities and columns (CTC)
    read_ink       a line's ink -> its digits, read upright and, when unsure, at other slants
    read_separators  the marks between digits that are separators (". , ' " or a space)
    date_slashes   strokes that may be a date's slashes ("12/05/24"), which both models read as 1s

CTC in brief: the model gives, for every column step of the line, a probability for "blank" and
for each digit; the greedy path takes the likeliest class per step, merges repeats and drops
blanks. A digit's probability is its best step's, and its box spans the steps of its run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .artifacts import read_json
from .imaging import (
    Components,
    at_edge,
    components,
    ink_image,
    mark_stats,
    not_specks,
    percentile,
)

LINE_HEIGHT = 32  # the model's input height: digits fill about 24 px of it
LINE_MARGIN = 2  # px above and below the ink in the model's input
MIN_LINE_WIDTH = 32
MAX_LINE_WIDTH = 640  # wider lines are squeezed: 20 digits at MNIST's proportions fit
DOWNSAMPLE = 4  # input columns per output step (two 2x2 poolings)
BLANK = 0  # class 0 is CTC's blank; class k + 1 is the digit k
CLASSES = 11


def ink_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), exclusive ends, of the ink in ``mask`` (H, W) bool, specks ignored."""
    kept = mark_stats(mask)
    return marks_box(kept) if len(kept) else None


def marks_box(stats: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), exclusive ends, of the marks whose cv2 ``stats`` rows (K, 5), K >= 1, are given."""
    top, left = stats[:, cv2.CC_STAT_TOP].min(), stats[:, cv2.CC_STAT_LEFT].min()
    bottom = (stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT]).max()
    right = (stats[:, cv2.CC_STAT_LEFT] + stats[:, cv2.CC_STAT_WIDTH]).max()
    return int(top), int(bottom), int(left), int(right)


def fit_height(ink: np.ndarray, box: tuple[int, int, int, int] | None) -> tuple[np.ndarray, float]:
    """The ``box`` of ``ink`` (light ink on black) scaled to LINE_HEIGHT rows, aspect kept: the line
    (LINE_HEIGHT, W) float32, and its columns per column of ``ink``."""
    if box is None:
        return np.zeros((LINE_HEIGHT, MIN_LINE_WIDTH), np.float32), 1.0
    top, bottom, left, right = box
    crop = ink[top:bottom, left:right]
    inner = LINE_HEIGHT - 2 * LINE_MARGIN
    scale = inner / crop.shape[0]
    width = int(np.clip(round(crop.shape[1] * scale), 1, MAX_LINE_WIDTH - 2 * LINE_MARGIN))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (width, inner), interpolation=interpolation)
    padded_width = max(MIN_LINE_WIDTH, -(-(width + 2 * LINE_MARGIN) // DOWNSAMPLE) * DOWNSAMPLE)
    line = np.zeros((LINE_HEIGHT, padded_width), np.float32)
    line[LINE_MARGIN:LINE_MARGIN + inner, LINE_MARGIN:LINE_MARGIN + width] = resized
    return line, width / crop.shape[1]


MAX_GAP = 0.5  # wider runs of paper between marks, as a share of the line's height, are narrowed to this


def close_gaps(ink: np.ndarray) -> np.ndarray:
    """The columns of a line's ``ink`` (H, W) to keep: every run of empty columns wider than
    MAX_GAP of the height is narrowed to that (digits written far apart look like the numbers the
    line reader learned). Returns their indices, int (W',), increasing."""
    height, width = ink.shape
    empty = ~(ink > 0).any(axis=0)
    keep = np.ones(width, bool)
    widest = max(1, int(MAX_GAP * height))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], empty.view(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2]):
        if end - start > widest:
            keep[start + widest // 2:end - (widest - widest // 2)] = False
    return np.flatnonzero(keep)


def line_input(gray: np.ndarray) -> np.ndarray:
    """The line reader's input for one line: ``gray`` (H, W) float32 in [0, 1], any polarity ->
    float32 (LINE_HEIGHT, W') in [0, 1], light ink on black, W' a multiple of DOWNSAMPLE."""
    ink, mask = ink_image(gray)
    return fit_height(ink, ink_box(mask))[0]


def slant(canvas: np.ndarray, shear: float) -> np.ndarray:
    """``canvas`` (H, W) float32 sheared by ``shear``: each row moves right by ``shear`` times its
    height above the middle (> 0 leans the writing to the right), onto (H, W + int(|shear| H)) columns;
    the middle row's columns move right by half the columns added."""
    height, width = canvas.shape
    extra = int(abs(shear) * height)
    matrix = np.float32([[1, -shear, extra / 2 + shear * height / 2], [0, 1, 0]])
    return cv2.warpAffine(canvas, matrix, (width + extra, height), flags=cv2.INTER_LINEAR)


def pad_batch(lines: list[np.ndarray], width: int | None = None) -> np.ndarray:
    """Lines (LINE_HEIGHT, W_i) -> one float32 batch (N, LINE_HEIGHT, W, 1), zero-padded on the
    right; lines wider than ``width`` are squeezed to it."""
    width = width or max(line.shape[1] for line in lines)
    batch = np.zeros((len(lines), LINE_HEIGHT, width, 1), np.float32)
    for index, line in enumerate(lines):
        if line.shape[1] > width:
            line = cv2.resize(line, (width, LINE_HEIGHT), interpolation=cv2.INTER_AREA)
        batch[index, :, :line.shape[1], 0] = line
    return batch


@dataclass(frozen=True)
class DecodedDigit:
    digit: int
    probability: float  # of the digit at its likeliest step
    alternatives: np.ndarray  # float32 (10,): the digits' probabilities at that step (the rest is CTC's blank)
    steps: tuple[int, int]  # the output steps of its run, [first, last]


def load_line_session(path, threads: int | None = None):
    """An ONNX Runtime session on a line reader: input (N, LINE_HEIGHT, W, 1), logits (N, W/4, 11)."""
    from .inference import ModelError, open_session

    session = open_session(path, threads)
    shape_in, shape_out = session.get_inputs()[0].shape, session.get_outputs()[0].shape
    if len(shape_in) != 4 or shape_in[1] != LINE_HEIGHT or shape_in[3] != 1 or len(shape_out) != 3 \
            or shape_out[2] != CLASSES:
        raise ModelError(f"{path}: expected a line reader, input (N, {LINE_HEIGHT}, W, 1) and output "
                         f"(N, W/{DOWNSAMPLE}, {CLASSES}), got {shape_in} and {shape_out}")
    return session


def line_temperature(model_path: str | Path) -> float:
    """The temperature that calibrates a line reader's probabilities (``scripts/fit_line_temperature.py``),
    from the metrics beside its file (models/lines-metrics.json, or its run folder's metrics.json);
    1.0 when none was fitted."""
    for name in ("lines-metrics.json", "metrics.json"):
        path = Path(model_path).parent / name
        if path.is_file():
            return float(read_json(path).get("temperature", 1.0))
    return 1.0


def line_logits(session, batch: np.ndarray) -> np.ndarray:
    """Logits (N, W/4, 11) of a padded batch (N, LINE_HEIGHT, W, 1) float32 in [0, 1]."""
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def path_confidence(logits: np.ndarray) -> float:
    """How sure the line reader is of a whole reading: the mean log-probability of the likeliest
    class (blank included) over the steps of ``logits`` (T, 11); <= 0, higher is surer."""
    return float(np.log(softmax(logits.astype(np.float32)).max(axis=1)).mean())


def decode(logits: np.ndarray, steps: int | None = None) -> list[DecodedDigit]:
    """Greedy CTC decoding of one line: ``logits`` (T, 11) float32 -> its digits, left to right.

    Only the first ``steps`` steps are read (the rest is padding).
    """
    proba = softmax(logits[:steps].astype(np.float32))
    best = proba.argmax(axis=1)
    digits: list[DecodedDigit] = []
    start = 0
    for step in range(1, len(best) + 1):
        if step < len(best) and best[step] == best[start]:
            continue
        if best[start] != BLANK:
            run = proba[start:step, best[start]]
            peak = start + int(run.argmax())
            digits.append(DecodedDigit(int(best[start]) - 1, float(run.max()), proba[peak, 1:], (start, step - 1)))
        start = step
    return digits


# The line reader learned lines slanted up to +-0.35 (linesynth.LineStyle.slant); people lean
# further, and a 1 written as a steep stroke goes unread. A line it reads unsurely (a digit below
# ``sure``) is read again sheared by each of these, and the number most readings agree on stands.
# Chosen on synthetic numbers (benchmarks/read_numbers.py, RESULTS, fourteenth session).
SLANTS = (-0.3, -0.15, 0.15, 0.3)


def line_variant(ink: np.ndarray, shear: float) -> tuple[np.ndarray, np.ndarray, float]:
    """One way to show a line's ``ink`` (H, W) float32 (light on black) to the line reader: sheared
    by ``shear``, wide gaps closed, scaled to LINE_HEIGHT. Returns the input (LINE_HEIGHT, W'), the
    column of ``ink`` (at mid-height) of each column kept, int (K,) non-decreasing, and the input's
    columns per kept column."""
    sheared = slant(ink, shear) if shear else ink
    kept = close_gaps(sheared)  # the line reader learned gaps up to about half a digit's height
    line, columns_per_px = fit_height(sheared[:, kept], (0, sheared.shape[0], 0, len(kept)))
    shift = (sheared.shape[1] - ink.shape[1]) // 2
    return line, np.clip(kept - shift, 0, ink.shape[1] - 1), columns_per_px


def read_variant(session, ink: np.ndarray, shear: float) -> tuple[list[DecodedDigit], float, np.ndarray, float]:
    """The line reader's reading of ``line_variant(ink, shear)``, alone: its digits, its
    ``path_confidence``, the kept columns and the input's columns per kept column."""
    line, kept, columns_per_px = line_variant(ink, shear)
    logits = line_logits(session, line[np.newaxis, :, :, np.newaxis])[0]
    return decode(logits), path_confidence(logits), kept, columns_per_px


# People write numbers at a tilt (a line drifting up the page, a phone held askew), and the line
# reader learned level lines. A line whose ink rises or falls LEVEL_FROM degrees or more is also read
# turned level, at each slant too, and every reading votes. Chosen on synthetic numbers turned by
# 5-15 degrees (RESULTS, fifteenth session).
LEVEL_FROM = 6.0
LEVEL_UP_TO = 25.0  # a steeper estimate is no tilt of a line of digits (a column of marks, a scribble)
TILT_STRIP = 0.7  # the width of the strips whose middles give the tilt, in line heights
TILTED_LINE = 1.5  # a line this many times as tall as its columns' ink may be at a steep tilt...
LEVELLED = 0.8  # ... and is, when turned level it is at most this share as tall


def tilt(ink: np.ndarray) -> float:
    """The tilt of a line's ``ink`` (H, W) float32 (light on black), in degrees, positive when it
    falls to the right (rows grow downwards): the slope through the middles of strips TILT_STRIP of
    its height wide (``strips_tilt``). A line shorter than three strips is measured by
    ``steep_tilt``: one or two digits show no tilt (0.0), a short line at a steep tilt does."""
    mask = ink > 0.5
    rows, used = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0.0
    height = rows[-1] + 1 - rows[0]
    if used[-1] + 1 - used[0] < 3 * TILT_STRIP * height:
        return steep_tilt(ink, mask, used, height)
    return strips_tilt(mask, used, TILT_STRIP * height)


def strips_tilt(mask: np.ndarray, used: np.ndarray, strip_width: float) -> float:
    """The tilt (as ``tilt``'s) of a straight line through the middles of ``mask``'s strips
    ``strip_width`` px wide over its ``used`` columns: halfway between a strip's top and bottom
    ink, at its ink's mean column (steadier than the ink's centroid, which a 7 or a 4 moves); 0.0
    with fewer than three strips of ink."""
    strips = int((used[-1] + 1 - used[0]) // strip_width)
    edges = np.linspace(used[0], used[-1] + 1, strips + 1).astype(int)
    across, middles = [], []
    for left, right in itertools.pairwise(edges):
        strip = mask[:, left:right]
        if strip.sum() <= 5:
            continue
        inked = np.flatnonzero(strip.any(axis=1))
        across.append(left + float(np.nonzero(strip)[1].mean()))
        middles.append((inked[0] + inked[-1]) / 2)
    if len(across) < 3:
        return 0.0
    return float(np.degrees(np.arctan(np.polyfit(across, middles, 1)[0])))


def steep_tilt(ink: np.ndarray, mask: np.ndarray, used: np.ndarray, height: int) -> float:
    """``tilt`` of a line too short for three strips of its ``height``: a line at a steep tilt is
    taller than its digits ("6142" rising 18 degrees made two strips, and was read "642"). When it
    is TILTED_LINE times as tall as its columns' ink (``mask``'s, in its ``used`` columns), it is
    measured in strips of that; the tilt stands when turning the line level makes it LEVELLED as
    tall (a patch of shade, or digits of several heights, do not shrink so); else 0.0."""
    inked = mask[:, used]
    extent = float(np.median(len(mask) - np.argmax(inked[::-1], axis=0) - np.argmax(inked, axis=0)))
    if height <= TILTED_LINE * extent:
        return 0.0
    angle = strips_tilt(mask, used, TILT_STRIP * extent)
    if not angle:
        return 0.0
    level, _ = levelled(ink, angle)
    return angle if len(level) <= LEVELLED * height else 0.0


def levelled(ink: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``ink`` (H, W) float32 turned by ``angle`` degrees about its middle (a line at that ``tilt``
    lies level), cropped to its rows of ink; and for each of its columns, the column of ``ink``
    it came from at the middle row, int (W',) non-decreasing."""
    height, width = ink.shape
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    new_width, new_height = int(width * cos + height * sin) + 1, int(width * sin + height * cos) + 1
    turn[:, 2] += ((new_width - width) / 2, (new_height - height) / 2)
    level = cv2.warpAffine(ink, turn, (new_width, new_height), flags=cv2.INTER_LINEAR)
    rows = np.flatnonzero(level.max(axis=1) > 0.2)
    if rows.size:
        level = level[rows[0]:rows[-1] + 1]
    origin = np.round(width / 2 + (np.arange(new_width) - new_width / 2) * cos)
    return level, np.clip(origin, 0, width - 1).astype(np.int64)


def read_ink(session, ink: np.ndarray, sure: float,
             slants: tuple[float, ...] = SLANTS) -> tuple[list[DecodedDigit], np.ndarray, float]:
    """A line's ``ink`` (H, W) float32 read by the line reader: its digits, and the kept columns and
    columns per kept column of the reading chosen (see ``line_variant``). Read upright; when a digit
    is below ``sure``, also at each of ``slants``; when the line lies at a ``tilt`` (LEVEL_FROM
    degrees or more), also at each slant, and turned level upright and at each slant. The number
    most of the readings agree on stands (of those, the surest reading). A line read as no digit
    stays so (a scribble, a word). Each is read alone: in a batch, the narrower lines would be
    padded, and the GRUs read the padding too."""
    readings = [read_variant(session, ink, 0.0)]
    upright = readings[0][0]
    angle = tilt(ink) if upright else 0.0
    tilted = LEVEL_FROM <= abs(angle) <= LEVEL_UP_TO
    if upright and (tilted or min(d.probability for d in upright) < sure):
        readings += [read_variant(session, ink, shear) for shear in slants]
    if tilted:
        level, origin = levelled(ink, angle)
        for shear in (0.0, *slants):
            digits, confidence, kept, columns_per_px = read_variant(session, level, shear)
            readings.append((digits, confidence, origin[kept], columns_per_px))
    numbers = [tuple(d.digit for d in reading[0]) for reading in readings]
    best = max(range(len(readings)), key=lambda i: (numbers.count(numbers[i]), readings[i][1]))
    digits, _, kept, columns_per_px = readings[best]
    return digits, kept, columns_per_px


LINE_JOIN = 0.15  # bands of ink closer than this share of the tallest band, one above the other, are one line
MIN_LINE_SHARE = 0.4  # a band of ink lower than this share of the tallest band (an underline, a comma) joins its nearest line
# ... unless it touches the picture's edge and lies farther than this share of the tallest band from
# it: the tip of a shadow or of a page's edge cut by the frame (read as a 1 in the number), no writing
CUT_OFF_GAP = 0.6
SEPARATOR_HEIGHT = 0.45  # a mark lower than this share of the digits' height, between two digits, may be a separator
COMMA_HEIGHT = 0.65  # ... or a comma as tall as this, from the digits' lower half to below them
RAISED_POINT = "·"  # separator_kind's name for a point halfway up: a colon's upper point, else nothing
POINT_SIZE = 0.3  # a point is no wider or taller than this share of the digits' height (a small 0 is)
# ... unless it is a filled dot (a felt pen's, a bold font's point or comma): ink over SOLID_POINT of
# its box (a disc fills 0.79 of it, a thresholded blob 0.65-0.8; a small 0's ring less), up to
# BIG_POINT of their height. A bold "12.50" lost its point, and its gap read as a space ("1 250").
SOLID_POINT = 0.6
BIG_POINT = 0.4
DASH_WIDTH = 0.8  # a dash between digits is no wider than this share of their height (an underline is)
# A separator is no thinner than this share of the digits' height, nor than 2 px: the specks and
# hairlines of a cheque's printed background are none (a cheque's points are 0.08 of its digits).
SEPARATOR_PEN = 0.045
SPACE_GAP = 0.45  # a gap between digits wider than this share of their height, and twice the usual gap, is a space
FAR_GAP = 1.5  # ... and a gap wider than this share of it is one whatever the others (two numbers far apart)
# Writing at a line's end, set apart from the rest by this share of its tallest piece's height and
# under SMALL_APART of the tallest group's height, is text beside the number (a printed "Total:",
# "kg"): not read. Cheques write trailing zeros smaller, but close to the digits before them.
APART_GAP = 0.5
SMALL_APART = 0.6
MIN_APART = 0.15  # ... and at least this share of it: what is lower is specks, left as they are
# A date's slash is a straight stroke leaning right at least SLASH_LEAN degrees from upright, no
# thicker than SLASH_THIN of its length, 0.6-1.6 of the digits' height. A 1 may look the same (a
# third of MNIST's 1s lean 18 degrees or more), so two of them are slashes only when they cut the
# line's digits into a date's groups (DATE_GROUPS: day, month, year or year, month, day) and the
# digits read then make a date (``predict.is_date``).
SLASH_LEAN = 18.0
SLASH_THIN = 0.25
DATE_GROUPS = (((1, 2), (1, 2), (2, 4)), ((4, 4), (1, 2), (1, 2)))
DATE_TRIES = 3  # pairs of such strokes read as slashes at most, the likeliest first
# A line of more tall pieces than this is no date (eight digits and two slashes, each digit in up to
# three pieces): its pairs of strokes are not tried, each a pass over the pieces (a page of specks
# held 14,000 and took seconds, before its marks were refused as too many).
DATE_PIECES = 32


@dataclass
class Line:
    """One line of writing in a mask: its pieces (labels of ``pieces``) and box (top, bottom, left, right)."""

    labels: np.ndarray
    box: tuple[int, int, int, int]


def find_lines(mask: np.ndarray, marks: Components | None = None) -> tuple[np.ndarray, np.ndarray, list[Line]]:
    """The lines of writing in ``mask`` (H, W) bool (its ``components`` ``marks``, when known), top
    to bottom.

    Pieces of ink (specks dropped) whose rows overlap form a band; bands a few pixels apart (a
    hairline broken by the pen) are one; a band much lower than the tallest (an underline, the
    tail of a comma, a row of dots) joins the nearest band, unless it touches the picture's edge
    far from every line (CUT_OFF_GAP: the tip of a shadow cut by the frame), when it is left out
    of every line. Returns the
    piece labels (H, W) int32, the pieces' cv2 stats, and the lines.
    """
    pieces, stats = marks or components(mask)
    if len(stats) <= 1:
        return pieces, stats, []
    kept = 1 + np.flatnonzero(not_specks(stats[1:]))
    kept = kept[np.argsort(stats[kept, cv2.CC_STAT_TOP], kind="stable")]
    bands: list[list] = []  # [top, bottom, labels]
    for label in kept:
        top = int(stats[label, cv2.CC_STAT_TOP])
        bottom = top + int(stats[label, cv2.CC_STAT_HEIGHT])
        if bands and top < bands[-1][1]:
            bands[-1][1] = max(bands[-1][1], bottom)
            bands[-1][2].append(label)
        else:
            bands.append([top, bottom, [label]])
    tallest = max(b[1] - b[0] for b in bands)
    joined = [bands[0]]
    for band in bands[1:]:  # a hairline broken by the pen: pieces a few pixels apart, one above the other
        if band[0] - joined[-1][1] <= LINE_JOIN * tallest:
            joined[-1][1] = max(joined[-1][1], band[1])
            joined[-1][2].extend(band[2])
        else:
            joined.append(band)
    bands = joined
    tallest = max(b[1] - b[0] for b in bands)
    lines = [b for b in bands if b[1] - b[0] >= MIN_LINE_SHARE * tallest]
    for band in bands:
        if band[1] - band[0] < MIN_LINE_SHARE * tallest:
            gaps = [max(line[0] - band[1], band[0] - line[1]) for line in lines]
            nearest = int(np.argmin(gaps))
            if gaps[nearest] > CUT_OFF_GAP * tallest and all(at_edge(stats[label], mask.shape) for label in band[2]):
                continue
            lines[nearest][2].extend(band[2])
    lines = [np.array(labels) for _, _, labels in lines]
    return pieces, stats, [Line(labels, marks_box(stats[labels])) for labels in lines]


def apart_ends(stats: np.ndarray, line: Line) -> tuple[Line, list[np.ndarray]]:
    """``line`` without the writing at its ends that is no part of its number, and that writing's
    piece labels, one array per group: groups of pieces (the pieces whose columns lie within
    APART_GAP of the tallest piece's height of each other) first or last on the line, each set
    apart by more than that, MIN_APART to SMALL_APART as tall as the line's tallest group, and no
    separator beside the gap (the small "000" of "25.000"). A printed label ("Total:", "No.") or
    unit ("kg") beside a handwritten number is smaller than its digits: its letters would be read
    as digits ("l" as 1, "o" as 0). (The tallest group is taken for the number: a label printed
    taller than the handwriting beside it stays, and the handwriting goes.)"""
    labels = line.labels[np.argsort(stats[line.labels, cv2.CC_STAT_LEFT], kind="stable")]
    left = stats[labels, cv2.CC_STAT_LEFT]
    reached = np.maximum.accumulate(left + stats[labels, cv2.CC_STAT_WIDTH])  # the right end so far
    tallest = stats[labels, cv2.CC_STAT_HEIGHT].max()
    starts = [0] + [i for i in range(1, len(labels)) if left[i] - reached[i - 1] > APART_GAP * tallest]
    if len(starts) < 2:
        return line, []
    groups = [labels[a:b] for a, b in zip(starts, [*starts[1:], len(labels)])]
    heights = [bottom - top for top, bottom, _, _ in (marks_box(stats[group]) for group in groups)]

    def small(group: int) -> bool:
        return MIN_APART * max(heights) <= heights[group] < SMALL_APART * max(heights)

    def separator(label, beside: float) -> bool:
        return separator_sized(*stats[label, 2:4], beside)

    def rightmost(group) -> int:  # the piece of a group that reaches furthest right
        return group[int(np.argmax(stats[group, cv2.CC_STAT_LEFT] + stats[group, cv2.CC_STAT_WIDTH]))]

    # A separator on the number's side of the gap joins the two ("1 .990"), or one leading a last
    # group, small for it ("25 .000"); a label's colon ends it ("Total:").
    first, last = 0, len(groups)
    while first < last - 1 and small(first) and not separator(groups[first + 1][0], tallest):
        first += 1
    while (last - 1 > first and small(last - 1) and not separator(rightmost(groups[last - 2]), tallest)
           and not separator(groups[last - 1][0], heights[last - 1])):
        last -= 1
    if first == 0 and last == len(groups):
        return line, []
    kept = np.concatenate(groups[first:last])
    return Line(kept, marks_box(stats[kept])), groups[:first] + groups[last:]


def digit_centres(digits: list[DecodedDigit], columns_per_px: float) -> list[float]:
    """The column of each digit's CTC peak in the line the reader was shown (before ``columns_per_px``
    scaled it), from the line's left edge."""
    return [((d.steps[0] + d.steps[1] + 1) / 2 * DOWNSAMPLE - LINE_MARGIN) / columns_per_px for d in digits]


def digit_spans(digits: list[DecodedDigit], box: tuple[int, int, int, int], columns_per_px: float,
                cuts: tuple[float, ...] = ()) -> list[tuple[int, int]]:
    """Each digit's columns [left, right) in the mask: from halfway to the previous digit's peak
    to halfway to the next (CTC marks a digit at one or two steps, not over its width), or at a
    column of ``cuts`` between the two peaks (where a date's slash stood)."""
    _, _, left, right = box
    centres = [left + centre for centre in digit_centres(digits, columns_per_px)]
    edges = [left] + [round(next((cut for cut in cuts if a < cut < b), (a + b) / 2))
                      for a, b in itertools.pairwise(centres)] + [right]
    return [(int(edges[i]), int(max(edges[i] + 1, edges[i + 1]))) for i in range(len(digits))]


def separator_sized(width: int, height: int, digits_height: float) -> bool:
    """True for a mark of ``width`` x ``height`` px that may be a separator (a point, a comma, an
    apostrophe) beside digits ``digits_height`` px tall: lower than SEPARATOR_HEIGHT of them, and
    no dash (a dash, or a 5's flag, is wider than 1.5 times its height)."""
    return height < SEPARATOR_HEIGHT * digits_height and width <= 1.5 * height + 2


def separator_kind(box: tuple[int, int, int, int], body_top: float, body_height: float, area: int = 0) -> str:
    """What a mark with ``box`` (x, y, width, height) and ``area`` px of ink is beside digits
    ``body_height`` px tall whose tops lie at ``body_top``: low and round a point "." (POINT_SIZE,
    or BIG_POINT when filled), low and reaching below them or tall for its width a comma ",", high
    (in their top half: the top of a 4 written apart is lower) an apostrophe "'", a point higher up
    RAISED_POINT (a colon's upper point), a bar halfway up and short for the digits a dash "-";
    else "" (none). Specks thinner than a pen draws (SEPARATOR_PEN) are none."""
    _, y, width, height = box
    level = (y + height / 2 - body_top) / body_height
    if min(width, height) < max(2, SEPARATOR_PEN * body_height):
        return ""
    point = (BIG_POINT if area >= SOLID_POINT * width * height else POINT_SIZE) * body_height
    if separator_sized(width, height, body_height):
        if level > 0.6:
            if y + height > body_top + 1.1 * body_height or height > 1.8 * width:
                return ","
            return "." if max(width, height) <= point else ""  # else a small 0
        if level < 0.35 and y + height - body_top <= 0.45 * body_height:  # within the digits' top half
            return "'"
        if level < 0.6 and max(width, height) <= point and height <= 1.8 * width:
            return RAISED_POINT  # a colon's upper point, with a point below it
    elif (height < SEPARATOR_HEIGHT * body_height and 2.5 * height <= width <= DASH_WIDTH * body_height
          and 0.3 <= level <= 0.7):
        return "-"
    elif (y > body_top + 0.5 * body_height and y + height > body_top + 1.1 * body_height
          and height < COMMA_HEIGHT * body_height and height >= 1.5 * width):
        return ","  # a long comma: from the digits' lower half to below them
    return ""


def line_body(stats: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The top and height of a line's digits: the medians over its pieces (``labels`` of ``stats``)
    at least half as tall as the tallest."""
    tall = labels[stats[labels, cv2.CC_STAT_HEIGHT] >= 0.5 * stats[labels, cv2.CC_STAT_HEIGHT].max()]
    return percentile(stats[tall, cv2.CC_STAT_TOP], 50), percentile(stats[tall, cv2.CC_STAT_HEIGHT], 50)


def colon(marks: list[tuple[int, str, tuple[int, int, int, int]]]) -> bool:
    """True when the separators seen in one gap (label, kind and box each) hold a point and, above
    it, a round mark of about its size: a colon (two specks of a printed background are not)."""
    points = [box for _, kind, box in marks if kind == "."]
    above = [box for _, kind, box in marks if kind in ("'", RAISED_POINT) and box[3] <= 1.8 * box[2]]
    return any(abs((x1 + w1 / 2) - (x2 + w2 / 2)) < max(w1, w2)
               and max(w1, w2) <= 2 * min(w1, w2) and max(h1, h2) <= 2 * min(h1, h2)
               for x1, _, w1, h1 in points for x2, _, w2, h2 in above)


def separator_marks(stats: np.ndarray, labels: np.ndarray, spans: list[tuple[int, int]],
                    kinds: tuple | None = None) -> tuple[list[str], set[int], float]:
    """The marks (pieces ``labels`` of ``stats``) standing between digits whose columns are ``spans``
    [left, right) that are separators (``separator_kind``): for each gap "" or the separator seen
    there (the last one, or a colon ":"); the labels of those marks; and the height of the digits.
    A dash lies mostly outside the digits' pieces' columns (``line_kinds``, or ``kinds``, its answer
    when known): a 7's bar drawn apart crosses its stem."""
    kinds, digit_columns, body_height = kinds or line_kinds(stats, labels)
    seen: list[list[tuple[int, str, tuple[int, int, int, int]]]] = [[] for _ in range(max(0, len(spans) - 1))]
    for label, kind in kinds.items():
        if not kind:
            continue
        x, _, width, _ = box = tuple(int(v) for v in stats[label, :4])
        centre = x + width / 2
        gap = next((i for i in range(len(spans) - 1) if spans[i][0] + 0.5 * (spans[i][1] - spans[i][0]) < centre
                    < spans[i + 1][0] + 0.5 * (spans[i + 1][1] - spans[i + 1][0])), None)
        if gap is None:  # outside the number
            continue
        if kind == "-" and covered(digit_columns, x, x + width) > width / 2:
            continue
        seen[gap].append((label, kind, box))
    found, used = [], set()
    for marks in seen:
        if colon(marks):
            found.append(":")
            used.update(label for label, _, _ in marks)
            continue
        marks = [mark for mark in marks if mark[1] != RAISED_POINT]  # no colon: nothing written
        found.append(marks[-1][1] if marks else "")
        used.update(label for label, _, _ in marks)
    return found, used, body_height


def line_kinds(stats: np.ndarray, labels: np.ndarray) -> tuple[dict[int, str], list[tuple[int, int]], float]:
    """Each piece's ``separator_kind`` beside the line's digits (``line_body``), the columns
    [left, right) of the digits' pieces (no separator's shape, at least SEPARATOR_HEIGHT of their
    height), and the digits' height."""
    body_top, body_height = line_body(stats, labels)
    kinds = {int(label): separator_kind(tuple(int(v) for v in stats[label, :4]), body_top, body_height,
                                        int(stats[label, cv2.CC_STAT_AREA]))
             for label in labels}
    left, width, height = (stats[:, column] for column in (cv2.CC_STAT_LEFT, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    columns = [(int(left[label]), int(left[label] + width[label])) for label, kind in kinds.items()
               if not kind and height[label] >= SEPARATOR_HEIGHT * body_height]
    return kinds, columns, body_height


def covered(spans: list[tuple[int, int]], left: int, right: int) -> int:
    """How many of the columns [left, right) lie within ``spans`` (counted once per span)."""
    return sum(max(0, min(b, right) - max(a, left)) for a, b in spans)


def separator_pieces(stats: np.ndarray, labels: np.ndarray) -> set[int]:
    """The pieces of a line (``labels`` of ``stats``) that are separators between its other pieces
    (``separator_marks``, each run of pieces over each other's columns taken as a digit) and stand
    mostly apart from them: marks the digit model must not read, as a comma reads as a sure 1 to
    it. (The line reader sees them, and learned them.)"""
    if len(labels) < 3:
        return set()
    kinds = line_kinds(stats, labels)
    _, digit_columns, _ = kinds
    spans: list[list[int]] = []
    for left, right in sorted(digit_columns):
        if spans and left < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], right)
        else:
            spans.append([left, right])
    if len(spans) < 2:
        return set()
    _, used, _ = separator_marks(stats, labels, spans, kinds)
    lefts, widths = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_WIDTH]
    return {label for label in used if covered(spans, lefts[label], lefts[label] + widths[label]) <= widths[label] / 2}


def read_separators(stats: np.ndarray, labels: np.ndarray, spans: list[tuple[int, int]],
                    body: np.ndarray, kinds: tuple | None = None) -> tuple[list[str], set[int]]:
    """What stands between each pair of digits whose columns are ``spans``: "" or a separator
    (". , ' : -" from the marks between them, ``separator_marks``, or a space), and the labels of
    the marks read as separators. With no mark, a gap of paper between the digits' ink (``body``,
    bool (H, W), the tall marks) that is wide for their height and twice the number's usual gap,
    or FAR_GAP of their height whatever the others, is a space. ``kinds``: ``line_kinds``' answer
    when the caller has it.
    """
    if len(spans) < 2:
        return [], set()
    found, used, body_height = separator_marks(stats, labels, spans, kinds)
    inked = body.any(axis=0)
    gaps = []
    for i in range(len(spans) - 1):
        columns = np.flatnonzero(inked[spans[i][0]:spans[i + 1][1]])
        gaps.append(int(np.diff(columns).max(initial=1)) - 1 if columns.size else 0)
    usual = percentile(np.array(gaps), 50)
    for i, gap in enumerate(gaps):
        if not found[i] and ((len(gaps) >= 2 and gap > SPACE_GAP * body_height and gap > 2 * usual)
                             or gap > FAR_GAP * body_height):
            found[i] = " "
    return found, used


def leaning_stroke(piece: np.ndarray) -> float | None:
    """How far a piece of ink (bool (H, W), its box) leans right from upright, in degrees (negative
    when it leans left), when it is a straight stroke (no thicker than SLASH_THIN of its length, by
    its principal axes); None for any other shape."""
    moments = cv2.moments(piece.view(np.uint8), binaryImage=True)
    if moments["m00"] < 3:
        return None
    spread, axes = np.linalg.eigh(np.array([[moments["mu20"], moments["mu11"]], [moments["mu11"], moments["mu02"]]]))
    if spread[1] <= 0 or np.sqrt(max(spread[0], 0.0) / spread[1]) > SLASH_THIN:
        return None
    across, down = axes[:, 1]
    lean = float(np.degrees(np.arctan2(abs(across), abs(down))))
    return lean if across * down < 0 else -lean  # rows grow downwards: its top lies to the right


def date_slashes(pieces: np.ndarray, stats: np.ndarray, labels: np.ndarray) -> list[set[int]]:
    """The pairs of pieces of a line (``labels`` of ``pieces`` and their ``stats``) that may be a
    date's slashes ("12/05/24", "2024/5/7"), the likeliest first (those leaning furthest), at most
    DATE_TRIES: straight strokes leaning right SLASH_LEAN degrees or more, 0.6-1.6 of the digits'
    height, that cut the line's digits (the other tall pieces, those over half another's columns
    taken together) into groups of DATE_GROUPS' sizes. Empty when there is none: a 1 that leans as
    far is a 1 anywhere else; whether the digits then make a date is the reader's to say
    (``predict.is_date``)."""
    if len(labels) < 5:
        return []
    kinds, _, body_height = line_kinds(stats, labels)
    left, width, height = (stats[:, column] for column in (cv2.CC_STAT_LEFT, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    tall = [int(label) for label in labels if not kinds[int(label)] and height[label] >= SEPARATOR_HEIGHT * body_height]
    if len(tall) > DATE_PIECES:
        return []
    leans = {}  # the straight strokes leaning far enough: slashes or 1s
    for label in tall:
        if 0.6 * body_height <= height[label] <= 1.6 * body_height:
            x, y = int(left[label]), int(stats[label, cv2.CC_STAT_TOP])
            lean = leaning_stroke(pieces[y:y + height[label], x:x + width[label]] == label)
            if lean is not None and lean >= SLASH_LEAN:
                leans[label] = lean
    pairs = []
    for pair in itertools.combinations(sorted(leans, key=lambda label: left[label]), 2):
        spans: list[list[int]] = []  # the digits: pieces over half another's columns are one (a 5's flag)
        for a, b in sorted((int(left[label]), int(left[label] + width[label])) for label in tall if label not in pair):
            if spans and spans[-1][1] - a > (b - a) / 2:
                spans[-1][1] = max(spans[-1][1], b)
            else:
                spans.append([a, b])
        middles = np.array([(a + b) / 2 for a, b in spans])
        first, second = (left[label] + width[label] / 2 for label in pair)
        groups = ((middles < first).sum(), ((middles > first) & (middles < second)).sum(), (middles > second).sum())
        if any(all(low <= count <= high for count, (low, high) in zip(groups, sizes)) for sizes in DATE_GROUPS):
            pairs.append((min(leans[label] for label in pair), set(pair)))
    return [pair for _, pair in sorted(pairs, key=lambda item: -item[0])[:DATE_TRIES]]
