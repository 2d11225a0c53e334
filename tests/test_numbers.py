"""Whole numbers: touching digits, separators, several lines (the line reader, digitcnn.sequence).

The images are built here from MNIST *test* digits (the line reader trains on numbers made of
training digits only), drawn as a canvas or a pen on paper draws them.
"""

import dataclasses
import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from digitcnn.linesynth import LineStyle, make_line, place_digits
from digitcnn.sequence import (
    DOWNSAMPLE,
    LINE_HEIGHT,
    LINE_MARGIN,
    SLANTS,
    apart_ends,
    date_slashes,
    decode,
    find_lines,
    leaning_stroke,
    line_input,
    line_logits,
    line_variant,
    load_line_session,
    read_ink,
    read_separators,
    separator_pieces,
    slant,
)


def canvas_png(ink: np.ndarray, size=(560, 280), at=(60, 90)) -> bytes:
    """Ink as black strokes on the web page's white 560x280 canvas, PNG bytes."""
    page = np.full((size[1], size[0]), 255, np.uint8)
    h, w = ink.shape
    page[at[1]:at[1] + h, at[0]:at[0] + w] = np.round(255 * (1 - np.clip(ink, 0, 1)))
    return cv2.imencode(".png", page)[1].tobytes()


def touching(ink: np.ndarray) -> bool:
    count, _ = cv2.connectedComponents((ink > 0.3).astype(np.uint8))
    return count - 1 == 1


# --- the pieces, without a model ---------------------------------------------------------------

def test_synthetic_numbers_show_their_text(mnist):
    (x_train, y_train), _ = mnist
    rng = np.random.default_rng(0)
    for _ in range(50):
        gray, text = make_line(x_train, y_train, rng, LineStyle(separator_share=1.0))
        assert gray.dtype == np.uint8 and gray.ndim == 2 and gray.mean() > 100  # dark ink on light paper
        digits = "".join(c for c in text if c.isdigit())
        assert 1 <= len(digits) <= 7 and set(text) <= set("0123456789.,' ")
        if len(digits) >= 4:  # separators between groups of three, counted from the right
            assert text[-4] in ".,' " and text.count(text[-4]) == (len(digits) - 1) // 3


def test_touching_style_touches_and_gaps_style_does_not(mnist):
    (x_train, y_train), _ = mnist
    rng = np.random.default_rng(1)
    joined = {}
    for name, style in {"touching": LineStyle(touching_share=1.0, overlap=(-0.3, -0.2)),
                        "gaps": LineStyle(touching_share=0.0, gap=(0.2, 0.5))}.items():
        joined[name] = 0
        for _ in range(40):
            picks = rng.integers(0, len(x_train), 2)
            ink, text = place_digits([x_train[i] for i in picks], [int(y_train[i]) for i in picks], rng, style, None)
            joined[name] += touching(ink)
            assert text == "".join(str(int(y_train[i])) for i in picks)
    assert joined["touching"] >= 20 and joined["gaps"] <= 4, joined


def test_ones_with_a_flag_touch_like_any_digit(mnist):
    """A flagged 1 is cropped to its ink like any digit: no blank margin keeps it from its neighbour."""
    (x_train, y_train), _ = mnist
    ones = np.flatnonzero(y_train == 1)
    rng = np.random.default_rng(2)
    style = LineStyle(touching_share=1.0, overlap=(-0.3, -0.2), flag_one=1.0, flag_length=(0.8, 1.0))
    joined = 0
    for _ in range(30):
        picks = rng.choice(ones, 2)
        ink, text = place_digits([x_train[i] for i in picks], [1, 1], rng, style, None)
        joined += touching(ink)
        assert text == "11"
    assert joined >= 15, joined


def test_writer_conventions_mnist_lacks(mnist):
    """Conventions of Latin American and European writers, drawn on MNIST digits: a 9's tail hooked
    to the left, a bar across a 7's stem, a 1 written as one long stroke below the baseline."""
    from digitcnn.augment import cross_seven, hook_nine
    from digitcnn.linesynth import _room

    (x_train, y_train), _ = mnist
    rng = np.random.default_rng(4)
    for nine in x_train[y_train == 9][:10]:
        plain = _room(nine)
        added = (hook_nine(plain, rng) > 0.5) & (plain <= 0.5)
        rows, cols = np.nonzero(plain > 0.5)
        new_rows, new_cols = np.nonzero(added)
        assert new_rows.size > 10 and new_rows.max() > rows.max()  # below the tail's end
        assert new_cols.min() < cols[rows >= rows.max() - 3].min() - 2  # and to its left
    for seven in x_train[y_train == 7][:10]:
        plain = _room(seven)
        added = (cross_seven(plain, rng) > 0.5) & (plain <= 0.5)
        rows, cols = np.nonzero(added)
        assert cols.size > 10 and np.ptp(cols) > 2 * max(1, np.ptp(rows))  # a bar, across
        top, bottom = np.flatnonzero(plain.max(axis=1) > 0.5)[[0, -1]]
        assert top + 0.3 * (bottom - top) < rows.mean() < top + 0.75 * (bottom - top)
    one, zero = x_train[y_train == 1][0], x_train[y_train == 0][0]
    style = LineStyle(touching_share=0.0, gap=(0.5, 0.6), flag_one=0.0, long_one=1.0)
    lower = 0
    for _ in range(20):
        ink, text = place_digits([one, zero], [1, 0], rng, style, None)
        _, _, stats, _ = cv2.connectedComponentsWithStats((ink > 0.3).astype(np.uint8))
        marks = sorted(stats[1:][stats[1:, cv2.CC_STAT_AREA] > 20].tolist())  # left to right
        bottoms = [m[cv2.CC_STAT_TOP] + m[cv2.CC_STAT_HEIGHT] for m in marks]
        lower += text == "10" and len(marks) == 2 and bottoms[0] > bottoms[1] + 3
    assert lower >= 16, lower


def _holes(ink: np.ndarray) -> list[float]:
    """The rows (centres) of the paper enclosed by ink (ink > 0.5), top to bottom."""
    count, _, stats, centres = cv2.connectedComponentsWithStats((ink <= 0.5).astype(np.uint8), connectivity=4)
    outside = {i for i in range(1, count) if stats[i, cv2.CC_STAT_LEFT] == 0 or stats[i, cv2.CC_STAT_TOP] == 0}
    return sorted(centres[i][1] for i in range(1, count) if i not in outside and stats[i, cv2.CC_STAT_AREA] >= 3)


def test_round_amounts_end_in_zeros_some_written_as_a_chain_of_loops(mnist):
    """Style mixed-round: a share of the numbers of four digits or more end in "000" or "00", as
    amounts of money do, some of them written as a chain of quick loops; at a share of 0 nothing is
    drawn from the generator, one draw fewer than at any share above 0."""
    from digitcnn.config import LINE_PRESETS
    from digitcnn.linesynth import (
        CHEQUE_ROUND,
        CHEQUE_WRITERS,
        looped_zero,
        round_amount,
    )
    from digitcnn.train_lines import TRAINING_STYLES

    assert LINE_PRESETS["lines-round"].style == "mixed-round" and LINE_PRESETS["lines-round"].init_from == "runs/lines-closing"
    assert [name for name, styles in TRAINING_STYLES.items() if any(s.round_amounts for s in styles)] == ["mixed-round"]

    (x_train, y_train), _ = mnist
    style = dataclasses.replace(CHEQUE_ROUND, round_amounts=1.0, digits=(4, 7), separator_share=0.0)
    rng = np.random.default_rng(7)
    texts = [make_line(x_train, y_train, rng, style)[1] for _ in range(40)]
    assert all(text.endswith("00") and 4 <= len(text) <= 7 for text in texts), texts
    assert 0.5 < np.mean([text.endswith("000") for text in texts]) < 0.95
    for seed in range(10):
        zero = looped_zero(np.random.default_rng(seed))
        assert zero.shape == (28, 28) and zero.dtype == np.uint8
        assert len(_holes(zero.astype(np.float32) / 255)) == 1  # a loop
    glyphs, labels = [x_train[i] for i in range(5)], [int(y_train[i]) for i in range(5)]
    for share, draws in ((0.0, 0), (1e-12, 1)):
        off, counted = np.random.default_rng(1), np.random.default_rng(1)
        kept_glyphs, kept_labels = list(glyphs), list(labels)
        round_amount(kept_glyphs, kept_labels, x_train, y_train, counted,
                     dataclasses.replace(CHEQUE_WRITERS, round_amounts=share))
        for _ in range(draws):
            off.random()
        assert off.bit_generator.state == counted.bit_generator.state
        assert kept_labels == labels and all(a is b for a, b in zip(kept_glyphs, glyphs))


