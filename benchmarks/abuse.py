"""Abuse: concurrent good and hostile requests against one `digitcnn serve`, as an internet server gets them.

    python benchmarks/abuse.py [--requests 200] [--concurrency 32] [--baseline-ref REF]

Each request is drawn from a mix: good ones (MNIST PNGs, canvas drawings) whose digit is known, and
hostile ones built here: an 11 MB body, an 11 MB JSON body on /api/predict-url, a 6300x6300
transparent PNG (184 kB), a GIF with a 6300x6300 logical screen (45 bytes), a 41-megapixel PNG
(a decompression bomb of 40 kB), a 36-megapixel WebP (38 bytes), an ICO holding a 64-megapixel
PNG (250 kB), a 1000x1000 PNG of random specks (92 kB, 40,000 marks), a truncated PNG, bytes that
are no image, a URL to a private address, a URL of 5,000 characters. Reports, for this tree's
server and, with --baseline-ref, the same plan against that revision's (src/ and models/ exported
from git): the status codes per kind with the median and slowest answer, 5xx (must be 0), wrong
answers to good requests (must be 0; MNIST test image 33, a 4, is refused as not a digit), and the
server's peak resident memory.
"""

import argparse
import collections
import http.client
import io
import json
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import exported_tree, free_port, served

from digitcnn import data, synthetic


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def peak_rss_mb(pid: int) -> float:
    """The highest resident memory the process has had (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def hostile() -> dict:
    """kind -> (path, body, content type)."""
    transparent = Image.new("RGBA", (6300, 6300), (0, 0, 0, 0))
    ImageDraw.Draw(transparent).line([(3150, 1000), (3150, 5000)], fill=(0, 0, 0, 255), width=200)
    gif = io.BytesIO()
    Image.new("P", (1, 1), 0).save(gif, format="GIF", transparency=0)
    gif = bytearray(gif.getvalue())
    gif[6:10] = (6300).to_bytes(2, "little") + (6300).to_bytes(2, "little")
    webp = io.BytesIO()  # 38 bytes; decoded whole, about 15 bytes a pixel
    Image.new("L", (6000, 6000), 255).save(webp, format="WEBP", lossless=True, method=0)
    inside = png(Image.new("RGBA", (8000, 8000), (0, 0, 0, 0)))  # 250 kB; Pillow decodes it as it opens the ICO
    icon = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(inside), 22) + inside
    raw = ("application/octet-stream", "/api/predict")
    return {
        "11 MB body": (raw[1], b"\0" * (11 * 1024 * 1024), raw[0]),
        "11 MB JSON": ("/api/predict-url", json.dumps({"url": "http://example.org/" + "a" * (11 << 20)}).encode(),
                       "application/json"),
        "6300x6300 transparent PNG": (raw[1], png(transparent), raw[0]),
        "GIF 6300x6300 screen": (raw[1], bytes(gif), raw[0]),
        "41 MP bomb PNG": (raw[1], png(Image.new("L", (6500, 6400), 255)), raw[0]),
        "36 MP WebP": (raw[1], webp.getvalue(), raw[0]),
        "ICO holding a 64 MP PNG": (raw[1], icon, raw[0]),
        "page of specks PNG": (raw[1], png(Image.fromarray(np.where(  # 40,000 marks, refused as too many
            np.random.default_rng(0).random((1000, 1000)) < 0.05, 0, 255).astype(np.uint8))), raw[0]),
        "truncated PNG": (raw[1], png(Image.new("L", (300, 300), 128))[:200], raw[0]),
        "not an image": (raw[1], b"GIF89a? no, just text" * 10, raw[0]),
        "private URL": ("/api/predict-url", json.dumps({"url": "http://127.0.0.1:22/"}).encode(), "application/json"),
        "5000-char URL": ("/api/predict-url", json.dumps({"url": "http://example.org/" + "b" * 5000}).encode(),
                          "application/json"),
    }


def run_plan(plan: list, concurrency: int, pythonpath: Path | None = None) -> tuple:
    """Send ``plan`` to a fresh `digitcnn serve` (this tree's, or the one whose src/ is ``pythonpath``):
    per kind, a Counter of statuses and the seconds of each answer; the count of wrong answers to
    good requests, the wall time, the server's peak resident memory (MB) and the (expected, read)
    pairs of the wrong answers."""
    port = free_port()
    statuses, seconds = collections.defaultdict(collections.Counter), collections.defaultdict(list)
    wrong, misread, lock = [0], set(), threading.Lock()
    queue = iter(plan)
    with served([sys.executable, "-m", "digitcnn", "serve", "--port", str(port)], port, pythonpath) as server:

        def worker():
            while True:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                kind, path, body, content_type, expected = item
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                sent = time.perf_counter()
                try:
                    connection.request("POST", path, body=body, headers={"Content-Type": content_type})
                    response = connection.getresponse()
                    payload = response.read()
                    status = response.status
                    read = json.loads(payload)["digits"] if expected is not None and status == 200 else expected
                    if read != expected:
                        with lock:
                            wrong[0] += 1
                            misread.add((expected, read))
                except (OSError, http.client.HTTPException) as exc:
                    status = f"connection error ({type(exc).__name__})"
                finally:
                    connection.close()
                with lock:
                    statuses[kind][status] += 1
                    seconds[kind].append(time.perf_counter() - sent)

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        peak = peak_rss_mb(server.pid)
    return statuses, seconds, wrong[0], wall, peak, misread


def report(name: str, requests: int, concurrency: int, result: tuple) -> int:
    """Print one server's run; the count of 5xx answers other than 503 and of wrong answers."""
    statuses, seconds, wrong, wall, peak, misread = result
    print(f"{name}: {requests} requests, {concurrency} at a time, in {wall:.1f} s; server peak RSS {peak:.0f} MB")
    server_errors = 0
    for kind, counter in statuses.items():
        answers = ", ".join(f"{status}: {count}" for status, count in sorted(counter.items(), key=str))
        print(f"  {kind:<28} {answers:<34} median {statistics.median(seconds[kind]):6.2f} s, "
              f"slowest {max(seconds[kind]):6.2f} s")
        server_errors += sum(count for status, count in counter.items() if isinstance(status, int) and status >= 500
                             and status != 503)
    print(f"  5xx other than 503 (busy): {server_errors}; wrong answers to good requests: {wrong}"
          + (f" (expected, read: {sorted(misread)})" if misread else ""))
    return server_errors + wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--baseline-ref", help="also run the plan against this git revision's server")
    args = parser.parse_args()
    (_, _), (x_test, y_test) = data.load_mnist()
    rng = np.random.default_rng(0)
    good = [("/api/predict", png(Image.fromarray(x_test[i])), "image/png", str(y_test[i])) for i in range(40)]
    good += [("/api/predict", synthetic.canvas_drawing(x_test[i], rng), "image/png", str(y_test[i]))
             for i in range(40, 60)]
    bad = hostile()
    kinds = [("good", *g) for g in good] + [(kind, *spec, None) for kind, spec in bad.items()]
    plan = [kinds[i // 2 % len(kinds)] if i % 2 else ("good", *good[i % len(good)]) for i in range(args.requests)]
    failures = report("digitcnn", args.requests, args.concurrency, run_plan(plan, args.concurrency))
    if args.baseline_ref:
        with tempfile.TemporaryDirectory() as tmp:
            previous = exported_tree(args.baseline_ref, Path(tmp)) / "src"
            report(f"previous ({args.baseline_ref})", args.requests, args.concurrency,
                   run_plan(plan, args.concurrency, previous))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
