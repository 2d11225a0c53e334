"""Every architecture builds and maps (N, 28, 28, 1) images to (N, 10) probabilities."""

import numpy as np
import pytest

from digitcnn.config import PRESETS
from digitcnn.models import ARCHITECTURES, build_model


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_architecture_builds(arch):
    model = build_model(arch)
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    proba = np.asarray(model(x, training=False))
    assert proba.shape == (3, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_baseline_is_the_classic_cnn():
    model = build_model("baseline")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    assert [layer.filters for layer in model.layers if hasattr(layer, "filters")] == [32, 64]
    assert model.count_params() == 34826  # Keras's "simple MNIST convnet" example


def test_presets_name_known_architectures():
    assert {"baseline", "fast", "accurate"} <= set(PRESETS)
    assert all(p.arch in ARCHITECTURES for p in PRESETS.values())


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        build_model("nope")
