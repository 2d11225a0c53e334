"""Accuracy on real handwriting that nobody on this project wrote, old reader against new, in one run.

    python benchmarks/real_handwriting.py [--realdev ../shared/data/realdev] [--baseline-ref 405860b]

Three readers on the same images (the development sets of ../shared/data/realdev, described in
its README: phone photos, canvas drawings, small drawings, USPS, optdigits 32x32):
- ``notebook``: the preprocessing of a typical notebook (grayscale, resize to 28x28, invert if
  light, scale to [0, 1]) with today's default model;
- ``previous``: the pipeline (src/digitcnn/imaging.py) and default model (models/digitcnn.onnx) of
  git revision ``--baseline-ref``, loaded from git objects, so nothing old lives in the package;
- ``no-lines``: the working tree's pipeline and default model without the line reader (every mark
  read alone by the digit model), to show that the line reader costs single digits nothing;
- ``digitcnn``: the working tree's pipeline and default models.
An image counts as right when the reader answers exactly its one digit (several marks read as
"111" are wrong). These files are for measuring only: nothing here trains or tunes on them.
"""

import argparse
import importlib.util
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import exported_tree

from digitcnn import DigitReader
from digitcnn.evaluate import REAL_FILE_SETS, load_real_sets
from digitcnn.inference import load_session, predict_proba


def notebook_read(session, source) -> str:
    """A typical notebook: grayscale, resize to 28x28, invert if light, scale to [0, 1]."""
    image = Image.open(io.BytesIO(source)) if isinstance(source, bytes) else Image.fromarray(source)
    gray = np.asarray(image.convert("L").resize((28, 28)), dtype=np.float32) / 255.0
    if gray.mean() > 0.5:
        gray = 1.0 - gray
    return str(int(predict_proba(session, gray[None, :, :, None]).argmax()))


def previous_reader(ref: str, workdir: Path):
    """read(source) -> digits string, with the imaging module and default model of git ``ref``."""
    tree = exported_tree(ref, workdir)
    # Its package under another name, so that its modules' relative imports (imaging's .errors)
    # find their own revision's, beside this tree's digitcnn.
    package = tree / "src" / "digitcnn"
    spec = importlib.util.spec_from_file_location("previous_digitcnn", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    sys.modules["previous_digitcnn"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules["previous_digitcnn"])
    imaging = importlib.import_module("previous_digitcnn.imaging")
    model_path = tree / "models" / "digitcnn.onnx"
    session = load_session(model_path)

    def read(source) -> str:
        try:
            image = imaging.decode_image(source) if isinstance(source, bytes) else source
            digits, _ = imaging.image_to_digits(image)
        except imaging.ImageError:
            return ""
        if len(digits) == 0:
            return ""
        return "".join(str(int(d)) for d in predict_proba(session, digits).argmax(1))

    return read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdev", type=Path, default=ROOT.parent / "shared" / "data" / "realdev")
    parser.add_argument("--baseline-ref", default="405860b",
                        help="git revision whose pipeline and default model are the 'previous' reader")
    parser.add_argument("--model", help="the new reader's model (default: the pretrained default model)")
    parser.add_argument("--only-new", action="store_true", help="measure the new reader alone")
    parser.add_argument("--show-errors", action="store_true", help="list the files the new reader gets wrong")
    args = parser.parse_args()
    if not args.realdev.is_dir():
        print(f"no development data at {args.realdev}", file=sys.stderr)
        return 1

    sets = load_real_sets(args.realdev)
    reader = DigitReader(args.model)
    marks_reader = DigitReader(args.model, line_model=False)
    with tempfile.TemporaryDirectory() as tmp:
        readers = {
            "notebook": lambda source: notebook_read(reader.session, source),
            "previous": previous_reader(args.baseline_ref, Path(tmp)),
            "no-lines": lambda source: marks_reader.read(source).digits,
            "digitcnn": lambda source: reader.read(source).digits,
        }
        if args.only_new:
            readers = {"digitcnn": readers["digitcnn"]}
        print(f"{'set':<12} {'images':>7} " + " ".join(f"{name:>9}" for name in readers))
        for set_name, cases in sets.items():
            scores = {}
            for name, read in readers.items():
                answers = [read(source) for source, _ in cases]
                scores[name] = np.mean([a == truth for a, (_, truth) in zip(answers, cases)])
                if name == "digitcnn" and args.show_errors and set_name in REAL_FILE_SETS:
                    files = sorted(p.name for p in (args.realdev / set_name).iterdir() if p.is_file())
                    for file, answer, (_, truth) in zip(files, answers, cases):
                        if answer != truth:
                            print(f"    {set_name}/{file}: read {answer!r}", file=sys.stderr)
            print(f"{set_name:<12} {len(cases):>7} " + " ".join(f"{scores[n]:>9.1%}" for n in readers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
