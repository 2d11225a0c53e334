"""The CNN architectures: a registry of builder functions, name -> ``builder(inputs) -> features``.

Every architecture takes float32 images of shape INPUT_SHAPE (N, 28, 28, 1) in [0, 1] and returns
float32 class probabilities of shape (N, NUM_CLASSES) (a softmax added by ``build_model``). Keras
is imported inside the builders, so importing this module stays cheap. To add an architecture,
write a function decorated with ``@architecture("name")``; presets are in config.py.
"""

from __future__ import annotations

import numpy as np

from .data import NUM_CLASSES

INPUT_SHAPE = (28, 28, 1)  # MNIST's frame, one channel
NOT_A_DIGIT = NUM_CLASSES  # the eleventh class of models trained with non-digit marks
# A mark is answered "not a digit" when that class's calibrated probability is above this: the
# largest threshold (in steps of 0.1) at which at least 95% of the selection marks drawn as pictures
# (nondigits seeds 40000-40001, read whole as users send them) answer no digit, with MNIST validation
# digits refused beside it; never chosen on test or real data. Below even odds: the 95% of
# marks is worth a mark refused whose digit was likelier (0.20% of validation digits refused, 0.13%
# at 0.5). The model trained with barred 7s and hooked 9s: 95.3% of the marks at 0.3, 94.6% at 0.4,
# 93.9% at 0.5 (the gate of the model before it, which met 95% there). RESULTS.md, tenth session.
# The model whose letters come in handwriting fonts too, on selection marks whose letters do too:
# 95.3% at 0.2, 94.3% at 0.3 (0.13% and 0.08% of validation digits refused): 0.2 (RESULTS.md,
# twentieth session).
REFUSE_ABOVE = 0.2


def refused(proba: np.ndarray, threshold: float = REFUSE_ABOVE) -> np.ndarray:
    """bool (N,): rows of class probabilities (N, 10 or 11) whose "not a digit" probability is over
    ``threshold``; none for a model of ten digits only."""
    if proba.shape[1] <= NOT_A_DIGIT:
        return np.zeros(len(proba), dtype=bool)
    return proba[:, NOT_A_DIGIT] > threshold


ARCHITECTURES: dict = {}  # name -> builder(inputs) -> the last features before the softmax


def architecture(name: str):
    """Register a builder under ``name``."""
    def register(builder):
        ARCHITECTURES[name] = builder
        return builder
    return register

def _conv_bn_relu(x, filters, kernel_size, strides=1, padding="same"):
    from keras import layers

    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


@architecture("baseline")
def baseline(inputs):
    """Keras's classic "simple MNIST convnet": 2 x (3x3 conv, 2x2 max-pool), flatten, dropout 0.5."""
    from keras import layers

    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    return layers.Dropout(0.5)(x)


@architecture("bn-small")
def bn_small(inputs):
    """The baseline's shape with batch normalization: the same layers, trains at a higher rate."""
    from keras import layers

    x = _conv_bn_relu(inputs, 32, 3)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn_relu(x, 64, 3)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    return layers.Dropout(0.3)(x)


@architecture("fast")
def fast(inputs):
    """Strided convolutions shrink the image as early as possible: most of the CPU time of a small
    CNN is spent in the first layers, at full resolution. He initialization, as suits ReLU, lets it
    learn quickly without batch normalization."""
    from keras import layers

    x = layers.Conv2D(32, 5, strides=2, padding="same", activation="relu", kernel_initializer="he_normal")(inputs)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", kernel_initializer="he_normal")(x)
    x = layers.Flatten()(x)
    return layers.Dense(128, activation="relu", kernel_initializer="he_normal")(x)


@architecture("bn-deep")
def bn_deep(inputs):
    """Two blocks of two 3x3 convolutions and a strided one, each with batch norm and dropout, then a
    3x3 convolution of 128: a CPU-sized version of the well-known 99.7% Kaggle MNIST design (its
    strided 5x5 convolutions made 3x3 to halve the cost)."""
    from keras import layers

    x = inputs
    for filters in (32, 64):
        x = _conv_bn_relu(x, filters, 3)
        x = _conv_bn_relu(x, filters, 3)
        x = _conv_bn_relu(x, filters, 3, strides=2)
        x = layers.Dropout(0.25)(x)
    x = _conv_bn_relu(x, 128, 3, padding="valid")
    x = layers.Flatten()(x)
    return layers.Dropout(0.3)(x)


@architecture("bn-lite")
def bn_lite(inputs):
    """bn-deep without its most expensive layers: the second convolution at full resolution and the
    second one at half resolution (14 of its 24 million multiply-adds per image). 9 million remain,
    so it trains and predicts about 2.5x faster."""
    from keras import layers

    x = _conv_bn_relu(inputs, 32, 3)
    x = _conv_bn_relu(x, 32, 3, strides=2)
    x = layers.Dropout(0.25)(x)
    x = _conv_bn_relu(x, 64, 3)
    x = _conv_bn_relu(x, 64, 3, strides=2)
    x = layers.Dropout(0.25)(x)
    x = _conv_bn_relu(x, 128, 3, padding="valid")
    x = layers.Flatten()(x)
    return layers.Dropout(0.3)(x)


def build_model(arch: str, classes: int = NUM_CLASSES):
    """Build an uncompiled Keras model by architecture name (a key of ``ARCHITECTURES``); ``classes``
    is 10, or 11 with the "not a digit" class (index NOT_A_DIGIT)."""
    import keras
    from keras import layers

    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}")
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(ARCHITECTURES[arch](inputs))
    return keras.Model(inputs, outputs, name=arch.replace("-", "_"))
