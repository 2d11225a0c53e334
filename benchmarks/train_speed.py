"""Time to 99% test accuracy: the classic recipe (preset baseline) against the fast preset.

    python benchmarks/train_speed.py [--repeats 1]

For the baseline, each run is a child process that trains and checks the test accuracy after
every epoch (for this benchmark only; the check's own time is not counted) and stops once it
reaches 99.0%: its time is the wall seconds from the process start to that epoch's end.
For the fast preset, the time is a whole `digitcnn train --preset fast` process, report included.
Both run one after the other on the full data, in this one run, so the ratio is fair.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.99


def child_time_to_target(preset: str, out: str) -> None:
    """Runs in the child: train ``preset`` and print when the test accuracy first reaches TARGET."""
    import keras
    import numpy as np

    from digitcnn import data
    from digitcnn.train import make_config, train

    (_, _), (x_test, y_test) = data.load_mnist()
    x_test = data.preprocess(x_test)
    result = {"preset": preset, "seconds_to_target": None, "epoch": None, "accuracy_by_epoch": []}
    excluded = 0.0

    class WatchTestAccuracy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            nonlocal excluded
            started = time.perf_counter()
            accuracy = float(np.mean(self.model(x_test, training=False).numpy().argmax(1) == y_test))
            result["accuracy_by_epoch"].append(accuracy)
            excluded += time.perf_counter() - started
            if accuracy >= TARGET and result["epoch"] is None:
                result["seconds_to_target"] = time.perf_counter() - PROCESS_START - excluded
                result["epoch"] = epoch + 1
                self.model.stop_training = True

    train(make_config(preset), out, verbose=0, overwrite=True, log=lambda *_: None,
          callbacks=[WatchTestAccuracy()])
    print("RESULT " + json.dumps(result))


def run_child(preset: str, out: str) -> dict:
    started = time.perf_counter()
    output = subprocess.run([sys.executable, __file__, "--child", preset, "--out", out, "--started", str(time.time())],
                            capture_output=True, text=True, check=True).stdout
    result = json.loads(next(line[7:] for line in output.splitlines() if line.startswith("RESULT ")))
    result["process_seconds"] = time.perf_counter() - started
    return result


def run_fast(out: str) -> dict:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "digitcnn", "train", "--preset", "fast", "--out", out, "--overwrite",
                    "--quiet"], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    return {"preset": "fast", "whole_run_seconds": seconds, "accuracy": metrics["accuracy"],
            "train_seconds": metrics["train_seconds"]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child")
    parser.add_argument("--out")
    parser.add_argument("--started", type=float)
    args = parser.parse_args()
    if args.child:
        global PROCESS_START
        PROCESS_START = time.perf_counter() - (time.time() - args.started)
        child_time_to_target(args.child, args.out)
        return 0

    baseline, fast = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            baseline.append(run_child("baseline", f"{tmp}/baseline"))
            print(f"baseline: {baseline[-1]['seconds_to_target']:.1f} s to {TARGET:.1%} "
                  f"(epoch {baseline[-1]['epoch']}); test accuracy by epoch {baseline[-1]['accuracy_by_epoch']}",
                  flush=True)
            fast.append(run_fast(f"{tmp}/fast"))
            print(f"fast: whole run {fast[-1]['whole_run_seconds']:.1f} s "
                  f"(training {fast[-1]['train_seconds']:.1f} s), test accuracy {fast[-1]['accuracy']:.4f}", flush=True)
    base_s = statistics.median(r["seconds_to_target"] for r in baseline)
    fast_s = statistics.median(r["whole_run_seconds"] for r in fast)
    print(f"\nmedian baseline time to {TARGET:.0%}: {base_s:.1f} s; median fast whole run: {fast_s:.1f} s; "
          f"ratio {base_s / fast_s:.2f}x (target >= 3x); fast reached {min(r['accuracy'] for r in fast):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
