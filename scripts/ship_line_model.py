"""Copy a finished train-lines run's model into models/ (atomically), where DigitReader finds it.

    python scripts/ship_line_model.py runs/lines

models/lines.onnx is the line reader; models/lines-metrics.json its metrics (synthetic exact
match, training time), for the model card and the README.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from digitcnn.artifacts import RunFolder, write_bytes
from digitcnn.sequence import load_line_session


def main() -> int:
    run = RunFolder(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/lines"))
    load_line_session(run.model_onnx)  # refuses anything but a line reader
    write_bytes(ROOT / "models" / "lines.onnx", run.model_onnx.read_bytes())
    write_bytes(ROOT / "models" / "lines-metrics.json", run.metrics.read_bytes())
    print(f"models/lines.onnx <- {run.model_onnx}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
