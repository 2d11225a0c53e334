"""End to end: `digitcnn train` on a subset writes every artifact; resume; ONNX parity; evaluate."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow

FIGURES = ["samples.png", "curves.png", "confusion_matrix.png", "confusion_matrix_normalized.png",
           "misclassified.png", "reliability.png"]


def test_train_writes_every_artifact(tiny_run):
    out, result = tiny_run
    for name in ["model.keras", "model.onnx", "config.json", "history.json", "metrics.json",
                 "classification_report.txt", "report.html", *(f"figures/{f}" for f in FIGURES)]:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not (out / "checkpoint").exists()
    assert not list(out.rglob("*.tmp*")), "temporary files left behind"
    assert "Report:" in result.stdout

    config = json.loads((out / "config.json").read_text())
    assert config["config"]["preset"] == "fast" and config["config"]["limit"] == 3000
    assert config["versions"]["tensorflow"] and config["versions"]["keras"]
    assert len(config["data_checksums_sha256"]) == 4

    history = json.loads((out / "history.json").read_text())
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(history[key]) == 2

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_size"] == 3000
    assert metrics["accuracy"] > 0.8  # 2 epochs on 2,700 images: well above chance (0.1)
    assert set(metrics["per_class"]) == set("0123456789")
    assert sum(c["support"] for c in metrics["per_class"].values()) == 3000
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 3000
    assert np.trace(matrix) == round(metrics["accuracy"] * 3000)
    assert metrics["onnx_max_abs_diff"] <= 1e-5
    # calibrated: a temperature fitted on the validation split is inside the exported model
    assert 0.2 <= metrics["temperature"] <= 5 and metrics["expected_calibration_error"] < 0.05
    assert metrics["refused_as_not_a_digit"] == 0.0  # the fast preset has ten classes
    assert "macro avg" in (out / "classification_report.txt").read_text()

    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(FIGURES)
    assert f"{metrics['accuracy'] * 100:.2f}%" in page


def test_figures_are_real_pngs(tiny_run):
    from PIL import Image

    out, _ = tiny_run
    for name in FIGURES:
        with Image.open(out / "figures" / name) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 200


def test_onnx_matches_keras(tiny_run):
    import keras
    import onnxruntime as ort

    from digitcnn import data

    out, _ = tiny_run
    (_, _), (x_test, _) = data.load_mnist()
    x = data.preprocess(x_test[:500])
    expected = keras.models.load_model(out / "model.keras")(x, training=False).numpy()
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert np.max(np.abs(got - expected)) <= 1e-5


def test_evaluate_recomputes_metrics_into_another_folder(tiny_run, tmp_path, run_cli):
    out, _ = tiny_run
    result = run_cli("evaluate", "--model", out, "--limit", 3000, "--out", tmp_path, check=True)
    assert "Test accuracy" in result.stdout
    before = json.loads((out / "metrics.json").read_text())
    after = json.loads((tmp_path / "metrics.json").read_text())
    assert after["accuracy"] == before["accuracy"]
    assert after["confusion_matrix"] == before["confusion_matrix"]
    assert (tmp_path / "report.html").is_file() and (tmp_path / "figures" / "curves.png").is_file()


def test_finished_run_folder_is_not_overwritten(tiny_run, run_cli):
    out, _ = tiny_run
    before = (out / "model.onnx").read_bytes()
    result = run_cli("train", "--preset", "fast", "--limit", 3000, "--epochs", 2, "--out", out)
    assert result.returncode == 1
    assert "already holds a finished run" in result.stderr and "Traceback" not in result.stderr
    assert (out / "model.onnx").read_bytes() == before


def test_bad_input_gives_clear_errors(tmp_path, run_cli):
    result = run_cli("train", "--data-dir", tmp_path, "--out", tmp_path / "run")
    assert result.returncode == 1 and "file not found" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("evaluate", "--model", tmp_path / "missing.onnx")
    assert result.returncode == 1 and "no such ONNX model" in result.stderr
    # usage errors are 2: argparse's own, and settings outside their choices
    result = run_cli("train", "--epochs", "0")
    assert result.returncode == 2 and "positive integer" in result.stderr
    result = run_cli("train", "--seed", "-1")
    assert result.returncode == 2 and "0 or more" in result.stderr
    result = run_cli("train", "--arch", "resnet")
    assert result.returncode == 2 and "arch must be one of" in result.stderr and "Traceback" not in result.stderr


def test_interrupted_run_resumes(tmp_path, root, run_cli):
    """Kill a run after its first epoch; the same command resumes from the checkpoint and finishes."""
    out = tmp_path / "run"
    args = ["train", "--preset", "fast", "--limit", 1500, "--epochs", 12, "--batch-size", 64, "--quiet",
            "--out", out]
    process = subprocess.Popen([sys.executable, "-m", "digitcnn", *map(str, args)], cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = out / "checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "run the same command again to resume" in stderr
    done = json.loads(state.read_text())["epochs_done"]
    assert 1 <= done < 12
    assert not (out / "model.onnx").exists()

    result = run_cli(*args, check=True)
    assert f"Resuming {out} from epoch {done} of 12" in result.stdout
    history = json.loads((out / "history.json").read_text())
    assert len(history["val_accuracy"]) == 12
    assert (out / "model.onnx").is_file() and not (out / "checkpoint").exists()


def test_mirrored_strategy_on_two_logical_cpu_devices_learns(tmp_path, run_cli):
    out = tmp_path / "mirrored"
    result = run_cli("train", "--preset", "fast", "--limit", 2000, "--epochs", 4, "--strategy", "mirrored",
                     "--devices", 2, "--quiet", "--out", out, check=True)
    assert "2 replica(s)" in result.stdout
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["strategy"] == "mirrored" and config["devices"] == 2
    history = json.loads((out / "history.json").read_text())
    # It learns. The preset's label smoothing keeps the loss above about 0.5, so not "halves".
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert history["val_accuracy"][-1] > 0.8
    assert json.loads((out / "metrics.json").read_text())["accuracy"] > 0.7


def test_ensemble_exports_the_average_of_its_members(tmp_path, run_cli):
    import onnxruntime as ort

    from digitcnn import DigitReader, data

    out = tmp_path / "ensemble"
    args = ["train", "--preset", "fast", "--limit", 1500, "--epochs", 2, "--ensemble", 2, "--quiet", "--out", out]
    result = run_cli(*args, check=True)
    assert "Members: seed 0" in result.stdout and "seed 1" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert [m["seed"] for m in metrics["members"]] == [0, 1]
    assert metrics["best_member_accuracy"] == max(m["accuracy"] for m in metrics["members"])

    (_, _), (x_test, _) = data.load_mnist()
    x = data.preprocess(x_test[:200])

    def run(path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]

    members = [run(out / "members" / f"member_{k}" / "model.onnx") for k in range(2)]
    np.testing.assert_allclose(run(out / "model.onnx"), np.mean(members, axis=0), atol=1e-5)
    assert DigitReader(out).read(x_test[0]).digits != ""  # prediction uses it unchanged

    # a finished member is reused, not retrained
    (out / "model.onnx").unlink()
    result = run_cli(*args, check=True)
    assert "Member 1 of 2 already trained" in result.stdout and "Member 2 of 2 already trained" in result.stdout


def test_train_on_another_data_dir(tmp_path, run_cli, write_idx):
    """--data-dir: any folder of the four IDX files (here a 400-image MNIST sample) trains end to end."""

    from digitcnn import data

    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    folder = tmp_path / "idx"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", x_train[:300])
    write_idx(folder / "train-labels-idx1-ubyte.gz", y_train[:300])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", x_test[:100])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y_test[:100])
    out = tmp_path / "run"
    run_cli("train", "--data-dir", folder, "--epochs", 1, "--quiet", "--out", out, check=True)
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["data_dir"] == str(folder.resolve())
    assert config["data_checksums_sha256"] == data.checksums(folder)
    assert config["data_checksums_sha256"] != data.MNIST_SHA256
    assert json.loads((out / "metrics.json").read_text())["test_size"] == 100
    result = run_cli("evaluate", "--model", out, "--data-dir", folder, "--out", tmp_path / "again", check=True)
    assert "(100 images)" in result.stdout


def test_quantize_writes_an_int8_model_that_agrees(tiny_run, tmp_path, run_cli):
    """`digitcnn quantize` writes a smaller int8 model beside the run; evaluating it keeps the run's metrics."""
    import onnx

    out, _ = tiny_run
    target = tmp_path / "model.int8.onnx"  # --out is a folder; the file is named after the model
    result = run_cli("quantize", "--model", out, "--out", tmp_path, check=True)
    assert "same class as the float32 model" in result.stdout
    graph = onnx.load(str(target)).graph
    assert any(node.op_type == "QuantizeLinear" for node in graph.node)
    weights = [init for init in graph.initializer if init.data_type == onnx.TensorProto.INT8]
    assert weights, "no int8 weights in the quantized graph"
    assert target.stat().st_size < (out / "model.onnx").stat().st_size

    from digitcnn import data
    from digitcnn.inference import load_session, predict_proba

    (_, _), (x_test, _) = data.load_mnist()
    x = data.preprocess(x_test[:1000])
    float_classes = predict_proba(load_session(out), x).argmax(1)
    int8_proba = predict_proba(load_session(target), x)
    assert np.mean(int8_proba.argmax(1) == float_classes) >= 0.99
    assert np.allclose(int8_proba.sum(axis=1), 1.0, atol=1e-5)  # the softmax stays in float32

    before = (out / "metrics.json").read_bytes()
    result = run_cli("evaluate", "--model", target, "--limit", 1000, check=True)
    assert (tmp_path / "model-int8" / "metrics.json").is_file()
    assert (out / "metrics.json").read_bytes() == before


