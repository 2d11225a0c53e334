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
  or apart, separators, dashes, underlines, patterned paper, JPEG): the hardest synthetic set.
Synthetic sets use seeds that no training run draws from.
Then speed, 2 cores: one cheque line in process (median) and the line model alone, for each reader
in turn, and a whole
``digitcnn predict`` of a 12-megapixel phone photo of a number (median of 5 processes).
"""

import argparse
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
            "cheque-like": synthetic_set(LineStyle(), args.count, SYNTHETIC_SEED + 2)}
    if (args.realdev / "cheques").is_dir():
        sets = {"cheques": cheque_set(args.realdev), **sets}
    else:
        print(f"no development cheques at {args.realdev}/cheques: synthetic sets only", file=sys.stderr)
    print(f"{'set':<12} {'numbers':>8} " + " ".join(f"{name:>{max(15, len(name))}}" for name in readers))
    for set_name, cases in sets.items():
        scores = [exact(reader, cases) for reader in readers.values()]
        print(f"{set_name:<12} {len(cases):>8} " + " ".join(f"{score:>{max(15, len(name))}.1%}" for score, name in zip(scores, readers)), flush=True)
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
