"""Probe: train the accurate architecture with several writer-augmentation recipes, side by side.

    KERAS_BACKEND=jax python scripts/augment_probe.py --out DIR [--epochs 20] VARIANT...

Runs under any Keras backend (it was run with JAX on a lent GPU, where TensorFlow is absent), so
it feeds Keras NumPy arrays: each epoch, a share of the training images is replaced by one of
K pre-drawn writer variations (digitcnn.augment). Writes DIR/VARIANT.keras and prints the
validation and MNIST test accuracy; real-handwriting accuracy is measured afterwards, on the
exported model, by benchmarks/real_handwriting.py. MNIST training digits only.
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from digitcnn import data
from digitcnn.augment import draw_pool, epoch_images
from digitcnn.config import Augmentation

# The second session's variants, as measured then (before barred 7s and hooked 9s existed);
# "conventions" is today's default, with them (RESULTS.md, tenth session).
BEFORE = {"cross_seven": 0.0, "hook_nine": 0.0}
VARIANTS = {
    "writers": Augmentation(**BEFORE),
    "no-flag": Augmentation(flag_one=0.0, **BEFORE),
    "no-pen": Augmentation(thickness=0.0, breaks=0.0, **BEFORE),
    "elastic": Augmentation(elastic=2.0, **BEFORE),
    "share80": Augmentation(share=0.8, **BEFORE),
    "geometry": Augmentation(thickness=0.0, breaks=0.0, flag_one=0.0, **BEFORE),
    "conventions": Augmentation(),
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="+", choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--limit", type=int, help="train on this many images (a smoke test)")
    parser.add_argument("--nondigits", type=float, nargs="*", default=[],
                        help="also train an eleventh class, 'not a digit', on digitcnn.nondigits marks: one run "
                             "per share given (marks added to each epoch, as a share of its digits)")
    parser.add_argument("--budget", type=float, default=480, help="stop starting variants after this many seconds")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    import keras

    from digitcnn.models import build_model

    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    train_idx, val_idx = data.stratified_split(y_train, 0.1, 0)
    train_idx = train_idx[:args.limit]
    x_tr, y_tr = data.preprocess(x_train[train_idx])[..., 0], y_train[train_idx]
    x_val, y_val = data.preprocess(x_train[val_idx]), y_train[val_idx]
    x_te = data.preprocess(x_test)
    runs = ([(f"{args.variants[0]}-nd{share:g}", share) for share in args.nondigits] if args.nondigits
            else [(name, 0.0) for name in args.variants])
    nd_pool = nd_val = None
    if args.nondigits:
        from digitcnn import nondigits
        from digitcnn.augment import map_chunks

        nd_pool = map_chunks(nondigits.make_set, [(2000, 10_000 + k) for k in range(12)])
        nd_val = map_chunks(nondigits.make_set, [(1200, 20_000)])
    for name, nd_share in runs:
        if time.perf_counter() - started > args.budget:
            print(f"{name}: skipped, budget spent", flush=True)
            continue
        aug = VARIANTS[name.split("-nd")[0]]
        t0 = time.perf_counter()
        pool = draw_pool(x_tr, y_tr, aug, seed=1)
        t1 = time.perf_counter()
        keras.utils.set_random_seed(0)
        classes = 11 if nd_share else 10
        model = build_model("bn-lite", classes)
        steps = int(np.ceil(len(x_tr) / 128)) * args.epochs
        warmup = int(0.2 * steps)
        schedule = keras.optimizers.schedules.CosineDecay(3e-4, steps - warmup, alpha=0.01,
                                                          warmup_target=3e-3, warmup_steps=warmup)
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
                      metrics=["accuracy"], steps_per_execution=16)
        rng = np.random.default_rng(0)
        best, best_epoch = -1.0, 0
        for epoch in range(args.epochs):
            marks = nd_pool[0] if nd_share else np.zeros((0, 28, 28), np.float32)
            x_epoch, y_epoch = epoch_images(x_tr, y_tr, pool, aug.share, marks, nd_share, rng)
            model.fit(x_epoch[..., None], data.one_hot(y_epoch, classes), batch_size=128, epochs=1, verbose=0,
                      shuffle=True)
            val = float(np.mean(model.predict(x_val, batch_size=1024, verbose=0).argmax(1) == y_val))
            if nd_share:  # the mean of digit accuracy and non-digit refusal
                refused = float(np.mean(model.predict(nd_val[0][..., None], verbose=0).argmax(1) == 10))
                val = (val + refused) / 2
            if val >= best:
                best, best_epoch = val, epoch + 1
                model.save(args.out / f"{name}.keras")
        best_model = keras.models.load_model(args.out / f"{name}.keras")
        test = float(np.mean(best_model.predict(x_te, batch_size=1024, verbose=0)[:, :10].argmax(1) == y_test))
        record = {"variant": name, "nondigit_share": nd_share, "augmentation": dataclasses.asdict(aug),
                  "epochs": args.epochs,
                  "best_epoch": best_epoch, "val_accuracy": best, "test_accuracy": test,
                  "pool_seconds": t1 - t0, "train_seconds": time.perf_counter() - t1}
        (args.out / f"{name}.json").write_text(json.dumps(record, indent=1))
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
