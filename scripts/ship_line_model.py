"""Copy a finished train-lines run's model into models/ (atomically), where DigitReader finds it.

    python scripts/ship_line_model.py runs/lines [--to models]

models/lines.onnx is the line reader; models/lines-metrics.json its metrics (synthetic exact
match, training time), for the server's /model page and the README; models/LINES_CARD.md its card,
written from the run's config.json and metrics.json, as MODEL_CARD.md is for the digit model.
"""

import argparse
import math
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from digitcnn.artifacts import RunFolder, read_json, write_bytes, write_text
from digitcnn.sequence import CLASSES, DOWNSAMPLE, LINE_HEIGHT, load_line_session
from digitcnn.train_lines import LOGIT_TOLERANCE


def parameters(onnx_path: Path) -> int:
    """The number of weights in an ONNX file (its initializers)."""
    import onnx

    return sum(math.prod(init.dims) for init in onnx.load(str(onnx_path)).graph.initializer)


def card(run: RunFolder, name: str) -> str:
    """The line reader's card (Markdown) from a finished run folder."""
    record, metrics = read_json(run.config), read_json(run.metrics)
    config = record["config"]
    per_style = ", ".join(f"{style} {m['exact_match']:.1%}" for style, m in metrics["test"].items())
    by_digits = "; ".join(f"{style} " + " / ".join(f"{share:.0%}" for share in m["by_digits"].values())
                          + f" for {min(m['by_digits'], key=int)}-{max(m['by_digits'], key=int)} digits"
                          for style, m in metrics["test"].items())
    start = f"continuing `{config['init_from']}` (the stage before)" if config.get("init_from") else "from scratch"
    if record.get("averaged_from"):  # scripts/average_line_models.py: the mean of several seeds' runs
        seeds = ", ".join(str(member["seed"]) for member in record["averaged_from"])
        start += f"; the mean of the weights of {len(record['averaged_from'])} such runs, seeds {seeds}"
    calibration = (f"its probabilities softened by a temperature of {metrics['temperature']:.3f}, fitted on "
                   f"{metrics['temperature_lines']:,} synthetic validation lines (`scripts/fit_line_temperature.py`)"
                   if "temperature" in metrics else "none: its raw probabilities")
    return f"""# digitcnn line reader

The model that reads a whole line of writing (a number, touching digits and all) for `digitcnn
predict`, the Python API and the web page; `--no-line-reader` (`DigitReader(line_model=False)`)
reads digit by digit instead.

| | |
|---|---|
| file | `{name}` (ONNX Runtime, float32; {parameters(run.model_onnx):,} weights; checked against Keras to {metrics['onnx_max_abs_diff']:.1e}, within {LOGIT_TOLERANCE:g} of the largest logit) |
| input | float32 (N, {LINE_HEIGHT}, W, 1) in [0, 1]: one line, light ink on black, digits about 24 px high, W a multiple of {DOWNSAMPLE} (`sequence.line_input`) |
| output | float32 (N, W / {DOWNSAMPLE}, {CLASSES}) logits per {DOWNSAMPLE} columns: CTC's blank, then the digits 0-9; decoded greedily in NumPy (`sequence.decode`) |
| architecture | convolutions to {config['features']} features, bidirectional GRU layers: {config['recurrent_layers']}, of {config['recurrent_units']} units each, dropout {config['dropout']} (`train_lines.build_line_model`) |
| data | synthetic lines only, drawn from MNIST *training* digits (`digitcnn.linesynth`, style `{config['style']}`, {config['mark_share']:.0%} of them marks that are not digits, read as nothing); validation lines from MNIST's validation digits, test lines from MNIST *test* digits; no real handwriting |
| recipe | preset `{config['preset']}`: {config['lines']:,} lines, epochs {config['epochs']}, batch {config['batch_size']}, Adam {config['learning_rate']:g}, seed {config['seed']}, {start} |
| synthetic test exact match | **{metrics['exact_match']:.1%}** over {sum(m['lines'] for m in metrics['test'].values()):,} lines ({per_style}) |
| by number length | {by_digits} |
| validation exact match | {metrics['validation_exact_match']:.1%} (best epoch {metrics['best_epoch']}) |
| calibration | {calibration} |
| trained with | `digitcnn train-lines` on {record['machine']['cpus']} CPU cores ({record['machine']['platform']}); {metrics['train_seconds'] / 60:.1f} min of training in this stage |
| versions | {', '.join(f'{k} {v}' for k, v in record['versions'].items())} |
| made | {date.today().isoformat()} |

Reproduce it with `make lines-model` (its first stage needs a GPU: the Makefile says how it was made).
Real handwriting is measured, never trained on: `benchmarks/read_numbers.py` reads the development
cheques and synthetic numbers of MNIST test digits with it, and benchmarks/RESULTS.md records each
stage's readings, the shipped one's and those measured and not kept.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, nargs="?", default=Path("runs/lines"), help="a finished train-lines run")
    parser.add_argument("--to", type=Path, default=ROOT / "models", help="the models folder to ship into")
    args = parser.parse_args()
    run = RunFolder(args.run)
    load_line_session(run.model_onnx)  # refuses anything but a line reader
    write_bytes(args.to / "lines.onnx", run.model_onnx.read_bytes())
    write_bytes(args.to / "lines-metrics.json", run.metrics.read_bytes())
    write_text(args.to / "LINES_CARD.md", card(run, "lines.onnx"))
    print(f"{args.to / 'lines.onnx'} <- {run.model_onnx}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
