"""Trust, old model against new, in one run: calibration (ECE) and accuracy per set, and how many
non-digit marks are refused against how many real digits are.

    python benchmarks/trust.py [--realdev ../shared/data/realdev] [--baseline-ref 405860b]

Sets, each read through the working tree's preprocessing so that only the models differ:
- MNIST test (10,000 digits);
- the real development digits of ../shared/data/realdev (photo, drawn, tiny, USPS, optdigits32);
- non-digit marks: ``digitcnn.nondigits.make_set(1200, seed)`` with seeds 50000 and 50001, which
  no training or choice used (the default model's 24,000 training marks are chunks of 2,000 seeded
  10000-10011, its validation's 1,200 seed 20000; the selection marks 40000-40001): dots, dashes,
  underlines, scribbles, zigzags, stars, boxes, triangles, crosses, smileys, arrows, letters and symbols
  (the kinds the model trains on: ``benchmarks/doodles.py`` measures doodles it never saw).
ECE: 15 bins of the probability of the digit answered, with a bootstrap 90% interval (2,000
resamples; resampling inflates a near-zero ECE, so such an interval may sit just above it): on the
58 photos one confident mistake moves the ECE by about two points. A 10-class model refuses nothing; the
trade-off curve shows, for thresholds on the "not a digit" probability, both refusal shares.
The marks are also read as pictures, whole, by DigitReader with and without the line reader (and
any ``--line-models``): a mark stretched 2:1 may look like a line of touching digits to a line reader.
``--mark-seeds 40000 40001 --pictures-only`` is the selection run that line models and reading
rules are chosen on, so that the report's own marks stay unseen; ``--refuse-above 0.8 0.5 ...``
adds the threshold on p(not a digit) that it was chosen with.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path
from unittest import mock

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import exported_tree

from digitcnn import DigitReader, data, nondigits, predict
from digitcnn.augment import map_chunks
from digitcnn.calibrate import ece_interval, expected_calibration_error
from digitcnn.evaluate import load_real_sets, single_digit_frames
from digitcnn.inference import default_model_path, load_session, predict_proba
from digitcnn.models import NOT_A_DIGIT, REFUSE_ABOVE, refused


def mark_picture(mark: np.ndarray, stretch: int) -> bytes:
    """A mark (28, 28) in [0, 1] as a PNG of dark ink on white paper, 112 px high, ``stretch`` times as wide."""
    big = cv2.resize(mark, (112 * stretch, 112), interpolation=cv2.INTER_LINEAR)
    paper = np.pad(np.round(255 - big * 255).astype(np.uint8), 30, constant_values=255)
    return cv2.imencode(".png", paper)[1].tobytes()


def read_pictures(pictures: list[bytes], readers: dict) -> None:
    """The marks' pictures (square, stretched 2:1, in turn) read whole: the share answered no digit."""
    print(f"\nthe same {len(pictures) // 2} marks as pictures, each 112 px square and again stretched 2:1, read "
          "whole by this revision's DigitReader: answered no digit")
    for reader_name, reader in readers.items():
        no_digit = np.array([reader.read(picture).digits == "" for picture in pictures])
        print(f"  {reader_name:<22} {no_digit.mean():.2%} (square {no_digit[0::2].mean():.2%}, "
              f"stretched {no_digit[1::2].mean():.2%})", flush=True)


