"""Train the line reader: a CRNN read with CTC, on numbers synthesized from MNIST digits.

``train_lines(config, out_dir)`` writes a run folder like ``train.train`` does:

    config.json      the LineConfig, package versions and data checksums
    history.json     per-epoch CTC loss (training, validation) and validation exact-match accuracy
    model.keras      the best model by validation exact match
    lines.onnx       the same for ONNX Runtime (logits (N, W/4, 11)), checked against Keras at export
    metrics.json, report.html, figures/  exact-match accuracy on synthetic lines of MNIST *test* digits

Lines are drawn from the training split of MNIST's training digits (``linesynth``); validation
lines from its validation split; test lines from MNIST's test digits. No real handwriting is used.
Resumable: ``checkpoint/`` holds the last finished epoch. TensorFlow is imported only in here.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from . import data
from .artifacts import RunFolder, atomic_path, read_json, write_json, write_text
from .augment import map_chunks
from .config import LineConfig
from .linesynth import (
    CANVAS,
    CHEQUE,
    CHEQUE_CLOSING,
    CHEQUE_ROUND,
    CHEQUE_WRITERS,
    LineStyle,
    make_line,
)
from .sequence import (
    CLASSES,
    LINE_HEIGHT,
    decode,
    line_input,
    line_logits,
    load_line_session,
    pad_batch,
)
from .train import (
    TrainError,
    make_epoch_checkpoint,
    prepare_out_dir,
    write_run_record,
)

MAX_DIGITS = 16  # label length the training targets are padded to
# The validation digits are the same whatever the run's seed, so that a later stage (--init-from)
# with a new seed for its lines never trains on the digits an earlier stage validated on.
SPLIT_SEED = 0
# largest difference allowed between the exported model's logits and Keras's, as a share of the
# largest logit (up to about 30). Float32 sums in another order differ by 1e-6 to 2e-5 of it:
# TensorFlow's oneDNN kernels on an AMD EPYC gave 1.6e-5 (3.6e-6 with them off; RESULTS, twenty-fifth
# session); an export that is wrong (a gate, a weight) is off by a tenth of it or more.
LOGIT_TOLERANCE = 1e-4


def build_line_model(config: LineConfig):
    """CNN + BiGRU over the columns of a line: float32 (N, 32, W, 1) in [0, 1] -> logits (N, W/4, 11).

    Two 2x2 poolings leave a step every DOWNSAMPLE columns (a digit 20 px wide spans about five);
    two (2, 1) poolings fold the height into the features. The width is free, so one model reads
    a two-digit amount and a phone number alike.
    """
    import keras
    from keras import layers

    from .models import _conv_bn_relu

    inputs = keras.Input((LINE_HEIGHT, None, 1), name="line")
    width = config.features
    x = _conv_bn_relu(inputs, width // 4, 3, strides=2)  # 16 x W/2: strokes are 2-3 px wide, no detail lost
    x = _conv_bn_relu(x, width // 2, 3)
    x = layers.MaxPooling2D(2)(x)  # 8 x W/4
    x = _conv_bn_relu(x, width * 3 // 4, 3)
    x = _conv_bn_relu(x, width * 3 // 4, 3)
    x = layers.MaxPooling2D((2, 1))(x)  # 4 x W/4
    x = _conv_bn_relu(x, width, 3)
    x = layers.MaxPooling2D((2, 1))(x)  # 2 x W/4
    x = layers.Permute((2, 1, 3))(x)  # columns first
    x = layers.Reshape((-1, 2 * width))(x)
    x = layers.Dropout(config.dropout)(x)
    for dilation in (1, 2):  # context of about two digits either way
        x = layers.Conv1D(width * 3 // 2, 5, padding="same", dilation_rate=dilation, activation="relu")(x)
    for _ in range(config.recurrent_layers):
        x = layers.Bidirectional(layers.GRU(config.recurrent_units, return_sequences=True))(x)
    logits = layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inputs, logits, name="line_reader")


def export_line_onnx(model, path: Path, check_lines: np.ndarray) -> float:
    """Export a line reader to ONNX at ``path`` with its GRUs as ONNX ``GRU`` operators; check it
    against Keras on ``check_lines`` float32 (N, 32, W, 1) and return the largest logit difference.

    The converter unrolls a Keras GRU into a loop of small operators, which ONNX Runtime runs about
    three times slower than its own GRU kernel, and writes a dilated Conv1D as some 60 operators that
    reshape the sequence around a plain convolution (TensorFlow's SpaceToBatch; 4-7% of a short
    line's read). So only the 2-D convolutions go through the converter; the Conv1D layers (as
    ONNX ``Conv`` with ``dilations``), the recurrent layers and the dense output are then written as
    ONNX operators from their weights (Keras's GRU, reset_after, is ONNX's with linear_before_reset=1;
    both order the gates z, r, h).
    """
    import keras
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    sequence = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv1D, keras.layers.Bidirectional))]
    tail = model.layers[model.layers.index(sequence[0]):]
    head = keras.Model(model.inputs, sequence[0].input)  # (N, T, F)
    head(check_lines[:1], training=False)  # the exporter wants a model that has run once
    with tempfile.TemporaryDirectory() as folder:  # the convolutions alone are no line reader: never at ``path``
        head.export(str(Path(folder) / "head.onnx"), format="onnx", verbose=False)
        graph_model = onnx.load(str(Path(folder) / "head.onnx"))
    graph = graph_model.graph
    features = graph.output[0].name
    del graph.output[:]
    nodes, weights = [], []

    def constant(name: str, value: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    x, layout = features, "NTF"
    for index, layer in enumerate(tail):
        if isinstance(layer, keras.layers.Conv1D):
            if layer.padding != "same" or layer.strides != (1,) or layer.activation.__name__ != "relu":
                raise TrainError(f"export_line_onnx: no ONNX form for {layer.name} (only \"same\", stride 1, relu)")
            if layout == "NTF":
                nodes.append(helper.make_node("Transpose", [x], [f"{x}_NFT"], perm=[0, 2, 1]))
                x, layout = f"{x}_NFT", "NFT"
            kernel, bias = layer.get_weights()  # (K, I, O), (O,)
            dilation, span = layer.dilation_rate[0], layer.dilation_rate[0] * (kernel.shape[0] - 1)
            out = f"conv1d{index}"
            nodes.append(helper.make_node(  # "same": the odd column of padding on the right, as TensorFlow's
                "Conv", [x, constant(f"{out}_W", kernel.transpose(2, 1, 0)), constant(f"{out}_B", bias)],
                [f"{out}_conv"], dilations=[dilation], kernel_shape=[kernel.shape[0]],
                pads=[span // 2, span - span // 2]))
            x = f"{out}_Y"
            nodes.append(helper.make_node("Relu", [f"{out}_conv"], [x]))
        elif isinstance(layer, keras.layers.Bidirectional):
            if layout != "TNF":
                nodes.append(helper.make_node("Transpose", [x], [f"{x}_by_step"],
                                              perm=[1, 0, 2] if layout == "NTF" else [2, 0, 1]))
                x, layout = f"{x}_by_step", "TNF"
            cells = [layer.forward_layer.cell, layer.backward_layer.cell]
            units = cells[0].units
            kernel = np.stack([c.kernel.numpy().T for c in cells])  # (2, 3U, F)
            recurrent_kernel = np.stack([c.recurrent_kernel.numpy().T for c in cells])  # (2, 3U, U)
            bias = np.stack([c.bias.numpy().reshape(-1) for c in cells])  # (2, 6U): input, then recurrent
            out = f"gru{index}"
            nodes.append(helper.make_node(
                "GRU", [x, constant(f"{out}_W", kernel), constant(f"{out}_R", recurrent_kernel),
                        constant(f"{out}_B", bias)], [f"{out}_Y"], hidden_size=units,
                direction="bidirectional", linear_before_reset=1))
            nodes.append(helper.make_node("Transpose", [f"{out}_Y"], [f"{out}_T"], perm=[0, 2, 1, 3]))  # (T, N, 2, U)
            weights.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), f"{out}_shape"))
            x = f"{out}_seq"
            nodes.append(helper.make_node("Reshape", [f"{out}_T", f"{out}_shape"], [x]))  # (T, N, 2U): forward, backward
        elif isinstance(layer, keras.layers.Dense) and layout == "TNF":
            nodes.append(helper.make_node("Transpose", [x], ["by_line"], perm=[1, 0, 2]))  # (N, T, 2U)
            nodes.append(helper.make_node("MatMul", ["by_line", constant("dense_W", layer.kernel.numpy())],
                                          ["dense_x"]))
            nodes.append(helper.make_node("Add", ["dense_x", constant("dense_B", layer.bias.numpy())], ["logits"]))
        else:
            raise TrainError(f"export_line_onnx: no ONNX form for the layer {layer.name} after the convolutions")
    graph.node.extend(nodes)
    graph.initializer.extend(weights)
    graph.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", "T", CLASSES]))
    onnx.checker.check_model(graph_model)
    expected = model(check_lines, training=False).numpy()
    with atomic_path(path) as tmp:
        onnx.save(graph_model, str(tmp))
        got = line_logits(load_line_session(tmp), check_lines)
        diff, scale = float(np.max(np.abs(got - expected))), max(1.0, float(np.max(np.abs(expected))))
        if not diff <= LOGIT_TOLERANCE * scale:
            raise TrainError(f"ONNX export differs from Keras by {diff:.2e}, over {LOGIT_TOLERANCE:.0e} of the "
                             f"largest logit ({scale:.1f})")
    return diff


def digits_of(text: str) -> str:
    """The digits of a written number: ``"1.990"`` -> ``"1990"``."""
    return "".join(c for c in text if c.isdigit())


def _draw_lines(images, labels, count, seed, styles, width):
    """``count`` synthetic lines as the model's input: uint8 (count, 32, width), targets, lengths, texts.
    Line k is drawn in ``styles[k % len(styles)]``."""
    rng = np.random.default_rng(seed)
    lines = np.zeros((count, LINE_HEIGHT, width), np.uint8)
    targets = np.zeros((count, MAX_DIGITS), np.int32)
    lengths = np.zeros(count, np.int32)
    texts = []
    for index in range(count):
        gray, text = make_line(images, labels, rng, styles[index % len(styles)])
        line = pad_batch([line_input(gray.astype(np.float32) / 255.0)], width)[0, :, :, 0]
        lines[index] = np.round(line * 255)
        digits = [int(c) + 1 for c in digits_of(text)]
        targets[index, :len(digits)] = digits
        lengths[index] = len(digits)
        texts.append(text)
    return lines, targets, lengths, np.array(texts)


def make_lines(images, labels, count: int, seed, style: LineStyle | tuple[LineStyle, ...], width: int,
               workers: int | None = None):
    """``count`` lines drawn in worker processes (about 5 ms a line on one core), in chunks of 2,500.

    ``style`` may be several styles: the lines take them in turn, so each gets an equal share of
    every set, the validation lines too.
    """
    step = 2500
    styles = style if isinstance(style, tuple) else (style,)
    chunks = [(images, labels, min(step, count - start), [*np.atleast_1d(seed), start], styles, width)
              for start in range(0, count, step)]
    return map_chunks(_draw_lines, chunks, workers)


def ctc_loss(y_true, y_pred):
    """CTC loss of logits (N, T, 11) against ``y_true`` (N, MAX_DIGITS + 1): targets, then the length."""
    from keras import ops

    targets = ops.cast(y_true[:, :-1], "int32")
    lengths = ops.cast(y_true[:, -1], "int32")
    steps = ops.full((ops.shape(y_pred)[0],), ops.shape(y_pred)[1], dtype="int32")
    return ops.ctc_loss(targets, y_pred, lengths, steps, mask_index=0)


def read_logits(logits: np.ndarray) -> list[str]:
    """Greedy CTC decoding of a batch of logits (N, T, 11): the digit strings."""
    return ["".join(str(d.digit) for d in decode(row)) for row in logits]


def exact_match(predicted: list[str], texts) -> float:
    return float(np.mean([p == digits_of(t) for p, t in zip(predicted, texts)])) if len(texts) else 0.0


def make_exact_match_callback(x_val, texts_val, batch_size: int):
    """A Keras callback that puts the validation exact-match accuracy into the epoch's logs."""
    import keras

    class ExactMatch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logits = self.model.predict(x_val, batch_size=batch_size * 4, verbose=0)
            logs["val_exact"] = exact_match(read_logits(logits), texts_val)
            print(f"epoch {epoch + 1}: validation exact match {logs['val_exact']:.2%}", flush=True)

    return ExactMatch()


