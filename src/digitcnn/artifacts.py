"""Artifacts: atomic writes, and the names of a run folder's files (``RunFolder``).

Every artifact is written to a temporary file beside it, then renamed: a run that is interrupted
(Ctrl-C, kill, power cut) therefore leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path in the same folder as ``path``; rename it to ``path`` on success.

    The temporary name keeps the suffix of ``path`` (Keras and ONNX look at it). On an
    exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as Keras refuse or mishandle an existing file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class RunFolder:
    """The files of a run folder, each named once.

        run = RunFolder("runs/fast"); run.model_onnx, run.metrics, run.checkpoint / ...
    """

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    config = property(lambda self: self.path / "config.json")  # TrainConfig, versions, checksums, machine
    history = property(lambda self: self.path / "history.json")  # per-epoch loss and accuracy
    model_keras = property(lambda self: self.path / "model.keras")  # the best model by validation accuracy
    model_onnx = property(lambda self: self.path / "model.onnx")  # the same, for ONNX Runtime
    model_int8 = property(lambda self: self.path / "model.int8.onnx")  # digitcnn quantize's default output
    metrics = property(lambda self: self.path / "metrics.json")
    classification_report = property(lambda self: self.path / "classification_report.txt")
    report = property(lambda self: self.path / "report.html")
    figures = property(lambda self: self.path / "figures")
    checkpoint = property(lambda self: self.path / "checkpoint")  # while training: the last finished epoch
    checkpoint_state = property(lambda self: self.checkpoint / "state.json")  # written last: points at complete files
    checkpoint_last = property(lambda self: self.checkpoint / "last.keras")  # with the optimizer state, to resume
    checkpoint_best = property(lambda self: self.checkpoint / "best.keras")
    members = property(lambda self: self.path / "members")  # an ensemble's member runs
