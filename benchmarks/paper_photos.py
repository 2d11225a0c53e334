"""Digits photographed on paper as people photograph it, this tree against the previous one.

    python benchmarks/paper_photos.py [--count 300] [--baseline-ref 53c39cd]

The same phone-style JPEGs of the first ``--count`` MNIST *test* digits, read by this tree's
`DigitReader` and by the previous revision's (its src/ and models/ exported from git), each in its
own process: 1000x750 photos of plain, ruled and squared paper (`synthetic.phone_photo`: light
blue-grey lines tilted up to 3 degrees, shaded paper), the plain sheet seen on a dark desk,
filling 40-90% of the picture's height (`synthetic.on_a_desk`) or, a card or a sticky note
further away, 25-40% of it (pictures up to 4000x3000), plain paper with the shadow
of the phone or a hand across the digit (`synthetic.shadow_across`), the sheet photographed at
an angle, wedges of desk beside it (`synthetic.at_an_angle`), and the page in a room's dim light,
dark all round and noisy (`phone_photo(dim=True)`). Reports the share read exactly right and the
median time of a read. Nothing here is real handwriting: these are MNIST digits on paper the
project draws, to measure five failures on their own (printed lines taken for ink; a dark desk
taken for the page, the sheet for ink; a page in a shadow or in dim light taken for a dark page,
its paper for ink; the desk's wedges taken for strokes).
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import exported_tree

from digitcnn import data, synthetic

NOTEBOOK = ("plain", "ruled", "squared")  # synthetic.phone_photo's papers
PAPERS = (*NOTEBOOK, "on a desk", "small on a desk", "in a shadow", "at an angle", "in dim light")  # the rest on plain paper

READ = """
import sys, time, statistics
from pathlib import Path
from digitcnn import DigitReader
reader = DigitReader()
for folder in sys.argv[1:]:
    right, times = 0, []
    for path in sorted(Path(folder).iterdir()):
        body = path.read_bytes()
        started = time.perf_counter()
        digits = reader.read(body).digits
        times.append(time.perf_counter() - started)
        right += digits == path.name.split("_")[1]
    print(right, len(times), statistics.median(times) * 1000)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--baseline-ref", default="53c39cd")
    args = parser.parse_args()
    (_, _), (x_test, y_test) = data.load_mnist()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folders = []
        for paper in PAPERS:
            rng = np.random.default_rng(2027)
            (tmp / paper).mkdir()
            for i in range(args.count):
                photo = synthetic.phone_photo(x_test[i], rng, (1000, 750), paper=paper if paper in NOTEBOOK else "plain",
                                              shadow=paper == "in a shadow", dim=paper == "in dim light")
                if paper == "on a desk":
                    photo = synthetic.on_a_desk(photo, rng, rng.uniform(0.4, 0.9))
                if paper == "small on a desk":  # a card or a sticky note, photographed from further away
                    photo = synthetic.on_a_desk(photo, rng, rng.uniform(0.25, 0.4))
                if paper == "at an angle":
                    photo = synthetic.at_an_angle(photo, rng)
                (tmp / paper / f"{i:04d}_{y_test[i]}").write_bytes(photo)
            folders.append(str(tmp / paper))
        previous = exported_tree(args.baseline_ref, tmp / "previous")
        trees = {"digitcnn": ROOT / "src", f"previous ({args.baseline_ref})": previous / "src"}
        rows = {}
        for name, src in trees.items():
            out = subprocess.run([sys.executable, "-c", READ, *folders], capture_output=True, text=True,
                                 env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}, cwd=src.parent,
                                 check=True).stdout.splitlines()
            rows[name] = [line.split() for line in out]
        print(f"{args.count} MNIST test digits photographed on each paper: read right, median ms")
        print(f"{'':<22}" + "".join(f"{paper:>20}" for paper in PAPERS))
        for name, results in rows.items():
            print(f"{name:<22}" + "".join(f"{int(r) / int(n):>12.1%} {float(ms):>5.1f} ms" for r, n, ms in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
