"""Read digits in new images: the Python API behind `digitcnn predict` and the web server.

    from digitcnn import DigitReader
    reader = DigitReader()                 # loads the default ONNX models once
    result = reader.read("photo.jpg")      # a path, URL, bytes, PIL image or NumPy array
    result.digits, result.confidence       # a results.ReadResult
    result.text, result.lines              # "1.990", one LineReading per line of writing

Each line of writing is read whole by the line reader (digitcnn.sequence: touching digits,
separators) unless it is a single mark, which the digit model reads (it knows "not a digit"
and is calibrated); a wide single mark that the line reader reads as two or more digits (a
touching "10"), more surely than the digit model reads its one digit, is the line reader's.

ONNX Runtime only: this module never imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .calibrate import soften
from .fetch import MAX_BYTES, fetch_url, is_url
from .imaging import (
    ANALYSIS_MAX_SIDE,
    FILE_SIZE,
    MAX_DIGITS,
    ImageError,
    Page,
    analyse,
    decode_image,
    find_digits,
    in_unit_range,
    mark_frames,
    mnist_like,
    to_mnist,
)
from .inference import (
    LINE_MODEL_NAME,
    default_model_path,
    load_session,
    predict_proba,
    resolve_model_path,
)
from .models import NOT_A_DIGIT, REFUSE_ABOVE, refused
from .results import (
    Candidate,
    DigitPrediction,
    LineReading,
    ReadResult,
    RejectedMark,
)
from .sequence import (
    SEPARATOR_HEIGHT,
    SOLID_POINT,
    Line,
    apart_ends,
    date_slashes,
    digit_centres,
    digit_spans,
    find_lines,
    line_body,
    line_kinds,
    line_temperature,
    load_line_session,
    marks_box,
    read_ink,
    read_separators,
    separator_pieces,
)

MAX_LINES = 10  # more lines of writing than this is a page of text, not numbers: refused
WIDE_MARK = 0.75  # a single mark at least this wide for its height may be touching digits
# One mark read as two or more digits by the line reader, each at least this sure, is touching digits:
# the digit model reads a touching "10" as a 0 at 0.99 (it looks like one), so the two cannot be
# compared there. Synthetic numbers read the same from 0.8 to 0.9 (RESULTS.md, seventh session); the
# line reader trained on marks is less sure of a leading 1 (0.89 in a touching "10"), so 0.85; single
# real digits read the same.
SURE_LINE = 0.85
# When the digit model refuses every mark of a line, the line reader's two or more digits stand from
# this confidence: it learned to read nothing in scribbles and words (linesynth.LineStyle.mark_share),
# so the gate can be low. Chosen on synthetic numbers and marks (RESULTS.md, seventh session).
JOINED_LINE = 0.2
# A mark more than this many times as wide as it is tall is no single digit (one MNIST training digit
# in 10,000 is, a wide 2 or 5): the digit model's answer for it is refused (a stretched ring is no 0),
# and the line reader says whether it is touching digits.
WIDE_DIGIT = 2.0
# A line is a word, not a number, when the digit model refuses at least WORD_LETTERS of its marks of a
# letter's size and more of them than it reads as digits ("date": an a read as a sure 0 beside a d, a t
# and an e it refuses), and the line reader reads no more digits in it. A letter's size: no wider than
# WIDE_DIGIT times its height (dashes are wider) and at least LETTER_HEIGHT of the tallest mark's (dots
# and commas are less). Three letters, because a unit after a number has one or two ("5cm", "7pm",
# "2nd"): with two, 56 of 304 numbers with a unit in handwriting fonts lost their number (RESULTS,
# twenty-seventh session).
WORD_LETTERS = 3
LETTER_HEIGHT = 0.4


def is_word(by_marks: ReadResult) -> bool:
    """True when a line's marks read digit by digit (``by_marks``) are mostly letters the digit
    model refuses (``WORD_LETTERS``, ``LETTER_HEIGHT``): writing, not a number."""
    tallest = max((mark.box[3] for mark in [*by_marks.predictions, *by_marks.rejected]), default=0)
    letters = [mark for mark in by_marks.rejected
               if mark.box[2] <= WIDE_DIGIT * mark.box[3] and mark.box[3] >= LETTER_HEIGHT * tallest]
    return len(letters) >= WORD_LETTERS and len(letters) > len(by_marks.predictions)


def as_word(by_marks: ReadResult) -> ReadResult:
    """A word's marks (``is_word``) read as no digit: those the digit model read as digits are
    listed with the others as marks that are not digits (with its "not a digit" probability)."""
    letters = [RejectedMark(max(0.0, 1.0 - sum(p.probabilities)), p.box) for p in by_marks.predictions]
    marks = sorted([*letters, *by_marks.rejected], key=lambda mark: mark.box[0])
    return ReadResult.read(by_marks.input, [], None, marks)


def source_name(source) -> str:
    """How an input is named in results: the path or URL as given, or its type."""
    if isinstance(source, (str, Path)):
        return str(source)
    return f"<{type(source).__name__}>"


def read_file(text: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (the URL cap): never a device, a FIFO
    (which would wait for a writer forever) or a folder, never an unbounded read. Its errors do
    not name the file: the result that holds them does (``ReadResult.input``)."""
    import os
    import stat

    try:
        info = os.stat(text)
        if stat.S_ISDIR(info.st_mode):
            raise ImageError("is a directory (expected an image file)")
        if not stat.S_ISREG(info.st_mode):
            raise ImageError("not a regular file (a device, FIFO or socket is not read)")
        if info.st_size > max_bytes:
            raise ImageError(f"{info.st_size} bytes, over the limit of {max_bytes} bytes")
        with open(text, "rb") as file:
            return read_stream(file, max_bytes)  # (a file that grew while it was read is over the limit too)
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except ImageError:  # said above or by read_stream: an ImageError is a ValueError, not to be wrapped again
        raise
    except (OSError, ValueError) as exc:  # permission, a name too long, a NUL in the name...
        raise ImageError(f"cannot read ({getattr(exc, 'strerror', None) or exc})") from None


