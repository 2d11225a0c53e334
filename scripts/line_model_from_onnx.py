"""Rebuild a line reader's Keras model from its ONNX export, so that a shipped reader can be trained further.

    python scripts/line_model_from_onnx.py [--onnx models/lines.onnx] [--preset lines-writers] [--out runs/lines-shipped]

Only models/lines.onnx is shipped; the .keras file of the run that made it is not in the repository.
`train_lines.export_line_onnx` writes the 2-D convolutions through the converter, which folds each
batch normalization into its convolution's weights and a bias, and the Conv1D layers, the GRUs and the
dense output as ONNX operators from their weights. This script builds the preset's architecture
(`build_line_model`) and puts the weights back:
- each convolution takes the folded weights; its batch normalization becomes the identity around a
  shift by the folded bias, with moving statistics measured on synthetic lines (MNIST training
  digits, the preset's style), so that training mode (batch statistics) starts where inference is;
- the Conv1D, GRU and dense weights go back as they were (ONNX's GRU with linear_before_reset is
  Keras's with reset_after; both order the gates z, r, h).
It checks the rebuilt model's logits against the ONNX file on synthetic lines (at most 1e-4 of the
largest logit) and writes OUT/model.keras (atomically), which `--init-from OUT` continues.
`--export PATH` also writes the rebuilt model to PATH as today's `export_line_onnx` writes it (a file
of an older exporter, whose Conv1D layers came through the converter, is written again that way),
checked against the ONNX file as the Keras model is.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from digitcnn.artifacts import atomic_path
from digitcnn.config import make_line_config
from digitcnn.sequence import line_logits, load_line_session
from digitcnn.train_lines import (
    as_float,
    build_line_model,
    export_line_onnx,
    load_digits,
    make_lines,
    training_styles,
)

CHECK_TOLERANCE = 1e-4  # of the largest logit: float32 sums in another order, and statistics measured


def onnx_weights(path: Path) -> dict:
    """The weights of a line reader's ONNX file, in graph order: "conv2d" [(OIHW weights, bias)],
    "conv1d" [(O, I, K) weights, bias)], "gru" [(W, R, B)], "dense" (W, B)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found = {"conv2d": [], "conv1d": [], "gru": [], "dense": (values["dense_W"], values["dense_B"])}
    for node in graph.node:
        if node.op_type == "Conv":
            weights = values[node.input[1]]
            if weights.ndim == 3:  # a Conv1D, as export_line_onnx writes it
                found["conv1d"].append((weights, values[node.input[2]]))
            elif weights.shape[2] == 1:  # a Conv1D through the converter: a (1, K) convolution, its bias added after
                found["conv1d"].append((weights[:, :, 0, :],
                                        _added_bias(node.output[0], consumers, values, weights.shape[0])))
            else:
                found["conv2d"].append((weights, values[node.input[2]]))
        elif node.op_type == "GRU":
            found["gru"].append(tuple(values[name] for name in node.input[1:4]))
    return found


def _added_bias(tensor: str, consumers: dict, values: dict, size: int, depth: int = 12) -> np.ndarray:
    """The constant of ``size`` values added to ``tensor`` within a few reshaping steps; zeros when
    there is none (the converter leaves out a bias of zeros; a wrong guess fails the logits check)."""
    frontier = [tensor]
    for _ in range(depth):
        following = []
        for name in frontier:
            for node in consumers.get(name, []):
                if node.op_type == "Add":
                    for other in node.input:
                        if other in values and values[other].size == size:
                            return values[other].reshape(-1)
                if node.op_type not in ("Conv", "GRU", "MatMul"):  # the converter's reshaping steps
                    following += list(node.output)
        frontier = following
    return np.zeros(size, np.float32)


