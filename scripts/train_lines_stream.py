"""Train line readers on a stream of synthetic lines drawn while they train.

``digitcnn train-lines`` draws its lines once, then trains: the right order on two cores. On a
machine with many cores and an accelerator the drawing is what limits, so here every core but two
keeps drawing new lines (``linesynth``, from MNIST *training* digits only) while the models train
on all the lines drawn so far, sampled at random, until a wall-clock budget runs out. Several
models train side by side (for example the shipped architecture from its last stage, and a larger
one from scratch). Any Keras backend; it was run with JAX on a lent H100 (RESULTS.md, eighth session):

    KERAS_BACKEND=jax python scripts/train_lines_stream.py --minutes 8 --out OUT

The shipped reader continued (rebuilt from models/lines.onnx by scripts/line_model_from_onnx.py)
beside a larger one from scratch, as the twenty-fifth session ran it on a lent H200:

    KERAS_BACKEND=jax python scripts/train_lines_stream.py --init-from runs/lines-shipped \
        --models large --learning-rate 3e-4 --style mixed-writers --seed 12 --minutes 7.4 --out OUT

Writes, for each model, OUT/<name>.keras (its best by validation exact match, on lines of MNIST
*validation* digits), and OUT/history.json. Then, here (TensorFlow, for the ONNX export):

    python scripts/train_lines_stream.py --finish OUT/<name>.keras --out runs/lines-<name>

makes of it a run folder like ``digitcnn train-lines`` makes (model.onnx checked against Keras,
metrics.json on synthetic lines of MNIST *test* digits, report.html with the curves), which
``scripts/ship_line_model.py`` ships.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from digitcnn.artifacts import RunFolder, atomic_path, read_json, write_json
from digitcnn.config import LineConfig
from digitcnn.train import TrainError, prepare_out_dir, write_run_record
from digitcnn.train_lines import (
    MAX_DIGITS,
    TRAINING_STYLES,
    _draw_lines,
    as_float,
    build_line_model,
    ctc_loss,
    exact_match,
    finish_line_run,
    keras_file,
    load_digits,
    read_logits,
    training_styles,
)


@dataclass(frozen=True)
class StreamModel:
    """One model of the run: its architecture (LineConfig fields), or a model to start from."""

    name: str
    learning_rate: float  # peak of the schedule (a twentieth of the time rising, then cosine to 2%)
    init_from: str | None = None  # a .keras line reader to continue; else a new one of this shape
    features: int = 64
    recurrent_layers: int = 1
    recurrent_units: int = 64


# ---- every setting of the run ------------------------------------------------------------------
MODELS = (
    StreamModel("continued", 5e-4, init_from="runs/lines-settle/model.keras"),  # the reader shipped before the eighth session
    StreamModel("wide", 2e-3, features=96, recurrent_layers=2, recurrent_units=96),  # 2.9x its parameters
    StreamModel("large", 2e-3, features=128, recurrent_layers=2, recurrent_units=128),  # 1.8x wide's
)
STYLE = "mixed"  # half general, half cheque-like lines (train_lines.TRAINING_STYLES); --style to change
MARK_SHARE = 0.07  # lines that are marks, not numbers (read as nothing)
STRAY_SHARE = 0.03  # numbers with such a mark beside them
WIDTH = 192  # px, as train-lines
BATCH_SIZE = 256
STEPS_PER_ROUND = 200  # training steps per model between looks at the drawn lines
CHUNK = 500  # lines per drawing task
VAL_LINES = 2000
VAL_EVERY = 60.0  # seconds between validations
MAX_LINES = 4_000_000  # room for this many drawn lines (uint8, 6 KB each: 23 GiB, touched only as it fills)
SEED = 8

_DIGITS: dict = {}  # set before the drawing processes fork, so they share MNIST without pickling it


def _draw_chunk(split: str, seed: list[int], style: str):
    images, labels = _DIGITS[split]
    return _draw_lines(images, labels, CHUNK, seed, training_styles(style, MARK_SHARE, STRAY_SHARE), WIDTH)


def learning_rate(peak: float, progress: float) -> float:
    """Warmup over the first 5% of the time from a tenth of ``peak``, then cosine down to 2% of it."""
    if progress < 0.05:
        return peak * (0.1 + 0.9 * progress / 0.05)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - 0.05) / 0.95)))
    return peak * (0.02 + 0.98 * cosine)


def finish(keras_path: Path, out: Path, overwrite: bool = False) -> dict:
    """A run folder for one model of a finished stream run (``OUT/<name>.keras`` beside its history.json)."""
    stream = read_json(keras_path.parent / "history.json")
    settings, name = stream["settings"], keras_path.stem
    records = [r for r in stream["validations"] if r["steps"] > 0]  # (a continued model's start is no epoch)
    spec = next((m for m in settings["models"] if m["name"] == name), None)
    if spec is None or not records:
        raise SystemExit(f"{keras_path}: {keras_path.parent / 'history.json'} has no validated model {name!r} "
                         f"(it has {', '.join(m['name'] for m in settings['models'])})")
    import keras

    best = keras.models.load_model(keras_path, custom_objects={"ctc_loss": ctc_loss})
    recurrent = [layer for layer in best.layers if isinstance(layer, keras.layers.Bidirectional)]
    convolutions = [layer for layer in best.layers if isinstance(layer, keras.layers.Conv2D)]
    config = LineConfig(preset="lines-stream", lines=records[-1]["lines_drawn"], val_lines=VAL_LINES, width=WIDTH,
                        epochs=len(records), batch_size=settings["batch_size"], learning_rate=spec["learning_rate"],
                        features=convolutions[-1].filters, recurrent_layers=len(recurrent),  # as trained
                        recurrent_units=recurrent[0].forward_layer.units, style=settings["style"],
                        mark_share=settings["mark_share"], stray_share=settings["stray_share"],
                        init_from=spec["init_from"], seed=settings["seed"])
    run = RunFolder(out)
    prepare_out_dir(run, config, overwrite)
    write_run_record(run, config)
    # one "epoch" per validation: the seconds since the last one, and the mean loss of its rounds
    losses = stream.get(f"loss_{name}", [])
    steps_per_round = max(1, records[-1]["steps"] // max(1, len(losses)))
    history = {"seconds": [], "loss": [], "val_exact": []}
    previous = {"seconds": 0.0, "steps": 0}
    for record in records:
        rounds = losses[previous["steps"] // steps_per_round:record["steps"] // steps_per_round] or [float("nan")]
        history["seconds"].append(record["seconds"] - previous["seconds"])
        history["loss"].append(float(np.mean(rounds)))
        history["val_exact"].append(record[name])
        previous = record
    digits = load_digits(config)
    check_lines = _draw_lines(*digits["val"], 64, [config.seed, 2],
                              training_styles(config.style, config.mark_share, config.stray_share), WIDTH)[0]
    return finish_line_run(best, run, config, digits, as_float(check_lines), history)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget of the training")
    parser.add_argument("--out", type=Path, required=True, help="the run's folder (with --finish: the run folder)")
    parser.add_argument("--finish", type=Path, default=None, metavar="OUT/NAME.keras",
                        help="make a run folder of this model of a stream run instead of training")
    parser.add_argument("--overwrite", action="store_true", help="with --finish: replace the run folder")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument("--max-lines", type=int, default=MAX_LINES,
                        help="room for this many drawn lines, allocated at the start (6 KB each)")
    parser.add_argument("--limit", type=int, default=None, help="MNIST images per split (quick checks)")
    parser.add_argument("--models", nargs="*", default=None, choices=[m.name for m in MODELS],
                        help="which of MODELS to train (several: side by side, each getting a share of the "
                             "device; 'continued' needs runs/lines-settle); default wide, or none with --init-from")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="also continue this line reader (a .keras file or a train-lines run folder: "
                             "runs/lines-shipped continues the shipped one), as 'stage', first")
    parser.add_argument("--learning-rate", type=float, default=5e-4, help="with --init-from: the peak rate")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the lines drawn and of the training")
    parser.add_argument("--style", default=STYLE, choices=sorted(TRAINING_STYLES),
                        help="synthesis style of the training lines (validation lines are always 'mixed')")
    parser.add_argument("--steps-per-round", type=int, default=STEPS_PER_ROUND)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    args = parser.parse_args()
    if args.finish:
        metrics = finish(args.finish, args.out, args.overwrite)
        print(f"{args.out}: synthetic test exact match {metrics['exact_match']:.2%}")
        return 0
    if args.init_from:  # a .keras file or a train-lines run folder, as train-lines takes it
        try:
            args.init_from = keras_file(args.init_from)
        except TrainError as exc:
            parser.error(str(exc))
    chosen = args.models if args.models is not None else ([] if args.init_from else ["wide"])
    specs = ((StreamModel("stage", args.learning_rate, init_from=str(args.init_from.resolve())),)
             if args.init_from else ()) + tuple(m for m in MODELS if m.name in chosen)
    if not specs:
        parser.error("nothing to train: name --models or --init-from")
    args.out.mkdir(parents=True, exist_ok=True)

    _DIGITS.update(load_digits(LineConfig(limit=args.limit)))
    pool = multiprocessing.get_context("fork").Pool(args.workers)  # before Keras starts any thread
    val_parts = pool.starmap(_draw_chunk, [("val", [args.seed, 2, k], STYLE) for k in range(VAL_LINES // CHUNK)])
    x_val = np.concatenate([p[0] for p in val_parts]).astype(np.float32)[..., np.newaxis] / 255.0
    texts_val = np.concatenate([p[3] for p in val_parts])

    import keras

    keras.utils.set_random_seed(args.seed)
    lines = np.zeros((args.max_lines, x_val.shape[1], WIDTH), np.uint8)  # pages are touched only when filled
    targets = np.zeros((args.max_lines, MAX_DIGITS + 1), np.int32)  # the digits, then their count
    drawn = 0
    rng = np.random.default_rng(args.seed)

    class RandomBatches(keras.utils.PyDataset):
        """``--steps-per-round`` batches drawn at random from the lines drawn so far."""

        def __len__(self):
            return args.steps_per_round

        def __getitem__(self, index):
            pick = np.sort(rng.integers(0, drawn, args.batch_size))
            return lines[pick].astype(np.float32)[..., np.newaxis] / 255.0, targets[pick]

    models = {}
    for spec in specs:
        if spec.init_from:
            model = keras.models.load_model(ROOT / spec.init_from, custom_objects={"ctc_loss": ctc_loss},
                                            compile=False)
        else:
            model = build_line_model(LineConfig(features=spec.features, recurrent_layers=spec.recurrent_layers,
                                                recurrent_units=spec.recurrent_units))
        model.compile(optimizer=keras.optimizers.Adam(spec.learning_rate / 10, clipnorm=5.0), loss=ctc_loss)
        models[spec.name] = model
        print(f"{spec.name}: {model.count_params()} parameters", flush=True)

    history = {"settings": {"models": [dataclasses.asdict(m) for m in specs], "style": args.style,
                            "mark_share": MARK_SHARE, "stray_share": STRAY_SHARE, "batch_size": args.batch_size,
                            "seed": args.seed, "minutes": args.minutes, "workers": args.workers},
               "validations": []}
    best = {name: -1.0 for name in models}
    pending = []
    next_chunk = 0
    started = time.perf_counter()
    budget = args.minutes * 60
    # a continued model is validated once before any step, where it starts (an epoch of none for --finish)
    last_val = -math.inf if any(spec.init_from for spec in specs) else started
    steps = 0
    while True:
        elapsed = time.perf_counter() - started
        # collect the drawn lines and keep every drawing process busy
        for result in [r for r in pending if r.ready()]:
            pending.remove(result)
            part_lines, part_targets, part_lengths, _ = result.get()
            end = min(args.max_lines, drawn + len(part_lines))
            lines[drawn:end] = part_lines[:end - drawn]
            targets[drawn:end, :-1] = part_targets[:end - drawn]
            targets[drawn:end, -1] = part_lengths[:end - drawn]
            drawn = end
        while len(pending) < 2 * args.workers and drawn + (len(pending) + 1) * CHUNK <= args.max_lines:
            pending.append(pool.apply_async(_draw_chunk, ("train", [args.seed, 1, next_chunk], args.style)))
            next_chunk += 1
        if drawn < 4 * args.batch_size:
            time.sleep(0.5)
            continue
        done = elapsed >= budget
        if done or time.perf_counter() - last_val >= VAL_EVERY:
            last_val = time.perf_counter()
            record = {"seconds": round(elapsed, 1), "lines_drawn": drawn, "steps": steps}
            for name, model in models.items():
                logits = model.predict(x_val, batch_size=VAL_LINES // 4, verbose=0)
                record[name] = exact = exact_match(read_logits(logits), texts_val)
                if exact > best[name]:  # atomically: the machine may be taken back at any time
                    best[name] = exact
                    with atomic_path(args.out / f"{name}.keras") as tmp:
                        model.save(tmp)
            history["validations"].append(record)
            write_json(args.out / "history.json", history)
            print(json.dumps(record), flush=True)
        if done:
            break
        progress = elapsed / budget
        for spec in specs:
            model = models[spec.name]
            model.optimizer.learning_rate.assign(learning_rate(spec.learning_rate, progress))
            fit = model.fit(RandomBatches(), epochs=1, verbose=0)
            history.setdefault(f"loss_{spec.name}", []).append(round(float(fit.history["loss"][-1]), 4))
        steps += args.steps_per_round
    pool.terminate()
    print(f"best validation exact match: {best}; {drawn} lines drawn, {steps} steps of {args.batch_size} "
          f"in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
