"""Accuracy on new, photo-like images: a typical notebook's preprocessing against digitcnn's.

    python benchmarks/new_images.py [--count 1000]

The same generated images (MNIST test digits rendered as dark ink on light or tinted paper,
off-centre, small, rotated, noisy, blurred, JPEG, transparent, thick: see digitcnn.synthetic)
and the same model (models/digitcnn.onnx). The notebook way: grayscale, resize to 28x28,
invert if the image is light, scale to [0, 1].
"""

import argparse
import io
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from digitcnn import DigitReader, data, synthetic
from digitcnn.inference import predict_proba


def notebook_preprocess(raw: bytes) -> np.ndarray:
    gray = np.asarray(Image.open(io.BytesIO(raw)).convert("L").resize((28, 28)), dtype=np.float32) / 255.0
    if gray.mean() > 0.5:
        gray = 1.0 - gray
    return gray[:, :, None]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    (_, _), (x_test, y_test) = data.load_mnist()
    cases = synthetic.make_cases(x_test, y_test, args.count, seed=2026)
    reader = DigitReader()

    notebook = predict_proba(reader.session, np.stack([notebook_preprocess(raw) for raw, _, _ in cases])).argmax(1)
    ours = [reader.read(raw).digits for raw, _, _ in cases]
    per_style = Counter()
    for (_, truth, style), theirs, mine in zip(cases, notebook, ours):
        per_style[style, "notebook"] += str(theirs) == truth
        per_style[style, "digitcnn"] += mine == truth
    total = Counter()
    print(f"{'style':<12} {'notebook':>9} {'digitcnn':>9}")
    for style in synthetic.STYLES:
        n = sum(1 for _, _, s in cases if s == style)
        print(f"{style:<12} {per_style[style, 'notebook'] / n:>9.1%} {per_style[style, 'digitcnn'] / n:>9.1%}")
        total["notebook"] += per_style[style, "notebook"]
        total["digitcnn"] += per_style[style, "digitcnn"]
    print(f"{'all':<12} {total['notebook'] / len(cases):>9.1%} {total['digitcnn'] / len(cases):>9.1%}"
          f"   ({len(cases)} images, same model)")

    numbers = synthetic.make_cases(x_test, y_test, args.count // 5, digits_per_image=(2, 6), seed=2027)
    exact = np.mean([reader.read(raw).digits == truth for raw, truth, _ in numbers])
    print(f"numbers of 2 to 6 digits read exactly: {exact:.1%} ({len(numbers)} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