def picture_trade_off(pictures: list[bytes], reader: DigitReader, thresholds: list[float]) -> None:
    """For each threshold on p(not a digit): the marks' pictures answered no digit by ``reader`` (the
    default models) and the MNIST validation digits (the default model's split) refused. Run on the
    selection marks, this is how REFUSE_ABOVE was chosen."""
    config = json.loads((ROOT / "models" / "config.json").read_text())["config"]
    (x_train, y_train), _ = data.load_mnist()
    _, validation = data.stratified_split(y_train, config["validation_fraction"], config["seed"])
    p_validation = predict_proba(reader.session, data.preprocess(x_train[validation]))
    print(f"\nthreshold on p(not a digit): the {len(pictures)} pictures of the marks answered no digit / "
          f"{len(validation)} MNIST validation digits refused")
    for threshold in thresholds:
        with mock.patch.object(predict, "REFUSE_ABOVE", threshold):  # the reader's gate, for this row only
            no_digit = np.mean([reader.read(picture).digits == "" for picture in pictures])
        chosen = " (chosen)" if threshold == REFUSE_ABOVE else ""
        print(f"  {threshold:.2f}: {no_digit:.2%} / {refused(p_validation, threshold).mean():.3%}{chosen}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdev", type=Path, default=ROOT.parent / "shared" / "data" / "realdev")
    parser.add_argument("--baseline-ref", default="405860b")
    parser.add_argument("--mark-seeds", nargs=2, type=int, default=[50_000, 50_001],
                        help="seeds of the two halves of the marks; 40000 40001 is the selection set that "
                             "reading rules and line models are chosen on (this report's own marks stay unseen)")
    parser.add_argument("--line-models", nargs="*", type=Path, default=[], metavar="RUN",
                        help="also read the marks as pictures with these line readers (run folders or .onnx)")
    parser.add_argument("--pictures-only", action="store_true",
                        help="only the marks read as pictures (when choosing a line model or a rule)")
    parser.add_argument("--refuse-above", nargs="+", type=float, default=[], metavar="T",
                        help="with --pictures-only: the pictures read again with each threshold on "
                             "p(not a digit), beside the MNIST validation digits it refuses")
    args = parser.parse_args()
    if args.refuse_above and not args.pictures_only:
        parser.error("--refuse-above goes with --pictures-only")

    marks, kinds = map_chunks(nondigits.make_set, [(1200, seed) for seed in args.mark_seeds])
    readers = {"digit model only": DigitReader(line_model=False), "with the line reader": DigitReader(),
               **{f"with {path}": DigitReader(line_model=path) for path in args.line_models}}
    pictures = [mark_picture(mark, stretch) for mark in marks for stretch in (1, 2)]
    if args.pictures_only:
        read_pictures(pictures, readers)
        if args.refuse_above:
            picture_trade_off(pictures, readers["with the line reader"], args.refuse_above)
        return 0
    (_, _), (x_test, y_test) = data.load_mnist()
    sets = {"MNIST test": (data.preprocess(x_test), y_test)}
    if args.realdev.is_dir():
        for name, cases in load_real_sets(args.realdev).items():
            sets[name] = single_digit_frames(cases)

    with tempfile.TemporaryDirectory() as tmp:
        old_path = exported_tree(args.baseline_ref, Path(tmp)) / "models" / "digitcnn.onnx"
        models = {f"previous ({args.baseline_ref})": load_session(old_path), "digitcnn": load_session(default_model_path())}
        print(f"{'set':<12} {'model':<20} {'accuracy':>9} {'ECE':>7} {'ECE 90% interval':>17} {'refused':>8}")
        for set_name, (images, labels) in sets.items():
            for model_name, session in models.items():
                proba = predict_proba(session, images)
                digits = proba[:, :10]
                kept = ~refused(proba)
                right = (digits.argmax(axis=1) == labels) & kept
                confidence, correct = digits.max(axis=1), digits.argmax(axis=1) == labels
                ece = expected_calibration_error(confidence, correct)
                low, high = ece_interval(confidence, correct)
                interval = f"{low:.2%}-{high:.2%}"
                print(f"{set_name:<12} {model_name:<20} {right.mean():>9.2%} {ece:>7.2%} {interval:>17} "
                      f"{1 - kept.mean():>8.2%}")
        print(f"\nnon-digit marks ({len(marks)}, {len(nondigits.KINDS)} kinds): refused")
        for model_name, session in models.items():
            proba = predict_proba(session, marks[..., np.newaxis])
            by_kind = ", ".join(f"{k} {refused(proba[kinds == k]).mean():.0%}" for k in nondigits.KINDS)
            confident = (proba[:, :10].max(axis=1) > 0.6).mean()
            print(f"  {model_name:<20} {refused(proba).mean():.2%} ({by_kind}); answered a digit with p > 0.6: "
                  f"{confident:.1%}")
        read_pictures(pictures, readers)
        new = models["digitcnn"]
        real = np.concatenate([sets[name][0] for name in sets if name != "MNIST test"] or [sets["MNIST test"][0]])
        p_real, p_marks = predict_proba(new, real), predict_proba(new, marks[..., np.newaxis])
        if p_real.shape[1] > NOT_A_DIGIT:
            print("\ntrade-off of the new model (threshold on p(not a digit)): marks refused / real digits refused")
            for threshold in sorted({0.3, 0.5, 0.7, 0.8, 0.9, 0.95, REFUSE_ABOVE}):
                chosen = " (chosen)" if threshold == REFUSE_ABOVE else ""
                print(f"  {threshold:.2f}: {refused(p_marks, threshold).mean():.2%} / "
                      f"{refused(p_real, threshold).mean():.2%}{chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
