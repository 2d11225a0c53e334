"""Fit the temperature that calibrates a line reader's probabilities, on synthetic validation lines.

    python scripts/fit_line_temperature.py runs/lines-round-avg [--preset lines-round] [--lines 4000]

A number is right only when all its digits are, and ``DigitReader`` gives a number the probability
of its least sure digit. The line reader's are too sure: of the development cheques it read at 0.99
or more, 92% were right; at 0.6-0.9, 47%. Its logits divided by a temperature T soften them; T is
the one of ``calibrate.TEMPERATURES`` under which that least-sure probability best predicts whether
a number is read exactly (least negative log-likelihood), over lines drawn from MNIST *validation*
digits in the preset's training styles: never real handwriting. T is written into the run's
metrics.json ("temperature", shipped with it into models/lines-metrics.json), where
``sequence.line_temperature`` finds it; the reading rules still compare the raw probabilities.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from digitcnn.artifacts import RunFolder, read_json, write_json
from digitcnn.calibrate import TEMPERATURES, expected_calibration_error
from digitcnn.config import make_line_config
from digitcnn.sequence import decode, line_logits, load_line_session
from digitcnn.train_lines import (
    as_float,
    digits_of,
    load_digits,
    make_lines,
    training_styles,
)


def least_sure(logits: np.ndarray, temperature: float) -> tuple[str, float]:
    """The greedy reading of one line's ``logits`` (T, 11) under ``temperature``, and its least
    sure digit's probability (0 with no digit)."""
    digits = decode(logits / temperature)
    return "".join(str(d.digit) for d in digits), min((d.probability for d in digits), default=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished train-lines run (its model.onnx and metrics.json)")
    parser.add_argument("--preset", default="lines-round", help="the line preset whose styles the lines are drawn in")
    parser.add_argument("--lines", type=int, default=4000, help="validation lines to fit on")
    args = parser.parse_args()
    run = RunFolder(args.run)
    config = make_line_config(args.preset)
    styles = training_styles(config.style, 0.0, 0.0)  # numbers only: a number's confidence is fitted
    lines, _, _, texts = make_lines(*load_digits(config)["val"], args.lines, [config.seed, 60_000], styles,
                                    config.width)
    session = load_line_session(run.model_onnx)
    logits = np.concatenate([line_logits(session, as_float(lines[i:i + 256])) for i in range(0, len(lines), 256)])
    truth = [digits_of(text) for text in texts]

    def scored(temperature: float) -> tuple[float, float]:
        read = [least_sure(one, temperature) for one in logits]
        right = np.array([digits == want for (digits, _), want in zip(read, truth)], float)
        sure = np.clip(np.array([p for _, p in read]), 1e-6, 1 - 1e-6)
        loss = -float(np.mean(right * np.log(sure) + (1 - right) * np.log(1 - sure)))
        return loss, expected_calibration_error(sure, right)

    grid = TEMPERATURES[(TEMPERATURES >= 0.5) & (TEMPERATURES <= 3.0)]
    losses = [scored(t)[0] for t in grid]
    best = float(grid[int(np.argmin(losses))])
    before, after = scored(1.0)[1], scored(best)[1]
    metrics = read_json(run.metrics)
    write_json(run.metrics, {**metrics, "temperature": round(best, 4), "temperature_lines": len(lines)})
    print(f"{run.metrics}: temperature {best:.3f}; expected calibration error of a number's confidence on "
          f"{len(lines)} synthetic validation lines {before:.2%} -> {after:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
