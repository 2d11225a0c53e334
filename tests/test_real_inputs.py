"""The failure classes of real handwriting, each with an image the test builds, and the digit read.

Shaded paper (a phone photo with light from one side), hairline canvas strokes with gaps, a thick
marker, a thin pen on a large photo, small 16x16 digits of other writers' sets, faint 28x28
drawings. Real files are not needed: ../shared/data/realdev is for benchmarks/real_handwriting.py.
"""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from digitcnn.imaging import (
    ANALYSIS_MAX_SIDE,
    PAGE_SPAN,
    ImageError,
    Page,
    analyse,
    components,
    dark_border,
    decode_image,
    find_digits,
    ink_image,
    light_ink,
    percentile,
    reach,
    sheet_alone,
    to_gray,
    without_frames,
    without_printed_lines,
)
from digitcnn.models import REFUSE_ABOVE
from digitcnn.synthetic import crop_to_ink


def encode(array: np.ndarray, format="PNG", **kwargs) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format=format, **kwargs)
    return out.getvalue()


def share_right(answers: list[str], labels: np.ndarray) -> float:
    """The share of ``answers`` (digits read) that are their digit of ``labels``."""
    return float(np.mean([answer == str(label) for answer, label in zip(answers, labels)]))


def on_paper(digit: np.ndarray, size: int, digit_height: int, pen: int = 30) -> np.ndarray:
    """An MNIST digit (light ink, 28x28) as dark ink on white paper, ``digit_height`` px tall."""
    big = cv2.resize(digit, (digit_height, digit_height), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    page = np.full((size, size), 255.0, dtype=np.float32)
    top = (size - digit_height) // 2
    region = page[top:top + digit_height, top:top + digit_height]
    page[top:top + digit_height, top:top + digit_height] = region * (1 - big) + pen * big
    return page


# Digits drawn as strokes (polylines in a 100x140 box), as a mouse or a finger draws them.
STROKES = {
    0: [[(50, 10), (20, 30), (12, 70), (20, 112), (50, 130), (80, 112), (88, 70), (80, 30), (50, 10)]],
    1: [[(40, 30), (60, 10), (60, 130)]],
    4: [[(70, 130), (70, 10), (10, 90), (95, 90)]],
    7: [[(10, 15), (90, 15), (40, 130)]],
}


def drawn(digit: int, scale: float, width: int, gaps: int = 0, rng=None) -> np.ndarray:
    """White strokes on a black canvas, ``width`` px wide, with ``gaps`` small breaks (pen skips)."""
    canvas = np.zeros((int(160 * scale), int(120 * scale)), dtype=np.uint8)
    for line in STROKES[digit]:
        points = (np.array(line, dtype=np.float32) * scale + 10 * scale).astype(np.int32)
        cv2.polylines(canvas, [points], False, 255, thickness=width, lineType=cv2.LINE_8)
    rows, cols = np.nonzero(canvas)
    for k in (rng.choice(len(rows), gaps, replace=False) if gaps else []):
        canvas[rows[k] - 1:rows[k] + 2, cols[k] - 1:cols[k] + 2] = 0  # a gap of about 2 px
    return canvas


def test_shaded_paper_is_read(reader, mnist_test):
    """Light falls from one side: the paper goes from white to grey darker than faint ink."""
    x_test, y_test = mnist_test
    size = 400
    shade = np.linspace(1.0, 0.35, size, dtype=np.float32)[np.newaxis, :] * np.linspace(1.0, 0.8, size)[:, np.newaxis]
    right = 0
    for i in range(20):
        page = on_paper(x_test[i], size, 240, pen=70) * shade
        gray = to_gray(Image.fromarray(page.astype(np.uint8)))
        # a global threshold of this picture splits lit from shaded paper, not ink from paper
        assert (gray > 0.5).mean() > 0.2 and (gray < 0.5).mean() > 0.2
        right += reader.read(encode(page.astype(np.uint8))).digits == str(y_test[i])
    assert right >= 19, right


@pytest.mark.parametrize("digit", sorted(STROKES))
def test_hairline_strokes_with_gaps_are_one_digit(reader, digit):
    """1-pixel canvas lines with small breaks are one digit, not one 'digit' per piece."""
    rng = np.random.default_rng(digit)
    canvas = drawn(digit, scale=1.0, width=1, gaps=4, rng=rng)
    _, mask = ink_image(canvas.astype(np.float32) / 255)
    assert len(np.unique(cv2.connectedComponents(mask.astype(np.uint8))[1])) > 2  # really broken
    assert reader.read(encode(canvas)).digits == str(digit)


@pytest.mark.parametrize("digit", sorted(STROKES))
def test_thick_marker_is_read(reader, digit):
    """A marker whose strokes are a quarter of the digit's width, black on white and white on
    black (strokes wider than the polarity test's window: the border tells)."""
    canvas = drawn(digit, scale=2.0, width=28)
    assert reader.read(encode(255 - canvas)).digits == str(digit)
    assert reader.read(encode(canvas)).digits == str(digit)


@pytest.mark.parametrize("digit", sorted(STROKES))
def test_thin_pen_on_a_large_photo_is_read(reader, digit):
    """A 3000x3000 JPEG with a fine pen: strokes 4 px wide on a digit about 900 px tall."""
    strokes = drawn(digit, scale=6.0, width=4)
    page = np.full((3000, 3000), 235, dtype=np.uint8)
    page[1000:1000 + strokes.shape[0], 1100:1100 + strokes.shape[1]][strokes > 0] = 40
    raw = encode(page, format="JPEG", quality=85)
    assert max(decode_image(raw).size) < 3000  # decoded reduced, straight from the JPEG
    result = reader.read(raw)
    assert result.digits == str(digit)
    x, y, w, h = result.predictions[0].box
    # in the file's pixels, not in those of the reduced picture that was analysed
    assert 1000 <= x and 1000 <= y and x + w <= 1100 + strokes.shape[1] + 8 and h > 600


def test_a_small_number_on_a_big_photo_is_read_from_a_larger_copy(reader, mnist_test, monkeypatch):
    """Four digits 35 px tall on a 4000x3000 JPEG are 9 px in the 1024-px copy analysed first:
    such small writing is read again from a copy twice as large (predict.closer_look), and its
    boxes are in the file's pixels. A number written large is read once."""
    from digitcnn import predict

    x_test, y_test = mnist_test
    rng = np.random.default_rng(5)
    looks = []
    monkeypatch.setattr(predict, "analyse", lambda image, *size: looks.append(size) or analyse(image, *size))
    right = 0
    for first in range(0, 24, 4):
        page = np.full((3000, 4000), 225.0, np.float32) + rng.normal(0, 4, (3000, 4000)).astype(np.float32)
        for i in range(4):
            write_digit(page, x_test[first + i], 2000 + 32 * i, 1500, 35)
        looks.clear()
        raw = encode(page.clip(0, 255).astype(np.uint8), format="JPEG", quality=90)
        result = reader.read(raw)
        right += result.digits == "".join(str(d) for d in y_test[first:first + 4])
        assert looks == [(), (2 * ANALYSIS_MAX_SIDE,)]
        x, y, w, h = result.lines[0].box
        assert 1960 <= x and x + w <= 2140 and 1490 <= y and y + h <= 1545, result.lines[0].box
    assert right >= 5
    page = np.full((3000, 4000), 225.0, np.float32)
    for i in range(2):
        write_digit(page, x_test[i], 1800 + 300 * i, 1200, 350)
    looks.clear()
    assert reader.read(encode(page.astype(np.uint8), format="JPEG", quality=90)).digits == f"{y_test[0]}{y_test[1]}"
    assert looks == [()]
    # a second look refused (say, more lines than are read at most) leaves the first look's answer
    first_look, reads = reader.read_page, []

    def refused_again(name, page):
        reads.append(name)
        if len(reads) == 2:
            raise ImageError("11 lines of writing found, more than the 10 read at most")
        return first_look(name, page)

    monkeypatch.setattr(reader, "read_page", refused_again)
    answer = reader.read(raw)
    assert answer.error is None and answer.digits and len(reads) == 2


@pytest.mark.parametrize("scale, boxes, expected", [
    (0.25, [[2000, 1500, 130, 35]], [1895, 1395, 340, 245]),  # small writing, the part around it
    (0.25, [[2000, 1500, 130, 35], [500, 2000, 300, 200]], None),  # a line large enough
    (0.6, [[2000, 1500, 130, 20]], None),  # a copy under twice smaller: no room to look closer
    (0.25, [[100, 100, 130, 35], [3700, 2800, 130, 35]], None),  # writing here and there: the whole picture
])
def test_a_second_look_is_taken_at_small_writing_in_one_place(scale, boxes, expected):
    """predict.closer_look: lines under SMALL_WRITING px in the copy read (Page.scale), in a copy at
    least CLOSER times smaller than the file, and in a part at most PART_SHARE of the picture."""
    from digitcnn.predict import CLOSER, closer_look
    from digitcnn.results import LineReading, ReadResult

    page = Page(np.zeros((750, 1000), np.float32), None, None, (4000, 3000), (scale, scale))
    result = ReadResult.read("", [], lines=[LineReading("12", "12", 0.9, box, "line") for box in boxes])
    look = closer_look(page, result)
    assert look == (None if expected is None else (CLOSER * ANALYSIS_MAX_SIDE, expected))


def notebook_page(digit: np.ndarray, paper: str) -> np.ndarray:
    """An MNIST digit written 150 px tall on an 800x600 photo of a notebook's "ruled" or "squared"
    paper: grey printed lines 3 px wide, a little tilted, under the pen's dark ink."""
    yy, xx = np.mgrid[0:600, 0:800].astype(np.float32)
    down, across = yy - 0.03 * xx, xx + 0.03 * yy  # tilted by about 2 degrees
    lines = down % 110 < 3 if paper == "ruled" else (down % 80 < 3) | (across % 80 < 3)
    page = np.where(lines, 160.0, 235.0).astype(np.float32)
    big = cv2.resize(digit, (150, 150), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.float32) / 255
    page[220:370, 330:480] = page[220:370, 330:480] * (1 - big) + 40 * big
    return page.astype(np.uint8)


@pytest.mark.parametrize("paper", ["ruled", "squared"])
def test_digits_on_a_notebooks_printed_lines_are_read(reader, mnist_test, paper):
    """Ruled or squared paper: its lines reach across the picture and hold the digit in one mark,
    that was answered "not a digit"; the lines, lighter than the ink, are taken out."""
    x_test, y_test = mnist_test
    _, mask = ink_image(notebook_page(x_test[0], paper).astype(np.float32) / 255)
    assert max(reach(mask)) < PAGE_SPAN  # no ink across the page: the lines are gone
    answers = [reader.read(encode(notebook_page(x_test[i], paper), format="JPEG", quality=90)).digits for i in range(20)]
    assert share_right(answers, y_test[:20]) >= 0.95, answers


def notebook_askew(digits: list[np.ndarray], tilt: float, light: float = 0.3) -> np.ndarray:
    """Three-digit numbers (MNIST digits 100 px tall) on an 800x600 photo of a notebook page held
    askew by ``tilt`` degrees: light rules 45 px apart, a darker margin line, and light falling off
    towards one corner (the shadowed part of a line passes for ink, the lit part does not)."""
    yy, xx = np.mgrid[0:600, 0:800].astype(np.float32)
    slope = np.tan(np.deg2rad(tilt))
    down, across = yy - slope * xx, xx + slope * yy
    page = np.full((600, 800), 232.0, np.float32)
    page[down % 45 < 2] = 200.0
    page[np.abs(across - 130) < 1.5] = 150.0
    left = 300
    for digit in digits:
        big = cv2.resize(digit, (100, 100), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.float32) / 255
        page[250:350, left:left + 100] = page[250:350, left:left + 100] * (1 - big) + 40 * big
        left += 80
    return (page * (1 - light * (0.6 * xx / 800 + 0.4 * yy / 600))).clip(0, 255).astype(np.uint8)


def squared_page(digits: list[np.ndarray], square: int = 27) -> np.ndarray:
    """A 1600x1200 photo of squared paper, its faint blue grid printed over itself (darker where
    two lines cross), with ``digits`` (MNIST) written in blue, one square each: RGB uint8."""
    page = np.full((1200, 1600, 3), 246, np.float32)
    tint = np.array([0.82, 0.88, 0.98], np.float32)
    for k in range(square // 2, 1200, square):
        page[k:k + 2] *= tint
    for k in range(square // 2, 1600, square):
        page[:, k:k + 2] *= tint
    for n, digit in enumerate(digits):
        ink = cv2.resize(digit, (square, square), interpolation=cv2.INTER_AREA).astype(np.float32)[..., np.newaxis] / 255
        left = 420 + n * square
        page[450:450 + square, left:left + square] = page[450:450 + square, left:left + square] * (1 - ink) + np.array([40, 40, 110]) * ink
    return np.clip(page, 0, 255).astype(np.uint8)


def test_digits_a_square_tall_on_squared_paper_are_read(reader, mnist_test):
    """The grid's lines are lighter than the ink threshold, but where two cross they are darker: a
    few hundred dots a pixel or two high around the number, refused as "641 separate marks found"
    (0 of these 10 read before). Among hundreds of marks, the short ones are left out."""
    x_test, y_test = mnist_test
    answers, truths = [], []
    for i in range(0, 30, 3):
        answers.append(reader.read(encode(squared_page(list(x_test[i:i + 3])), format="JPEG", quality=88)).digits)
        truths.append("".join(str(label) for label in y_test[i:i + 3]))
    assert sum(a == t for a, t in zip(answers, truths)) >= 8, list(zip(truths, answers))


def test_a_notebook_page_held_askew_with_its_margin_in_uneven_light_is_read(reader, mnist_test):
    """Rules tilted 6-13 degrees escape the row and column bands, and the margin runs down the
    whole page: taken for writing, it was read as a 1 or a row of 1s, or pushed the number out
    (6 of these 20 were read before). Long straight lines at any angle are printed lines."""
    x_test, y_test = mnist_test
    answers, truths = [], []
    for i in range(20):
        picks = [3 * i, 3 * i + 1, 3 * i + 2]
        photo = notebook_askew([x_test[k] for k in picks], tilt=(-1) ** i * (6 + i % 8))
        answers.append(reader.read(encode(photo, format="JPEG", quality=90)).digits)
        truths.append("".join(str(y_test[k]) for k in picks))
    assert sum(a == t for a, t in zip(answers, truths)) >= 18, list(zip(truths, answers))


def test_ink_across_a_close_up_is_left_whole(mnist_test):
    """A number cropped to its ink reaches across the picture, and its soft edges are lighter ink
    than its strokes' middle: nothing of it is taken for printed lines."""
    x_test, _ = mnist_test
    number = np.hstack([cv2.resize(x_test[i], (70, 70), interpolation=cv2.INTER_CUBIC) for i in range(4)])
    flat = number.astype(np.float32) / 255
    mask = flat > 0.2
    assert max(reach(mask)) >= PAGE_SPAN
    assert (without_printed_lines(number, mask) == mask).all()


def dark_desk(height: int, width: int) -> np.ndarray:
    """A dark brown desk with a little grain, as ``synthetic.on_a_desk`` draws it: RGB (height,
    width, 3) uint8, the same for every call."""
    rng = np.random.default_rng(0)
    return (np.array([90, 60, 40], np.float32) + rng.integers(0, 25, (height, width, 1))).astype(np.uint8)


def sheet_on_a_desk(digit: np.ndarray, share: float, digit_share: float = 0.42) -> np.ndarray:
    """An MNIST digit written on a sheet of paper (shaded from one side), ``digit_share`` of its
    height, photographed on a dark desk, the sheet ``share`` of the picture's height: an RGB
    (900, 1200, 3) uint8 photo."""
    sheet = on_paper(digit, 600, round(600 * digit_share)) * np.linspace(1.0, 0.8, 600, dtype=np.float32)[np.newaxis, :]
    desk = dark_desk(900, 1200)
    side = int(900 * share)
    top, left = (900 - side) // 2, (1200 - side) // 2
    desk[top:top + side, left:left + side] = cv2.resize(sheet, (side, side))[..., np.newaxis].astype(np.uint8)
    return desk


@pytest.mark.parametrize("share, digit_share", [(0.5, 0.42), (0.9, 0.42), (0.25, 0.42), (0.5, 0.2), (0.7, 0.05), (0.6, 0.06)])
def test_a_sheet_photographed_on_a_desk_is_read(reader, mnist_test, share, digit_share):
    """The dark desk around the sheet made the paper look like light ink, and its edge a stroke
    around the digit: the desk is painted the sheet's grey before the ink is looked for. A card
    or sticky note a quarter of the picture's height is such a sheet too (read "0" before), and a
    small digit on a sheet half its height is writing (a blob on the picture's small copy). A
    digit 3-4% of the picture's height, which both small copies blur away, is writing too when a
    dark stroke shows on the sheet (the sheet read as "1 mark that is not a digit" in half of them)."""
    x_test, y_test = mnist_test
    answers = [reader.read(encode(sheet_on_a_desk(x_test[i], share, digit_share), format="JPEG", quality=90)).digits
               for i in range(10)]
    assert share_right(answers, y_test[:10]) >= 0.9, answers


def card_written_to_its_edge(digit: np.ndarray, side: str) -> np.ndarray:
    """A card (shaded from one side) whose digit, 250 px tall on 600 px, is written 12 px from its
    ``side`` ("top" or "bottom"), photographed on a dark desk, 0.3 of the picture's height: an RGB
    (900, 1200, 3) uint8 photo."""
    sheet = on_paper(digit, 600, 250) * np.linspace(1.0, 0.8, 600, dtype=np.float32)[np.newaxis, :]
    rows = np.flatnonzero((sheet < 128).any(axis=1))
    card = sheet[rows[0] - 12:] if side == "top" else sheet[:rows[-1] + 12]
    desk = dark_desk(900, 1200)
    height = 270
    width = round(card.shape[1] * height / card.shape[0])
    top, left = (900 - height) // 2, (1200 - width) // 2
    desk[top:top + height, left:left + width] = cv2.resize(card, (width, height), interpolation=cv2.INTER_AREA)[..., np.newaxis]
    return desk


@pytest.mark.parametrize("side", ["top", "bottom"])
def test_a_digit_written_to_the_edge_of_a_card_on_a_desk_is_read(reader, mnist_test, side):
    """On the small copy the sheet is looked for on, a digit near the card's edge runs into the
    desk and notches the card's outline: the card was no sheet, and its paper was read as light
    ink on a dark page (3 and 1 of these 10 read before). Thin strokes are closed over first."""
    x_test, y_test = mnist_test
    answers = [reader.read(encode(card_written_to_its_edge(x_test[i], side), format="JPEG", quality=90)).digits
               for i in range(10)]
    assert share_right(answers, y_test[:10]) >= 0.9, answers


def cut_by_the_edge_at_an_angle(digit: np.ndarray, side: str) -> np.ndarray:
    """A page photographed at an angle, its digit (300 px tall on 600) cut by the picture's ``side``
    ("top" or "bottom"), the page narrower at its far edge and wedges of desk beside it: a grey
    uint8 photo."""
    page = on_paper(digit, 600, 300) * np.linspace(1.0, 0.8, 600, dtype=np.float32)[np.newaxis, :]
    rows = np.flatnonzero((page < 128).any(axis=1))
    page = page[rows[0] + 15:] if side == "top" else page[:rows[-1] - 15]
    height, width = page.shape
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    far, near = [[0, 0], [width, 0]], [[0.85 * width, height], [0.15 * width, height]]
    if side == "bottom":
        far, near = [[0.15 * width, 0], [0.85 * width, 0]], [[width, height], [0, height]]
    seen = cv2.getPerspectiveTransform(corners, np.float32(far + near))
    return np.clip(cv2.warpPerspective(page, seen, (width, height), borderValue=70.0), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("side", ["top", "bottom"])
def test_a_digit_cut_by_the_edge_of_a_page_at_an_angle_is_read(reader, mnist_test, side):
    """Writing cut by the picture's edge is no hole in the page and notches its outline: the page
    was no sheet, and the wedges of desk beside it were read as 1s ("191"; 1 and 0 of these 10
    read before). The notches count as sheet, and their ink as writing on it."""
    x_test, y_test = mnist_test
    answers = [reader.read(encode(cut_by_the_edge_at_an_angle(x_test[i], side), format="JPEG", quality=90)).digits
               for i in range(10)]
    assert share_right(answers, y_test[:10]) >= 0.9, answers


def sticky_note_far_off(digits: list[np.ndarray]) -> np.ndarray:
    """A yellow sticky note 15% of a 2000x1500 photo's height, shaded from one side, on a dark
    desk, with ``digits`` (MNIST) written on it 40% of its height: RGB uint8."""
    photo = dark_desk(1500, 2000).astype(np.float32)
    side, height = 225, 90
    note = np.ones((side, side, 1), np.float32) * np.array([250, 235, 140], np.float32)
    note *= np.linspace(1.0, 0.85, side, dtype=np.float32)[np.newaxis, :, np.newaxis]
    number = np.hstack([cv2.resize(d, (height, height), interpolation=cv2.INTER_AREA) for d in digits])
    ink = number.astype(np.float32)[..., np.newaxis] / 255
    top, left = (side - height) // 2, (side - number.shape[1]) // 2
    note[top:top + height, left:left + number.shape[1]] = note[top:top + height, left:left + number.shape[1]] * (1 - ink) + 30 * ink
    photo[600:600 + side, 900:900 + side] = note
    return np.clip(photo, 0, 255).astype(np.uint8)


def test_a_sticky_note_far_off_on_a_desk_is_read(reader, mnist_test):
    """A note 15% of the photo's height covers 1.7% of it: under the 3% a smaller sheet had to
    cover, it was no sheet, and was read as light ink on a dark desk ("0", "913", nothing; 4 of
    these 10 read before)."""
    x_test, y_test = mnist_test
    answers = [reader.read(encode(sticky_note_far_off([x_test[i], x_test[i + 1]]), format="JPEG", quality=88)).digits
               for i in range(0, 20, 2)]
    truths = [f"{y_test[i]}{y_test[i + 1]}" for i in range(0, 20, 2)]
    assert sum(a == t for a, t in zip(answers, truths)) >= 9, list(zip(truths, answers))


def test_a_page_with_a_shadow_across_the_digit_is_read(reader, mnist_test):
    """A phone's or a hand's shadow darkens the border as a dark page's does: the digit read as
    light ink there (its paper as the ink) came out as a blob, or as nothing."""
    from digitcnn.synthetic import phone_photo

    x_test, y_test = mnist_test
    rng = np.random.default_rng(7)
    answers = [reader.read(phone_photo(x_test[i], rng, (1000, 750), shadow=True)).digits for i in range(20)]
    assert share_right(answers, y_test[:20]) >= 0.9, answers


def test_a_number_half_in_a_shadow_loses_no_digit(reader, mnist_test):
    """The lit part of a page in a shadow is no sheet on a desk: painting the rest the paper's grey
    would erase the digits in the shadow."""
    from digitcnn.linesynth import LineStyle, place_digits
    from digitcnn.synthetic import phone_photo

    x_test, y_test = mnist_test
    rng = np.random.default_rng(9)
    style = LineStyle(touching_share=0.0, separator_share=0.0, gap=(0.2, 0.5))
    right = 0
    for i in range(20):
        ink, text = place_digits(list(x_test[3 * i:3 * i + 3]), [int(y) for y in y_test[3 * i:3 * i + 3]], rng, style, None)
        photo = phone_photo((np.clip(ink, 0, 1) * 255).astype(np.uint8), rng, (2000, 750), shadow=True)
        right += reader.read(photo).digits == text
    assert right >= 16, right  # 11 when the lit part was taken for a sheet


def test_the_ink_is_the_thin_strokes_where_the_border_is_dark(mnist_test):
    x_test, _ = mnist_test
    page = on_paper(x_test[0], 400, 200).astype(np.float32) / 255
    assert not dark_border(page) and not light_ink(page)
    shaded = page * np.where(np.arange(400) < 60, 1.0, 0.45).astype(np.float32)  # most of the page in a shadow
    assert dark_border(shaded) and not light_ink(shaded)
    chalk = 0.2 + 0.7 * (1 - page)  # light strokes on a dark board
    assert dark_border(chalk) and light_ink(chalk)
    assert light_ink(chalk[::10, ::10])  # a small crop goes by its border
    dim = page * 0.35 + np.random.default_rng(0).normal(0, 0.04, page.shape).astype(np.float32)  # a dim room
    assert dark_border(dim, 0.9) and not light_ink(dim)
    assert light_ink(0.35 * chalk + 0.04 * np.random.default_rng(1).normal(size=page.shape).astype(np.float32))


def test_a_page_photographed_in_dim_light_is_read(reader, mnist_test):
    """Dark all round, its paper was taken for a dark page and its ink for paper: 11% read (paper_photos.py)."""
    from digitcnn.synthetic import phone_photo

    x_test, y_test = mnist_test
    rng = np.random.default_rng(10)
    answers = [reader.read(phone_photo(x_test[i], rng, (1000, 750), dim=True)).digits for i in range(20)]
    assert share_right(answers, y_test[:20]) >= 0.9, answers


def test_a_small_picture_in_dim_light_is_read(reader, mnist_test):
    """A crop or a small drawing (under 64 px) of dark ink on grey paper: it went by its dark border
    alone, and its paper was taken for ink ("no digit found" for all of 100 at a paper of 0.45)."""
    x_test, y_test = mnist_test
    rng = np.random.default_rng(12)
    answers = []
    for i in range(20):
        side = int(rng.integers(28, 60))
        digit = cv2.resize(x_test[i], (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
        gray = rng.uniform(0.25, 0.5) * (1 - digit) + rng.normal(0, 0.02, digit.shape)
        answers.append(reader.read(encode((np.clip(gray, 0, 1) * 255).astype(np.uint8))).digits)
    assert share_right(answers, y_test[:20]) >= 0.9, answers
    chalk = 0.3 + 0.6 * digit  # light strokes on a dark board, as small: still light ink
    assert light_ink(chalk.astype(np.float32))


def test_a_page_lit_in_its_middle_is_read(reader, mnist_test):
    """A close-up of a marker's digit under a lamp: the grey paper 0.65 in the middle, a quarter
    darker at the middle of each edge, half at the corners. Dark all round, and the bold digit cuts the lit
    paper into no sheet, so the page was taken for a dark one and its paper for ink (2 of 20
    read); what stands out from the paper around each pixel is the darker ink."""
    x_test, y_test = mnist_test
    rng = np.random.default_rng(13)
    rows, columns = np.mgrid[:300, :300] / 150 - 1
    falloff = (1 - 0.5 * (rows ** 2 + columns ** 2) / 2).astype(np.float32)
    answers = []
    for i in range(20):
        marker = 255 - cv2.erode(on_paper(x_test[i], 300, 220), np.ones((9, 9), np.uint8))
        gray = 0.65 * (1 - marker / 255) * falloff + rng.normal(0, 0.02, marker.shape)
        assert dark_border(gray, 0.9)
        answers.append(reader.read(encode((np.clip(gray, 0, 1) * 255).astype(np.uint8), "JPEG", quality=90)).digits)
    assert share_right(answers, y_test[:20]) >= 0.9, answers


def test_faint_ink_is_read(reader, mnist_test):
    """A pale pen colour on a canvas, a light pencil in a small crop: ink 0.04-0.08 from its paper,
    under MIN_CONTRAST, was no ink at all ("no digit found" for each of these 20). On even paper
    (imaging.even_paper) it is read when it stands out of the paper's grain; in a photo, whose
    paper estimate leaves shapes as faint (folds, stains, shadow edges), it is not."""
    x_test, y_test = mnist_test
    rng = np.random.default_rng(14)
    answers = []
    for i in range(20):
        contrast = rng.uniform(0.04, 0.08)
        if i % 2:  # a crop of a pencil digit on grey paper, as a JPEG
            side = int(rng.integers(36, 64))
            digit = on_paper(x_test[i], side, int(side * 0.7), pen=0) / 255  # 1 on paper, 0 on the ink
            gray = rng.uniform(0.55, 0.9) - contrast * (1 - digit) + rng.normal(0, 0.003, digit.shape)
            answers.append(reader.read(encode((np.clip(gray, 0, 1) * 255).astype(np.uint8), "JPEG", quality=90)).digits)
        else:  # a pale colour on a white canvas
            canvas = np.ones((280, 560), np.float32)
            canvas[40:240, 180:380] -= contrast * (1 - on_paper(x_test[i], 200, 160, pen=0) / 255)
            answers.append(reader.read(encode((canvas * 255).round().astype(np.uint8))).digits)
    assert share_right(answers, y_test[:20]) >= 0.9, answers


def test_a_blank_photo_is_no_digit(reader):
    """A photo of blank paper, a sensor's noise of 5-8 grey levels, saved as JPEG: its coarse copy
    holds no ink, and at full size the grain's peaks passed MIN_CONTRAST and were read, mostly as
    1s (6 of these 12). Ink there must stand out of the grain (imaging.stands_out)."""
    rng = np.random.default_rng(15)
    light = np.linspace(1.0, 0.8, 1000, dtype=np.float32)[np.newaxis, :]
    answers = []
    for _ in range(12):
        blank = rng.uniform(0.5, 0.85) * light + rng.normal(0, rng.uniform(0.02, 0.03), (750, 1000))
        answers.append(reader.read(encode((np.clip(blank, 0, 1) * 255).astype(np.uint8), "JPEG", quality=85)).digits)
    assert answers == [""] * 12, answers


def test_a_blank_sheet_on_a_desk_is_no_digit(reader):
    """A sheet with nothing written on it, photographed on a dark desk, askew and cut by the
    picture's edge: it was left as it was (no writing, so no sheet), and the desk around it and
    its slivers along the picture's edge were read (5 of these 12: "67", "52", "1\n1", "1\n1", "2").
    A sheet is blank only with no dark stroke on it at all (a lone 1 is one), which the grain of
    two of these still has."""
    rng = np.random.default_rng(16)
    answers = []
    for _ in range(12):
        height, width = 900, 1200
        picture = np.full((height, width), rng.uniform(0.15, 0.3), np.float32)
        picture += cv2.GaussianBlur(rng.normal(0, 0.03, picture.shape).astype(np.float32), (0, 0), 3)
        corners = cv2.boxPoints(((width / 2, height / 2), (width * rng.uniform(0.8, 0.9), height * rng.uniform(0.8, 0.9)),
                                 rng.choice([-1, 1]) * rng.uniform(9, 14)))
        sheet = np.zeros((height, width), np.float32)
        cv2.fillPoly(sheet, [corners.astype(np.int32)], 1.0)
        sheet = cv2.GaussianBlur(sheet, (5, 5), 1.0)
        paper = rng.uniform(0.75, 0.9) * np.linspace(1.0, 0.9, width, dtype=np.float32)[np.newaxis, :]
        picture = picture * (1 - sheet) + paper * sheet + rng.normal(0, 0.01, picture.shape).astype(np.float32)
        answers.append(reader.read(encode((np.clip(picture, 0, 1) * 255).astype(np.uint8), "JPEG", quality=85)).digits)
    assert sum(answer != "" for answer in answers) <= 2, answers
    picture = np.full((900, 1200), 0.2, np.float32)
    picture[100:800, 250:950] = 0.85
    cv2.line(picture, (600, 330), (600, 560), 0.15, 7)  # a lone 1 on the sheet is read
    assert reader.read(encode((picture * 255).astype(np.uint8), "JPEG", quality=90)).digits == "1"


def test_a_sharp_shadow_edge_across_the_digit_is_no_stroke(reader, mnist_test):
    """A shadow with a sharp edge (a phone held close under one lamp): the paper estimate, blurred,
    spread the edge, and its dark side came out as a stroke beside the digit ("151" for a 5)."""
    x_test, y_test = mnist_test
    rng = np.random.default_rng(11)
    rows, cols = np.mgrid[0:900, 0:1200].astype(np.float32)
    answers = []
    for digit in x_test[:20]:
        paper = cv2.resize(on_paper(digit, 400, 120), (1200, 900))  # the digit 40% of the height
        angle = rng.uniform(0, np.pi)
        across = (cols - 600) * np.cos(angle) + (rows - 450) * np.sin(angle) + rng.uniform(-100, 100)
        shadow = cv2.GaussianBlur((across > 0).astype(np.float32), (0, 0), 4)  # an edge 1% of the width
        photo = paper * (1 - 0.45 * shadow) + rng.normal(0, 6, paper.shape).astype(np.float32)
        answers.append(reader.read(encode(np.clip(photo, 0, 255).astype(np.uint8), format="JPEG", quality=90)).digits)
    assert share_right(answers, y_test[:20]) >= 0.9, answers


def test_a_big_digit_on_a_sticky_note_is_read(reader, mnist_test):
    """A note on a desk with the digit filling most of it: a fifth of the note or more is ink, and
    the note was not taken for a sheet, so the desk around it made the page look dark (0s read as
    nothing, their ink taken for paper)."""
    x_test, y_test = mnist_test
    answers = []
    for digit in x_test[:20]:
        desk = np.full((600, 800), 110.0, np.float32) * np.linspace(1.0, 0.75, 800, dtype=np.float32)
        note = on_paper(digit, 360, 330, pen=40) * 0.88  # yellow paper is a little darker in grey
        desk[120:480, 220:580] = note
        answers.append(reader.read(encode(desk.astype(np.uint8), format="JPEG", quality=90)).digits)
    assert share_right(answers, y_test[:20]) >= 0.9, answers


def test_a_page_photographed_at_an_angle_is_read(reader, mnist_test):
    """The wedges of desk beside a page seen in perspective came out as strokes: "3" read "131"."""
    from digitcnn.synthetic import at_an_angle, phone_photo

    x_test, y_test = mnist_test
    rng = np.random.default_rng(8)
    answers = [reader.read(at_an_angle(phone_photo(x_test[i], rng, (1000, 750)), rng)).digits for i in range(20)]
    assert share_right(answers, y_test[:20]) >= 0.8, answers  # 0.2 at 9e622ce


@pytest.mark.parametrize("frame", ["box", "circle"])
def test_a_digit_in_a_printed_box_or_circled_is_read(reader, mnist_test, frame):
    """The frame and the digit in it were one digit's marks: refused, or read as a 0."""
    x_test, y_test = mnist_test
    answers = []
    for digit in x_test[:20]:
        page = on_paper(digit, 400, 160).astype(np.uint8)  # the digit in the middle, 120-280 px
        if frame == "box":
            cv2.rectangle(page, (95, 95), (305, 305), 110, 3)  # printed grey, as a form's boxes are
        else:
            cv2.ellipse(page, (200, 200), (125, 115), 0, 0, 360, 30, 6)  # drawn with the pen
        answers.append(reader.read(encode(page, format="JPEG", quality=90)).digits)
    assert share_right(answers, y_test[:20]) >= 0.9, answers


def test_the_side_of_a_faint_printed_box_is_no_1(reader, mnist_test):
    """What the threshold leaves of a faint form's box, a side standing beside the digit, read as
    a 1 ("17" for a 7); a 1 written beside it keeps its stroke's width and stays."""
    from digitcnn.imaging import hairlines

    x_test, y_test = mnist_test
    answers = []
    for digit in x_test[:20]:
        page = on_paper(digit, 400, 160).astype(np.uint8)
        cv2.line(page, (95, 95), (95, 305), 150, 2)  # the left side, printed light grey
        answers.append(reader.read(encode(page, format="JPEG", quality=90)).digits)
    assert share_right(answers, y_test[:20]) >= 0.9, answers
    one, eight = [10, 10, 8, 60, 8 * 60], [40, 10, 40, 60, 3 * 8 * 60]  # left, top, width, height, area
    hairline = [90, 5, 2, 80, 2 * 80]
    assert hairlines(np.array([one, eight, hairline])).tolist() == [False, False, True]
    assert not hairlines(np.array([one, eight])).any()


def test_frames_go_and_what_looks_like_one_in_writing_stays():
    mask = np.zeros((200, 400), bool)
    cv2.rectangle(mask.view(np.uint8), (20, 20), (180, 180), 1, 3)  # a box ...
    cv2.line(mask.view(np.uint8), (100, 50), (100, 150), 1, 5)  # ... around a 1
    cv2.circle(mask.view(np.uint8), (300, 100), 50, 1, 6)  # a 0 ...
    cv2.circle(mask.view(np.uint8), (300, 100), 6, 1, -1)  # ... with a dot in it
    kept = without_frames(mask)
    assert not kept[20, 100] and kept[100, 100]  # the box went, the 1 stayed
    assert kept[100, 250] and kept[100, 300]  # the 0 and its dot stayed
    lines = np.zeros((100, 400), bool)
    lines[10:13, :] = lines[90:93, :] = True  # printed lines across the picture ...
    lines[10:93, 50:54] = lines[10:93, 300:304] = True  # ... joined into a loop by two strokes ...
    lines[30:70, 150:154] = True  # ... around a digit: no frame
    assert (without_frames(lines) == lines).all()


def write_digit(page: np.ndarray, digit: np.ndarray, centre: int, top: int, height: int,
                paper: float = 235.0, pen: float = 40.0) -> None:
    """Write an MNIST ``digit`` (28, 28) uint8 on ``page`` (H, W) float32, in place: cropped to its
    ink, ``height`` px tall from row ``top``, centred on column ``centre``, in grey ``pen`` on ``paper``."""
    crop = crop_to_ink(digit)
    ink = cv2.resize(crop, (round(crop.shape[1] * height / crop.shape[0]), height),
                     interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    left = centre - ink.shape[1] // 2
    region = page[top:top + height, left:left + ink.shape[1]]
    page[top:top + height, left:left + ink.shape[1]] = np.minimum(region, paper * (1 - ink) + pen * ink)


@pytest.mark.parametrize("numbers, digits, step, box_width, box_top, box_height, digit_top, digit_height, need", [
    (8, 6, 110, 110, 70, 126, 89, 88, 0.75),  # a comb field: the boxes share their sides
    (12, 5, 100, 94, 60, 140, 80, 100, 0.8),  # separate boxes, digits written across their sides
])
def test_numbers_written_in_a_forms_boxes_are_read(reader, mnist_test, numbers, digits, step, box_width, box_top,
                                                   box_height, digit_top, digit_height, need):
    """A form's comb field (a row of joined boxes), a digit in each: read whole with the digits in
    it, the comb's walls were 1s ("446517" as "141416151117"). Separate boxes with digits written
    across their sides: a digit crossing into the next box joins the two, whose tops, each shorter
    than the mark is wide, were no lines to the openings (6 of 12 numbers read right, "14959" as
    "1419519")."""
    x_test, y_test = mnist_test
    answers, truths = [], []
    for start in range(0, numbers * digits, digits):
        page = np.full((box_top + box_height + 60, 120 + digits * step), 235.0, np.float32)
        for i in range(digits):
            cv2.rectangle(page, (60 + i * step, box_top), (60 + i * step + box_width, box_top + box_height), 80, 3)
            write_digit(page, x_test[start + i], 60 + i * step + box_width // 2, digit_top, digit_height)
        answers.append(reader.read(encode(page.astype(np.uint8), format="JPEG", quality=90)).digits)
        truths.append("".join(str(d) for d in y_test[start:start + digits]))
    assert np.mean([a == t for a, t in zip(answers, truths)]) >= need, list(zip(truths, answers))


def test_a_comb_field_filled_in_its_first_cells_and_a_box_drawn_askew(reader, mnist_test):
    """A comb field of eight cells with digits in the first two only (they lie in the comb's edge
    bands): its walls go and the digits are read, not "12151111". A box drawn alone, slanted and
    turned (nondigits' "box"), as a picture: its slanted sides escape the openings that find a
    form's box lines, and their remnants were taken for writing inside and left as 1s (58 of 200
    such pictures read as digits)."""
    from digitcnn.nondigits import draw

    x_test, y_test = mnist_test
    answers, truths = [], []
    for first in range(0, 20, 2):
        page = np.full((200, 800), 255.0, np.float32)
        for i in range(8):
            cv2.rectangle(page, (40 + i * 90, 40), (130 + i * 90, 155), 0, 3)
        for i in range(2):
            write_digit(page, x_test[first + i], 85 + i * 90, 85, 60, paper=255.0, pen=0.0)
        answers.append(reader.read(encode(page.astype(np.uint8))).digits)
        truths.append(f"{y_test[first]}{y_test[first + 1]}")
    assert np.mean([a == t for a, t in zip(answers, truths)]) >= 0.8, list(zip(truths, answers))

    rng = np.random.default_rng(7)
    read = []
    for _ in range(60):
        box = draw("box", rng)
        for stretch in (1, 2):
            big = cv2.resize(box, (112 * stretch, 112), interpolation=cv2.INTER_LINEAR)
            read.append(reader.read(encode(np.pad(np.round(255 - 255 * big).astype(np.uint8), 30,
                                                  constant_values=255))).digits)
    assert read.count("") >= 118, [digits for digits in read if digits]


@pytest.mark.parametrize("digit, top, need", [(7, 50, 28), (2, 70, 29)])
def test_a_pens_stroke_along_a_box_line_stays_with_the_digit(reader, mnist_test, digit, top, need):
    """A 7 written up to its box's top, its bar along the printed line: the line goes, the bar
    (thicker than the line) stays; it went with the line, and the 7 read as nothing or a 1 (25 of
    30 read right). A 2 down to its box's bottom: its upright stroke, thicker than the box's sides,
    is no comb's wall inside the box (a version cut it there, and read "21")."""
    x_test, y_test = mnist_test
    answers = []
    for index in np.flatnonzero(y_test == digit)[:30]:
        page = np.full((240, 240), 235.0, np.float32)
        cv2.rectangle(page, (50, 50), (180, 190), 80, 2)
        write_digit(page, x_test[index], 115, top, 120)
        answers.append(reader.read(encode(page.astype(np.uint8), format="JPEG", quality=90)).digits)
    assert answers.count(str(digit)) >= need, answers


def test_box_lines_go_where_writing_is_inside():
    from digitcnn.imaging import box_lines, without_box_lines

    box = np.zeros((120, 100), np.uint8)
    cv2.rectangle(box, (2, 2), (97, 117), 1, 3)
    empty = box.copy()
    assert box_lines(empty, empty.view(bool)) is None  # a 0 drawn as a box: nothing inside
    cv2.line(box, (50, 5), (50, 80), 1, 6)  # a 1 touching the box's top
    lines = box_lines(box, box.view(bool))
    assert lines is not None and lines[2, 20] and lines[60, 2] and not lines[60, 50]
    page = np.zeros((200, 300), bool)
    page[40:160, 100:200] = box.view(bool)
    assert without_box_lines(page, components(page))[100, 150]  # the 1 stays...
    assert not without_box_lines(page, components(page))[42, 120]  # ...its box goes
    crop = np.zeros((120, 100), bool)
    crop[:, :] = box.view(bool)  # the box's lines reach the picture's edges: a crop's printed lines
    assert without_box_lines(crop, components(crop)) is crop


def test_light_strokes_on_a_dark_canvas_are_no_sheet(mnist_test):
    """A bold light digit on black, the way some canvases draw, is no sheet of paper on a desk."""
    x_test, _ = mnist_test
    for digit in x_test[:20]:
        bold = cv2.dilate(cv2.resize(digit, (280, 280), interpolation=cv2.INTER_CUBIC), np.ones((15, 15), np.uint8))
        gray = bold.astype(np.float32) / 255
        assert sheet_alone(gray) is gray
    for stroke in (40, 56, 64):  # a boxy 0: a bright near-rectangle, its hole a blob, not a stroke of ink
        gray = np.zeros((280, 280), np.float32)
        gray[30:250, 60:220] = 1.0
        gray[30 + stroke:250 - stroke, 60 + stroke:220 - stroke] = 0.0
        assert sheet_alone(gray) is gray


def test_a_dim_sheet_on_a_black_desk_is_left_as_it_is(mnist_test):
    """Painted its own grey, a sheet darker than mid-grey would still look like a dark page."""
    x_test, _ = mnist_test
    gray = np.full((600, 800), 0.08, np.float32)
    gray[100:500, 200:600] = on_paper(x_test[0], 400, 200) / 255 * 0.42
    assert sheet_alone(gray) is gray


def test_small_16x16_digits_are_read(reader, mnist_test):
    """Other writers' digit sets come as 16x16 (USPS) or 32x32 crops that the digit fills."""
    x_test, y_test = mnist_test
    answers = []
    for digit in x_test[:100]:
        rows, cols = np.nonzero(digit > 30)
        crop = digit[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        side = max(crop.shape)
        square = np.zeros((side, side), dtype=np.uint8)  # the digit fills the box, aspect kept
        top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
        square[top:top + crop.shape[0], left:left + crop.shape[1]] = crop
        answers.append(reader.read(cv2.resize(square, (16, 16), interpolation=cv2.INTER_AREA)).digits)
    assert share_right(answers, y_test[:100]) >= 0.95


def test_faint_28x28_drawing_is_stretched(reader, mnist_test):
    """A 28x28 drawing whose ink never reaches white is not MNIST-ready: it takes the full path."""
    x_test, y_test = mnist_test
    faint = (x_test[:50].astype(np.float32) * 0.4).astype(np.uint8)
    answers = [reader.read(image).digits for image in faint]
    assert share_right(answers, y_test[:50]) >= 0.96


@pytest.mark.parametrize("size", [1, 2, 7, 300])
def test_percentile_is_numpys(size):
    values = np.random.default_rng(size).random(size).astype(np.float32)
    for q in (0, 50, 90, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-6)


def test_specks_are_dropped_before_grouping():
    """Sensor noise makes thousands of specks: they are noise, not 'too many marks'."""
    rng = np.random.default_rng(0)
    mask = np.zeros((300, 300), dtype=bool)
    mask[50:250, 140:160] = True  # a 1
    mask[rng.integers(0, 300, 2000), rng.integers(0, 300, 2000)] = True
    digits = find_digits(mask)
    assert len(digits) == 1 and digits[0][50:250, 140:160].all()


def marks_drawn(kind: str) -> np.ndarray:
    """Dark marks on white paper, as a person would make them by mistake or on purpose."""
    page = np.full((200, 300), 255, dtype=np.uint8)
    if kind == "dot":
        cv2.circle(page, (150, 100), 9, 0, -1)
    elif kind == "big dot":  # wider than the paper estimate's window: it must not come out hollow, as a 0
        cv2.circle(page, (150, 100), 50, 0, -1)
    elif kind == "dash":
        cv2.line(page, (100, 100), (200, 104), 0, 8)
    elif kind == "letter A":
        cv2.polylines(page, [np.array([(100, 170), (150, 30), (200, 170)], np.int32)], False, 0, 9)
        cv2.line(page, (122, 115), (178, 115), 0, 9)
    elif kind == "smiley":
        cv2.circle(page, (150, 100), 70, 0, 6)
        cv2.circle(page, (125, 80), 8, 0, -1)
        cv2.circle(page, (175, 80), 8, 0, -1)
        cv2.ellipse(page, (150, 115), (35, 25), 0, 10, 170, 0, 6)
    elif kind == "wide ring":  # three times as wide as tall: the digit model alone calls it a 0
        page = np.full((200, 500), 255, dtype=np.uint8)
        cv2.ellipse(page, (250, 100), (150, 45), 0, 0, 360, 0, 8)
    elif kind == "zigzag":  # the line reader without outlier exposure read it as "11111"
        page = np.full((200, 500), 255, dtype=np.uint8)
        xs, ys = np.linspace(80, 420, 9), 100 + np.where(np.arange(9) % 2, 40, -40)
        cv2.polylines(page, [np.stack([xs, ys], axis=1).astype(np.int32)], False, 0, 8)
    return page


@pytest.mark.parametrize("kind", ["dot", "big dot", "dash", "letter A", "smiley"])
def test_marks_that_are_not_digits_are_not_read_as_digits(reader, kind):
    result = reader.read(encode(marks_drawn(kind)))
    assert result.digits == "" and result.error is None, (kind, result.digits)
    assert len(result.rejected) >= 1 and "not a digit" in result.message
    assert all(mark.not_a_digit > REFUSE_ABOVE for mark in result.rejected)


@pytest.mark.parametrize("kind", ["wide ring", "zigzag"])
def test_wide_marks_are_no_digit_and_no_number(reader, kind):
    """A mark over twice as wide as tall is no single digit (predict.WIDE_DIGIT), and the line reader,
    trained on lines of marks that read as nothing, does not make a number of it."""
    result = reader.read(encode(marks_drawn(kind)))
    assert result.digits == "" and result.error is None, (kind, result.digits)
    assert len(result.rejected) == 1 and "not a digit" in result.message
    _, _, width, height = result.rejected[0].box
    assert width > 2 * height


def test_a_dash_in_a_number_is_a_separator_and_a_longer_bar_no_digit(reader):
    page = np.full((200, 500), 255, dtype=np.uint8)
    for x in (60, 380):  # two 1s 130 px tall with a dash between
        cv2.line(page, (x, 40), (x, 170), 0, 10)
    cv2.line(page, (190, 105), (280, 105), 0, 10)
    result = reader.read(encode(page))
    assert (result.digits, result.text, result.rejected) == ("11", "1-1", [])
    page[95:116, 100:350] = 255
    cv2.line(page, (110, 105), (330, 105), 0, 10)  # a bar wider than a dash is (sequence.DASH_WIDTH)
    result = reader.read(encode(page))
    assert (result.digits, result.text, len(result.rejected)) == ("11", "11", 1)
    x, _, w, _ = result.rejected[0].box
    assert 100 <= x and x + w <= 340  # the bar's own box


def test_conventions_probe_rows_and_plain_digits(root, monkeypatch):
    """scripts/conventions_probe.py: its box 0s are tall boxes, and on 20 test digits per convention
    it prints a row for each and the shipped model reads the plain digits right (the drawn
    conventions are what the probe measures, not asserted)."""
    import subprocess
    import sys

    monkeypatch.syspath_prepend(str(root / "scripts"))
    from conventions_probe import CONVENTIONS, box_zero

    for seed in range(50):
        box = box_zero(np.zeros((56, 56), np.float32), np.random.default_rng(seed))
        (_, _), (width, height), _ = cv2.minAreaRect(np.argwhere(box > 0.5).astype(np.float32))
        assert 1.2 <= max(width, height) / min(width, height) <= 2.4, seed
    probed = subprocess.run([sys.executable, str(root / "scripts" / "conventions_probe.py"), "--count", "20",
                             "default"], check=False, capture_output=True, text=True, timeout=300)
    assert probed.returncode == 0, probed.stderr[-2000:]
    rows = {line.split(" (")[0].strip("| "): line for line in probed.stdout.splitlines()[2:]}
    assert set(rows) == set(CONVENTIONS)
    for plain in ("plain 0", "plain 1", "plain 7", "plain 9"):
        right = float(rows[plain].split("| ")[2].split("%")[0])
        assert right >= 90, rows[plain]


def test_every_kind_of_mark_is_drawn_in_the_mnist_convention():
    from digitcnn.nondigits import DOODLES, KINDS, make_set

    for kinds in (KINDS, DOODLES):
        marks, names = make_set(2 * len(kinds), seed=3, kinds=kinds)
        assert marks.shape == (2 * len(kinds), 28, 28) and marks.dtype == np.float32
        assert set(names) == set(kinds) and 0 <= marks.min() and marks.max() <= 1
        assert (marks.reshape(len(marks), -1).max(axis=1) > 0.5).all()  # every mark has ink


def letter_fonts() -> tuple[str, ...]:
    """nondigits.LETTER_FONTS, all installed (.ci/run installs them): a test fails without one under
    CI=true, and is skipped elsewhere."""
    import os

    from digitcnn.nondigits import LETTER_FONTS, installed

    fonts = installed(LETTER_FONTS)
    if len(fonts) < len(LETTER_FONTS):
        message = f"{len(LETTER_FONTS) - len(fonts)} handwriting fonts missing (apt-get install, .ci/run)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return fonts


def test_letters_are_drawn_in_handwriting_fonts_and_refused():
    """The letters the default model trains on as marks come in the handwriting fonts of Debian
    packages as well as Pillow's (nondigits.LETTER_FONTS; .ci/run installs them, and under CI=true
    one missing is a failure). Each draws every letter, a letter it lacks in Pillow's font; and the
    shipped model answers no digit to most letters drawn in them (a model that saw Pillow's font
    alone refused 80% of these, the shipped one 95%)."""
    from digitcnn import DigitReader
    from digitcnn.nondigits import LETTERS, lacking, letter_ink

    fonts = letter_fonts()
    assert lacking(fonts[0]) == "<>"  # fonts-bwht's hands have no angle brackets: Pillow's are drawn
    assert np.array_equal(letter_ink("<", fonts[0], 64), letter_ink("<", None, 64))
    reader, answers = DigitReader(line_model=False), []
    for font in fonts:
        for letter in LETTERS:
            for size in (50, 71):  # the smallest and largest drawn: the whole glyph is on the canvas
                ink = letter_ink(letter, font, size)
                rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
                assert min(rows[0], columns[0], 95 - rows[-1], 95 - columns[-1]) >= 2, (font, letter, size)
            answers.append(reader.read(encode(np.pad(255 - ink, 20, constant_values=255))).digits)
    assert answers.count("") >= 0.9 * len(answers), sum(bool(a) for a in answers)


def _marks(*sizes, refused=()):
    """A line's marks read digit by digit: a DigitPrediction (a 5) per (width, height), or a
    RejectedMark where its index is in ``refused``; side by side."""
    from digitcnn.results import DigitPrediction, ReadResult, RejectedMark

    predictions, rejected, x = [], [], 0
    for i, (width, height) in enumerate(sizes):
        if i in refused:
            rejected.append(RejectedMark(0.99, [x, 0, width, height]))
        else:
            predictions.append(DigitPrediction(5, 0.99, [], [0.0] * 5 + [0.99] + [0.0] * 4, [x, 0, width, height]))
        x += width + 5
    return ReadResult.read("", predictions, None, rejected)


@pytest.mark.parametrize("marks, word", [
    (_marks((30, 40), (30, 30), (30, 30), (30, 30), refused=(0, 2, 3)), True),  # "date": an a read 0
    (_marks((30, 40), (30, 30), (30, 30), refused=(1, 2)), False),  # "5cm": a unit has one or two letters
    (_marks((30, 40), (30, 40), (40, 40), refused=(2,)), False),  # "55" and a star: a number and a stray mark
    (_marks((30, 40), (90, 40), (85, 40), (95, 40), refused=(1, 2, 3)), False),  # a 5 and dashes: too wide
    (_marks((30, 40), (10, 10), (12, 12), (9, 11), refused=(1, 2, 3)), False),  # a 5 and three dots
    (_marks((30, 40), (30, 30), (30, 30), (30, 30), (30, 40), (30, 40), refused=(1, 2, 3)), False),  # as many digits
])
def test_a_line_of_letters_the_digit_model_refuses_is_a_word(marks, word):
    """predict.is_word: three or more letter-sized marks refused, more than the digits read."""
    from digitcnn.predict import as_word, is_word

    assert is_word(marks) == word
    if word:
        whole = as_word(marks)
        assert whole.digits == "" and len(whole.rejected) == 4 and whole.message == "no digit found; 4 marks that are not a digit"
        assert [mark.box[0] for mark in whole.rejected] == sorted(mark.box[0] for mark in whole.rejected)


def test_words_in_handwriting_fonts_are_no_number():
    """Words written in the handwriting fonts (.ci/run installs them): a line whose letters the
    digit model mostly refuses, and in which the line reader reads no more digits, is a word, not
    a number ("date" was a sure 0); a number with its unit reads as it did. Measured when written: 59
    of these 80 words read as no digit, 47 without the rule (benchmarks/doodles.py measures more
    words, in the held-out hands too)."""
    import sys
    from pathlib import Path
    from unittest import mock

    from digitcnn import DigitReader, predict

    fonts = letter_fonts()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from doodles import word_png

    reader = DigitReader()
    pictures = [word_png(word, font, np.random.default_rng(0)) for font in fonts
                for word in ("name", "happy", "world", "tree", "paper", "house", "water", "garden")]
    units = [word_png(unit, font, np.random.default_rng(1)) for font in fonts
             for unit in ("5cm", "7pm", "4mm", "9am", "3kg", "2nd")]
    answers, unit_answers = [reader.read(p) for p in pictures], [reader.read(p).digits for p in units]
    with mock.patch.object(predict, "is_word", lambda by_marks: False):
        before, units_before = [reader.read(p).digits for p in pictures], [reader.read(p).digits for p in units]
    none = [answer for answer in answers if not answer.digits]
    assert len(none) >= 0.65 * len(pictures) and len(none) > before.count(""), (len(none), before.count(""))
    assert all(answer.rejected and answer.message.startswith("no digit found") for answer in none)
    assert unit_answers == units_before


def test_a_cut_off_tip_at_the_pictures_edge_is_no_digit(reader, mnist_test):
    """The tip of a shadow's edge, or of a page's, where the frame cuts it: a small mark touching
    the picture's edge, far above the number. A band of ink that small joins its nearest line (an
    underline, a comma's tail), and this one was read as a 1 ("62" as "621")."""
    x_test, y_test = mnist_test
    answers, truths = [], []
    for first in range(0, 20, 2):
        page = np.full((300, 420), 235.0, np.float32)
        for i in range(2):
            write_digit(page, x_test[first + i], 160 + 90 * i, 110, 80)
        cv2.fillPoly(page, [np.array([(300, 0), (307, 0), (304, 30)], np.int32)], 60)  # the tip, 30 px
        answers.append(reader.read(encode(page.astype(np.uint8), format="JPEG", quality=90)).digits)
        truths.append(f"{y_test[first]}{y_test[first + 1]}")
    assert sum(a == t for a, t in zip(answers, truths)) >= 9, list(zip(truths, answers))


def test_a_big_picture_is_analysed_at_one_size_from_its_file_and_from_an_array(reader, mnist_test):
    """A picture over ANALYSIS_MAX_SIDE was reduced by a whole factor from a file (1600 px -> 800)
    and to exactly that side from a NumPy array (1600 -> 1024): the two were analysed at different
    sizes, and 5 of 104 pictures of a new user's review read differently ("17384" and "1"). An
    array is now reduced by the file's factor, to the same size."""
    from digitcnn.imaging import reduce_for_analysis, reduce_image
    from digitcnn.synthetic import on_a_desk, phone_photo

    for width, height in ((1600, 1200), (1333, 1000), (4000, 3000), (1025, 7), (2049, 1537)):
        expected = reduce_image(Image.new("L", (width, height))).size
        assert reduce_for_analysis(np.zeros((height, width), np.float32)).shape[::-1] == expected
    x_test, _ = mnist_test
    rng = np.random.default_rng(5)
    for i in range(4):
        photo = phone_photo(x_test[i], rng, (1600, 1200), paper=("ruled", "squared", "plain", "plain")[i])
        if i == 3:
            photo = on_a_desk(photo, rng, 0.6)
        assert reader.read(photo).digits == reader.read(np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))).digits
