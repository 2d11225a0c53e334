"""Reading whole numbers: the digit-by-digit pipeline against the line reader, in one run.

    python benchmarks/read_numbers.py [--realdev ../shared/data/realdev] [--count 500]

Two readers (and any ``--line-models`` to compare), the same default digit model:
- ``digit-by-digit``: ``DigitReader(line_model=False)``, the pipeline before the line reader
  (connected components, one mark per digit);
- ``line reader``: ``DigitReader()``, each line of writing read whole (digitcnn.sequence).
Sets, each answer right only when every digit is (separators aside):
- ``cheques``: the development cheque amounts of ../shared/data/realdev/cheques (real, never
  trained on), label = file name up to the first ``_``;
- ``touching``: numbers of 1-7 MNIST *test* digits that touch or overlap, as drawn on the web
  page's canvas (``linesynth.CANVAS``: plain paper, no dashes);
- ``gaps``: numbers of 2-6 MNIST test digits with gaps, in the ten photo-like styles of
  ``synthetic.render`` (the numbers the digit-by-digit pipeline was measured on);
- ``cheque-like``: numbers of MNIST test digits in the line reader's training style (touching
  or apart, separators, dashes, underlines, patterned paper, JPEG): the hardest synthetic set;
- ``labelled``: numbers of 2-4 MNIST test digits with gaps beside a printed label or unit
  ("Total:", "No.", "kg"...; OpenCV's Hershey fonts, 0.3-0.6 of the digits' height, half to one
  and a half digit heights away, before or after the number), as on a form or a receipt;
- ``separated``: numbers of 3-5 MNIST test digits in two groups with a hand-drawn separator between
  them (a comma, an apostrophe, a point, a colon or a dash, in turn), half on a canvas and half on
  a shaded photo; also the share whose ``text`` is as written ("12,345", "10:30");
- ``dates``: dates in range written with slashes leaning 15-40 degrees (d/m/yy, dd/mm/yy,
  dd/mm/yyyy, yyyy/mm/dd in turn), half on a canvas and half on a shaded photo; also the share
  whose ``text`` is the date as written ("12/05/24").
Synthetic sets use seeds that no training run draws from.
Then speed, 2 cores: one cheque line in process (median) and the line model alone, for each reader
in turn, and a whole
``digitcnn predict`` of a 12-megapixel phone photo of a number (median of 5 processes).
"""

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from predict_speed import per_call

from digitcnn import DigitReader, synthetic
from digitcnn.data import load_mnist
from digitcnn.linesynth import CANVAS, LineStyle, make_line
from digitcnn.sequence import line_input, line_logits
from digitcnn.train_lines import digits_of

SYNTHETIC_SEED = 90_000  # no training or test run of train_lines draws from these seeds


def cheque_set(realdev: Path) -> list[tuple[bytes, str]]:
    files = sorted((realdev / "cheques").glob("*.jpg"))
    return [(p.read_bytes(), p.name.split("_")[0]) for p in files]


def synthetic_set(style: LineStyle, count: int, seed: int) -> list[tuple[bytes, str]]:
    """Numbers of MNIST test digits as PNG photo crops, and their digits."""
    _, (x_test, y_test) = load_mnist()
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(count):
        gray, text = make_line(x_test, y_test, rng, style)
        cases.append((cv2.imencode(".png", gray)[1].tobytes(), digits_of(text)))
    return cases


LABELS = {"before": ["Total:", "Amount", "No.", "Qty", "Price:", "Room", "Page", "Ref"],
          "after": ["kg", "cm", "km", "pcs", "EUR", "mm", "m2", "min"]}
FONTS = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_PLAIN]


