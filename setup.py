"""Build hook: wheels carry the pretrained default model from the repository's models/.

The model lives once, in models/ (where `make model` writes it and the tests check it); this
copies the files that prediction needs (the digit model, its metrics, the line reader) into the package at build time, where
inference.default_model_path looks first. Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("digitcnn.onnx", "metrics.json", "lines.onnx")


class BuildPyWithModel(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "digitcnn" / "pretrained"
        target.mkdir(parents=True, exist_ok=True)
        for name in SHIPPED:
            shutil.copyfile(ROOT / "models" / name, target / name)


setup(cmdclass={"build_py": BuildPyWithModel})
