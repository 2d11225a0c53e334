"""Probe: how models read writing conventions that MNIST lacks, drawn on MNIST *test* digits.

    python scripts/conventions_probe.py [--count 500] MODEL [MODEL...]

MODEL is a .onnx file or a run folder ("default" for the shipped model). Each convention is drawn on
the first ``--count`` test digits of its class at 56x56 and brought to the MNIST convention with
``imaging.to_mnist``, as ``augment.vary`` does for training; the probe prints, per model, the share
read right and the share refused as not a digit (``models.REFUSE_ABOVE``). Some conventions are the
training's own (the bar, the hook, the flag), so a model trained with them is expected to read
them; the others (a slashed 0, a 0 written as a box) are what a writer may bring that training
may not have.
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from digitcnn import augment, data
from digitcnn.imaging import to_mnist
from digitcnn.inference import load_session, predict_proba
from digitcnn.models import REFUSE_ABOVE

SIDE = 28 * augment.UPSCALE


def slashed_zero(big: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 0 crossed by a stroke from its top right to its bottom left, a little beyond the ring."""
    rows, cols = np.nonzero(big > 0.5)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    reach = rng.uniform(0.0, 0.15)
    out = big.copy()
    cv2.line(out, (int(right + reach * (right - left)), int(top - reach * (bottom - top))),
             (int(left - reach * (right - left)), int(bottom + reach * (bottom - top))), 1.0,
             augment.stroke_width(big), cv2.LINE_AA)
    return out


def box_zero(big: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 0 written as a box 1.3 to 2.2 times as tall as wide, corners a little off, turned up to 10
    degrees; the MNIST digit only gives the pen width."""
    height = rng.uniform(30, 44)
    width = height / rng.uniform(1.3, 2.2)
    corners = np.array([[-width, -height], [width, -height], [width, height], [-width, height]]) / 2
    corners += rng.normal(0, 1.0, corners.shape)
    angle = np.deg2rad(rng.uniform(-10, 10))
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    out = np.zeros_like(big)
    cv2.polylines(out, [(corners @ turn.T + SIDE / 2).astype(np.int32)], True, 1.0, augment.stroke_width(big),
                  cv2.LINE_AA)
    return out


def roomy(draw):
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
    for seed, (convention, (digit, draw)) in enumerate(CONVENTIONS.items()):
        batch = frames(x_test[y_test == digit][:args.count], draw, seed)
        cells = []
        for session in sessions.values():
            proba = predict_proba(session, batch)
            refused = proba[:, 10] > REFUSE_ABOVE if proba.shape[1] > 10 else np.zeros(len(proba), bool)
            right = (proba[:, :10].argmax(axis=1) == digit) & ~refused
            cells.append(f"{right.mean():.1%} / {refused.mean():.1%}")
        print(f"| {convention} ({len(batch)}) | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
