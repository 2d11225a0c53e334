"""The committed default model scores at least 99.6% on the full MNIST test set with ONNX Runtime."""

import json

import numpy as np

from digitcnn import data
from digitcnn.inference import default_model_path, load_session, predict_proba


def test_default_model_accuracy(root):
    (_, _), (x_test, y_test) = data.load_mnist()
    proba = predict_proba(load_session(), data.preprocess(x_test))
    accuracy = float(np.mean(proba.argmax(axis=1) == y_test))
    assert accuracy >= 0.996, accuracy
    card = json.loads((root / "models" / "metrics.json").read_text())
    assert abs(card["accuracy"] - accuracy) < 1e-9  # the card tells the truth
    assert default_model_path() == root / "models" / "digitcnn.onnx"
