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
