"""The CNN architectures and the training presets, as plain data and plain functions.

Every architecture takes float32 images of shape (N, 28, 28, 1) in [0, 1] and returns
float32 class probabilities of shape (N, 10) (a softmax). Keras is imported inside the
builders, so importing this module stays cheap (the presets are read by the CLI).
"""

from __future__ import annotations

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10

# A preset bundles an architecture and its training recipe. Flags override any field.
PRESETS = {
    # Keras's classic "simple MNIST convnet" example, as the project description describes it.
    "baseline": {
        "arch": "baseline",
        "epochs": 15,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "schedule": "constant",
        "label_smoothing": 0.0,
        "augment": False,
    },
    # The least CPU time to >= 99.0% test accuracy: two epochs of a small CNN without batch
    # normalization (it made an epoch about 1.7x as costly here), small batches for many updates,
    # warmup+cosine to a high rate, and label smoothing. Measured in benchmarks/RESULTS.md.
    "fast": {
        "arch": "fast",
        "epochs": 2,
        "batch_size": 64,
        "learning_rate": 6e-3,
        "schedule": "warmup-cosine",
        "label_smoothing": 0.1,
        "augment": False,
    },
    # The default model: a batch-normalized CNN trained on MNIST made to look like other
    # people's writing (digitcnn.augment: slant, rotation, aspect, pen width, lifted pen,
    # flagged 1s), so that it reads real photos and drawings, not only MNIST. Each ingredient
    # was measured alone on real handwriting (benchmarks/RESULTS.md). bn-lite, not bn-deep: at
    # 2.5x fewer multiply-adds it scored as high on MNIST and predicts about 2x faster.
    "accurate": {
        "arch": "bn-lite",
        "epochs": 20,
        "batch_size": 128,
        "learning_rate": 3e-3,
        "schedule": "warmup-cosine",
        "label_smoothing": 0.1,
        "augment": "writers",
    },
}

ARCHITECTURES = ("baseline", "bn-small", "fast", "bn-deep", "bn-lite")
# tf.distribute strategies a run can name (train.make_strategy builds them).
STRATEGIES = ("default", "mirrored", "multi-worker")


def _conv_bn_relu(x, filters, kernel_size, strides=1, padding="same"):
    from keras import layers

    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def build_model(arch: str):
    """Build an uncompiled Keras model by architecture name (one of ``ARCHITECTURES``)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    if arch == "baseline":
        x = layers.Conv2D(32, 3, activation="relu")(inputs)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Conv2D(64, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Flatten()(x)
        x = layers.Dropout(0.5)(x)
    elif arch == "bn-small":
        # The baseline's shape with batch normalization: the same layers, trains at a higher rate.
        x = _conv_bn_relu(inputs, 32, 3)
        x = layers.MaxPooling2D(2)(x)
        x = _conv_bn_relu(x, 64, 3)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Flatten()(x)
        x = layers.Dropout(0.3)(x)
    elif arch == "fast":
        # Strided convolutions shrink the image as early as possible: most of the CPU time of
        # a small CNN is spent in the first layers, at full resolution. He initialization, as
        # suits ReLU, lets it learn quickly without batch normalization.
        x = layers.Conv2D(32, 5, strides=2, padding="same", activation="relu", kernel_initializer="he_normal")(inputs)
        x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", kernel_initializer="he_normal")(x)
        x = layers.Flatten()(x)
        x = layers.Dense(128, activation="relu", kernel_initializer="he_normal")(x)
    elif arch == "bn-deep":
        # Two blocks of two 3x3 convolutions and a strided one, each with batch norm and
        # dropout, then a 3x3 convolution of 128: a CPU-sized version of the well-known
        # 99.7% Kaggle MNIST design (its strided 5x5 convolutions made 3x3 to halve the cost).
        x = inputs
        for filters in (32, 64):
            x = _conv_bn_relu(x, filters, 3)
            x = _conv_bn_relu(x, filters, 3)
            x = _conv_bn_relu(x, filters, 3, strides=2)
            x = layers.Dropout(0.25)(x)
        x = _conv_bn_relu(x, 128, 3, padding="valid")
        x = layers.Flatten()(x)
        x = layers.Dropout(0.3)(x)
    elif arch == "bn-lite":
        # bn-deep without its most expensive layers: the second convolution at full resolution
        # and the second one at half resolution (they were 14 of its 24 million multiply-adds
        # per image). 9 million remain, so it trains and predicts about 2.5x faster.
        x = _conv_bn_relu(inputs, 32, 3)
        x = _conv_bn_relu(x, 32, 3, strides=2)
        x = layers.Dropout(0.25)(x)
        x = _conv_bn_relu(x, 64, 3)
        x = _conv_bn_relu(x, 64, 3, strides=2)
        x = layers.Dropout(0.25)(x)
        x = _conv_bn_relu(x, 128, 3, padding="valid")
        x = layers.Flatten()(x)
        x = layers.Dropout(0.3)(x)
    else:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}")
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=arch.replace("-", "_"))
