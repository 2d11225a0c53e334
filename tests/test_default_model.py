"""The committed default model scores at least 99.6% on the full MNIST test set with ONNX Runtime."""

import json

import numpy as np

from digitcnn import data
from digitcnn.inference import default_model_path, load_session, predict_proba
from digitcnn.models import NOT_A_DIGIT, REFUSE_ABOVE


def test_default_model_accuracy(root):
    (_, _), (x_test, y_test) = data.load_mnist()
    proba = predict_proba(load_session(), data.preprocess(x_test))
    accuracy = float(np.mean(proba[:, :10].argmax(axis=1) == y_test))
    assert accuracy >= 0.996, accuracy
    card = json.loads((root / "models" / "metrics.json").read_text())
    assert abs(card["accuracy"] - accuracy) < 1e-9  # the card tells the truth
    # the "not a digit" class refuses almost no real digit, and the card says how many
    refused = float(np.mean(proba[:, NOT_A_DIGIT] > REFUSE_ABOVE))
    assert refused <= 0.002 and abs(card["refused_as_not_a_digit"] - refused) < 1e-9
    assert card["expected_calibration_error"] <= 0.015
    assert default_model_path() == root / "models" / "digitcnn.onnx"


def test_report_measures_calibration_on_real_sets(tmp_path, run_cli, mnist_test):
    """`evaluate --real-dir` adds accuracy and ECE per real set, in the layout of ../shared/data/realdev
    (built here from MNIST test digits: a folder of named files and an .npz of 16x16 arrays)."""
    import cv2

    x_test, y_test = mnist_test
    real = tmp_path / "real"
    (real / "photo").mkdir(parents=True)
    for i in range(20):
        page = cv2.copyMakeBorder(255 - x_test[i], 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
        (real / "photo" / f"{y_test[i]}_writer{i}.png").write_bytes(cv2.imencode(".png", page)[1].tobytes())
    small = np.stack([cv2.resize(x, (16, 16), interpolation=cv2.INTER_AREA) for x in x_test[20:60]])
    np.savez(real / "usps.npz", images=small, labels=y_test[20:60])
    out = tmp_path / "report"
    result = run_cli("evaluate", "--model", str(default_model_path()), "--limit", "200", "--real-dir", str(real),
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["real_sets"]) == {"photo", "usps"}
    assert metrics["real_sets"]["photo"]["images"] == 20 and metrics["real_sets"]["photo"]["accuracy"] >= 0.9
    assert 0 <= metrics["real_sets"]["usps"]["expected_calibration_error"] <= 1
    assert "Real handwriting" in (out / "report.html").read_text() and "photo: accuracy" in result.stdout
    missing = run_cli("evaluate", "--model", str(default_model_path()), "--real-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr


def test_make_model_stops_when_a_handwriting_font_is_missing(root, monkeypatch, tmp_path, capsys):
    """The shipped model's letters come in the fonts of nondigits.LETTER_FONTS: without one of them
    `make model` would train on fewer hands, so it stops first and names the packages to install."""
    import sys

    from digitcnn import nondigits

    monkeypatch.syspath_prepend(str(root / "scripts"))
    import make_default_model

    monkeypatch.setattr(nondigits, "LETTER_FONTS", nondigits.LETTER_FONTS + ("/nowhere/Lost-Hand.ttf",))
    monkeypatch.setattr(sys, "argv", ["make_default_model.py", "--run", str(tmp_path / "run")])
    assert make_default_model.main() == 2
    said = capsys.readouterr().err
    assert "Lost-Hand.ttf" in said and "apt-get install fonts-bwht" in said
    assert not (tmp_path / "run").exists()  # nothing trained
