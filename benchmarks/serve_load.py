"""Load on the HTTP API: `digitcnn serve` against a minimal Keras `model.predict` server.

    python benchmarks/serve_load.py [--requests 2000] [--concurrency 16] [--workers 1]

Both servers run on 127.0.0.1 in child processes and get the same bounded load: real PNG
digits (MNIST test images), POSTed as raw bodies, `concurrency` at a time. Reports throughput,
p50 and p99 latency, errors and the server's resident memory. Target for digitcnn on 2 cores:
>= 500 requests/s, p99 <= 50 ms, no errors.
"""

import argparse
import http.client
import io
import json
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

from digitcnn import data  # noqa: E402

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
                connection.request("POST", "/api/predict", body=bodies[i % len(bodies)],
                                   headers={"Content-Type": "image/png"})
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


def run(name: str, command: list[str], port: int, bodies, expected, args) -> dict:
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        load(port, bodies, expected, min(200, args.requests), args.concurrency)  # warm-up
        result = load(port, bodies, expected, args.requests, args.concurrency)
        result["rss_mb"] = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=20)
    print(f"{name:<28} {result['throughput']:>8.0f} req/s  p50 {result['p50_ms']:>6.1f} ms  "
          f"p99 {result['p99_ms']:>6.1f} ms  errors {result['errors']}  wrong {result['wrong']}  "
          f"server RSS {result['rss_mb']:.0f} MB", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    (_, _), (x_test, y_test) = data.load_mnist()
    bodies, expected = [], []
    for image, label in zip(x_test[:500], y_test[:500]):
        out = io.BytesIO()
        Image.fromarray(image).save(out, format="PNG")
        bodies.append(out.getvalue())
        expected.append(str(label))

    print(f"{args.requests} requests, {args.concurrency} at a time, 500 different MNIST test PNGs")
    port = free_port()
    ours = run(f"digitcnn serve ({args.workers} worker)",
               [sys.executable, "-m", "digitcnn", "serve", "--port", str(port), "--workers", str(args.workers)],
               port, bodies, expected, args)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "keras_server.py"
        script.write_text(KERAS_SERVER)
        port = free_port()
        theirs = run("Keras model.predict server", [sys.executable, str(script),
                                                    str(ROOT / "models" / "digitcnn.keras"), str(port)],
                     port, bodies, expected, args)
    print(f"ratio: {ours['throughput'] / theirs['throughput']:.1f}x the throughput, "
          f"p99 {theirs['p99_ms'] / ours['p99_ms']:.1f}x lower, {theirs['rss_mb'] / ours['rss_mb']:.1f}x less memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
