"""Speed on the inputs people send: canvas drawings and phone photos, this tree against the previous one.

    python benchmarks/real_input_speed.py [--repeats 7] [--baseline-ref 405860b]

Measured side by side in one run, each reader in its own process (the previous revision's
src/ and models/ are exported from git into a temporary folder):
1. in process, warm: DigitReader.read of 560x280 RGBA canvas PNGs as the web page posts them
   (median ms per image) and of 2000x1500 phone-style JPEGs;
2. a whole `digitcnn predict photo.jpg` of a 12-megapixel phone JPEG: wall seconds and peak
   resident memory (median of --repeats).
Targets (issue 11, 2 cores): canvas <= 2 ms in process; whole 12 MP predict <= 0.3 s, <= 150 MB.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from predict_speed import process_cost
from serve_load import exported_tree

from digitcnn import data, synthetic

IN_PROCESS = """
import sys, time, statistics
from pathlib import Path
from digitcnn import DigitReader
reader = DigitReader()
for folder in sys.argv[1:]:
    bodies = [p.read_bytes() for p in sorted(Path(folder).iterdir())]
    for body in bodies[:5]:
        reader.read(body)
    times = []
    for _ in range(3):
        for body in bodies:
            started = time.perf_counter()
            reader.read(body)
            times.append(time.perf_counter() - started)
    print(f"{statistics.median(times) * 1000:.2f}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline-ref", default="405860b")
    args = parser.parse_args()
    (_, _), (x_test, _) = data.load_mnist()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        previous = exported_tree(args.baseline_ref, tmp / "previous")
        for name, make, count in (("canvas", synthetic.canvas_drawing, 50),
                                  ("photo", lambda d, r: synthetic.phone_photo(d, r, (2000, 1500)), 10)):
            (tmp / name).mkdir()
            for i in range(count):
                (tmp / name / f"{i:03d}").write_bytes(make(x_test[i], rng))
        photo12 = tmp / "photo12.jpg"
        photo12.write_bytes(synthetic.phone_photo(x_test[0], rng))

        trees = {"digitcnn": ROOT / "src", f"previous ({args.baseline_ref})": previous / "src"}
        medians = {}
        for name, src in trees.items():
            env = {"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}
            out = subprocess.run([sys.executable, "-c", IN_PROCESS, str(tmp / "canvas"), str(tmp / "photo")],
                                 capture_output=True, text=True, env=env, cwd=src.parent, check=True).stdout.split()
            runs = [process_cost(["-m", "digitcnn", "predict", str(photo12)], env=env, cwd=src.parent)
                    for _ in range(args.repeats)]
            medians[name] = (float(out[0]), float(out[1]), statistics.median(r[0] for r in runs),
                             max(r[1] for r in runs))
        print(f"{'':<22} {'canvas ms':>10} {'2000x1500 JPEG ms':>18} {'12 MP predict s':>16} {'peak MB':>8}")
        for name, (canvas, photo, wall, peak) in medians.items():
            print(f"{name:<22} {canvas:>10.2f} {photo:>18.1f} {wall:>16.3f} {peak:>8.0f}")
        ours, theirs = medians["digitcnn"], medians[f"previous ({args.baseline_ref})"]
        print(f"ratios: canvas {theirs[0] / ours[0]:.1f}x quicker, 2000x1500 JPEG {theirs[1] / ours[1]:.1f}x, "
              f"12 MP predict {theirs[2] / ours[2]:.1f}x quicker in {theirs[3] / ours[3]:.1f}x less memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
