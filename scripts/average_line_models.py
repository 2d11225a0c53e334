"""Average the weights of line readers trained from the same model, into a new train-lines run folder.

    python scripts/average_line_models.py RUN RUN [RUN ...] --out runs/lines-averaged

Runs of one stage that differ only in their seed (`digitcnn train-lines --preset P --seed S`) start
from the same weights and stay close to them, so the mean of their weights is a model too (a "model
soup", Wortsman et al., 2022). Picking one seed is a draw: the development cheques move one to two
points with the seed alone. In four pairs of runs the mean read 0 to 1.6 points more cheques than its
members did on average, and never fewer than the worse (RESULTS.md, twenty-sixth session). Batch
normalization's moving statistics are averaged with the rest.

The folder is a finished run's (model.keras, model.onnx checked against Keras, metrics.json on the
synthetic test lines, report.html), so that `scripts/ship_line_model.py` ships it; its config.json
is the first run's, with `averaged_from` naming every run and its seed.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from digitcnn.artifacts import RunFolder, read_json, write_json
from digitcnn.config import LineConfig
from digitcnn.train_lines import (
    as_float,
    ctc_loss,
    exact_match,
    finish_line_run,
    load_digits,
    make_lines,
    read_logits,
    training_styles,
)


def average_weights(models) -> list:
    """The element-wise mean of the weights of Keras ``models`` of one architecture."""
    shapes = [[w.shape for w in m.get_weights()] for m in models]
    if any(s != shapes[0] for s in shapes):
        raise SystemExit("the models differ in architecture: expected runs of one preset")
    weights = [m.get_weights() for m in models]
    return [np.mean([w[i] for w in weights], axis=0).astype(weights[0][i].dtype) for i in range(len(weights[0]))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="finished train-lines runs of one preset")
    parser.add_argument("--out", type=Path, required=True, help="the new run folder")
    args = parser.parse_args()
    runs = [RunFolder(path) for path in args.runs]
    for run in runs:
        if not run.model_keras.is_file() or not run.history.is_file():
            raise SystemExit(f"{run.path}: no finished train-lines run there (model.keras, history.json)")
    if len(runs) < 2:
        raise SystemExit("give two runs or more")
    record = read_json(runs[0].config)
    config = LineConfig(**record["config"])
    for run in runs[1:]:
        other = {**read_json(run.config)["config"], "seed": config.seed}
        differ = sorted(name for name, value in other.items() if record["config"].get(name) != value)
        if differ:
            raise SystemExit(f"{run.path} is no run of {runs[0].path}'s stage with another seed: "
                             f"its {', '.join(differ)} differ")

    import keras

    models = [keras.models.load_model(run.model_keras, custom_objects={"ctc_loss": ctc_loss}, compile=False)
              for run in runs]
    averaged = models[0]
    averaged.set_weights(average_weights(models))

    digits = load_digits(config)
    styles = training_styles(config.style, config.mark_share, config.stray_share)
    x_val, _, _, texts_val = make_lines(*digits["val"], config.val_lines, [config.seed, 2], styles, config.width)
    val_exact = exact_match(read_logits(averaged.predict(as_float(x_val), batch_size=256, verbose=0)), texts_val)
    histories = [read_json(run.history) for run in runs]
    # one "epoch": the members' training time together, their mean loss, the average's validation
    history = {"seconds": [float(sum(sum(h["seconds"]) for h in histories))],
               "loss": [float(np.mean([h["loss"][-1] for h in histories]))],
               "val_exact": [val_exact]}
    out = RunFolder(args.out)
    members = [{"run": str(run.path), "seed": read_json(run.config)["config"]["seed"]} for run in runs]
    write_json(out.config, {**record, "averaged_from": members})
    metrics = finish_line_run(averaged, out, config, digits, as_float(x_val[:64]), history)
    each = ", ".join(f"{max(h['val_exact']):.2%}" for h in histories)
    print(f"{out.path}: the mean of {len(runs)} runs' weights; validation exact match {val_exact:.2%} "
          f"(members {each}); synthetic test {metrics['exact_match']:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
