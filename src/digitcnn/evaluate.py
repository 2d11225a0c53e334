"""Evaluation of an exported model on the test set, run with ONNX Runtime.

What is evaluated is exactly the file that gets deployed (model.onnx). ``evaluate_run`` writes:

    metrics.json                 accuracy; per-class precision, recall, F1, support; macro and
                                 weighted averages; the confusion matrix as counts
    classification_report.txt    scikit-learn's text report
    figures/*.png                samples, curves (when the run has a history), confusion
                                 matrices (counts and row-normalized), worst mistakes
    report.html                  one self-contained page showing all of it

With ``real_dir`` (``digitcnn evaluate --real-dir ../shared/data/realdev``), the metrics and the
report add accuracy and calibration (ECE) on real handwriting in that folder's layout: photo/,
drawn/, tiny/ (label = file name up to the first ``_``) and usps.npz, optdigits32.npz. Only
measured: nothing is fitted on them.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

import numpy as np

from . import data, figures
from .artifacts import RunFolder, read_json, write_json, write_text
from .calibrate import expected_calibration_error, reliability
from .inference import load_session, predict_proba, resolve_model_path
from .models import refused

CLASS_NAMES = [str(d) for d in range(10)]
REAL_FILE_SETS = ("photo", "drawn", "tiny")  # folders of image files, label = name up to the first "_"
REAL_ARRAY_SETS = ("usps", "optdigits32")  # .npz files: images uint8 (N, H, W) ink 255 on 0, labels


def load_real_sets(folder: Path) -> dict[str, list[tuple[object, str]]]:
    """Each real set present in ``folder`` as a list of (input, true digit); inputs are encoded
    bytes or uint8 arrays."""
    folder = Path(folder)
    sets = {}
    for name in REAL_FILE_SETS:
        if (folder / name).is_dir():
            files = sorted(p for p in (folder / name).iterdir() if p.is_file())
            sets[name] = [(p.read_bytes(), p.name.split("_")[0]) for p in files]
    for name in REAL_ARRAY_SETS:
        if (folder / f"{name}.npz").is_file():
            arrays = np.load(folder / f"{name}.npz")
            sets[name] = [(image, str(label)) for image, label in zip(arrays["images"], arrays["labels"])]
    return sets


def single_digit_frames(cases) -> tuple[np.ndarray, np.ndarray]:
    """For each image of one digit, the one 28x28 frame the pipeline reads (the largest mark when
    several are found): float32 (N, 28, 28, 1) and int labels (N,)."""
    from .imaging import ImageError, decode_image, image_to_digits

    frames, labels = [], []
    for source, truth in cases:
        try:
            found, _ = image_to_digits(decode_image(source) if isinstance(source, bytes) else source)
        except ImageError:
            continue
        if len(found):
            frames.append(found[np.argmax(found.reshape(len(found), -1).sum(axis=1))])
            labels.append(int(truth))
    return np.stack(frames), np.array(labels)


def real_set_metrics(session, real_dir: Path) -> dict:
    """Accuracy, ECE and share refused as "not a digit" of the model on each real set."""
    out = {}
    for name, cases in load_real_sets(real_dir).items():
        images, labels = single_digit_frames(cases)
        proba = predict_proba(session, images)
        digits = proba[:, :10]
        not_digits = refused(proba)
        out[name] = {"images": len(cases), "accuracy": float(np.mean((digits.argmax(1) == labels) & ~not_digits)),
                     "expected_calibration_error": expected_calibration_error(digits.max(1), digits.argmax(1) == labels),
                     "refused_as_not_a_digit": float(not_digits.mean())}
    return out


def compute_metrics(true: np.ndarray, proba: np.ndarray) -> dict:
    """Metrics of predictions (N, 10) against int labels (N,), with scikit-learn."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix

    predicted = proba.argmax(axis=1)
    labels = list(range(10))
    report = classification_report(true, predicted, labels=labels, target_names=CLASS_NAMES,
                                    output_dict=True, zero_division=0)
    return {
        "accuracy": float(accuracy_score(true, predicted)),
        "test_size": len(true),
        "errors": int((predicted != true).sum()),
        "per_class": {name: {k: float(report[name][k]) if k != "support" else int(report[name][k])
                             for k in ("precision", "recall", "f1-score", "support")}
                      for name in CLASS_NAMES},
        "macro_avg": {k: float(v) for k, v in report["macro avg"].items()},
        "weighted_avg": {k: float(v) for k, v in report["weighted avg"].items()},
        "confusion_matrix": confusion_matrix(true, predicted, labels=labels).tolist(),
    }