def test_quantize_refuses_what_is_not_a_model(tmp_path, root, run_cli):
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    result = run_cli("quantize", "--model", tmp_path / "bad.onnx")
    assert result.returncode == 1 and "not a loadable ONNX model" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "bad.int8.onnx").exists()
    # the shipped int8 model is no float32 one: said so, nothing written
    result = run_cli("quantize", "--model", root / "models" / "digitcnn.onnx", "--out", tmp_path)
    assert result.returncode == 1 and "already quantized" in result.stderr and "digitcnn-float32.onnx" in result.stderr
    assert "Traceback" not in result.stderr and "WARNING" not in result.stderr and not list(tmp_path.glob("*.int8*"))
    (tmp_path / "a-file").write_text("")
    result = run_cli("quantize", "--model", root / "models" / "digitcnn-float32.onnx", "--out", tmp_path / "a-file")
    assert result.returncode == 1 and "not a folder" in result.stderr and "Traceback" not in result.stderr


def test_ece_interval_holds_the_ece_and_narrows_with_more_images():
    from digitcnn.calibrate import ece_interval, expected_calibration_error

    rng = np.random.default_rng(0)
    widths = []
    for size in (60, 6000):
        confidence = rng.uniform(0.5, 1.0, size)
        correct = rng.random(size) < confidence - 0.03  # slightly over-confident
        low, high = ece_interval(confidence, correct, draws=500)
        assert low <= expected_calibration_error(confidence, correct) <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3