@pytest.mark.parametrize("kind", [",-", ".-", "~", "_"])
def test_amounts_closed_by_marks_other_than_dashes(mnist, monkeypatch, kind):
    """Style mixed-closing: an amount closed as cheque writers close it, each mark drawn after the
    last digit where it is written (a comma on the baseline, a tilde or a dash higher), and none of
    it in the text."""
    from digitcnn import linesynth
    from digitcnn.linesynth import CHEQUE_CLOSING, DIGIT_HEIGHT, add_marks

    (x_train, y_train), _ = mnist
    monkeypatch.setattr(linesynth, "CLOSING_MARKS", (kind,))
    style = dataclasses.replace(CHEQUE_CLOSING, closing_marks=1.0, dash_share=0.0, underline_share=0.0)
    rng = np.random.default_rng(5)
    for _ in range(10):
        picks = rng.integers(0, len(x_train), 3)
        ink, text = place_digits([x_train[i] for i in picks], [int(y_train[i]) for i in picks], rng, style, None)
        assert text == "".join(str(int(y_train[i])) for i in picks)
        pad = 3 * DIGIT_HEIGHT
        marked = add_marks(ink, rng, style)
        added = (marked > 0.3) & ~np.pad(ink > 0.05, ((0, 0), (pad, pad)))
        rows, cols = np.nonzero(added)
        last = pad + np.flatnonzero(ink.max(axis=0) > 0.3)[-1]
        assert rows.size > 5 and cols.min() >= last - 3 and cols.max() <= last + 2 * DIGIT_HEIGHT, kind  # a pen's half
        baseline, pieces = 2 * DIGIT_HEIGHT, cv2.connectedComponentsWithStats(added.astype(np.uint8))[2][1:]
        if kind in (",-", ".-"):  # on the baseline, first
            first = pieces[np.argmin(pieces[:, cv2.CC_STAT_LEFT])]
            assert abs(first[cv2.CC_STAT_TOP] + first[cv2.CC_STAT_HEIGHT] / 2 - baseline) < 0.3 * DIGIT_HEIGHT
            # then a dash higher up, after it
            dash = pieces[np.argmax(pieces[:, cv2.CC_STAT_LEFT])]
            assert dash[cv2.CC_STAT_WIDTH] > dash[cv2.CC_STAT_HEIGHT] and dash[cv2.CC_STAT_TOP] < baseline - 8
        if kind in ("~", "_"):  # a flat mark, a tilde at mid-height, a short dash low
            assert np.ptp(cols) > np.ptp(rows)
            assert (DIGIT_HEIGHT < rows.mean() < 1.7 * DIGIT_HEIGHT) if kind == "~" else rows.mean() > 1.55 * DIGIT_HEIGHT
    # after a closing dash, no other closing mark
    drawn = []
    monkeypatch.setattr(linesynth, "closing_mark", lambda *args: drawn.append(args))
    for _ in range(10):
        add_marks(ink, rng, dataclasses.replace(style, dash_share=1.0))
    assert not drawn


def test_closing_marks_are_taught_by_the_lines_closing_stage_and_drawn_from_no_generator_when_off():
    """Style mixed-closing's cheque half closes amounts; at a share of 0, add_marks draws from the
    generator exactly what it drew before the closing marks existed (so that every earlier style's
    lines are the same), one draw fewer than at any share above 0."""
    from digitcnn.config import LINE_PRESETS
    from digitcnn.linesynth import CHEQUE_WRITERS, add_marks
    from digitcnn.train_lines import TRAINING_STYLES

    assert LINE_PRESETS["lines-closing"].style == "mixed-closing"
    assert [s.closing_marks > 0 for s in TRAINING_STYLES["mixed-closing"]] == [False, True]
    assert all(s.closing_marks == 0 for name, styles in TRAINING_STYLES.items()
               if name not in ("mixed-closing", "mixed-round") for s in styles)
    ink = np.zeros((120, 200), np.float32)
    ink[40:80, 20:180] = 1.0
    for seed in range(20):
        off, tiny = np.random.default_rng(seed), np.random.default_rng(seed)
        plain = dataclasses.replace(CHEQUE_WRITERS, dash_share=0.0, underline_share=0.0)  # nothing drawn after
        add_marks(ink, off, plain)
        add_marks(ink, tiny, dataclasses.replace(plain, closing_marks=1e-12))  # one draw, never under the share
        off.random()
        assert off.bit_generator.state == tiny.bit_generator.state


def test_the_digit_models_training_draws_the_conventions_on_their_digits_only(mnist, monkeypatch):
    """``augment.vary`` (the default model's writer variations) bars 7s and hooks 9s when asked,
    leaves other digits as they were, and draws nothing from the generator for a convention that is
    off, so that a pool drawn without them is the one drawn before they existed."""
    from digitcnn import augment
    from digitcnn.config import Augmentation

    drawn = []  # the conventions vary drew, by name

    def recorded(name, draw):
        return lambda image, rng: drawn.append(name) or draw(image, rng)

    for name in ("cross_seven", "hook_nine"):
        monkeypatch.setattr(augment, name, recorded(name, getattr(augment, name)))
    (x_train, y_train), _ = mnist
    still = {"rotation": 0.0, "shear": 0.0, "aspect": 0.0, "thickness": 0.0, "breaks": 0.0, "flag_one": 0.0}
    off = Augmentation(**still, cross_seven=0.0, hook_nine=0.0)
    on = Augmentation(**still, cross_seven=1.0, hook_nine=1.0)
    next_draw = set()  # the generator's next number after one digit varied with the conventions off
    for label, convention in ((7, ["cross_seven"]), (9, ["hook_nine"]), (3, [])):
        for image in x_train[y_train == label][:5].astype(np.float32) / 255:
            rng_off, rng_on = np.random.default_rng(0), np.random.default_rng(0)
            plain = augment.vary(image, label, rng_off, off)
            drawn.clear()
            varied = augment.vary(image, label, rng_on, on)
            assert drawn == convention
            next_draw.add(rng_off.random())
            if label == 3:
                np.testing.assert_array_equal(plain, varied)
                assert rng_on.random() in next_draw  # no draw for a digit without the convention
            else:
                assert np.abs(plain - varied).sum() > 5  # a bar or a hook: strokes that were not there
    assert len(next_draw) == 1  # off, a 7 or a 9 draws what a 3 draws


