"""Probe: how models read writing conventions that MNIST lacks, drawn on MNIST *test* digits.

    python scripts/conventions_probe.py [--count 500] MODEL [MODEL...]

MODEL is a .onnx file or a run folder ("default" for the shipped model). Each convention is drawn on
the first ``--count`` test digits of its class at 56x56 (the hooked 9 with room around it) and
brought to the MNIST convention with ``imaging.to_mnist``, as ``augment.vary`` does for training;
the probe prints, per model, the share read right and the share refused as not a digit
(``models.REFUSE_ABOVE``). Some conventions are the training's own (the bar, the hook, the flag), so
a model trained with them is expected to read them; the others (a slashed 0, a 0 written as a box)
are what a writer may bring that training may not have.
"""

import argparse
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from digitcnn import augment, data
from digitcnn.imaging import to_mnist
from digitcnn.inference import load_session, predict_proba
from digitcnn.models import refused

SIDE = 28 * augment.UPSCALE


def slashed_zero(big: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 0 crossed by a stroke from top right to bottom left, from a little beyond the ring on one
    side to a little beyond it on the other. ``big`` (H, W) float in [0, 1], ink bright."""
    rows, cols = np.nonzero(big > 0.5)
    if len(rows) == 0:
        return big
    pen = augment.stroke_width(big)
    centre = np.array([cols.mean(), rows.mean()])
    along = np.array([1.0, -1.0]) / np.sqrt(2)  # up and to the right (rows grow downwards)
    offsets = np.stack([cols, rows], axis=1) - centre
    on_line = np.abs(offsets @ np.array([1.0, 1.0]) / np.sqrt(2)) <= pen  # ink the diagonal crosses
    reach = rng.uniform(0.0, 0.15) * (rows.max() - rows.min())
    ends = [centre + along * (offsets[on_line] @ along).max() + along * reach,
            centre + along * (offsets[on_line] @ along).min() - along * reach]
    out = big.copy()
    cv2.line(out, tuple(int(v) for v in ends[0]), tuple(int(v) for v in ends[1]), 1.0, pen, cv2.LINE_AA)
    return out


def box_zero(big: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 0 written as a box 1.3 to 2.2 times as tall as wide, corners a little off, turned up to 10
    degrees, in the middle of ``big`` (H, W) float in [0, 1]; the MNIST digit only gives the pen width."""
    height = rng.uniform(30, 44)
    width = height / rng.uniform(1.3, 2.2)
    corners = np.array([[-width, -height], [width, -height], [width, height], [-width, height]]) / 2
    corners += rng.normal(0, 1.0, corners.shape)
    angle = np.deg2rad(rng.uniform(-10, 10))
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    middle = np.array([big.shape[1], big.shape[0]]) / 2
    out = np.zeros_like(big)
    cv2.polylines(out, [(corners @ turn.T + middle).astype(np.int32)], True, 1.0, augment.stroke_width(big),
                  cv2.LINE_AA)
    return out


def roomy(draw):
    """``draw`` on the digit with augment.HOOK_ROOM px of paper on every side, as augment.vary gives
    the hook of a 9 room below and on the left (the frame is then 84x84)."""
    return lambda big, rng: draw(np.pad(big, augment.HOOK_ROOM), rng)


CONVENTIONS = {  # name: (digit, drawing)
    "plain 0": (0, lambda big, rng: big),
    "slashed 0": (0, slashed_zero),
    "0 as a box": (0, box_zero),
    "plain 1": (1, lambda big, rng: big),
    "flagged 1": (1, augment.flag_one),
    "plain 7": (7, lambda big, rng: big),
    "barred 7": (7, augment.cross_seven),
    "plain 9": (9, lambda big, rng: big),
    "hooked 9": (9, roomy(augment.hook_nine)),
}


def frames(images: np.ndarray, draw, seed: int) -> np.ndarray:
    """MNIST digits (N, 28, 28) uint8 -> the convention drawn, as model input (N, 28, 28, 1) float32."""
    rng = np.random.default_rng(seed)
    out = []
    for image in images:
        big = cv2.resize(image.astype(np.float32) / 255, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)
        big = np.clip(draw(big, rng), 0.0, 1.0)
        out.append(to_mnist(big, big > 0.3)[0])
    return np.stack(out)[..., np.newaxis]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help='.onnx files or run folders; "default" for the shipped model')
    parser.add_argument("--count", type=int, default=500, help="test digits per convention")
    args = parser.parse_args()
    _, (x_test, y_test) = data.load_mnist()
    sessions = {name: load_session(None if name == "default" else name) for name in args.models}
    print("| convention (MNIST test digits) | " + " | ".join(f"{name}: right / refused" for name in sessions) + " |")
    print("|---|" + "---|" * len(sessions))
    for convention, (digit, draw) in CONVENTIONS.items():
        # each convention's own seed, so that adding one leaves the others' drawings as they were
        batch = frames(x_test[y_test == digit][:args.count], draw, zlib.crc32(convention.encode()))
        cells = []
        for session in sessions.values():
            proba = predict_proba(session, batch)
            not_digits = refused(proba)
            right = (proba[:, :10].argmax(axis=1) == digit) & ~not_digits
            cells.append(f"{right.mean():.1%} / {not_digits.mean():.1%}")
        print(f"| {convention} ({len(batch)}) | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