def labelled_set(count: int, seed: int) -> list[tuple[bytes, str]]:
    """Numbers of MNIST test digits beside a printed label or unit, as shaded JPEG photos."""
    _, (x_test, y_test) = load_mnist()
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        height = int(rng.integers(60, 110))
        indices = rng.integers(0, len(x_test), 2 + i % 3)
        digits = []
        for index in indices:
            crop = synthetic.crop_to_ink(x_test[index])
            digits.append(cv2.resize(crop, (max(1, round(crop.shape[1] * height / crop.shape[0])), height),
                                     interpolation=cv2.INTER_CUBIC))
        side = "before" if i % 2 == 0 else "after"
        label, font = LABELS[side][int(rng.integers(len(LABELS[side])))], FONTS[int(rng.integers(len(FONTS)))]
        scale = rng.uniform(0.3, 0.6) * height / cv2.getTextSize(label, font, 1.0, 1)[0][1]
        thickness = max(1, round(scale * rng.uniform(1.0, 2.5)))
        (text_width, _), _ = cv2.getTextSize(label, font, scale, thickness)
        gap, spacing = int(rng.uniform(0.5, 1.5) * height), int(0.2 * height)
        number_width = sum(d.shape[1] for d in digits) + spacing * (len(digits) - 1)
        page = np.zeros((3 * height, text_width + gap + number_width + 2 * height), np.uint8)
        left = height + (text_width + gap if side == "before" else 0)
        cv2.putText(page, label, (height if side == "before" else left + number_width + gap, 2 * height), font,
                    scale, 255, thickness, cv2.LINE_AA)
        for digit in digits:
            region = page[height:2 * height, left:left + digit.shape[1]]
            np.maximum(region, digit, out=region)
            left += digit.shape[1] + spacing
        shade = np.linspace(235, rng.uniform(170, 210), page.shape[1], dtype=np.float32)[np.newaxis, :]
        photo = (shade * (1 - page / 255.0) + 40 * page / 255.0).astype(np.uint8)
        cases.append((cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 88])[1].tobytes(),
                      "".join(str(y_test[index]) for index in indices)))
    return cases


SEPARATORS = (",", "'", ".", ":", "-")


def draw_separator(page: np.ndarray, x: int, top: int, separator: str, height: int, pen: int,
                   rng: np.random.Generator) -> None:
    """One separator drawn as a hand writes it, centred on column ``x`` beside digits ``height`` px
    tall whose tops are at row ``top``, into ``page`` (light ink on black)."""
    def at(dx: float, dy: float) -> tuple[int, int]:
        return x + round(dx * height), top + round(dy * height)

    if separator == ",":
        cv2.line(page, at(0.04, 0.85), at(-0.05, rng.uniform(1.1, 1.25)), 255, pen, cv2.LINE_AA)
    elif separator == "'":
        cv2.line(page, at(0.03, -0.02), at(-0.03, rng.uniform(0.18, 0.3)), 255, pen, cv2.LINE_AA)
    elif separator in ".:":
        for level in (0.92,) if separator == "." else (0.35, 0.85):
            cv2.circle(page, at(0, level), max(2, round(0.7 * pen)), 255, -1, cv2.LINE_AA)
    else:
        cv2.line(page, at(-0.13, 0.5), at(0.13, 0.5), 255, pen, cv2.LINE_AA)