def read_stream(stream, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a binary file object (an open file, io.BytesIO, standard input's buffer), read
    from where it stands: at most ``max_bytes``, never an unbounded read. A text-mode one is told
    to open it in binary mode."""
    try:
        raw = stream.read(max_bytes + 1)
    except UnicodeDecodeError:
        raise ImageError("the file object is in text mode: open it in binary mode ('rb')") from None
    except (OSError, ValueError) as exc:  # a closed file, a read error
        raise ImageError(f"cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if not isinstance(raw, bytes):
        raise ImageError(f"the file object gave {type(raw).__name__}, not bytes: open it in binary mode ('rb')")
    if len(raw) > max_bytes:
        raise ImageError(f"over the limit of {max_bytes} bytes")
    return raw


def load_source(source, fetch=None):
    """A path, URL, bytes, binary file object, PIL image or NumPy array -> its bytes (``decoded``
    makes the picture of them), or the PIL image or NumPy array as given. A file object is read
    from where it stands, at most MAX_BYTES."""
    from PIL import Image

    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if callable(getattr(source, "read", None)):  # an open file, io.BytesIO, an upload
        return read_stream(source)
    if isinstance(source, (Image.Image, np.ndarray)):
        return source
    if isinstance(source, (str, Path)):
        text = str(source)
        return (fetch or fetch_url)(text) if is_url(text) else read_file(text)
    raise ImageError(f"cannot read an image from an object of type {type(source).__name__}; expected a path, "
                     "URL, bytes, binary file object, PIL image or NumPy array")


def decoded(loaded, max_side: int = ANALYSIS_MAX_SIDE):
    """``load_source``'s answer as a picture: bytes decoded (a big JPEG at about ``max_side`` px),
    a PIL image or NumPy array as it is."""
    return decode_image(loaded, max_side) if isinstance(loaded, bytes) else loaded


# Writing under SMALL_WRITING px tall where a picture was read (its working copy: a big picture's is
# at most ANALYSIS_MAX_SIDE px wide, smaller still beside large ink), in a copy at least CLOSER times
# smaller than the file, is read again from a copy CLOSER times as large, around it (AROUND times its
# height each side): four digits 35 px tall on a 4000x3000 photo are 9 px in the first copy, and
# were read right 16 times in 20 (20 in 20 from the larger copy; RESULTS, twenty-seventh session).
# Only then, and only when that part is at most PART_SHARE of the picture (small writing here and
# there is no number written small): the picture is decoded a second time, the part analysed again.
SMALL_WRITING = 16
CLOSER = 2
AROUND = 3
PART_SHARE = 0.5


def closer_look(page: Page, result: ReadResult) -> tuple[int, list[int]] | None:
    """For a picture reduced for its first look (``page``) whose lines read (``result``) came out
    under SMALL_WRITING px tall there: the size to decode it at again, and the part of it to read
    again ([x, y, w, h] in file pixels); None when it needs no second look (nothing read, a picture
    not reduced, writing large enough, or spread over the picture)."""
    width, height = page.size
    scale = min(page.scale)
    if not result.lines or scale > 1 / CLOSER:
        return None
    tallest = max(line.box[3] for line in result.lines)
    if tallest * scale >= SMALL_WRITING:
        return None
    margin = AROUND * tallest
    left = max(0, min(line.box[0] for line in result.lines) - margin)
    top = max(0, min(line.box[1] for line in result.lines) - margin)
    right = min(width, max(line.box[0] + line.box[2] for line in result.lines) + margin)
    bottom = min(height, max(line.box[1] + line.box[3] for line in result.lines) + margin)
    if (right - left) * (bottom - top) > PART_SHARE * width * height:
        return None
    return CLOSER * ANALYSIS_MAX_SIDE, [left, top, right - left, bottom - top]


def part_of(image, box: list[int], size: tuple[int, int]):
    """The part ``box`` ([x, y, w, h] in the pixels of a file of ``size``) of its decoded picture
    ``image`` (a PIL image or an array, maybe decoded reduced), whose boxes are then the box's pixels."""
    x, y, w, h = box
    if isinstance(image, np.ndarray):  # (an array's pixels are the file's)
        return image[y:y + h, x:x + w]
    sx, sy = image.size[0] / size[0], image.size[1] / size[1]
    part = image.crop((round(x * sx), round(y * sy), round((x + w) * sx), round((y + h) * sy)))
    part.info[FILE_SIZE] = (w, h)
    return part


def moved(result: ReadResult, dx: int, dy: int) -> ReadResult:
    """``result``, read in a part of a picture that starts at (``dx``, ``dy``), with its boxes in the
    whole picture's pixels."""
    for item in (*result.predictions, *result.rejected, *result.lines):
        item.box = [item.box[0] + dx, item.box[1] + dy, *item.box[2:]]
    return result


def without_separators(marks: list[np.ndarray], pieces: np.ndarray, stats: np.ndarray,
                       separators: set[int]) -> list[np.ndarray]:
    """``marks`` (bool masks, ``find_digits``) less those made of separator pieces alone (labels of
    ``pieces``, ``sequence.separator_pieces``): the digit model reads a comma or an apostrophe as a
    sure 1; the line reader sees them, having learned them. A separator joined to a digit's mark
    (the top of a 4 written apart) stays with it."""
    pixel = {}
    for label in separators:
        x, y, w, h = (int(v) for v in stats[label, :4])
        rows, columns = np.nonzero(pieces[y:y + h, x:x + w] == label)
        pixel[label] = (y + rows[0], x + columns[0])
    kept = []
    for mark in marks:
        inside = [label for label, (row, column) in pixel.items() if mark[row, column]]
        if not inside or int(np.count_nonzero(mark)) != int(stats[inside, cv2.CC_STAT_AREA].sum()):
            kept.append(mark)
    return kept


# A bold point: a round blob (no side over ROUND times the other), filled (``sequence.SOLID_POINT``),
# at least BOLD_POINT of the digits' height. The line reader may read one as a 0 ("1.5" read "105").
ROUND = 1.3
BOLD_POINT = 0.2


def bold_points(stats: np.ndarray, labels: np.ndarray, separators: set[int]) -> set[int]:
    """Of a line's separators (``separator_pieces``; ``labels`` its pieces of ``stats``), those
    shaped like a bold point (ROUND, SOLID_POINT, BOLD_POINT): the line reader is not shown them, as
    it is not shown a date's slashes. The separators are read from the marks (``read_separators``)."""
    if not separators:
        return set()
    _, body_height = line_body(stats, labels)
    points = set()
    for label in separators:
        _, _, width, height, area = (int(v) for v in stats[label, :5])
        if (max(width, height) <= ROUND * min(width, height) and area >= SOLID_POINT * width * height
                and height >= BOLD_POINT * body_height):
            points.add(label)
    return points


def with_slashes(read: tuple, slashes: list[list[int]]) -> tuple:
    """A line's reading (ReadResult, text, reader) with its text made of its digits and a "/"
    between each two on either side of the middle of one of the boxes ``slashes`` (file pixels):
    a date's, which neither model reads."""
    result, _, reader = read
    middles = [x + width / 2 for x, _, width, _ in slashes]
    text = ""
    for before, digit in zip([None, *result.predictions], result.predictions):
        if before is not None and any(before.box[0] + before.box[2] / 2 < middle < digit.box[0] + digit.box[2] / 2
                                      for middle in middles):
            text += "/"
        text += str(digit.digit)
    return result, text, reader


def is_date(text: str) -> bool:
    """True when ``text`` is a date written with slashes: day/month/year or month/day/year, or
    year/month/day; each in range, a year of 2 digits or of 4 from 1900 to 2099 (leaning 1s cut a
    number into groups of a date's sizes far more often than into a date), five digits or more (a
    number's 1s fall where "3/3/87"'s slashes stand too often: 2 of 1,000 synthetic numbers)."""
    groups = text.split("/")
    if len(groups) != 3 or not all(group.isdigit() for group in groups):
        return False
    if len(groups[0]) == 4:
        year, month, day = groups
    else:
        day, month, year = groups if int(groups[1]) <= 12 else (groups[1], groups[0], groups[2])
    if len(day) + len(month) + len(year) < 5:
        return False
    return (len(day) <= 2 and len(month) <= 2 and 1 <= int(month) <= 12
            and 1 <= int(day) <= (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[int(month)]  # (Feb. 29, any year)
            and (len(year) == 2 or (len(year) == 4 and year[:2] in ("19", "20"))))


THOUSANDS = (".", ",", "'", " ")  # the separators that group a number's digits by three


def grouped(digits: str, separators: list[str]) -> list[str]:
    """``separators`` (one per pair of ``digits``, "" for none) as a number of 4+ digits has them:
    thousands marks (THOUSANDS) set off groups of three from the right, and a last "." or ","
    may set off two decimals ("1.234,50", "12.50"). Marks anywhere else come from the line reader
    placing a mark between the wrong digits (it marks a digit at one or two steps, not over its
    width): as many marks of one kind as the number has groups are moved to where the groups part
    ("100.0" -> "1.000"); others are left out ("10.9.5" -> "1095"). Numbers of 1-3 digits, and
    numbers with another separator (":" "/" "-": a time, a date, a range), keep theirs as read."""
    at = [i for i, mark in enumerate(separators) if mark]
    count = len(digits)
    if count < 4 or not at or any(separators[i] not in THOUSANDS for i in at):
        return separators
    decimal = at[-1] == count - 3 and separators[at[-1]] in (".", ",")
    whole = count - 2 if decimal else count  # the digits before the decimals
    marks = at[:-1] if decimal else at
    if all((whole - 1 - i) % 3 == 0 for i in marks):
        return separators
    fixed = [""] * len(separators)
    if decimal:
        fixed[count - 3] = separators[count - 3]
    if len({separators[i] for i in marks}) == 1 and len(marks) == (whole - 1) // 3:
        for i in range(whole - 4, -1, -3):
            fixed[i] = separators[marks[0]]
    return fixed


def written(digits: str, separators: list[str]) -> str:
    """The digits with the separators between them, as written (``grouped``): ("1990", [".", "",
    ""]) -> "1.990"; separators of another count (another reading of the line) are left out."""
    if len(separators) != max(0, len(digits) - 1):
        return digits
    return "".join(d + s for d, s in zip(digits, [*grouped(digits, separators), ""]))


FRAME_BOX = [0, 0, 28, 28]  # an MNIST-like input's digit: the frame the model saw, as it is


def one_line(result: ReadResult) -> ReadResult:
    """An MNIST-like input's reading (``result``) with its digit, if any, as the picture's one line."""
    if result.predictions:
        result.lines = [LineReading(result.digits, result.text, result.confidence, list(FRAME_BOX), "digit")]
    return result


class DigitReader:
    """Reads the digits in images with an ONNX model, loaded once.

    Parameters
    ----------
    model : a .onnx file or a run folder; None for the pretrained default model.
    top_k : how many candidates each digit's ``top_k`` lists.
    line_model : the line reader, a .onnx file or a ``train-lines`` run folder; None for the
        pretrained one, False for none (every mark read alone by the digit model, as before it).
    """

    def __init__(self, model=None, top_k: int = 3, threads: int | None = None, line_model=None):
        self.model_path = resolve_model_path(model)
        self.session = load_session(self.model_path, threads=threads)
        self.top_k = top_k
        # line_model: None for the shipped line reader, False for none (every mark to the digit model)
        self.line_model_path = (default_model_path(LINE_MODEL_NAME) if line_model is None
                                else resolve_model_path(line_model) if line_model is not False else None)
        self.line_session = load_line_session(self.line_model_path, threads) if self.line_model_path else None
        self.line_temperature = line_temperature(self.line_model_path) if self.line_model_path else 1.0

    def read(self, source, fetch=None, strict: bool = False) -> ReadResult:
        """Read one image; return its ReadResult (the fields of ``digitcnn predict --json``).

        A bad input gives a result whose ``error`` is set, or raises ImageError when ``strict``.
        ``fetch(url) -> bytes`` replaces the default URL fetcher (the server adds its guard).
        The 28x28 images the model saw are in ``result.frames`` (not in the JSON).
        """
        name = source_name(source)
        try:
            loaded = load_source(source, fetch)
            image = decoded(loaded)
            page = analyse(image)
            if page.frame is not None:
                result = self.read_frame(name, page)
            else:
                result = self.read_page(name, page)
                closer = closer_look(page, result)
                if closer:  # small writing on a big picture: read again, around it, from a larger copy
                    result = self.read_closer(name, loaded, page, result, *closer)
        except ImageError as exc:
            if strict:
                raise
            return ReadResult.failed(name, str(exc))
        result.source = image
        return result

    def read_closer(self, name: str, loaded, page: Page, result: ReadResult, side: int, box: list[int]) -> ReadResult:
        """The part ``box`` of a picture (``loaded``, ``load_source``'s) decoded to ``side`` px and
        read again (``closer_look``), its boxes in the file's pixels; the first look's ``result`` when
        the second reads nothing or is refused (more lines or digits than are read at most). The
        first look's marks refused outside the part are kept in ``rejected``."""
        try:
            part = part_of(decoded(loaded, side), box, page.size)
            again = moved(self.read_page(name, analyse(part, side)), box[0], box[1])
        except ImageError:
            return result
        if not again.lines:
            return result
        x, y, w, h = box  # marks refused outside the part stay listed
        again.rejected += [mark for mark in result.rejected
                           if not (x <= mark.box[0] + mark.box[2] / 2 < x + w and y <= mark.box[1] + mark.box[3] / 2 < y + h)]
        return again

    def read_frame(self, name: str, page: Page) -> ReadResult:
        """An MNIST-like 28x28 input (``page.frame``), read as it is: one digit, or a mark that is no
        digit; a digit read is one line, as on any page."""
        return one_line(self.read_frames(name, page.frame[np.newaxis, :, :, np.newaxis], [list(FRAME_BOX)]))

    def read_frames(self, name: str, frames: np.ndarray, boxes: list) -> ReadResult:
        """Digit by digit: MNIST frames (K, 28, 28, 1) to the digit model, marks that are no digit set apart."""
        proba = predict_proba(self.session, frames)
        kept, rejected = self.split_rejected(proba, boxes)
        return ReadResult.read(name, self.digit_predictions(proba[kept, :10], [boxes[i] for i in kept]),
                               frames[kept], rejected)

    def read_page(self, name: str, page: Page) -> ReadResult:
        """Every line of writing of ``page``, top to bottom, each read by the line reader or digit by
        digit; writing set apart beside a line's number (``apart_ends``: a label, a unit) is not read,
        and is listed with the marks that are no digit; a line whose leaning strokes may be a date's
        slashes is read without them first, and that reading stands when it makes a date."""
        pieces, stats, lines = find_lines(page.mask, page.marks)
        if len(lines) > MAX_LINES:
            raise ImageError(f"{len(lines)} lines of writing found, more than the {MAX_LINES} read at most")
        predictions, frames, rejected, readings = [], [], [], []
        for line in lines:
            line, beside = apart_ends(stats, line)
            line, beside = self.zeros_apart(page, pieces, stats, line, beside)
            if beside:
                rejected += self.text_beside(page, pieces, beside)
            whole = len(lines) == 1 and len(line.labels) == len(stats) - 1  # the page's ink is one line
            line_mask = page.mask if whole else np.isin(pieces, line.labels)
            # a date's slashes, when two leaning strokes read as such make one; else they are 1s
            dated = (with_slashes(self.read_writing(name, page, pieces, stats, line, line_mask, whole, slashes),
                                  [page.file_box(*stats[label, :4]) for label in slashes])
                     for slashes in date_slashes(pieces, stats, line.labels))
            read = next((read for read in dated if is_date(read[1])), None) or \
                self.read_writing(name, page, pieces, stats, line, line_mask, whole)
            top, bottom, left, right = line.box
            result, text, reader = read
            predictions += result.predictions
            rejected += result.rejected
            if result.frames is not None and len(result.frames):
                frames.append(result.frames)
            if result.predictions:
                readings.append(LineReading(result.digits, text, result.confidence,
                                            page.file_box(left, top, right - left, bottom - top), reader))
        if sum(len(r.digits) for r in readings) > MAX_DIGITS:
            raise ImageError(f"more than the {MAX_DIGITS} digits read at most")
        stacked = np.concatenate(frames) if frames else np.zeros((0, 28, 28, 1), np.float32)
        return ReadResult.read(name, predictions, stacked, rejected, readings)

    def read_writing(self, name: str, page: Page, pieces: np.ndarray, stats: np.ndarray, line: Line,
                     line_mask: np.ndarray, whole: bool, slashes: set[int] = frozenset()) -> tuple:
        """One line of writing read digit by digit or whole (``choose``), the pieces ``slashes``
        taken for a date's (``sequence.date_slashes``): (ReadResult, text, reader)."""
        marks = find_digits(line_mask, page.marks if whole else None)
        separators = separator_pieces(stats, line.labels)
        if separators or slashes:
            marks = without_separators(marks, pieces, stats, separators | slashes)
        line_frames, boxes = mark_frames(page, marks)
        by_marks = self.read_frames(name, line_frames, boxes) if marks else ReadResult.read(name, [])
        top, bottom, left, right = line.box
        if self.line_session is None or not (len(marks) > 1 or (
                len(marks) == 1 and (right - left) >= WIDE_MARK * (bottom - top))):
            return (as_word(by_marks), "", "digit") if is_word(by_marks) else (by_marks, by_marks.digits, "digit")
        # the line reader never learned a date's slashes (it reads a 1), and may read a bold point as
        # a 0: it is shown the digits alone
        hidden = slashes | bold_points(stats, line.labels, separators)
        decoding = self.decode_line(page, line, line_mask & ~np.isin(pieces, list(hidden)) if hidden else line_mask)
        # a word: the digit model refuses most of its letters, and the line reader (which learned to
        # read nothing in words) reads no more digits in it; digits joined in a fast amount, which the
        # digit model refuses too, the line reader reads
        if is_word(by_marks) and len(decoding[0]) <= len(by_marks.predictions):
            return as_word(by_marks), "", "digit"
        # One mark: its digit model reading stands unless the line reader surely reads two or
        # more digits in it, which its decoding alone tells; the line's digits are framed
        # (a third of a canvas read) only when they are the answer.
        if len(marks) > 1 or self.line_wins(by_marks, len(decoding[0]),
                                            min((d.probability for d in decoding[0]), default=0.0), 1):
            result, text, reader = self.choose(
                by_marks, self.read_line(page, line, line_mask, pieces, stats, decoding, hidden), len(marks))
            return (self.calibrated_line(result) if reader == "line" else result), text, reader
        return by_marks, by_marks.digits, "digit"

    def calibrated_line(self, result: ReadResult) -> ReadResult:
        """The line reader's reading (``result``) with its digits' probabilities calibrated: softened
        by the line reader's temperature (``sequence.line_temperature``), CTC's blank among the
        classes. The reading rules (``line_wins``) compare the raw ones, chosen with them."""
        if self.line_temperature == 1.0:
            return result
        predictions = []
        for prediction in result.predictions:
            raw = np.array([max(0.0, 1.0 - sum(prediction.probabilities)), *prediction.probabilities])
            soft = soften(raw[np.newaxis], self.line_temperature)[0, 1:].tolist()  # (blank first, dropped)
            order = np.argsort(-np.array(soft), kind="stable")[:self.top_k].tolist()
            predictions.append(DigitPrediction(prediction.digit, soft[prediction.digit],
                                               [Candidate(d, soft[d]) for d in order], soft, prediction.box))
        return ReadResult.read(result.input, predictions, result.frames, result.rejected)

    @staticmethod
    def choose(by_marks: ReadResult, whole: tuple, marks: int) -> tuple:
        """The digit model's reading of a line's marks (``by_marks``), or the line reader's reading
        of the whole line (``whole``: its ReadResult and the separators it saw), as (result, text,
        reader); the rule is ``line_wins``. The text keeps the separators the line showed."""
        line_result, separators = whole
        if DigitReader.line_wins(by_marks, len(line_result.predictions), line_result.confidence, marks):
            return line_result, written(line_result.digits, separators), "line"
        return by_marks, written(by_marks.digits, separators), "digit"

    @staticmethod
    def line_wins(by_marks: ReadResult, line_digits: int, line_confidence: float, marks: int) -> bool:
        """True when the line reader's reading of a line (``line_digits`` digits, the least sure
        at ``line_confidence``) stands against the digit model's reading of its ``marks`` marks.

        When the digit model refuses every mark as "not a digit", nothing is read unless the line
        reader surely reads two or more digits (joined digits look like no single digit). One mark:
        the digit model's (its probabilities are the calibrated ones), unless the line reader reads
        two or more digits in it (a touching "10"), each with at least SURE_LINE. Several marks:
        when the line reader reads more digits than the marks hold, digits touch and its reading
        stands; when it reads fewer and the digit model is sure of every mark (SURE_LINE), it
        skipped a digit (a plain 1 far from the next); otherwise (the same count, or a digit broken
        in two marks) the surer reading stands (its least sure digit's probability).

        Measured on the development cheques and synthetic numbers (benchmarks/read_numbers.py): taking
        the surer reading also when the line reader reads more lost a fifth of the touching
        numbers; always taking the digit model's when they agree lost two points of cheques.
        """
        if not line_digits:  # nothing read: the digit model says what the marks are
            return False
        if by_marks.rejected and not by_marks.predictions:
            # The digit model refuses every mark: a scribble, or digits so joined that no mark looks
            # like one digit (a quickly written amount). Two or more digits read are a number.
            return line_digits >= 2 and line_confidence >= JOINED_LINE
        if marks == 1:
            return line_digits >= 2 and line_confidence >= SURE_LINE
        if line_digits > len(by_marks.predictions):  # digits touch: only the line reader sees them
            return True
        if line_digits < len(by_marks.predictions) and by_marks.confidence >= SURE_LINE:
            return False  # every mark surely a digit: the line reader skipped one (a plain 1 far off)
        return line_confidence > by_marks.confidence

    def decode_line(self, page: Page, line: Line, line_mask: np.ndarray) -> tuple:
        """The line reader's digits of one line (a list of DecodedDigit), with the line's columns
        it was shown (gaps closed) and its input columns per working pixel, for ``read_line``."""
        top, bottom, left, right = line.box
        near = cv2.dilate(line_mask[top:bottom, left:right].view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
        ink = np.where(near, page.ink[top:bottom, left:right], 0.0).astype(np.float32)
        return read_ink(self.line_session, ink, SURE_LINE)

    def read_line(self, page: Page, line: Line, line_mask: np.ndarray, pieces, stats, decoding: tuple,
                  slashes: set[int] = frozenset()):
        """One line read whole by the line reader, from its ``decode_line``: a ReadResult of its
        digits, and the separators between them ("" or one of ". , ' : -" and a space); the pieces
        ``slashes`` (a date's, ``sequence.date_slashes``, and bold points: those the line reader was
        not shown) are no part of its digits' boxes, and digits part where they stood."""
        top, bottom, left, _ = line.box
        decoded, kept, columns_per_px = decoding
        # (a date's digits part where its slashes stood: halfway between two digits may lie past one)
        cuts = tuple(float(np.searchsorted(kept, stats[label, cv2.CC_STAT_LEFT] + stats[label, cv2.CC_STAT_WIDTH] / 2
                                           - left)) for label in slashes)
        spans = [(left + int(kept[min(a, len(kept) - 1)]), left + int(kept[min(b, len(kept)) - 1]) + 1)
                 for a, b in digit_spans(decoded, (0, bottom - top, 0, len(kept)), columns_per_px, cuts)]
        # the digits' pieces: no separator's shape, at least SEPARATOR_HEIGHT of the digits' height (a
        # small 0 beside a 4 reaching far down is one, and the gap beside it no space)
        line_pieces = line_kinds(stats, line.labels)
        kinds, _, body_height = line_pieces
        digit_pieces = [label for label, kind in kinds.items()
                        if not kind and stats[label, cv2.CC_STAT_HEIGHT] >= SEPARATOR_HEIGHT * body_height]
        # a tall mark the line reader read no digit in (a letter before the number), refused by the
        # digit model, is no part of the digits' boxes and is listed as rejected
        peaks = [left + int(kept[min(max(int(c), 0), len(kept) - 1)]) for c in digit_centres(decoded, columns_per_px)]
        passed, passed_marks = self.passed_over(page, pieces, stats, digit_pieces, peaks, body_height)
        body = np.isin(pieces, np.setdiff1d(digit_pieces, [*slashes, *passed]))
        separators, separator_marks = read_separators(stats, line.labels, spans, body, line_pieces)
        predictions, frames, boxes = [], [], []
        for digit, (a, b) in zip(decoded, spans):
            digit_mask = body[top:bottom, a:b]  # the digit's columns of the line, cropped: no page-sized copies
            if not digit_mask.any():
                digit_mask = line_mask[top:bottom, a:b]
            if digit_mask.any():
                frame, (x, y, w, h) = to_mnist(page.ink[top:bottom, a:b], digit_mask)
                box = [a + x, top + y, w, h]
            else:
                frame, box = np.zeros((28, 28), np.float32), [a, top, b - a, bottom - top]
            frames.append(frame)
            boxes.append(box)
            order = np.argsort(-digit.alternatives, kind="stable")[:self.top_k].tolist()
            probabilities = digit.alternatives.tolist()
            predictions.append(DigitPrediction(digit.digit, digit.probability,
                                               [Candidate(d, probabilities[d]) for d in order],
                                               probabilities, page.file_box(*box)))
        rejected = passed_marks + self.marks_left_out(page, pieces, stats, line, boxes, separator_marks | set(passed))
        result = ReadResult.read("", predictions, np.stack(frames)[..., np.newaxis] if frames else None, rejected)
        return result, separators

    def passed_over(self, page: Page, pieces, stats, labels: list[int], peaks: list[int],
                    body_height: float) -> tuple[list[int], list[RejectedMark]]:
        """Of a line's tall pieces ``labels``, those no digit the line reader read peaks in or near
        (a quarter of the digits' height, ``peaks`` its digits' columns) that the digit model refuses
        as "not a digit": their labels, and their RejectedMarks. A piece it reads as a digit stays."""
        margin = 0.25 * body_height
        alone = [label for label in labels
                 if not any(stats[label, cv2.CC_STAT_LEFT] - margin <= peak
                            < stats[label, cv2.CC_STAT_LEFT] + stats[label, cv2.CC_STAT_WIDTH] + margin
                            for peak in peaks)]
        if not alone:
            return [], []
        frames, boxes = mark_frames(page, [pieces == label for label in alone])
        kept, rejected = self.split_rejected(predict_proba(self.session, frames), boxes)
        refused = [label for i, label in enumerate(alone) if i not in kept]
        return refused, rejected

    def marks_left_out(self, page: Page, pieces, stats, line: Line, boxes: list, separators: set) -> list[RejectedMark]:
        """Marks of a line that the line reader passed over (beside every digit, no separator: a dash,
        a letter) and that the digit model refuses as "not a digit", so that the answer says so."""
        heights, areas = stats[line.labels, cv2.CC_STAT_HEIGHT], stats[line.labels, cv2.CC_STAT_AREA]
        masks = []
        for label, height, area in zip(line.labels, heights, areas):
            x, width = stats[label, cv2.CC_STAT_LEFT], stats[label, cv2.CC_STAT_WIDTH]
            beside = all(x >= bx + bw or x + width <= bx for bx, _, bw, _ in boxes)
            if height < 0.5 * heights.max() and area >= 0.05 * areas.max() and beside and label not in separators:
                masks.append(pieces == label)
        if not masks:
            return []
        frames, file_boxes = mark_frames(page, masks)
        return self.split_rejected(predict_proba(self.session, frames), file_boxes)[1]

    def zeros_apart(self, page: Page, pieces: np.ndarray, stats: np.ndarray, line: Line,
                    groups: list[np.ndarray]) -> tuple[Line, list[np.ndarray]]:
        """``line`` with the groups of pieces set apart after it (``apart_ends``: small writing at
        its end, a label or a unit) that are an amount's "000" written small ("25 000"): three marks
        the digit model surely (SURE_LINE) reads as 0s, the nearest group first; and the other
        groups. Only zeros: a unit's letters may each look like a digit ("100 g" would read 1009,
        "100 lb" 10016)."""
        after = sorted((group for group in groups if stats[group, cv2.CC_STAT_LEFT].min() >= line.box[3]),
                       key=lambda group: stats[group, cv2.CC_STAT_LEFT].min())
        joined = []
        for group in after:
            marks = find_digits(np.isin(pieces, group))
            read = self.read_frames("", *mark_frames(page, marks)) if len(marks) == 3 else None
            if not read or read.rejected or read.digits != "000" or read.confidence < SURE_LINE:
                break
            joined.append(group)
        if not joined:
            return line, groups
        labels = np.concatenate([line.labels, *joined])
        return Line(labels, marks_box(stats[labels])), [group for group in groups if not any(group is j for j in joined)]

    def text_beside(self, page: Page, pieces: np.ndarray, groups: list[np.ndarray]) -> list[RejectedMark]:
        """One RejectedMark per group of pieces set apart beside a number (``apart_ends``), with the
        probability the digit model gives it of being no digit (it may read a printed "l" as a sure 1)."""
        frames, boxes = mark_frames(page, [np.isin(pieces, group) for group in groups])
        proba = predict_proba(self.session, frames)
        return [RejectedMark(float(p[NOT_A_DIGIT]) if len(p) > NOT_A_DIGIT else 0.0, box) for p, box in zip(proba, boxes)]

    @staticmethod
    def split_rejected(proba: np.ndarray, boxes: list) -> tuple[list[int], list[RejectedMark]]:
        """Rows whose "not a digit" probability is over REFUSE_ABOVE (models with 11 outputs), or whose
        box [x, y, w, h] is over WIDE_DIGIT times as wide as tall, become RejectedMarks."""
        if proba.shape[1] == 10:
            return list(range(len(proba))), []
        wide = np.array([box[2] > WIDE_DIGIT * box[3] for box in boxes], dtype=bool)
        not_digits = refused(proba, REFUSE_ABOVE) | wide  # predict's own gate: benchmarks/trust.py patches it
        return ([i for i in range(len(proba)) if not not_digits[i]],
                [RejectedMark(float(proba[i, NOT_A_DIGIT]), list(boxes[i])) for i in np.flatnonzero(not_digits)])

    def read_batch(self, images: np.ndarray) -> list[ReadResult]:
        """Read many single-digit images at once: uint8 (0-255) or float (0-1) (N, H, W) or
        (N, H, W, 1) arrays (``ReadResult.frames``' shape); floats outside [0, 1] are refused
        (ImageError), not clipped.

        Images already in MNIST form (28x28, dark border, bright ink) go to the model in one
        call; the others take the full path of ``read``.
        """
        try:
            images = np.asarray(images)
        except ValueError:
            raise ImageError("expected images of one shape (N, H, W), got a ragged sequence") from None
        if images.ndim == 4 and images.shape[3] == 1:
            images = images[..., 0]
        if images.ndim != 3 or min(images.shape[1:], default=0) < 1:
            raise ImageError(f"expected images of shape (N, H, W) or (N, H, W, 1), got {images.shape}")
        if images.dtype.kind not in "biuf":
            raise ImageError(f"expected a numeric image array, got dtype {images.dtype}")
        if images.dtype.kind == "f":  # finite, in [0, 1]
            in_unit_range(images)
        # The rules of imaging.array_to_gray: integers are 0-255 (uint16 0-65535), floats 0-1.
        scale = 1 / 65535 if images.dtype == np.uint16 else 1 / 255 if images.dtype.kind in "iu" else 1.0
        scaled = np.multiply(images, np.float32(scale), dtype=np.float32)  # 4x quicker than astype, then /
        np.clip(scaled, 0.0, 1.0, out=scaled)
        results: list[ReadResult | None] = [None] * len(images)
        if images.shape[1:] == (28, 28):
            fast = np.flatnonzero(mnist_like(scaled))
            proba = predict_proba(self.session, scaled[fast][..., np.newaxis])
            kept, rejected = self.split_rejected(proba, [FRAME_BOX] * len(fast))
            for i, digit in zip(fast[kept].tolist(), self.digit_predictions(proba[kept, :10], [FRAME_BOX] * len(kept))):
                results[i] = one_line(ReadResult.read(f"<image {i}>", [digit]))
            for i, mark in zip(np.setdiff1d(fast, fast[kept]).tolist(), rejected):
                results[i] = ReadResult.read(f"<image {i}>", [], rejected=[mark])
        for i, result in enumerate(results):
            if result is None:
                results[i] = self.read(scaled[i])
                results[i].input = f"<image {i}>"
        return results

    def digit_predictions(self, proba: np.ndarray, boxes: list) -> list[DigitPrediction]:
        """One prediction per row of ``proba`` (k, 10): the digit, its probability, the top k, the box."""
        orders = np.argsort(-proba, axis=1, kind="stable")[:, :self.top_k].tolist()
        return [DigitPrediction(digit=order[0], probability=p[order[0]],
                                top_k=[Candidate(d, p[d]) for d in order], probabilities=p, box=list(box))
                for order, p, box in zip(orders, proba.tolist(), boxes)]
