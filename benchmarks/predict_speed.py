"""Prediction speed: ONNX Runtime (digitcnn predict, DigitReader) against Keras model.predict.

    python benchmarks/predict_speed.py [--repeats 7]

Measures, in one run, on the same images and the same trained model (models/digitcnn.onnx, the
int8 default, against models/digitcnn.keras, the Keras model it was quantized from):
1. a whole process reading one PNG: `digitcnn predict one.png` against a minimal Keras script
   (wall seconds and peak resident memory, from os.wait4);
2. one 28x28 image in a warm process: ONNX Runtime against Keras `model.predict`;
3. 10,000 MNIST test images in one call: DigitReader.read_batch against `model.predict`.
Targets: whole process <= 0.5 s and <= 150 MB; batch >= 20,000 images/s.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from digitcnn import DigitReader, data
from digitcnn.inference import predict_proba

KERAS_ONE = """
import sys, numpy as np
from PIL import Image
import keras
model = keras.models.load_model(sys.argv[1])
x = np.asarray(Image.open(sys.argv[2]).convert("L"), dtype=np.float32)[None, :, :, None] / 255
print(int(model.predict(x, verbose=0).argmax()))
"""


# Peak memory comes from the child's own /proc/self/status (VmHWM, which exec resets): the
# rusage of a child counts the parent's memory at fork time, which here holds MNIST.
PEAK_SHIM = """
import runpy, sys
try:
    sys.argv = sys.argv[1:]
    if sys.argv[0] == "-m":
        sys.argv = sys.argv[1:]
        runpy.run_module(sys.argv[0], run_name="__main__")
    else:
        runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
    sys.stderr.write(f"PEAK_KB {peak}\\n")
"""


def process_cost(command: list[str], env: dict | None = None, cwd=None) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of one child process running ``command``
    (in ``cwd``, with ``env`` if given)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PEAK_SHIM, *command], capture_output=True, check=False, text=True,
                            env=env, cwd=cwd)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed: {result.stderr[-500:]}")
    peak_kb = int(result.stderr.rsplit("PEAK_KB ", 1)[1].split()[0])
    return seconds, peak_kb / 1024


def median_cost(command, repeats):
    runs = [process_cost(command) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def per_call(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--small-model", default=str(ROOT / "runs" / "fast"),
                        help="also time read_batch with this smaller model (a run folder or .onnx), if it exists")
    args = parser.parse_args()
    (_, _), (x_test, y_test) = data.load_mnist()
    keras_model = ROOT / "models" / "digitcnn.keras"

    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.png"
        Image.fromarray(x_test[0]).save(one)
        keras_script = Path(tmp) / "keras_one.py"
        keras_script.write_text(KERAS_ONE)
        ours = median_cost(["-m", "digitcnn", "predict", str(one)], args.repeats)
        theirs = median_cost([str(keras_script), str(keras_model), str(one)], max(3, args.repeats // 2))
    print(f"whole process, one image: digitcnn predict {ours[0]:.3f} s, {ours[1]:.0f} MB; "
          f"Keras {theirs[0]:.3f} s, {theirs[1]:.0f} MB; {theirs[0] / ours[0]:.1f}x faster, "
          f"{theirs[1] / ours[1]:.1f}x less memory (targets <= 0.5 s, <= 150 MB)")

    # Every ONNX Runtime measurement first: TensorFlow's thread pools keep spinning for a while
    # after a Keras call and slowed a read_batch measured just after one by a third.
    reader = DigitReader()
    x1 = data.preprocess(x_test[:1])
    ort_one = per_call(lambda: predict_proba(reader.session, x1), 200)
    ours_batch = per_call(lambda: reader.read_batch(x_test), args.repeats)
    results = reader.read_batch(x_test)
    accuracy = np.mean([r.digits == str(y) for r, y in zip(results, y_test)])
    small_batch = None
    if Path(args.small_model).exists():
        small = DigitReader(args.small_model)
        small_batch = per_call(lambda: small.read_batch(x_test), args.repeats)

    import keras

    model = keras.models.load_model(keras_model)
    keras_one = per_call(lambda: model.predict(x1, verbose=0), 30)
    keras_batch = per_call(lambda: model.predict(data.preprocess(x_test), batch_size=1024, verbose=0),
                           max(3, args.repeats // 2))
    print(f"one 28x28 image, warm: ONNX Runtime {ort_one * 1e3:.3f} ms, Keras model.predict "
          f"{keras_one * 1e3:.1f} ms; {keras_one / ort_one:.0f}x")
    print(f"10,000 images in one call: DigitReader.read_batch {len(x_test) / ours_batch:,.0f} images/s "
          f"(accuracy {accuracy:.4f}); Keras model.predict {len(x_test) / keras_batch:,.0f} images/s; "
          f"{keras_batch / ours_batch:.1f}x (target >= 20,000 images/s)")
    if small_batch:
        print(f"10,000 images in one call with the small model {args.small_model}: "
              f"{len(x_test) / small_batch:,.0f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