def rebuild(onnx_path: Path, config, calibration: np.ndarray):
    """The Keras line reader of ``config``'s shape with the weights of ``onnx_path``; the batch
    normalizations' moving statistics measured on ``calibration`` float32 (N, 32, W, 1)."""
    import keras

    weights = onnx_weights(onnx_path)
    model = build_line_model(config)
    layer_types = [type(layer).__name__ for layer in model.layers]
    if (layer_types.count("Conv2D"), layer_types.count("Conv1D"), layer_types.count("Bidirectional")) != (
            len(weights["conv2d"]), len(weights["conv1d"]), len(weights["gru"])):
        raise SystemExit(f"{onnx_path} is not a {config.preset} line reader: its layers differ")
    conv2d, conv1d, gru = iter(weights["conv2d"]), iter(weights["conv1d"]), iter(weights["gru"])
    bias = None
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = next(conv2d)
            layer.set_weights([kernel.transpose(2, 3, 1, 0)])  # OIHW -> HWIO
        elif isinstance(layer, keras.layers.BatchNormalization):
            # identity around the folded bias: gamma (x - mean) / sqrt(var + eps) + beta = x + bias
            before = keras.Model(model.inputs, layer.input)
            outputs = before.predict(calibration, batch_size=256, verbose=0)
            mean, var = outputs.mean(axis=(0, 1, 2)), outputs.var(axis=(0, 1, 2))
            layer.set_weights([np.sqrt(var + layer.epsilon), mean + bias, mean, var])
        elif isinstance(layer, keras.layers.Conv1D):
            kernel, conv_bias = next(conv1d)
            layer.set_weights([kernel.transpose(2, 1, 0), conv_bias])  # (O, I, K) -> (K, I, O)
        elif isinstance(layer, keras.layers.Bidirectional):
            w, r, b = next(gru)
            for direction, cell in enumerate((layer.forward_layer.cell, layer.backward_layer.cell)):
                cell.kernel.assign(w[direction].T)
                cell.recurrent_kernel.assign(r[direction].T)
                cell.bias.assign(b[direction].reshape(2, -1))
        elif isinstance(layer, keras.layers.Dense):
            layer.set_weights(list(weights["dense"]))
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, default=ROOT / "models" / "lines.onnx")
    parser.add_argument("--preset", default="lines-writers", help="the line preset whose architecture the file has")
    parser.add_argument("--out", type=Path, default=Path("runs/lines-shipped"))
    parser.add_argument("--lines", type=int, default=2000, help="synthetic lines to measure and check on")
    parser.add_argument("--export", type=Path, metavar="PATH",
                        help="also write the rebuilt model to PATH with today's export_line_onnx (may be --onnx)")
    args = parser.parse_args()
    config = make_line_config(args.preset)
    digits = load_digits(config)
    styles = training_styles(config.style, config.mark_share, config.stray_share)
    lines, _, _, _ = make_lines(*digits["val"], args.lines, [config.seed, 7], styles, config.width)
    lines = as_float(lines)
    model = rebuild(args.onnx, config, lines[: args.lines // 2])
    check = lines[args.lines // 2:]
    expected = line_logits(load_line_session(args.onnx), check)
    got = model.predict(check, batch_size=256, verbose=0)
    diff, scale = float(np.max(np.abs(got - expected))), max(1.0, float(np.max(np.abs(expected))))
    if not diff <= CHECK_TOLERANCE * scale:
        raise SystemExit(f"the rebuilt model differs from {args.onnx} by {diff:.2e} (largest logit {scale:.1f})")
    with atomic_path(args.out / "model.keras") as tmp:  # (its name keeps the .keras suffix)
        model.save(str(tmp))
    print(f"{args.out / 'model.keras'} <- {args.onnx}: logits within {diff:.1e} of the ONNX file's "
          f"(largest {scale:.1f}) on {len(check)} synthetic lines")
    if args.export:
        with atomic_path(args.export) as tmp:  # (the file read above may be the one written)
            export_line_onnx(model, tmp, check[:64])
            diff = float(np.max(np.abs(line_logits(load_line_session(tmp), check) - expected)))
            if not diff <= CHECK_TOLERANCE * scale:
                raise SystemExit(f"the export differs from {args.onnx} by {diff:.2e} (largest logit {scale:.1f})")
        print(f"{args.export} <- {args.out / 'model.keras'}: logits within {diff:.1e} of {args.onnx}'s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
