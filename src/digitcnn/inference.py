"""Running an exported model with ONNX Runtime: what evaluation, prediction and the server share.

Imports ONNX Runtime and NumPy only (about 0.1 s), never TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import NUM_CLASSES
from .errors import DigitcnnError
from .models import INPUT_SHAPE

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_MODELS_DIR = PACKAGE_DIR.parent.parent / "models"
DEFAULT_MODEL_NAME = "digitcnn.onnx"
LINE_MODEL_NAME = "lines.onnx"  # the line reader (digitcnn.sequence), beside the digit model


class ModelError(DigitcnnError, RuntimeError):
    """The model file is missing or not a usable digit classifier."""


def default_model_path(name: str = DEFAULT_MODEL_NAME) -> Path:
    """A pretrained model: shipped in the package when installed, else the repository's models/."""
    for candidate in (PACKAGE_DIR / "pretrained" / name, REPO_MODELS_DIR / name):
        if candidate.is_file():
            return candidate
    raise ModelError(f"no pretrained model found (looked for {name} in "
                     f"{PACKAGE_DIR / 'pretrained'} and {REPO_MODELS_DIR}); train one or pass --model")


def resolve_model_path(model: str | Path | None) -> Path:
    """A model path from a .onnx file, a run folder holding model.onnx, or None (the default)."""
    if model is None:
        return default_model_path()
    path = Path(model)
    if path.is_dir() and not (path / "model.onnx").is_file():
        found = sorted(child.name for child in path.glob("*.onnx"))
        holds = f"it holds {', '.join(found)}: name one of them" if found else "it holds no .onnx file"
        raise ModelError(f"{path}: not a run folder (a run folder holds model.onnx); {holds}")
    if path.is_dir():
        path = path / "model.onnx"
    if not path.is_file():
        raise ModelError(f"{path}: no such ONNX model (expected a .onnx file or a run folder)")
    return path


def open_session(path: Path, threads: int | None = None):
    """An ONNX Runtime session (CPU) on the file at ``path``; ModelError when it does not load."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types, all about the file
        raise ModelError(f"{path}: not a loadable ONNX model ({exc})") from exc


def load_session(model: str | Path | None = None, threads: int | None = None):
    """Open an ONNX Runtime session on the model; checks input (N, 28, 28, 1) and output (N, 10),
    or (N, 11) for a model with the "not a digit" class (its last column)."""
    path = resolve_model_path(model)
    session = open_session(path, threads)
    shape_in = session.get_inputs()[0].shape
    shape_out = session.get_outputs()[0].shape
    if tuple(shape_in[1:]) != INPUT_SHAPE or list(shape_out[1:]) not in ([NUM_CLASSES], [NUM_CLASSES + 1]):
        raise ModelError(f"{path}: expected input (N, 28, 28, 1) and output (N, 10) or (N, 11), "
                         f"got {shape_in} and {shape_out}")
    return session


def predict_proba(session, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities for float32 images (N, 28, 28, 1) in [0, 1]: float32 (N, C), C = 10 digits,
    or 11 with the probability of "not a digit" last."""
    name = session.get_inputs()[0].name
    images = np.ascontiguousarray(images, dtype=np.float32)
    if len(images) == 0:
        return np.zeros((0, session.get_outputs()[0].shape[1]), dtype=np.float32)
    batches = [session.run(None, {name: images[i:i + batch_size]})[0]
               for i in range(0, len(images), batch_size)]
    return np.concatenate(batches)
