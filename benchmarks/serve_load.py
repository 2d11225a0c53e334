"""Load on the HTTP API: `digitcnn serve` against the previous revision's and a minimal Keras server.

    python benchmarks/serve_load.py [--requests 2000] [--concurrency 16] [--workers 1]
                                    [--inputs mnist canvas photo] [--baseline-ref 405860b] [--keras]

Every server runs on 127.0.0.1 in a child process and gets the same bounded load, `concurrency`
requests at a time, POSTed as raw bodies, for each kind of input:
- ``mnist``: 28x28 PNGs of MNIST test digits (the easy case);
- ``canvas``: what the web page posts, a 560x280 RGBA PNG of a digit drawn on white;
- ``photo``: a 2000x1500 phone-style JPEG (shaded paper, pen digit).
``digitcnn`` is the working tree; ``previous`` is git revision ``--baseline-ref`` served from an
exported copy of its tree; ``--keras`` adds a minimal Keras `model.predict` server (MNIST only).
Reports throughput, p50 and p99 latency, errors, wrong answers and the server's resident memory.
Target for digitcnn on 2 cores with canvas PNGs: >= 500 requests/s, p99 <= 50 ms, no errors.
"""

import argparse
import contextlib
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from digitcnn import data, synthetic

KERAS_SERVER = """
import io, sys, numpy as np
from PIL import Image
import keras
from fastapi import FastAPI, Request
model = keras.models.load_model(sys.argv[1])
app = FastAPI()

@app.get("/healthz")
def healthz():
    return {"status": "ok"}

@app.post("/api/predict")
async def predict(request: Request):
    x = np.asarray(Image.open(io.BytesIO(await request.body())).convert("L"), dtype=np.float32)
    p = model.predict(x[None, :, :, None] / 255, verbose=0)[0]
    return {"digits": str(int(p.argmax())), "confidence": float(p.max())}

import uvicorn
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited")
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MB."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def load(port: int, bodies: list[bytes], expected: list[str], requests: int, concurrency: int) -> dict:
    """``concurrency`` threads, each with one keep-alive connection, share ``requests`` POSTs.

    (Plain http.client in threads: an asyncio httpx client topped out near 500 requests/s here
    on its own CPU cost, even against a trivial endpoint, and would have measured itself.)
    """
    latencies, failures = [], {"errors": 0, "wrong": 0}
    lock = threading.Lock()
    indices = iter(range(requests))

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(indices, None)
            if i is None:
                return
            started = time.perf_counter()
            try:
                connection.request("POST", "/api/predict", body=bodies[i % len(bodies)])
                response = connection.getresponse()
                payload = response.read()
                latency = time.perf_counter() - started
                with lock:
                    latencies.append(latency)
                    if response.status != 200:
                        failures["errors"] += 1
                    elif json.loads(payload)["digits"] != expected[i % len(bodies)]:
                        failures["wrong"] += 1
            except (OSError, http.client.HTTPException):
                with lock:
                    failures["errors"] += 1
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"throughput": requests / wall, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * float(np.percentile(latencies, 99)), **failures}


@contextlib.contextmanager
def served(command: list[str], port: int, pythonpath: Path | None = None):
    """The server ``command`` (listening on ``port``) as a child process, once it answers /healthz;
    this tree's, or the one whose src/ is ``pythonpath`` (run beside it, it finds its own models/).
    Terminated on leaving."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else None
    cwd = pythonpath.parent if pythonpath else ROOT
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


def run(name: str, command: list[str], port: int, bodies, expected, requests: int, concurrency: int,
        pythonpath: Path | None = None) -> dict:
    with served(command, port, pythonpath) as process:
        load(port, bodies, expected, min(200, requests), concurrency)  # warm-up
        result = load(port, bodies, expected, requests, concurrency)
        result["rss_mb"] = rss_mb(process.pid)
    print(f"{name:<28} {result['throughput']:>8.0f} req/s  p50 {result['p50_ms']:>6.1f} ms  "
          f"p99 {result['p99_ms']:>6.1f} ms  errors {result['errors']}  wrong {result['wrong']}  "
          f"server RSS {result['rss_mb']:.0f} MB", flush=True)
    return result


def make_inputs(kind: str, images, labels) -> tuple[list[bytes], list[str]]:
    """Request bodies of one kind, and the digit each should read."""
    rng = np.random.default_rng(0)
    count = {"mnist": 500, "canvas": 100, "photo": 20}[kind]
    bodies = []
    for image in images[:count]:
        if kind == "mnist":
            out = io.BytesIO()
            Image.fromarray(image).save(out, format="PNG")
            bodies.append(out.getvalue())
        elif kind == "canvas":
            bodies.append(synthetic.canvas_drawing(image, rng))
        else:
            bodies.append(synthetic.phone_photo(image, rng, size=(2000, 1500)))
    return bodies, [str(label) for label in labels[:count]]


def exported_tree(ref: str, into: Path) -> Path:
    """The source and models of git revision ``ref``, unpacked under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src", "models"], check=True,
                             capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--inputs", nargs="+", default=["mnist", "canvas", "photo"],
                        choices=["mnist", "canvas", "photo"])
    parser.add_argument("--baseline-ref", default="405860b", help="git revision of the 'previous' server")
    parser.add_argument("--keras", action="store_true", help="also load a minimal Keras server (MNIST inputs)")
    args = parser.parse_args()
    (_, _), (x_test, y_test) = data.load_mnist()
    serve = ["-m", "digitcnn", "serve", "--workers", str(args.workers), "--port"]
    with tempfile.TemporaryDirectory() as tmp:
        previous = exported_tree(args.baseline_ref, Path(tmp))
        for kind in args.inputs:
            bodies, expected = make_inputs(kind, x_test, y_test)
            requests = args.requests if kind != "photo" else max(1, args.requests // 10)
            print(f"\n{kind}: {requests} requests, {args.concurrency} at a time, {len(bodies)} different bodies "
                  f"of {np.mean([len(b) for b in bodies]) / 1000:.0f} kB on average")
            port = free_port()
            ours = run(f"digitcnn serve ({args.workers} worker)", [sys.executable, *serve, str(port)],
                       port, bodies, expected, requests, args.concurrency)
            port = free_port()
            theirs = run(f"previous ({args.baseline_ref})", [sys.executable, *serve, str(port)],
                         port, bodies, expected, requests, args.concurrency, pythonpath=previous / "src")
            print(f"ratio: {ours['throughput'] / theirs['throughput']:.2f}x the throughput, "
                  f"p99 {theirs['p99_ms'] / ours['p99_ms']:.2f}x lower")
            if args.keras and kind == "mnist":
                script = Path(tmp) / "keras_server.py"
                script.write_text(KERAS_SERVER)
                port = free_port()
                keras = run("Keras model.predict server", [sys.executable, str(script),
                                                           str(ROOT / "models" / "digitcnn.keras"), str(port)],
                            port, bodies, expected, requests, args.concurrency)
                print(f"against Keras: {ours['throughput'] / keras['throughput']:.1f}x the throughput")
    return 0


if __name__ == "__main__":
    sys.exit(main())