def test_lines_of_marks_read_nothing_and_a_stray_mark_is_not_written(mnist):
    """Outlier exposure for the line reader: a line of letters and scribbles has the text "", and a
    mark beside a number is ink but no text (its separators still group the digits by three)."""
    (x_train, y_train), _ = mnist
    rng = np.random.default_rng(3)
    for _ in range(10):
        gray, text = make_line(x_train, y_train, rng, LineStyle(mark_share=1.0))
        assert text == "" and (gray < 0.6 * np.median(gray)).sum() > 50  # ink, and nothing to read
    from digitcnn.nondigits import mark_ink

    rng = np.random.default_rng(4)  # its own draws: the letters above draw more where handwriting fonts are installed
    star = mark_ink("star", rng)
    digits = [x_train[i] for i in range(4)]
    labels = [int(y) for y in y_train[:4]]
    for at in (0, 4):
        glyphs, written = digits.copy(), labels.copy()
        glyphs.insert(at, star)
        written.insert(at, None)
        ink, text = place_digits(glyphs, written, rng, LineStyle(), ".")
        assert text == f"{labels[0]}.{labels[1]}{labels[2]}{labels[3]}"
        alone, _ = place_digits(digits, labels, rng, LineStyle(), ".")
        assert ink.sum() > alone.sum() + 0.5 * (star > 127).sum() * (ink.shape[0] / 3 / star.shape[0]) ** 2


def test_several_styles_take_turns_line_by_line(mnist):
    from digitcnn.train_lines import _draw_lines

    (x_train, y_train), _ = mnist
    styles = (LineStyle(digits=(1, 1)), LineStyle(digits=(3, 3), separator_share=0.0))
    _, _, lengths, _ = _draw_lines(x_train[:500], y_train[:500], 6, 0, styles, 192)
    assert lengths.tolist() == [1, 3, 1, 3, 1, 3]


def test_line_input_is_fixed_height_light_ink():
    gray = np.full((60, 200), 230, np.uint8)
    cv2.putText(gray, "1234", (10, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 25, 3)
    line = line_input(gray.astype(np.float32) / 255)
    assert line.shape[0] == LINE_HEIGHT and line.shape[1] % DOWNSAMPLE == 0
    assert line.dtype == np.float32 and line.max() == pytest.approx(1.0, abs=0.05)
    assert line[:, :2].max() == 0 and line.mean() < 0.5  # ink is light, paper is black


def test_a_slant_moves_rows_by_their_height_and_the_reading_maps_back_to_the_ink():
    ink = np.zeros((40, 60), np.float32)
    ink[:, 30] = 1.0  # an upright stroke
    leaning = slant(ink, 0.5)
    assert leaning.shape == (40, 80)
    top, middle, bottom = (int(np.argmax(leaning[row])) for row in (0, 20, 39))
    assert top - middle == 10 and middle - bottom == 10  # half a column per row, right at the top
    assert middle == 30 + 10  # the middle row moves by half the columns added
    line, kept, columns_per_px = line_variant(ink, -0.5)
    assert line.shape[0] == LINE_HEIGHT and np.all(np.diff(kept) >= 0)
    assert kept.min() >= 0 and kept.max() < 60
    stroke = int(np.argmax(line[LINE_HEIGHT // 2, LINE_MARGIN:])) / columns_per_px  # a kept column
    assert abs(kept[round(stroke)] - 30) <= 2


def test_ctc_greedy_decoding_merges_repeats_and_drops_blanks():
    # steps: blank, 4, 4, blank, 4, 7, blank  -> "447"  (class k + 1 is the digit k)
    path = [0, 5, 5, 0, 5, 8, 0]
    logits = np.full((len(path), 11), -5.0, np.float32)
    logits[np.arange(len(path)), path] = 5.0
    decoded = decode(logits)
    assert [d.digit for d in decoded] == [4, 4, 7]
    assert [d.steps for d in decoded] == [(1, 2), (4, 4), (5, 5)]
    assert all(d.probability > 0.99 and d.alternatives.argmax() == d.digit for d in decoded)
    assert decode(logits, steps=3)[0].digit == 4 and len(decode(logits, steps=3)) == 1


def test_lines_are_found_top_to_bottom_and_underlines_join_their_line():
    mask = np.zeros((300, 400), bool)
    mask[20:80, 30:60] = mask[20:80, 100:130] = True  # line 1: two marks
    mask[86:90, 20:200] = True  # its underline
    mask[180:250, 40:70] = True  # line 2
    _, _, lines = find_lines(mask)
    assert [line.box[:2] for line in lines] == [(20, 90), (180, 250)]
    assert len(lines[0].labels) == 3


def test_separators_are_read_from_small_marks_between_digits():
    mask = np.zeros((100, 400), bool)
    for left in (10, 90, 170, 250):  # four digits 60 px tall
        mask[20:80, left:left + 40] = True
    mask[72:80, 135:143] = True  # a point on the baseline between digits 2 and 3
    count, pieces, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8))
    labels = np.arange(1, count)
    spans = [(10, 50), (90, 130), (170, 210), (250, 290)]
    body = mask.copy()
    body[72:80, 135:143] = False
    assert read_separators(stats, labels, spans, body) == (["", ".", ""], {int(pieces[75, 139])})


@pytest.mark.parametrize("name, marks, expected", [
    ("comma", [(72, 92, 136, 142)], ","),  # low, reaching below the digits
    ("apostrophe", [(20, 34, 136, 142)], "'"),  # high
    ("colon", [(36, 44, 135, 143), (68, 76, 135, 143)], ":"),  # a round mark above a point
    ("dash", [(47, 53, 133, 167)], "-"),  # a short bar halfway up, between the digits' columns
    ("bar across a digit", [(47, 53, 100, 120)], ""),  # a 7's bar drawn apart lies over its columns
])
def test_separators_are_read_by_their_shape_and_place(name, marks, expected):
    mask = np.zeros((110, 400), bool)
    for left in (10, 90, 170, 250):  # four digits 60 px tall, drawn as rings 4 px wide
        mask[20:80, left:left + 40] = True
        mask[24:76, left + 4:left + 36] = False
    for top, bottom, left, right in marks:
        mask[top:bottom, left:right] = True
    count, pieces, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8))
    labels = np.arange(1, count)
    digits = {int(pieces[20, left + 20]) for left in (10, 90, 170, 250)}
    body = np.isin(pieces, list(digits))
    found, used = read_separators(stats, labels, [(10, 50), (90, 130), (170, 210), (250, 290)], body)
    assert found == ["", expected, ""]
    # the same marks, found without any reading of the digits: what the digit model is not shown
    assert separator_pieces(stats, labels) == used == (set(labels.tolist()) - digits if expected else set())


@pytest.mark.parametrize("read, expected", [
    ("100.0", "1.000"),  # one mark, one group: moved where the groups part
    ("1000 0", "10 000"),
    ("1.2345", "12.345"),
    ("10.9.5", "1095"),  # two marks for one group: left out
    ("1'7.9'07", "17907"),  # marks of two kinds: left out
    ("1.990", "1.990"), ("10,000", "10,000"), ("1.000.000", "1.000.000"), ("10000", "10000"),  # as written
    ("1.234,50", "1.234,50"), ("12.50", "12.50"),  # two decimals after the last mark
    ("2.5", "2.5"), ("10.9", "10.9"),  # three digits or fewer: as read
    ("12:30", "12:30"), ("1-2345", "1-2345"),  # a time, a range: as read
])
def test_thousands_marks_read_between_the_wrong_digits_are_moved_or_left_out(read, expected):
    """The line reader places a mark between the wrong digits when its steps for them are off
    ("1.000.-" read "100.0" on a real cheque): text sets off groups of three, or shows no mark."""
    from digitcnn.predict import written

    digits = "".join(c for c in read if c.isdigit())
    separators = ["" if nxt.isdigit() else nxt for c, nxt in itertools.pairwise(read) if c.isdigit()]
    assert written(digits, separators) == expected