def evaluate_run(model: str | Path, out_dir: str | Path, data_dir=None, limit=None, seed=0,
                 extra: dict | None = None, run: RunFolder | None = None, real_dir: Path | None = None) -> dict:
    """Evaluate ``model`` (a .onnx file or a run folder) and write metrics, figures and report
    into ``out_dir``.

    ``limit`` evaluates a stratified subset of that many test images (for quick checks).
    ``extra`` is merged into metrics.json (training time, say). ``run``: the run the model comes
    from, whose configuration and training curves the report shows (None: the model alone).
    ``real_dir``: a folder of real handwriting to measure accuracy and calibration on as well.
    Returns the metrics.
    """
    started = time.perf_counter()
    model_path = resolve_model_path(model)
    out = RunFolder(out_dir)
    (x_train, y_train), (x_test, y_test) = data.load_mnist(data_dir)
    x_test, y_test = data.limit_per_split(x_test, y_test, limit, seed)
    images = data.preprocess(x_test)

    session = load_session(model_path)
    all_proba = predict_proba(session, images)
    proba = all_proba[:, :10]  # a model with a "not a digit" class: its digits are judged as digits
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == y_test
    metrics = {"model": str(model_path), **compute_metrics(y_test, proba),
               "refused_as_not_a_digit": float(refused(all_proba).mean()),
               "expected_calibration_error": expected_calibration_error(confidence, correct),
               "reliability": reliability(confidence, correct), **(extra or {})}
    if real_dir is not None:
        metrics["real_sets"] = real_set_metrics(session, real_dir)

    from sklearn.metrics import classification_report

    report_text = classification_report(y_test, proba.argmax(axis=1), labels=list(range(10)),
                                        target_names=CLASS_NAMES, digits=4, zero_division=0)
    write_text(out.classification_report, report_text)

    fig_dir = out.figures
    matrix = np.array(metrics["confusion_matrix"])
    paths = {
        "samples": figures.plot_samples(x_train[:32], y_train[:32], fig_dir / "samples.png"),
        "confusion_counts": figures.plot_confusion(matrix, fig_dir / "confusion_matrix.png", normalized=False),
        "confusion_normalized": figures.plot_confusion(matrix, fig_dir / "confusion_matrix_normalized.png",
                                                       normalized=True),
        "mistakes": figures.plot_mistakes(x_test, y_test, proba, fig_dir / "misclassified.png"),
        "reliability": figures.plot_reliability(metrics["reliability"], metrics["expected_calibration_error"],
                                                fig_dir / "reliability.png"),
    }
    history = read_json(run.history) if run and run.history.is_file() else None
    if history:
        paths["curves"] = figures.plot_curves(history, fig_dir / "curves.png")
    metrics["evaluation_seconds"] = time.perf_counter() - started
    write_json(out.metrics, metrics)

    config = read_json(run.config) if run and run.config.is_file() else None
    write_text(out.report, render_report(metrics, report_text, paths, config, history))
    return metrics


def _img_tag(path: Path, alt: str) -> str:
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'


def render_report(metrics: dict, report_text: str, paths: dict, config: dict | None,
                  history: dict | None) -> str:
    """One self-contained HTML page (figures embedded as data URLs) showing the whole run."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{name}</td><td>{m['precision']:.4f}</td><td>{m['recall']:.4f}</td>"
        f"<td>{m['f1-score']:.4f}</td><td>{m['support']}</td></tr>"
        for name, m in metrics["per_class"].items())
    sections = [
        (f"<h1>digitcnn run report</h1><p class=big>Test accuracy "
         f"<b>{metrics['accuracy'] * 100:.2f}%</b> on {metrics['test_size']} test images "
         f"({metrics['errors']} errors), model <code>{esc(metrics['model'])}</code>, run with ONNX Runtime.</p>"),
    ]
    if config:
        cfg = config["config"]
        sections.append(
            "<h2>Configuration</h2><table>" + "".join(
                f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>" for k, v in cfg.items())
            + "</table><p>Versions: " + esc(", ".join(f"{k} {v}" for k, v in config["versions"].items())) + "</p>")
    if "train_seconds" in metrics:
        sections.append(f"<p>Training time: {metrics['train_seconds']:.1f} s; best epoch "
                        f"{metrics.get('best_epoch')}; ONNX export max difference from Keras "
                        f"{metrics.get('onnx_max_abs_diff', float('nan')):.1e}.</p>")
    sections.append("<h2>Data</h2>" + _img_tag(paths["samples"], "Training samples with labels"))
    if history:
        sections.append("<h2>Accuracy and loss</h2>" + _img_tag(paths["curves"], "Accuracy and loss curves"))
    sections.append(
        "<h2>Per-class precision, recall and F1</h2><table><tr><th>digit</th><th>precision</th>"
        f"<th>recall</th><th>F1</th><th>support</th></tr>{rows}</table>"
        f"<pre>{esc(report_text)}</pre>")
    sections.append("<h2>Confusion matrix</h2>"
                    + _img_tag(paths["confusion_counts"], "Confusion matrix in counts")
                    + _img_tag(paths["confusion_normalized"], "Row-normalized confusion matrix"))
    sections.append("<h2>Most confident mistakes</h2>" + _img_tag(paths["mistakes"], "Misclassified test images"))
    sections.append(f"<h2>Calibration</h2><p>Expected calibration error {metrics['expected_calibration_error']:.2%} "
                    f"(15 bins); {metrics['refused_as_not_a_digit']:.2%} of the test digits answered "
                    "\"not a digit\".</p>" + _img_tag(paths["reliability"], "Reliability diagram"))
    if metrics.get("real_sets"):
        rows = "".join(f"<tr><td>{esc(name)}</td><td>{m['images']}</td><td>{m['accuracy']:.2%}</td>"
                       f"<td>{m['expected_calibration_error']:.2%}</td><td>{m['refused_as_not_a_digit']:.2%}</td></tr>"
                       for name, m in metrics["real_sets"].items())
        sections.append("<h2>Real handwriting</h2><p>The same model on real digits nobody on the project wrote "
                        "(measured only, never trained or calibrated on).</p><table><tr><th>set</th><th>images</th>"
                        f"<th>accuracy</th><th>ECE</th><th>refused</th></tr>{rows}</table>")
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "img{max-width:100%;margin:.5em 0}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:.2em .6em;text-align:left}.big{font-size:1.2em}pre{background:#f6f6f6;padding:1em}")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>digitcnn report: "
            f"{metrics['accuracy'] * 100:.2f}%</title><meta name=viewport content='width=device-width'>"
            f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n")
