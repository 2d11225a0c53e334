"""A wheel built from this tree carries the data and the pretrained model, and predicts on its own."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
from PIL import Image


def build_wheel_from_sdist(tmp_path, root):
    """What `python -m build` does: an sdist of the tracked files, then a wheel built from that sdist.

    Everything happens in copies under ``tmp_path``: a build in the checkout would leave build/
    behind, and setuptools would put its stale files into later wheels.
    """
    tree = tmp_path / "tree"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, tree / name)
    build = "from setuptools import build_meta; print(build_meta.build_sdist({!r}))"
    sdist_name = subprocess.run([sys.executable, "-c", build.format(str(tmp_path / "sdist"))], cwd=tree,
                                capture_output=True, text=True, check=True).stdout.split()[-1]
    with tarfile.open(tmp_path / "sdist" / sdist_name) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    unpacked = next((tmp_path / "unpacked").iterdir())
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(unpacked), "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(tmp_path / "dist")], check=True, capture_output=True)
    return next((tmp_path / "dist").glob("digitcnn-*.whl"))


def test_wheel_carries_the_model_and_predicts_without_the_repository(tmp_path, root):
    wheel = build_wheel_from_sdist(tmp_path, root)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("digitcnn/pretrained/digitcnn.onnx") == (root / "models" / "digitcnn.onnx").read_bytes()
    assert {"digitcnn/pretrained/metrics.json", "digitcnn/mnist/t10k-images-idx3-ubyte.gz",
            "digitcnn/static/index.html"} <= names
    assert not [name for name in names if name.startswith("digitcnn/models/")]

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    from digitcnn import data

    (_, _), (x_test, y_test) = data.load_mnist()
    Image.fromarray(255 - x_test[0]).resize((56, 56)).save(tmp_path / "digit.png")
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONWARNINGS": "ignore"}
    script = ("import json, sys\nfrom digitcnn.inference import default_model_path\n"
              "print(json.dumps(str(default_model_path())))\n"
              "from digitcnn.cli import main\nsys.exit(main(['predict', 'digit.png', '--json']))")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, check=False, text=True)
    assert result.returncode == 0, result.stderr
    # the pretrained model the wheel carries, not the repository's models/
    assert json.loads(result.stdout.splitlines()[0]).startswith(str(site))
    assert json.loads(result.stdout.splitlines()[1])["digits"] == str(y_test[0])
    assert np.isfinite(json.loads(result.stdout.splitlines()[1])["confidence"])


def test_a_missing_optional_dependency_is_a_clear_error(tmp_path, root):
    """Prediction needs no extra; train and quantize name the package and the extra to install."""
    for blocked, args in (("onnx", ["quantize", "--model", str(root / "models" / "digitcnn-float32.onnx"),
                                    "--out", str(tmp_path)]),
                          ("keras", ["train", "--limit", "100", "--out", str(tmp_path / "run")])):
        script = f"import sys\nsys.modules[{blocked!r}] = None\nfrom digitcnn.cli import main\nsys.exit(main({args!r}))"
        result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, check=False, text=True)
        assert result.returncode == 1, result.stderr
        assert f"needs the Python package {blocked!r}" in result.stderr and "digitcnn[train]" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "digitcnn-float32.int8.onnx").exists()