def test_two_digits_far_apart_have_a_space_between_them():
    mask = np.zeros((100, 400), bool)
    mask[20:80, 10:50] = mask[20:80, 300:340] = True  # two digits 60 px tall, 250 px apart
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8))
    assert read_separators(stats, np.arange(1, count), [(10, 50), (300, 340)], mask) == ([" "], set())
    mask[20:80, 300:340], mask[20:80, 80:120] = False, True  # 30 px apart: no space
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8))
    assert read_separators(stats, np.arange(1, count), [(10, 50), (80, 120)], mask) == ([""], set())


def test_writing_set_apart_beside_a_number_is_no_part_of_it():
    def apart(*boxes):  # (top, bottom, left, right) of each mark; digits are 60 px tall
        mask = np.zeros((120, 700), bool)
        for top, bottom, left, right in boxes:
            mask[top:bottom, left:right] = True
        _, stats, (line,) = find_lines(mask)
        kept, groups = apart_ends(stats, line)
        return [sorted(stats[group, cv2.CC_STAT_LEFT].tolist()) for group in groups], kept.box

    digits = [(20, 80, 150, 190), (20, 80, 200, 240)]
    label = [(50, 80, 10, 30), (50, 80, 36, 56)]  # two letters half as tall, 94 px before the digits
    colon = [(55, 61, 60, 66), (72, 78, 60, 66)]
    assert apart(*label, *digits) == ([[10, 36]], (20, 80, 150, 240))
    assert apart(*label, *colon, *digits) == ([[10, 36, 60, 60]], (20, 80, 150, 240))  # "Total:"
    assert apart(*label, (50, 80, 95, 112), *digits)[0] == [[10, 36], [95]]  # two words
    assert apart(*digits, (50, 80, 300, 320)) == ([[300]], (20, 80, 150, 240))  # a unit after them
    assert apart(*[(t, b, l + 80, r + 80) for t, b, l, r in label], *digits)[0] == []  # close: one number
    assert apart(*digits, (74, 80, 250, 256), (50, 80, 290, 310), (50, 80, 316, 336))[0] == []  # "25.000"
    assert apart(*digits, (74, 80, 275, 281), (50, 80, 286, 306), (50, 80, 312, 332))[0] == []  # "25 .000"
    assert apart(*digits, (70, 76, 400, 404))[0] == []  # a speck is left as it is


def test_a_printed_label_or_unit_beside_a_number_is_not_read(reader, number_ink):
    for label, number, side in (("Total:", "72", "left"), ("No.", "305", "left"), ("kg", "48", "right")):
        ink = number_ink(number, overlap=-0.1)
        text = np.zeros((100, 260), np.uint8)
        cv2.putText(text, label, (0, 85), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 255, 4, cv2.LINE_AA)  # capitals 40 px
        text = text[:, :int(np.flatnonzero(text.any(axis=0)).max()) + 1].astype(np.float32) / 255
        parts = [text, np.zeros((100, 60), np.float32), ink]
        page = np.hstack(parts if side == "left" else parts[::-1])
        result = reader.read(canvas_png(page, size=(page.shape[1] + 80, 200), at=(40, 50)))
        assert result.digits == number, (label, result.text)
        beside = [mark.box for mark in result.rejected]
        assert len(beside) == 1 and (beside[0][0] < result.predictions[0].box[0]) == (side == "left"), label