def written_groups(groups: list[np.ndarray], draw_between, height: int, canvas: bool, rng: np.random.Generator,
                   x_test: np.ndarray, wide: int = 0) -> bytes:
    """Groups of MNIST test digits (their indices) side by side, ``height`` px tall, with
    ``draw_between(page, x, top)`` drawing what stands in each gap between groups (``wide`` px
    across: the gaps are that much wider); a canvas PNG (``canvas``) or a shaded JPEG photo."""
    page = np.zeros((int(2.2 * height), 12 * height), np.uint8)
    top, left = int(0.6 * height), int(0.3 * height)
    for k, group in enumerate(groups):
        if k:
            gap = int(height * rng.uniform(0.25, 0.45)) + wide
            draw_between(page, left + gap // 2, top)
            left += gap
        for index in group:
            crop = synthetic.crop_to_ink(x_test[index])
            digit = cv2.resize(crop, (max(1, round(crop.shape[1] * height / crop.shape[0])), height),
                               interpolation=cv2.INTER_CUBIC)
            region = page[top:top + height, left:left + digit.shape[1]]
            np.maximum(region, digit, out=region)
            left += digit.shape[1] + int(height * rng.uniform(0.05, 0.2))
    page = page[:, :left + int(0.3 * height)]
    if canvas:
        return cv2.imencode(".png", 255 - page)[1].tobytes()
    shade = np.linspace(230, rng.uniform(170, 210), page.shape[1], dtype=np.float32)[np.newaxis, :]
    photo = (shade * (1 - page / 255.0) + 45 * page / 255.0).astype(np.uint8)
    return cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def separated_set(count: int, seed: int) -> tuple[list[tuple[bytes, str]], list[str]]:
    """Numbers of MNIST test digits in two groups with a separator between them (in turn a comma,
    an apostrophe, a point, a colon and a dash, pen 7-12% of the digits' height), half as canvas
    drawings and half as shaded JPEG photos; the cases and the texts as written."""
    _, (x_test, y_test) = load_mnist()
    rng = np.random.default_rng(seed)
    cases, texts = [], []
    for i in range(count):
        separator, canvas = SEPARATORS[i % len(SEPARATORS)], (i // len(SEPARATORS)) % 2 == 0
        height = int(rng.integers(80, 140) if canvas else rng.integers(60, 110))
        pen = max(3, round(height * rng.uniform(0.07, 0.12)))
        groups = [rng.integers(0, len(x_test), int(rng.integers(1, 3))),
                  rng.integers(0, len(x_test), 2 if separator in ":-" else 3)]
        between = functools.partial(draw_separator, separator=separator, height=height, pen=pen, rng=rng)
        raw = written_groups(groups, between, height, canvas, rng, x_test)
        written = ["".join(str(y_test[index]) for index in group) for group in groups]
        cases.append((raw, "".join(written)))
        texts.append(separator.join(written))
    return cases, texts


DATE_FORMATS = ("%d/%m/%y", "%-d/%-m/%y", "%d/%m/%Y", "%Y/%m/%d")


def draw_slash(page: np.ndarray, x: int, top: int, height: int, pen: int, lean: float, tall: float) -> None:
    """A slash leaning ``lean`` degrees right, ``tall`` times the digits' ``height``, centred on
    column ``x`` beside digits whose tops are at row ``top``, into ``page`` (light ink on black)."""
    over, run = (tall - 1) / 2 * height, np.tan(np.radians(lean)) * tall * height / 2
    cv2.line(page, (round(x + run), round(top - over)), (round(x - run), round(top + height + over)), 255, pen,
             cv2.LINE_AA)


def dated_set(count: int, seed: int) -> tuple[list[tuple[bytes, str]], list[str]]:
    """Dates in range (1950-2029) written with MNIST test digits and slashes, in turn as
    dd/mm/yy, d/m/yy, dd/mm/yyyy and yyyy/mm/dd; each slash a straight stroke leaning 15-40
    degrees (the reader takes strokes from 18 degrees), 1.0-1.2 of the digits' height; half
    canvas drawings, half shaded JPEG photos. The cases (digits) and the texts as written."""
    import datetime

    _, (x_test, y_test) = load_mnist()
    of_class = [np.flatnonzero(y_test == digit) for digit in range(10)]
    rng = np.random.default_rng(seed)
    cases, texts = [], []
    for i in range(count):
        day = datetime.date(1950, 1, 1) + datetime.timedelta(days=int(rng.integers(0, 80 * 365)))
        text = day.strftime(DATE_FORMATS[i % len(DATE_FORMATS)])
        canvas = (i // len(DATE_FORMATS)) % 2 == 0
        height = int(rng.integers(80, 140) if canvas else rng.integers(60, 110))
        pen = max(3, round(height * rng.uniform(0.07, 0.12)))
        lean, tall = rng.uniform(15, 40), rng.uniform(1.0, 1.2)
        slash = functools.partial(draw_slash, height=height, pen=pen, lean=lean, tall=tall)
        groups = [np.array([of_class[int(c)][int(rng.integers(len(of_class[int(c)])))] for c in group])
                  for group in text.split("/")]
        wide = round(np.tan(np.radians(lean)) * tall * height) + pen  # the slash's own width
        cases.append((written_groups(groups, slash, height, canvas, rng, x_test, wide), text.replace("/", "")))
        texts.append(text)
    return cases, texts


def exact(reader: DigitReader, cases) -> float:
    return float(np.mean([reader.read(source).digits == truth for source, truth in cases]))


def number_photo(path: Path) -> None:
    """A 4000x3000 JPEG of a number written big on shaded paper, like a phone photo."""
    _, (x_test, y_test) = load_mnist()
    gray, _ = make_line(x_test, y_test, np.random.default_rng(SYNTHETIC_SEED + 7),
                        LineStyle(digits=(5, 5), line_height=(60, 61), jpeg_share=0.0))
    page = np.full((3000, 4000), 200, np.uint8)
    big = cv2.resize(gray, (2400, round(gray.shape[0] * 2400 / gray.shape[1])), interpolation=cv2.INTER_CUBIC)
    page[1000:1000 + big.shape[0], 800:3200] = big[:2000]
    shade = np.linspace(1.0, 0.7, 4000, dtype=np.float32)[np.newaxis, :]
    cv2.imwrite(str(path), (page * shade).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdev", type=Path, default=ROOT.parent / "shared" / "data" / "realdev")
    parser.add_argument("--count", type=int, default=500, help="synthetic numbers per style")
    parser.add_argument("--show-errors", action="store_true", help="list the cheques the line reader gets wrong")
    parser.add_argument("--line-models", nargs="*", type=Path, default=[], metavar="RUN",
                        help="also read with these line readers (train-lines run folders or .onnx files), "
                             "each in a column named as given")
    args = parser.parse_args()

    readers = {"digit-by-digit": DigitReader(line_model=False), "line reader": DigitReader(),
               **{str(path): DigitReader(line_model=path) for path in args.line_models}}
    _, (x_test, y_test) = load_mnist()
    sets = {"touching": synthetic_set(CANVAS, args.count, SYNTHETIC_SEED),
            "gaps": [(raw, truth) for raw, truth, _ in synthetic.make_cases(
                x_test, y_test, args.count, digits_per_image=(2, 6), seed=SYNTHETIC_SEED + 1)],
            "cheque-like": synthetic_set(LineStyle(), args.count, SYNTHETIC_SEED + 2),
            "labelled": labelled_set(args.count, SYNTHETIC_SEED + 3)}
    sets["separated"], separated_texts = separated_set(args.count, SYNTHETIC_SEED + 4)
    sets["dates"], dated_texts = dated_set(args.count, SYNTHETIC_SEED + 5)
    if (args.realdev / "cheques").is_dir():
        sets = {"cheques": cheque_set(args.realdev), **sets}
    else:
        print(f"no development cheques at {args.realdev}/cheques: synthetic sets only", file=sys.stderr)
    print(f"{'set':<12} {'numbers':>8} " + " ".join(f"{name:>{max(15, len(name))}}" for name in readers))
    for set_name, cases in sets.items():
        scores = [exact(reader, cases) for reader in readers.values()]
        print(f"{set_name:<12} {len(cases):>8} " + " ".join(f"{score:>{max(15, len(name))}.1%}" for score, name in zip(scores, readers)), flush=True)
    as_written = np.mean([readers["line reader"].read(source).text == text
                          for (source, _), text in zip(sets["separated"], separated_texts)])
    print(f"separated: text as written (separators included), line reader: {as_written:.1%}")
    dates_written = np.mean([readers["line reader"].read(source).text == text
                             for (source, _), text in zip(sets["dates"], dated_texts)])
    print(f"dates: text as written (slashes included), line reader: {dates_written:.1%}")
    if args.show_errors and "cheques" in sets:
        files = sorted((args.realdev / "cheques").glob("*.jpg"))
        for path, (source, truth) in zip(files, sets["cheques"]):
            result = readers["line reader"].read(source)
            if result.digits != truth:
                print(f"    {path.name}: read {result.text!r}", file=sys.stderr)

    sample = (sets.get("cheques") or sets["touching"])[len(sets["touching"]) // 2][0]
    gray = cv2.imdecode(np.frombuffer(sample, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    line = line_input(gray)[np.newaxis, :, :, np.newaxis]
    print("\none cheque line read in process, median of 50: the whole read; the line model alone")
    for name, each in readers.items():  # one reader after the other, in the same run
        session = each.line_session
        model_alone = (f"; {1000 * per_call(lambda s=session: line_logits(s, line), 50):.2f} ms"
                       if session is not None else "")
        print(f"  {name:<15} {1000 * per_call(lambda r=each: r.read(sample), 50):.2f} ms{model_alone}")
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "number.jpg"
        number_photo(photo)
        command = [str(Path(sys.executable).parent / "digitcnn"), "predict", str(photo)]
        times, answer = [], ""
        for _ in range(5):
            started = time.perf_counter()
            answer = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
            times.append(time.perf_counter() - started)
        print(f"digitcnn predict of a 12 MP number photo: {statistics.median(times):.2f} s (median of 5); "
              f"answer: {answer.split(': ', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
