"""Shared fixtures: synthetic IDX files, and one tiny training run reused by several tests."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write a uint8 array as an IDX file (labels 1-D, images 3-D), gzip'd when ``compress``."""
    magic = 0x801 if array.ndim == 1 else 0x803
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    raw = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def run_cli(*args, check=False, timeout=600, **kwargs):
    """Run ``python -m digitcnn ARGS`` and return the CompletedProcess (text output)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    stdin_bytes = kwargs.pop("stdin_bytes", None)
    result = subprocess.run([sys.executable, "-m", "digitcnn", *map(str, args)], capture_output=True,
                            timeout=timeout, env=env, cwd=kwargs.pop("cwd", ROOT),
                            input=stdin_bytes if stdin_bytes is not None else b"", **kwargs)
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
    if check and result.returncode != 0:
        raise AssertionError(f"digitcnn {args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A whole `digitcnn train --preset fast` run on 3,000 images: (run folder, CLI result)."""
    out = tmp_path_factory.mktemp("runs") / "fast"
    result = run_cli("train", "--preset", "fast", "--limit", 3000, "--epochs", 2, "--quiet", "--out", out,
                     check=True)
    return out, result