def as_float(lines: np.ndarray) -> np.ndarray:
    return (lines.astype(np.float32) / 255.0)[..., np.newaxis]


def load_digits(config: LineConfig):
    """MNIST digits for the three line sets: training and validation from the training set, test from the test set."""
    (x_train, y_train), (x_test, y_test) = data.load_mnist(config.data_dir)
    x_train, y_train = data.limit_per_split(x_train, y_train, config.limit, SPLIT_SEED)
    x_test, y_test = data.limit_per_split(x_test, y_test, config.limit, SPLIT_SEED)
    train_idx, val_idx = data.stratified_split(y_train, 0.1, SPLIT_SEED)
    return {"train": (x_train[train_idx], y_train[train_idx]), "val": (x_train[val_idx], y_train[val_idx]),
            "test": (x_test, y_test)}


TRAINING_STYLES = {"general": (LineStyle(),), "cheque": (CHEQUE,), "mixed": (LineStyle(), CHEQUE),  # LineConfig.style
                   "mixed-writers": (LineStyle(), CHEQUE_WRITERS), "mixed-closing": (LineStyle(), CHEQUE_CLOSING),
                   "mixed-round": (LineStyle(), CHEQUE_ROUND)}


def training_styles(name: str, mark_share: float, stray_share: float) -> tuple[LineStyle, ...]:
    """The styles of TRAINING_STYLES[name], each with these shares of marks and stray marks."""
    return tuple(dataclasses.replace(s, mark_share=mark_share, stray_share=stray_share)
                 for s in TRAINING_STYLES[name])


