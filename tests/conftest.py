"""Shared fixtures: the repository, the CLI, MNIST, the default reader, one local image server, a tiny run.

Tests ask for these by name; nothing is imported from this file.
"""

import gzip
import io
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def _write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write a uint8 array as an IDX file (labels 1-D, images 3-D), gzip'd when ``compress``."""
    magic = 0x801 if array.ndim == 1 else 0x803
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    raw = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def _run_cli(*args, check=False, timeout=600, **kwargs):
    """Run ``python -m digitcnn ARGS`` and return the CompletedProcess (text output)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **kwargs.pop("env", {})}
    stdin_bytes = kwargs.pop("stdin_bytes", None)
    if "stdin" not in kwargs:  # a file object to read from, or these bytes (none by default)
        kwargs["input"] = stdin_bytes if stdin_bytes is not None else b""
    result = subprocess.run([sys.executable, "-m", "digitcnn", *map(str, args)], capture_output=True, check=False,
                            timeout=timeout, env=env, cwd=kwargs.pop("cwd", ROOT), **kwargs)
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
    if check and result.returncode != 0:
        raise AssertionError(f"digitcnn {args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository's root folder."""
    return ROOT


@pytest.fixture(scope="session")
def run_cli():
    """``run_cli(*args, check=False, timeout=600, stdin_bytes=None, stdin=None, env={}, cwd=ROOT)``:
    `python -m digitcnn ARGS`, its output as text."""
    return _run_cli


@pytest.fixture(scope="session")
def write_idx():
    """``write_idx(path, array, compress=True)``: a uint8 array as an IDX file."""
    return _write_idx


@pytest.fixture(scope="session")
def mnist():
    """The shipped MNIST: ((x_train, y_train), (x_test, y_test)), uint8."""
    from digitcnn import data

    return data.load_mnist()


@pytest.fixture(scope="session")
def mnist_test(mnist):
    """(x_test, y_test): uint8 (10000, 28, 28) and (10000,)."""
    return mnist[1]


@pytest.fixture(scope="session")
def reader():
    """The default model's DigitReader, loaded once."""
    from digitcnn import DigitReader

    return DigitReader()


def _png(image, format="PNG", **kwargs) -> bytes:
    out = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(out, format=format, **kwargs)
    return out.getvalue()


class _ImageHandler(BaseHTTPRequestHandler):
    png = b""

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if not any(k == "Content-Length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path
        if path == "/digit.png":
            self.send(200, self.png, [("Content-Type", "image/png")])
        elif path == "/lying.png":  # says it is a PNG, is not
            self.send(200, b"<html>hello</html>", [("Content-Type", "image/png")])
        elif path == "/slow":
            time.sleep(3)
            self.send(200, self.png)
        elif path == "/huge":  # 11 MB with no Content-Length: the cap must hold while streaming
            self.send_response(200)
            self.end_headers()
            for _ in range(11 * 16):
                try:
                    self.wfile.write(b"\0" * 65536)
                except OSError:
                    return
        elif path == "/trickle":  # one byte every half second: each byte restarts a read timeout
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100000):
                try:
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.5)
        elif path == "/huge-declared":
            self.send(200, b"", [("Content-Length", str(50 * 1024 * 1024))])
        elif path == "/loop":
            self.send(302, headers=[("Location", "/loop")])
        elif path == "/redirect":
            self.send(301, headers=[("Location", "/digit.png")])
        elif path == "/to-private":  # a public-looking first hop that redirects to another loopback address
            self.send(302, headers=[("Location", f"http://127.0.0.2:{self.server.server_address[1]}/digit.png")])
        else:
            self.send(404, b"not found")


@pytest.fixture(scope="session")
def digit_png(mnist_test) -> bytes:
    """The first MNIST test digit (a 7) as dark ink on white, 84x84, PNG: what the image server serves."""
    x_test, _ = mnist_test
    return _png(Image.fromarray(255 - x_test[0]).resize((84, 84)))


@pytest.fixture(scope="session")
def image_server(digit_png):
    """The one local HTTP server of the tests, on 127.0.0.1: its base URL. Paths: /digit.png, /lying.png,
    /slow, /trickle, /huge, /huge-declared, /loop, /redirect, /to-private, anything else 404."""
    _ImageHandler.png = digit_png
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ImageHandler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def live_server(root):
    """`digitcnn serve --allow-private-urls` in a child process on a free port (its memory is its own,
    and the image server on 127.0.0.1 can be reached): (base URL, process)."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "digitcnn", "serve", "--port", str(port),
                                "--allow-private-urls"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {process.stderr.read().decode()}") from None
            time.sleep(0.2)
    yield url, process
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A whole `digitcnn train --preset fast` run on 3,000 images: (run folder, CLI result)."""
    out = tmp_path_factory.mktemp("runs") / "fast"
    result = _run_cli("train", "--preset", "fast", "--limit", 3000, "--epochs", 2, "--quiet", "--out", out,
                      check=True)
    return out, result


@pytest.fixture(scope="session")
def number_ink(mnist_test):
    """``number_ink(number, overlap, k=0)``: the digits of ``number`` (MNIST test digits, the k-th
    of each kind onwards) side by side, float32 light ink on black, each 100 px tall; ``overlap``
    > 0 pushes each digit that share of its width into the one before, < 0 leaves a gap."""
    import cv2

    x_test, y_test = mnist_test

    def write(number: str, overlap: float, k: int = 0) -> np.ndarray:
        parts = []
        for i, char in enumerate(number):
            digit = x_test[np.flatnonzero(y_test == int(char))[k + i]]
            rows, cols = np.nonzero(digit > 30)
            crop = digit[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
            width = round(crop.shape[1] * 100 / crop.shape[0])
            parts.append(cv2.resize(crop, (width, 100), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255)
        canvas = np.zeros((100, sum(p.shape[1] for p in parts) + 10), np.float32)
        x = 0
        for part in parts:
            x = max(0, x - int(overlap * part.shape[1]))
            region = canvas[:, x:x + part.shape[1]]
            np.maximum(region, part[:, :region.shape[1]], out=region)
            x += part.shape[1]
        return canvas[:, :x]

    return write


@pytest.fixture(scope="session")
def touching_number(number_ink):
    """``touching_number(number)``: ``number_ink`` of the first MNIST test digits whose strokes do
    touch when pushed together, with a canvas pen's solid strokes."""
    import cv2

    def write(number: str) -> np.ndarray:
        for k in range(10):
            ink = number_ink(number, overlap=0.25, k=k)
            if cv2.connectedComponents((ink > 0.3).astype(np.uint8))[0] == 2:  # background and one mark
                return np.clip(ink * 1.5, 0, 1)
        raise AssertionError(f"no touching {number} in the first test digits")

    return write