@pytest.mark.parametrize("scale", [0.5, 0.55])
def test_small_zeros_set_apart_after_a_number_are_its_digits(reader, number_ink, scale):
    """"25 000" with its zeros written half as tall and set apart: writing that small beside a number
    is taken for a label or a unit (``apart_ends``), but three marks the digit model surely reads as
    0s are an amount's "000" (before, the reading was "25" and "1 mark that is not a digit")."""
    first, height = number_ink("25", overlap=-0.1), round(100 * scale)
    zeros = np.zeros((height, 3 * height), np.float32)
    for i in range(3):  # three zeros drawn as rings, as tall as ``scale`` of the 25
        cv2.ellipse(zeros, (height // 2 + i * height, height // 2), (height * 3 // 10, height // 2 - 4), 0, 0, 360, 1.0, 7)
    gap = 70
    page = np.zeros((100, first.shape[1] + gap + zeros.shape[1]), np.float32)
    page[:, :first.shape[1]] = first
    page[100 - zeros.shape[0]:, first.shape[1] + gap:] = zeros
    result = reader.read(canvas_png(page, size=(max(560, page.shape[1] + 80), 280), at=(40, 80)))
    assert (result.digits, result.text.replace(" ", ""), result.rejected) == ("25000", "25000", [])


@pytest.mark.parametrize("unit", ["g", "l", "lb", "oz"])
def test_a_unit_whose_letters_look_like_digits_stays_apart(reader, number_ink, unit):
    """A printed unit after a number whose letters the digit model reads as sure digits (g as 9, l as
    1, b as 6, o as 0) is not taken for the number's small last digits: "100 g" is no 1009."""
    ink = number_ink("100", overlap=-0.1)
    text = np.zeros((100, 200), np.uint8)
    cv2.putText(text, unit, (0, 85), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 255, 4, cv2.LINE_AA)
    text = text[:, :int(np.flatnonzero(text.any(axis=0)).max()) + 1].astype(np.float32) / 255
    page = np.hstack([ink, np.zeros((100, 70), np.float32), text])
    result = reader.read(canvas_png(page, size=(page.shape[1] + 80, 200), at=(40, 50)))
    assert result.digits == "100" and len(result.rejected) == 1, (unit, result.text)


def reading(digits: str, probability: float, rejected: int = 0):
    """A ReadResult of ``digits``, each read with ``probability``, beside ``rejected`` refused marks."""
    from digitcnn.results import DigitPrediction, ReadResult, RejectedMark

    return ReadResult.read("", [DigitPrediction(int(d), probability, [], [], [0, 0, 1, 1]) for d in digits],
                           rejected=[RejectedMark(0.9, [0, 0, 1, 1])] * rejected)


@pytest.mark.parametrize("by_marks, whole, marks, chosen", [
    (reading("2", 0.3), reading("5", 0.95), 1, "digit"),  # one mark, one digit: the calibrated model's
    (reading("0", 0.99), reading("10", 0.9), 1, "line"),  # a touching "10": two digits, surely
    (reading("0", 0.99), reading("10", 0.6), 1, "digit"),
    (reading("", 0, rejected=1), reading("7", 1.0), 1, "digit"),  # a refused mark is no single digit...
    (reading("", 0, rejected=1), reading("47", 0.3), 1, "line"),  # ...but joined digits may be refused
    (reading("3", 0.9), reading("", 0), 1, "digit"),  # the line reader read nothing
    (reading("17", 0.99), reading("7", 1.0), 2, "digit"),  # the line reader skipped a plain 1...
    (reading("17", 0.6), reading("7", 0.9), 2, "line"),  # ...unless the digit model is unsure of a mark
    (reading("12", 0.6), reading("123", 0.5), 2, "line"),  # digits touch: only the line reader sees three
    (reading("58", 0.7), reading("56", 0.9), 2, "line"),  # the same count: the surer
    (reading("58", 0.9), reading("56", 0.9), 2, "digit"),  # (a tie: the digit model's)
])
def test_the_digit_model_or_the_line_reader_reads_a_line(by_marks, whole, marks, chosen):
    from digitcnn.predict import DigitReader

    _, text, reader = DigitReader.choose(by_marks, (whole, [""] * max(0, len(whole.digits) - 1)), marks)
    assert reader == chosen and text == (whole if chosen == "line" else by_marks).digits


# --- the shipped line reader ----------------------------------------------------------------------

def test_numbers_leaning_further_than_the_training_are_read_at_other_slants(reader, mnist):
    from digitcnn.imaging import ink_image
    from digitcnn.predict import SURE_LINE
    from digitcnn.train_lines import digits_of

    (_, _), (x_test, y_test) = mnist
    style = LineStyle(slant=(0.5, 0.7), separator_share=0.0, dash_share=0.0, underline_share=0.0,
                      jpeg_share=0.0, papers=("plain",))
    rng = np.random.default_rng(5)
    lines = [make_line(x_test, y_test, rng, style) for _ in range(60)]

    def right(slants) -> int:
        count = 0
        for gray, text in lines:
            ink, mask = ink_image(gray.astype(np.float32) / 255)
            digits, _, _ = read_ink(reader.line_session, ink * mask, SURE_LINE, slants)
            count += "".join(str(d.digit) for d in digits) == digits_of(text)
        return count

    upright, slanted = right(()), right(SLANTS)
    assert slanted > upright, (upright, slanted)


def turned_number(gray: np.ndarray, angle: float) -> np.ndarray:
    """A number's grey image (H, W) uint8 on more paper of its colour, turned by ``angle`` degrees."""
    paper = int(np.median(gray))
    height, width = gray.shape
    page = cv2.copyMakeBorder(gray, height, height, width // 4, width // 4, cv2.BORDER_CONSTANT, value=paper)
    turn = cv2.getRotationMatrix2D((page.shape[1] / 2, page.shape[0] / 2), angle, 1.0)
    return cv2.warpAffine(page, turn, page.shape[::-1], borderValue=paper)


def test_the_tilt_of_a_line_is_measured_and_levelled(mnist):
    from digitcnn.imaging import ink_image
    from digitcnn.linesynth import CANVAS
    from digitcnn.sequence import levelled, tilt

    (_, _), (x_test, y_test) = mnist
    rng = np.random.default_rng(8)
    style = dataclasses.replace(CANVAS, digits=(4, 7), slant=(0.0, 0.0))
    errors = []
    for angle in rng.uniform(-15, 15, 20):
        gray, _ = make_line(x_test, y_test, rng, style)
        ink, mask = ink_image(turned_number(gray, angle).astype(np.float32) / 255)
        measured = tilt(ink * mask)  # a line falling to the right (rows grow down) was turned clockwise
        if measured == 0.0:  # too short to measure
            continue
        errors.append(abs(measured + angle))
        level, origin = levelled(ink * mask, measured)
        assert abs(tilt(level)) <= 8 and len(origin) == level.shape[1]
        assert (np.diff(origin) >= 0).all() and origin.min() >= 0 and origin.max() < ink.shape[1]
    assert len(errors) >= 15 and np.median(errors) <= 2.5 and max(errors) <= 8, errors
    one_digit, _ = make_line(x_test, y_test, rng, dataclasses.replace(style, digits=(1, 1)))
    assert tilt(ink_image(turned_number(one_digit, 15).astype(np.float32) / 255)[0]) == 0.0  # no line to measure


def test_the_steep_tilt_of_a_short_line_is_measured(reader, mnist):
    """Three or four digits at 16-24 degrees: the line is taller than its digits, and cut in strips
    of its own height it made two and no tilt was measured ("6142" rising 18 degrees read "642");
    the median error was 21 degrees, now under 5."""
    from digitcnn.imaging import ink_image
    from digitcnn.linesynth import CANVAS
    from digitcnn.sequence import tilt
    from digitcnn.train_lines import digits_of

    (_, _), (x_test, y_test) = mnist
    rng = np.random.default_rng(10)
    style = dataclasses.replace(CANVAS, digits=(3, 4), slant=(0.0, 0.0), touching_share=0.5)
    errors, right = [], 0
    for angle in rng.choice([-1, 1], 20) * rng.uniform(16, 24, 20):
        gray, text = make_line(x_test, y_test, rng, style)
        turned = turned_number(gray, angle)
        ink, mask = ink_image(turned.astype(np.float32) / 255)
        errors.append(abs(tilt(ink * mask) + angle))
        right += reader.read(cv2.imencode(".png", turned)[1].tobytes()).digits == digits_of(text)
    assert np.median(errors) <= 5 and sum(error <= 6 for error in errors) >= 14, np.round(errors)
    assert right >= 15, right  # (12 of 20 before)


def test_numbers_written_at_a_tilt_are_read_level_too(reader, mnist, monkeypatch):
    import digitcnn.sequence
    from digitcnn.linesynth import CANVAS
    from digitcnn.train_lines import digits_of

    (_, _), (x_test, y_test) = mnist
    rng = np.random.default_rng(9)
    cases = []
    for index in range(60):
        gray, text = make_line(x_test, y_test, rng, CANVAS)
        png = cv2.imencode(".png", turned_number(gray, 12 if index % 2 else -12))[1].tobytes()
        cases.append((png, digits_of(text)))
    levelled = sum(reader.read(png).digits == truth for png, truth in cases)
    monkeypatch.setattr(digitcnn.sequence, "LEVEL_FROM", 90.0)
    as_written = sum(reader.read(png).digits == truth for png, truth in cases)
    assert levelled > as_written, (as_written, levelled)


def test_a_number_read_whole_has_calibrated_probabilities(reader, touching_number):
    """The line reader's probabilities are softened by its temperature (shipped beside it) once its
    reading is chosen; the reading itself, chosen on the raw ones, is the same."""
    from digitcnn.calibrate import soften
    from digitcnn.predict import DigitReader

    assert reader.line_temperature > 1.0  # fitted: the raw ones are too sure
    raw = DigitReader(line_model=reader.line_model_path)
    raw.line_temperature = 1.0
    png = canvas_png(touching_number("47"))
    soft, sure = reader.read(png), raw.read(png)
    assert soft.digits == sure.digits == "47" and [line.reader for line in soft.lines] == ["line"]
    for calibrated, plain in zip(soft.predictions, sure.predictions):
        full = np.array([1 - sum(plain.probabilities), *plain.probabilities])
        expected = soften(full[np.newaxis], reader.line_temperature)[0, 1:]
        np.testing.assert_allclose(calibrated.probabilities, expected, rtol=1e-5, atol=1e-7)
        assert calibrated.probability == calibrated.probabilities[calibrated.digit] < plain.probability
    assert soft.confidence == min(p.probability for p in soft.predictions) == soft.lines[0].confidence


@pytest.mark.parametrize("number", ["10", "23", "47", "58"])
def test_touching_pairs_drawn_on_the_canvas_are_read(reader, number, touching_number):
    result = reader.read(canvas_png(touching_number(number)))
    assert result.digits == number, result.text
    assert [line.reader for line in result.lines] == ["line"]
    assert len(result.predictions) == 2 and result.frames.shape == (2, 28, 28, 1)
    left, right = (p.box for p in result.predictions)
    assert left[0] < right[0]  # boxes left to right, from the CTC alignment


def test_a_number_with_a_separator_keeps_it_in_text(reader, number_ink):
    one, rest = number_ink("1", overlap=0), number_ink("990", overlap=-0.1, k=1)
    gap = 34
    page = np.zeros((110, one.shape[1] + gap + rest.shape[1]), np.float32)
    page[:100, :one.shape[1]] = one
    page[:100, one.shape[1] + gap:] = rest
    cv2.circle(page, (one.shape[1] + gap // 2, 94), 7, 1.0, -1)  # a point on the baseline
    result = reader.read(canvas_png(page, size=(max(560, page.shape[1] + 80), 280), at=(40, 80)))
    assert result.digits == "1990" and result.text == "1.990"


@pytest.mark.parametrize("kind", ["star", "cross", "box", "triangle", "arrow"])
def test_a_mark_before_a_number_is_rejected_and_outside_its_digits_boxes(reader, number_ink, kind):
    """A mark as tall as the digits before them, which the line reader reads no digit in and the
    digit model refuses, is listed in rejected, and no digit's box reaches over it (the first
    digit's box took it in when the line reader's reading stood)."""
    from digitcnn import nondigits

    mark = nondigits.mark_ink(kind, np.random.default_rng(0)).astype(np.float32) / 255
    rows, cols = np.nonzero(mark > 0.3)
    mark = mark[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    mark = cv2.resize(mark, (round(mark.shape[1] * 100 / mark.shape[0]), 100))
    parts = [mark, number_ink("5", overlap=0), number_ink("7", overlap=0)]
    page = np.zeros((100, sum(part.shape[1] for part in parts) + 60), np.float32)
    x = 0
    for part in parts:
        page[:, x:x + part.shape[1]] = part
        x += part.shape[1] + 30
    result = reader.read(canvas_png(page, size=(max(560, page.shape[1] + 80), 280), at=(40, 90)))
    assert result.digits == "57"
    (rejected,) = result.rejected
    first = result.predictions[0].box
    assert rejected.box[0] + rejected.box[2] <= first[0] and first[0] >= 40 + mark.shape[1] - 2


def test_a_small_digit_beside_a_long_one_leaves_no_space(reader, number_ink):
    """Digits evenly spaced, a 0 written small and a 4 reaching far below the others (as some hands
    write them): the small 0 is one of the digits, not paper, so no space opens beside it."""
    heights = {"2": 100, "0": 62, "4": 170}
    parts = [cv2.resize(number_ink(d, overlap=0, k=k), None, fx=heights[d] / 100, fy=heights[d] / 100)
             for k, d in enumerate("2024")]
    gap = 16
    page = np.zeros((180, sum(p.shape[1] for p in parts) + gap * 3), np.float32)
    x = 0
    for part in parts:
        top = 100 - part.shape[0] if part.shape[0] <= 100 else 0  # on the baseline; the 4 hangs below
        page[top:top + part.shape[0], x:x + part.shape[1]] = part
        x += part.shape[1] + gap
    result = reader.read(canvas_png(page, size=(max(560, page.shape[1] + 80), 280), at=(40, 50)))
    assert result.digits == "2024" and result.text == "2024", result.text


@pytest.mark.parametrize("separator", [",", "'", ":", "-"])
def test_a_separator_is_no_digit_to_either_reader(reader, number_ink, separator):
    """A drawn comma or apostrophe looks like a sure 1 to the digit model, a dash like nothing:
    neither is read as a digit, by the line reader or digit by digit, and the text shows it."""
    from digitcnn import DigitReader

    first, rest = number_ink("25", overlap=-0.1), number_ink("000", overlap=-0.1, k=1)
    gap = 50
    page = np.zeros((130, first.shape[1] + gap + rest.shape[1]), np.float32)
    page[:100, :first.shape[1]] = first
    page[:100, first.shape[1] + gap:] = rest
    x = first.shape[1] + gap // 2
    if separator == ",":
        cv2.line(page, (x + 3, 88), (x - 4, 118), 1.0, 8)
    elif separator == "'":
        cv2.line(page, (x + 2, 0), (x - 2, 26), 1.0, 8)
    elif separator == ":":
        cv2.circle(page, (x, 30), 6, 1.0, -1)
        cv2.circle(page, (x, 88), 6, 1.0, -1)
    else:
        cv2.line(page, (x - 14, 50), (x + 14, 50), 1.0, 8)
    png = canvas_png(page, size=(max(560, page.shape[1] + 80), 280), at=(40, 70))
    result = reader.read(png)
    assert (result.digits, result.text, result.rejected) == ("25000", f"25{separator}000", [])
    for digit in result.predictions:  # one probability, whichever field it is read from
        assert digit.probability == digit.top_k[0].probability == digit.probabilities[digit.digit]
    assert DigitReader(line_model=False).read(png).digits == "25000"


@pytest.mark.parametrize("whole, decimals, radius", [("12", "50", 16), ("1", "5", 19), ("27", "5", 19), ("3", "14", 12)])
def test_a_bold_point_is_a_point(reader, number_ink, whole, decimals, radius):
    """A decimal point drawn as a filled dot up to 0.4 of the digits' height (a felt pen's): before,
    over 0.3 it was a mark that is no digit, its gap read as a space ("12.50" read "1 250"), or the
    line reader read it as a 0 ("1.5" read "105"). A point of 0.25 stays one ("3.14")."""
    first, rest = number_ink(whole, overlap=-0.1), number_ink(decimals, overlap=-0.1, k=3)
    gap = 2 * radius + 30
    page = np.zeros((110, first.shape[1] + gap + rest.shape[1]), np.float32)
    page[:100, :first.shape[1]] = first
    page[:100, first.shape[1] + gap:] = rest
    cv2.circle(page, (first.shape[1] + gap // 2, 100 - radius), radius, 1.0, -1)
    result = reader.read(canvas_png(page, size=(max(560, page.shape[1] + 80), 280), at=(40, 80)))
    assert (result.digits, result.text, result.rejected) == (whole + decimals, f"{whole}.{decimals}", [])


@pytest.mark.parametrize("pen, point", [(3, False), (-1, True)])
def test_a_small_ring_between_digits_is_no_point(pen, point):
    """A ring as small as a bold point (0.4 of the digits' height) is a small 0, not a point: only
    a filled mark is one."""
    mask = np.zeros((110, 400), np.uint8)
    for left in (10, 90, 250, 330):  # four digits 60 px tall
        mask[20:80, left:left + 40] = 1
    cv2.circle(mask, (190, 67), 11, 1, pen)
    count, pieces, stats, _ = cv2.connectedComponentsWithStats(mask)
    mark = int(pieces[67, 180])
    assert stats[mark, cv2.CC_STAT_HEIGHT] >= 0.35 * 60
    assert separator_pieces(stats, np.arange(1, count)) == ({mark} if point else set())


def slashed(number_ink, groups: list[str], lean: float, overlap: float = -0.1) -> np.ndarray:
    """``groups`` of digits (MNIST test digits, 100 px tall, ``number_ink``'s ``overlap``) with a
    stroke leaning ``lean`` degrees right between each two, 110 px tall: a date's slashes, or 1s
    leaning as far."""
    inks = [number_ink(group, overlap=overlap, k=i) for i, group in enumerate(groups)]
    run, gap = np.tan(np.radians(lean)) * 110, 30
    page = np.zeros((130, sum(ink.shape[1] for ink in inks) + len(inks) * int(run + 2 * gap)), np.float32)
    x = 0
    for i, ink in enumerate(inks):
        page[10:110, x:x + ink.shape[1]] = ink
        x += ink.shape[1] + gap
        if i < len(inks) - 1:
            cv2.line(page, (x + int(run), 5), (x, 115), 1.0, 9)
            x += int(run) + gap
    return page[:, :x]


@pytest.mark.parametrize("lean", [20, 35])
def test_a_date_written_with_slashes_is_read_as_one(reader, number_ink, lean):
    """The line reader never learned slashes and reads them as 1s; the two straight strokes that
    lean furthest, cutting the digits into a day, a month and a year, are read as slashes."""
    from digitcnn import DigitReader

    page = slashed(number_ink, ["12", "05", "24"], lean)
    png = canvas_png(page, size=(page.shape[1] + 80, 280), at=(40, 70))
    result = reader.read(png)
    assert (result.digits, result.text) == ("120524", "12/05/24")
    assert [p.digit for p in result.predictions] == [1, 2, 0, 5, 2, 4]
    assert DigitReader(line_model=False).read(png).text == "12/05/24"  # digit by digit too


@pytest.mark.parametrize("groups, overlap", [(["7", "4", "1976"], -0.1), (["12", "05", "24"], 0.12)])
def test_a_dates_slashes_stand_where_they_were_written(reader, number_ink, groups, overlap):
    """The slash before a year's 1 stands before it (the line reader's box for that 1 reached past
    the slash: "7/41/976", no date); digits written close enough to overlap a little are two."""
    page = slashed(number_ink, groups, 30, overlap)
    assert reader.read(canvas_png(page, size=(page.shape[1] + 80, 280), at=(40, 70))).text == "/".join(groups)


def test_leaning_1s_that_make_no_date_are_1s(reader, number_ink):
    page = slashed(number_ink, ["45", "67", "89"], 30)  # 45/67/89 is no date
    result = reader.read(canvas_png(page, size=(page.shape[1] + 80, 280), at=(40, 70)))
    assert (result.digits, result.text) == ("45167189", "45167189")


def test_a_date_whose_1s_lean_further_than_its_slashes_and_a_four_digit_year(reader, number_ink):
    """Each of a date's pairs of leaning strokes is tried, the likeliest first: the 1s of "11" and
    "1998" lean further than these slashes, and the digits read make a date only with the slashes."""
    one = cv2.line(np.zeros((100, 60), np.float32), (50, 2), (10, 98), 1.0, 9)  # leaning 22 degrees
    inks = [np.hstack([one, one]), number_ink("05", overlap=-0.1, k=1), np.hstack([one, number_ink("998", overlap=-0.1)])]
    page = np.zeros((130, sum(ink.shape[1] for ink in inks) + 200), np.float32)
    x = 0
    for i, ink in enumerate(inks):
        page[10:110, x:x + ink.shape[1]] = ink
        x += ink.shape[1] + 30
        if i < 2:
            cv2.line(page, (x + 36, 5), (x, 115), 1.0, 9)  # 18 degrees
            x += 66
    result = reader.read(canvas_png(page[:, :x], size=(x + 80, 280), at=(40, 70)))
    assert result.text == "11/05/1998", result.text


def test_slashes_are_straight_strokes_leaning_right_that_cut_digits_into_a_dates_groups(number_ink):
    stroke = np.zeros((110, 80), np.uint8)
    cv2.line(stroke, (62, 2), (4, 106), 1, 9)
    assert leaning_stroke(stroke.astype(bool)) == pytest.approx(np.degrees(np.arctan(58 / 104)), abs=2)
    assert leaning_stroke(stroke[:, ::-1].astype(bool)) < 0  # a backslash
    ring = cv2.circle(np.zeros((80, 80), np.uint8), (40, 40), 30, 1, 9).astype(bool)
    assert leaning_stroke(ring) is None
    for groups, expected in [(["12", "05", "24"], 1), (["2024", "5", "7"], 1), (["123", "45", "6"], 0),
                             (["1", "2"], 0)]:
        pieces, stats, lines = find_lines(slashed(number_ink, groups, 30) > 0.5)
        pairs = date_slashes(pieces, stats, lines[0].labels)
        assert len(pairs) == expected, groups
        assert all(len(pair) == 2 and all(stats[label, cv2.CC_STAT_WIDTH] > 40 for label in pair) for pair in pairs)


@pytest.mark.parametrize("text, expected", [
    ("12/05/24", True), ("5/7/2024", True), ("2024/05/07", True), ("12/31/99", True), ("31/12/1999", True),
    ("45/67/89", False), ("13/13/14", False), ("00/05/24", False), ("1133/1/7", False), ("1/1/126", False),
    ("12/05", False), ("12.05.24", False), ("12/05/24/1", False), ("31/02/24", False), ("29/02/23", True),
    ("31/04/24", False), ("30/04/24", True), ("3/3/87", False), ("3/03/87", True)])
def test_a_date_is_in_range(text, expected):
    from digitcnn.predict import is_date

    assert is_date(text) is expected


def test_two_lines_of_numbers_are_read_top_to_bottom(reader, number_ink):
    page = np.zeros((260, 420), np.float32)
    top, bottom = number_ink("305", overlap=0.05), number_ink("72", overlap=0.1, k=3)
    page[10:110, 10:10 + top.shape[1]] = top
    page[150:250, 40:40 + bottom.shape[1]] = bottom
    result = reader.read(canvas_png(page, size=(520, 300), at=(20, 20)))
    assert result.digits == "305\n72"
    assert [line.digits for line in result.lines] == ["305", "72"]
    assert result.lines[0].box[1] < result.lines[1].box[1]


def test_touching_digits_lose_no_digit_without_the_line_reader_flagging_it(touching_number):
    """Before the line reader, a touching "10" was read as one digit; the comparison shows what it fixes."""
    from digitcnn import DigitReader

    png = canvas_png(touching_number("10"))
    assert len(DigitReader(line_model=False).read(png).digits) == 1
    assert DigitReader().read(png).digits == "10"


def test_cli_prints_the_number_as_written(run_cli, tmp_path, touching_number):
    path = tmp_path / "touching.png"
    path.write_bytes(canvas_png(touching_number("47")))
    out = run_cli("predict", str(path), "--json", check=True).stdout
    payload = json.loads(out)
    assert payload["digits"] == "47" and payload["text"] == "47"
    assert payload["lines"][0]["reader"] == "line" and len(payload["lines"][0]["box"]) == 4
    old = run_cli("predict", str(path), "--no-line-reader", check=True).stdout
    assert ": 47 " not in old


def test_http_api_sends_text_lines_and_images(root, touching_number):
    from fastapi.testclient import TestClient

    from digitcnn import serve

    client = TestClient(serve.create_app())
    png = canvas_png(touching_number("58"))
    result = client.post("/api/predict?include_images=true", content=png,
                         headers={"Content-Type": "image/png"}).json()
    assert result["digits"] == "58" and result["text"] == "58"
    assert result["lines"][0]["reader"] == "line" and len(result["images"]) == 2
    card = client.get("/api/model").json()
    assert card["line_reader"]["name"] == "lines.onnx"
    shipped = json.loads((root / "models" / "lines-metrics.json").read_text())["test"]
    assert card["line_reader"]["synthetic_exact_match"] == {k: v["exact_match"] for k, v in shipped.items()}
    assert "Line reader" in client.get("/model").text


# --- training ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_line_reader_trains_end_to_end_and_refuses_to_overwrite(run_cli, tmp_path):
    out = tmp_path / "lines"
    result = run_cli("train-lines", "--preset", "lines-tiny", "--lines", "256", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "Exact match on synthetic numbers" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]) == {"canvas", "touching", "gaps"} and 0 <= metrics["exact_match"] <= 1
    assert metrics["onnx_max_abs_diff"] <= 1e-4
    assert (out / "report.html").read_text().count("<img") == 1 and (out / "figures" / "curves.png").is_file()
    session = load_line_session(out / "model.onnx")
    wide = np.zeros((2, LINE_HEIGHT, 96, 1), np.float32)
    assert session.run(None, {session.get_inputs()[0].name: wide})[0].shape == (2, 96 // DOWNSAMPLE, 11)
    assert not (out / "checkpoint").exists()
    # shipped into a models folder: the model, its metrics and its card, written from the run
    import subprocess
    import sys

    ship = Path(__file__).resolve().parent.parent / "scripts" / "ship_line_model.py"
    shipped = subprocess.run([sys.executable, str(ship), str(out), "--to", str(tmp_path / "models")],
                             check=False, capture_output=True, text=True, timeout=300)
    assert shipped.returncode == 0, shipped.stderr
    assert (tmp_path / "models" / "lines.onnx").read_bytes() == (out / "model.onnx").read_bytes()
    card = (tmp_path / "models" / "LINES_CARD.md").read_text()
    assert "preset `lines-tiny`" in card and "convolutions to 32 features" in card
    assert f"**{metrics['exact_match']:.1%}**" in card and "from scratch" in card
    again = run_cli("train-lines", "--preset", "lines-tiny", "--out", str(out))
    assert again.returncode == 1 and "already holds a finished run" in again.stderr
    # a second stage, half of whose lines are marks that are not digits (empty CTC targets)
    second = run_cli("train-lines", "--preset", "lines-tiny", "--lines", "128", "--style", "mixed-writers",
                     "--mark-share", "0.5", "--init-from", str(out), "--out", str(tmp_path / "second"), "--quiet")
    assert second.returncode == 0, second.stderr
    assert np.isfinite(json.loads((tmp_path / "second" / "history.json").read_text())["loss"]).all()
    config = json.loads((tmp_path / "second" / "config.json").read_text())["config"]
    assert config["init_from"] == str(out) and config["style"] == "mixed-writers" and config["mark_share"] == 0.5
    # the same stage with another seed, and the mean of the two runs' weights: a run folder too
    twin = run_cli("train-lines", "--preset", "lines-tiny", "--lines", "256", "--seed", "1",
                   "--out", str(tmp_path / "twin"), "--quiet")
    assert twin.returncode == 0, twin.stderr
    average = Path(__file__).resolve().parent.parent / "scripts" / "average_line_models.py"
    mixed = subprocess.run([sys.executable, str(average), str(out), str(tmp_path / "second"), "--out",
                            str(tmp_path / "nope")], check=False, capture_output=True, text=True, timeout=300)
    assert mixed.returncode == 1 and "no run of" in mixed.stderr and not (tmp_path / "nope").exists()
    averaged = subprocess.run([sys.executable, str(average), str(out), str(tmp_path / "twin"), "--out",
                               str(tmp_path / "mean")], check=False, capture_output=True, text=True, timeout=300)
    assert averaged.returncode == 0, averaged.stderr[-2000:]
    import keras

    members = [keras.models.load_model(path / "model.keras", compile=False).get_weights()
               for path in (out, tmp_path / "twin")]
    mean = keras.models.load_model(tmp_path / "mean" / "model.keras", compile=False).get_weights()
    assert all(np.allclose(m, (a + b) / 2, atol=1e-6) for m, a, b in zip(mean, *members))
    assert not np.allclose(members[0][0], members[1][0])
    record = json.loads((tmp_path / "mean" / "config.json").read_text())
    assert [m["seed"] for m in record["averaged_from"]] == [0, 1]
    assert json.loads((tmp_path / "mean" / "metrics.json").read_text())["onnx_max_abs_diff"] <= 1e-4
    # its temperature, fitted on synthetic validation lines, travels with it into the models folder
    fit = Path(__file__).resolve().parent.parent / "scripts" / "fit_line_temperature.py"
    fitted = subprocess.run([sys.executable, str(fit), str(tmp_path / "mean"), "--preset", "lines-tiny", "--lines", "128"],
                            check=False, capture_output=True, text=True, timeout=300)
    assert fitted.returncode == 0, fitted.stderr[-2000:]
    temperature = json.loads((tmp_path / "mean" / "metrics.json").read_text())["temperature"]
    assert 0.5 <= temperature <= 3.0
    subprocess.run([sys.executable, str(ship), str(tmp_path / "mean"), "--to", str(tmp_path / "models")],
                   check=True, capture_output=True, timeout=300)
    card = (tmp_path / "models" / "LINES_CARD.md").read_text()
    assert "the mean of the weights of 2 such runs, seeds 0, 1" in card and f"temperature of {temperature:.3f}" in card
    from digitcnn.sequence import line_temperature

    assert line_temperature(tmp_path / "models" / "lines.onnx") == temperature == line_temperature(tmp_path / "mean" / "model.onnx")
    assert line_temperature(tmp_path / "twin" / "model.onnx") == 1.0  # none fitted


@pytest.mark.slow
def test_stream_training_draws_while_it_trains_and_finishes_into_a_run_folder(tmp_path):
    """scripts/train_lines_stream.py, as on a lent GPU but tiny: lines drawn in a worker while the
    model trains, its best model saved; then --finish makes a run folder the reader can load."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "scripts" / "train_lines_stream.py"
    out = tmp_path / "stream"
    trained = subprocess.run([sys.executable, str(script), "--models", "wide", "--minutes", "0.2", "--workers", "1",
                              "--limit", "500", "--steps-per-round", "2", "--batch-size", "8", "--max-lines", "20000",
                              "--style", "mixed-writers", "--out", str(out)],
                             check=False, capture_output=True, text=True, timeout=900)
    assert trained.returncode == 0, trained.stderr[-2000:]
    history = json.loads((out / "history.json").read_text())
    assert history["validations"][-1]["lines_drawn"] >= 500 and history["validations"][-1]["steps"] >= 2
    assert 0 <= history["validations"][-1]["wide"] <= 1 and (out / "wide.keras").is_file()
    run = tmp_path / "run"
    finished = subprocess.run([sys.executable, str(script), "--finish", str(out / "wide.keras"), "--out", str(run)],
                              check=False, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"canvas", "touching", "gaps"} and metrics["onnx_max_abs_diff"] <= 1e-4
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["features"] == 96 and config["recurrent_layers"] == 2 and config["style"] == "mixed-writers"
    load_line_session(run / "model.onnx")


def test_a_line_readers_keras_model_is_rebuilt_from_its_onnx_export(tmp_path):
    """scripts/line_model_from_onnx.py: only the ONNX file of the shipped line reader is kept, its
    batch normalizations folded into the convolutions; the rebuilt Keras model reads as the original
    did, so that the shipped reader can be trained further (--init-from). The export writes each
    convolution as one ONNX Conv, a dilated Conv1D too (the converter wrote some 60 operators
    around it), and --export writes the rebuilt model again as the original was."""
    import subprocess
    import sys

    import keras
    import onnx

    from digitcnn.config import make_line_config
    from digitcnn.train_lines import build_line_model, export_line_onnx

    model = build_line_model(make_line_config("lines-tiny"))
    rng = np.random.default_rng(0)
    for layer in model.layers:  # batch normalizations far from the identity, so that their folding shows
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2.0, size).astype(np.float32), rng.normal(0, 0.5, size).astype(np.float32),
                               rng.normal(0, 0.5, size).astype(np.float32), rng.uniform(0.5, 2.0, size).astype(np.float32)])
        elif isinstance(layer, keras.layers.Conv1D):  # biases that are not zeros, which the converter would leave out
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.5, bias.shape).astype(np.float32)])
    lines = rng.random((4, LINE_HEIGHT, 96, 1)).astype(np.float32)
    export_line_onnx(model, tmp_path / "lines.onnx", lines)
    graph = onnx.load(str(tmp_path / "lines.onnx")).graph
    convolutions = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv1D))]
    dilated = [node for node in graph.node if node.op_type == "Conv"
               and any(a.name == "dilations" and max(a.ints) > 1 for a in node.attribute)]
    assert sum(node.op_type == "Conv" for node in graph.node) == len(convolutions) and len(dilated) == 1
    assert len(graph.node) < 50, [node.op_type for node in graph.node]
    script = Path(__file__).resolve().parent.parent / "scripts" / "line_model_from_onnx.py"
    rebuilt = subprocess.run([sys.executable, str(script), "--onnx", str(tmp_path / "lines.onnx"), "--preset", "lines-tiny",
                              "--out", str(tmp_path / "rebuilt"), "--lines", "200", "--export", str(tmp_path / "again.onnx")],
                             check=False, capture_output=True, text=True, timeout=600)
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    expected = model(lines, training=False).numpy()
    got = keras.saving.load_model(tmp_path / "rebuilt" / "model.keras", compile=False)(lines, training=False).numpy()
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
    again = line_logits(load_line_session(tmp_path / "again.onnx"), lines)
    assert np.abs(again - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