TEST_STYLES = {  # the report's synthetic test sets, from MNIST test digits
    "canvas": CANVAS,  # touching digits on plain paper, as the web page's canvas gets them
    "touching": LineStyle(touching_share=1.0),  # the training style: separators, dashes, patterned paper
    "gaps": LineStyle(touching_share=0.0),
}


def evaluate_lines(model_path: Path, config: LineConfig, digits: dict, run: RunFolder, extra: dict) -> dict:
    """Exact-match accuracy of the exported model on synthetic test lines, per style and length."""
    session = load_line_session(model_path)
    metrics: dict = {"model": str(model_path), **extra, "test": {}}
    for offset, (style_name, style) in enumerate(TEST_STYLES.items()):
        lines, _, lengths, texts = make_lines(*digits["test"], config.test_lines // len(TEST_STYLES),
                                              [config.seed, 40_000 + offset], style, config.width)
        logits = np.concatenate([line_logits(session, as_float(lines[i:i + 256]))
                                 for i in range(0, len(lines), 256)])
        predicted = read_logits(logits)
        by_length = {int(n): exact_match([p for p, m in zip(predicted, lengths == n) if m], texts[lengths == n])
                     for n in np.unique(lengths)}
        metrics["test"][style_name] = {"exact_match": exact_match(predicted, texts), "lines": len(texts),
                                       "by_digits": by_length}
    metrics["exact_match"] = float(np.mean([m["exact_match"] for m in metrics["test"].values()]))
    write_json(run.metrics, metrics)
    return metrics


def render_line_report(metrics: dict, config: dict, curves: Path) -> str:
    """One self-contained HTML page: exact match per test style and length, curves, configuration."""
    import html

    from .evaluate import _img_tag

    rows = "".join(
        f"<tr><td>{html.escape(style)}</td><td>{m['exact_match']:.2%}</td><td>{m['lines']}</td><td>"
        + ", ".join(f"{n}: {v:.1%}" for n, v in m["by_digits"].items()) + "</td></tr>"
        for style, m in metrics["test"].items())
    settings = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in config.items())
    return ("<!doctype html><html lang=en><head><meta charset=utf-8><title>digitcnn line reader: "
            f"{metrics['exact_match']:.2%}</title><style>body{{font-family:system-ui,sans-serif;max-width:1000px;"
            "margin:2em auto}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
            "table{border-collapse:collapse}img{max-width:100%}</style></head><body>"
            f"<h1>digitcnn line reader</h1><p>Exact match <b>{metrics['exact_match']:.2%}</b> on synthetic "
            "numbers written with MNIST <em>test</em> digits (a number is right only when all its digits "
            f"are), model <code>{html.escape(metrics['model'])}</code>, ONNX Runtime.</p>"
            "<table><tr><th>test set</th><th>exact match</th><th>lines</th><th>by number of digits</th></tr>"
            f"{rows}</table><h2>Loss and exact match per epoch</h2>{_img_tag(curves, 'Training curves')}"
            f"<h2>Configuration</h2><table>{settings}</table>"
            f"<p>Training time {metrics['train_seconds']:.0f} s, best epoch {metrics['best_epoch']}, "
            f"ONNX export max difference from Keras {metrics['onnx_max_abs_diff']:.1e}.</p></body></html>\n")


def keras_file(init_from: str | Path) -> Path:
    """The .keras line reader that ``--init-from`` names: the file, or a train-lines run folder's
    model.keras; TrainError when there is none."""
    start = Path(init_from)
    start = start / "model.keras" if start.is_dir() else start
    if not start.is_file():
        raise TrainError(f"--init-from {init_from}: no model.keras there (train the first stage first)")
    return start


def train_lines(config: LineConfig, out_dir: str | Path, verbose: int = 2, overwrite: bool = False,
                log=print) -> dict:
    """Synthesize lines, train the line reader, export it to ONNX and evaluate it; return the metrics."""
    run = RunFolder(out_dir)
    epochs_done = prepare_out_dir(run, config, overwrite)
    start = keras_file(config.init_from) if config.init_from else None

    import keras

    keras.utils.set_random_seed(config.seed)
    digits = load_digits(config)
    started = time.perf_counter()
    style = training_styles(config.style, config.mark_share, config.stray_share)
    x_val, _, _, texts_val = make_lines(*digits["val"], config.val_lines, [config.seed, 2], style, config.width)
    training = epochs_done < config.epochs  # a run stopped after its last epoch only exports and evaluates
    if training:
        x_train, t_train, n_train, _ = make_lines(*digits["train"], config.lines, [config.seed, 1], style,
                                                  config.width)
        y_train = np.concatenate([t_train, n_train[:, np.newaxis]], axis=1)
        steps_per_epoch = -(-len(x_train) // config.batch_size)
        log(f"Drew {len(x_train)} training and {len(x_val)} validation lines in "
            f"{time.perf_counter() - started:.0f} s")

    history: dict = {}
    if epochs_done:
        history = read_json(run.checkpoint_state)["history"]
        if training:
            model = keras.models.load_model(run.checkpoint_last, custom_objects={"ctc_loss": ctc_loss})
        log(f"Resuming {run.path} from epoch {epochs_done} of {config.epochs}")
    else:
        if start:  # a second stage: the first stage's weights, a new optimizer and schedule
            model = keras.models.load_model(start, custom_objects={"ctc_loss": ctc_loss}, compile=False)
        else:
            model = build_line_model(config)
        total = steps_per_epoch * config.epochs
        warmup = max(1, total // 20)
        schedule = keras.optimizers.schedules.CosineDecay(
            config.learning_rate / 10, decay_steps=max(1, total - warmup), warmup_target=config.learning_rate,
            warmup_steps=warmup, alpha=0.02)
        model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=5.0), loss=ctc_loss)
        write_run_record(run, config)
        log(f"Training the line reader ({model.count_params()} parameters) for {config.epochs} epochs "
            f"on {len(x_train)} lines; run folder {run.path}")

    if training:
        import tensorflow as tf

        dataset = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
                   .shuffle(min(len(x_train), 20_000), seed=config.seed)
                   .batch(config.batch_size)
                   .map(lambda x, y: (tf.cast(x, tf.float32)[..., tf.newaxis] / 255.0, y),
                        num_parallel_calls=tf.data.AUTOTUNE)
                   .prefetch(2))
        model.fit(dataset, epochs=config.epochs, initial_epoch=epochs_done, verbose=verbose,
                  validation_data=(as_float(x_val), np.zeros((len(x_val), MAX_DIGITS + 1), np.int32)),
                  callbacks=[make_exact_match_callback(as_float(x_val), texts_val, config.batch_size),
                             make_epoch_checkpoint(run, history, keys=("loss", "val_loss", "val_exact"),
                                                   best_key="val_exact")])
    best = keras.models.load_model(run.checkpoint_best, custom_objects={"ctc_loss": ctc_loss})
    metrics = finish_line_run(best, run, config, digits, as_float(x_val[:64]), history)
    shutil.rmtree(run.checkpoint, ignore_errors=True)
    return metrics


def finish_line_run(best, run: RunFolder, config: LineConfig, digits: dict, check_lines: np.ndarray,
                    history: dict) -> dict:
    """Save the ``best`` Keras model of a run, export it to ONNX (checked on ``check_lines``, float32
    (N, 32, W, 1)), evaluate it on synthetic test lines and write the history, curves and report.

    ``history`` holds per-epoch lists: ``seconds``, ``val_exact`` and ``loss`` (``val_loss`` if measured).
    """
    with atomic_path(run.model_keras) as tmp:
        best.save(tmp)
    parity = export_line_onnx(best, run.model_onnx, check_lines)
    write_json(run.history, history)

    from .figures import plot_curves

    curves = plot_curves(history, run.figures / "curves.png", metric="exact", metric_name="Exact match")
    metrics = evaluate_lines(run.model_onnx, config, digits, run, {
        "train_seconds": float(sum(history["seconds"])), "onnx_max_abs_diff": parity,
        "best_epoch": int(np.argmax(history["val_exact"])) + 1, "validation_exact_match": max(history["val_exact"])})
    write_text(run.report, render_line_report(metrics, read_json(run.config)["config"], curves))
    return metrics

