"""Hostile inputs, each built by the test: memory and time bounded per request, one-line errors, no lost output.

The server tests run `digitcnn serve` in a child process, so that its memory is its own.
"""

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from digitcnn import DigitReader, serve
from digitcnn.fetch import FetchError, fetch_url
from digitcnn.imaging import ImageError


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def transparent_drawing(side: int) -> bytes:
    """A black stroke (a 1) on a transparent square canvas ``side`` px wide, as PNG."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(side // 2, side // 6), (side // 2, 5 * side // 6)], fill=(0, 0, 0, 255),
                               width=max(3, side // 30))
    return png(image)


def huge_gif_screen() -> bytes:
    """A 45-byte GIF: a 6300x6300 logical screen with transparency, holding a 1x1 frame."""
    out = io.BytesIO()
    Image.new("P", (1, 1), 0).save(out, format="GIF", transparency=0)
    raw = bytearray(out.getvalue())
    raw[6:10] = (6300).to_bytes(2, "little") + (6300).to_bytes(2, "little")
    return bytes(raw)


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def post(url: str, body: bytes, path="/api/predict", content_type="application/octet-stream", timeout=60):
    request = urllib.request.Request(url + path, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_memory_of_one_request_is_bounded(live_server):
    """Transparent images decode to 4 bytes a pixel, and a WebP whole at about 15 (a 36-megapixel
    WebP of 38 bytes would cost 550 MB): the hostile ones are refused from their header, and a
    large legitimate one costs the server well under 300 MB."""
    url, process = live_server
    post(url, transparent_drawing(200))  # warm: the first read loads what every read needs
    before = peak_rss_mb(process.pid)
    for hostile in (transparent_drawing(6300), huge_gif_screen()):
        status, answer = post(url, hostile)
        assert status == 400 and "transparency" in answer["error"] and "megapixels" in answer["error"]
    webp = io.BytesIO()
    Image.new("L", (6000, 6000), 255).save(webp, format="WEBP", lossless=True, method=0)
    status, answer = post(url, webp.getvalue())
    assert status == 400 and "WebP image of 6000x6000" in answer["error"] and "megapixels" in answer["error"]
    status, answer = post(url, transparent_drawing(3000))  # 9 megapixels, allowed
    assert status == 200 and answer["digits"] == "1"
    assert peak_rss_mb(process.pid) - before <= 300


def test_url_fetch_ends_within_its_total_limit(image_server):
    """A server sending one byte every half second restarts a read timeout forever; the deadline holds."""
    started = time.monotonic()
    with pytest.raises(FetchError, match="took longer than 2 s"):
        fetch_url(f"{image_server}/trickle", total_timeout=2)
    assert time.monotonic() - started < 2 + 2


@pytest.mark.slow
def test_trickling_url_server_cannot_hold_the_endpoint(live_server, image_server):
    """End to end: the server answers within its 30 s total limit plus 2 s, and stays ready meanwhile."""
    url, _ = live_server
    started = time.monotonic()
    status, answer = post(url, json.dumps({"url": f"{image_server}/trickle"}).encode(), "/api/predict-url",
                          "application/json", timeout=60)
    assert status == 400 and "took longer than 30 s" in answer["error"]
    assert time.monotonic() - started <= 30 + 2


def test_every_endpoint_has_the_body_limit_and_urls_are_cut_in_messages():
    client = TestClient(serve.create_app())
    body = json.dumps({"url": "http://example.org/" + "a" * (11 * 1024 * 1024)})
    answer = client.post("/api/predict-url", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and len(answer.content) < 200
    long_url = "ftp://example.org/" + "b" * 5000
    answer = client.post("/api/predict-url", json={"url": long_url})
    assert answer.status_code == 400 and "5018 characters" in answer.json()["error"] and len(answer.content) < 400


def test_a_body_that_trickles_is_cut_off(monkeypatch):
    """BodyLimit: a client that sends its body a byte at a time gets a 408 at the deadline."""
    monkeypatch.setattr(serve, "BODY_DEADLINE", 0.5)
    reached = []

    async def app(scope, receive, send):
        reached.append(scope["path"])

    async def trickle():
        await asyncio.sleep(0.2)
        return {"type": "http.request", "body": b"x", "more_body": True}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/predict", "headers": []}
    started = time.monotonic()
    asyncio.run(serve.BodyLimit(app, max_bytes=1000)(scope, trickle, send))
    assert time.monotonic() - started < 2 and not reached
    assert sent[0]["status"] == 408 and b"took longer" in sent[1]["body"]


def test_url_fetches_have_their_own_bound(monkeypatch, image_server):
    """Fetches beyond their bound are refused at once (503) and /readyz says so; uploads still go."""
    client = TestClient(serve.create_app(allow_private_urls=True))
    monkeypatch.setattr(client.app.state.fetch_slots, "locked", lambda: True)
    answer = client.post("/api/predict-url", json={"url": f"{image_server}/digit.png"})
    assert answer.status_code == 503 and "too many URL fetches" in answer.json()["error"]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["url_fetches_full"] is True
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("source, message", [
    ("/dev/zero", "not a regular file"),
    ("/dev/null", "not a regular file"),
])
def test_cli_reads_regular_files_only(run_cli, source, message):
    result = run_cli("predict", source, timeout=30)
    assert result.returncode == 1 and message in result.stdout and "Traceback" not in result.stderr


def test_read_file_says_its_own_errors_once(tmp_path):
    """read_file's own refusals are ImageErrors, which are ValueErrors too: they come out as said,
    not wrapped again as "cannot read (...)"."""
    from digitcnn.imaging import ImageError
    from digitcnn.predict import read_file

    (tmp_path / "big.png").write_bytes(b"x" * 100)
    for source, max_bytes, said in ((tmp_path, 50, "is a directory (expected an image file)"),
                                    (tmp_path / "big.png", 50, "100 bytes, over the limit of 50 bytes")):
        with pytest.raises(ImageError) as raised:
            read_file(str(source), max_bytes)
        assert str(raised.value) == said


def test_cli_stdin_is_capped(run_cli, tmp_path):
    with open("/dev/zero", "rb") as zeros:
        result = run_cli("predict", "-", stdin=zeros, timeout=60)
    assert result.returncode == 1 and "over the limit" in result.stdout


def test_cli_does_not_wait_on_a_fifo(run_cli, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = run_cli("predict", fifo, timeout=30)  # no writer: opening it would block forever
    assert result.returncode == 1 and "not a regular file" in result.stdout


def test_cli_other_inputs_still_print(run_cli, tmp_path, mnist_test):
    """A name too long, a non-UTF-8 name with a strict UTF-8 stdout, and a --save-preprocessed
    that cannot be written: one line each, and the good input is still read."""
    x_test, y_test = mnist_test
    good = tmp_path / "good.png"
    Image.fromarray(x_test[0]).save(good)
    odd = os.fsencode(tmp_path) + b"/caf\xe9.png"
    with open(odd, "wb") as out:
        out.write(good.read_bytes())
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    result = run_cli("predict", "x" * 300 + ".png", os.fsdecode(odd), good, timeout=60, env=env)
    lines = result.stdout.splitlines()
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0] == f"{'x' * 300}.png: error: cannot read (File name too long)"
    assert lines[1].endswith(f": {y_test[0]} (confidence {lines[1].split('confidence ')[1]}") and "\\udce9" in lines[1]
    assert lines[2].startswith(str(good)) and f": {y_test[0]} " in lines[2]
    (tmp_path / "a-file").write_text("")
    result = run_cli("predict", good, "--save-preprocessed", tmp_path / "a-file" / "seen", timeout=60)
    assert result.returncode == 1 and "cannot save the preprocessed images" in result.stdout
    assert "Traceback" not in result.stderr
    # a file named as the folder is a usage error, said before anything is read
    result = run_cli("predict", good, "--save-preprocessed", tmp_path / "a-file", timeout=60)
    assert result.returncode == 2 and result.stdout == "" and "is a file; expected a folder" in result.stderr


@pytest.mark.parametrize("command", [["train", "--limit", "100"], ["evaluate", "--model", "models/digitcnn-float32.onnx"],
                                     ["quantize", "--model", "models/digitcnn-float32.onnx"]])
def test_out_on_or_under_a_file_is_one_line(run_cli, tmp_path, command):
    (tmp_path / "a-file").write_text("")
    for out in (tmp_path / "a-file", tmp_path / "a-file" / "run"):
        result = run_cli(*command, "--out", out, timeout=120)
        assert result.returncode == 1 and "not a folder" in result.stderr and "Traceback" not in result.stderr


def test_training_settings_out_of_range_are_usage_errors(run_cli):
    for flags, message in ((["--limit", "5"], "limit must be at least 100"),
                           (["--label-smoothing", "1.5"], "label_smoothing must be"),
                           (["--validation-fraction", "0"], "validation_fraction must be above 0")):
        result = run_cli("train", *flags, timeout=60)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_a_port_out_of_range(run_cli):
    result = run_cli("serve", "--port", "99999", timeout=30)
    assert result.returncode == 2 and "1 to 65535" in result.stderr


def test_serve_on_a_port_in_use_says_so_before_announcing_anything(run_cli):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli("serve", "--port", str(taken.getsockname()[1]), timeout=60)
    assert result.returncode == 1 and "Serving on" not in result.stdout
    assert "cannot listen on 127.0.0.1" in result.stderr and "in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_python_api_odd_inputs_are_image_errors(reader: DigitReader):
    assert "empty image" in reader.read(Image.new("L", (0, 0))).error
    assert "cannot read" in reader.read("y" * 5000).error
    for bad in (np.zeros((2, 28, 28), dtype=object), np.zeros((2, 28, 28), dtype=complex),
                [np.zeros((28, 28)), np.zeros((20, 20))], np.full((1, 28, 28), np.inf)):
        with pytest.raises(ImageError):
            reader.read_batch(bad)
    # read_batch reads values as read does: uint16 on 0-65535, floats on [0, 1] (others refused)
    digit = np.zeros((28, 28), dtype=np.uint16)
    digit[6:22, 13:16] = 65535
    assert reader.read_batch(digit[np.newaxis])[0].digits == reader.read(digit).digits == "1"
    assert reader.read_batch(digit[np.newaxis] / 65535.0)[0].digits == "1"
    for outside in ((digit[np.newaxis] / 65535.0) * 1e6, digit[np.newaxis] / 65535.0 - 0.5):
        with pytest.raises(ImageError, match=r"float image array in \[0, 1\]"):
            reader.read_batch(outside)
        assert "float image array in [0, 1]" in reader.read(outside[0]).error


def test_only_image_formats_are_decoded(reader):
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\n"
    assert "none of the formats read" in reader.read(eps).error
    floats = Image.fromarray(np.array([[0.0, np.inf], [np.nan, 1.0]], dtype=np.float32), mode="F")
    out = io.BytesIO()
    floats.save(out, format="TIFF")
    assert "NaN or infinite" in reader.read(out.getvalue()).error


def test_an_icon_holding_a_huge_picture_is_refused_before_it_is_decoded(reader):
    """An ICO entry holds a PNG or a bitmap that says its own size, and Pillow decodes it as it
    opens the file: a 250 kB ICO holding an 8000x8000 PNG cost 250 MB. Its size is read first, as
    Pillow's PNG reader finds it (a review hid it after a private chunk, behind a small IHDR and
    after an entry past the file's end); an ICO as icons are made (up to 256x256) still reads."""
    import struct
    import zlib

    huge = io.BytesIO()
    Image.new("RGBA", (8000, 8000), (0, 0, 0, 0)).save(huge, format="PNG")
    huge = huge.getvalue()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    small_header = chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 6, 0, 0, 0))
    hidden = {  # the PNG's size where Pillow finds it, not in its first bytes
        "after a private chunk": huge[:8] + chunk(b"prIv", bytes(8)) + huge[8:],
        "after a small IHDR": huge[:8] + small_header + huge[8:],
    }
    for name, inside in {"plain": huge, **hidden}.items():
        entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(inside), 6 + 16)  # 0: "256" in a byte
        assert "icon picture of 8000x8000 pixels" in reader.read(struct.pack("<HHH", 0, 1, 1) + entry + inside).error, name
    missing = struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, 40, 10**6)  # a first entry past the file's end
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(huge), 6 + 32)
    assert "icon picture of 8000x8000 pixels" in reader.read(struct.pack("<HHH", 0, 1, 2) + missing + entry + huge).error
    digit = np.full((256, 256), 255, np.uint8)
    digit[40:216, 120:144] = 0
    for bitmap in ("png", "bmp"):
        icon = io.BytesIO()
        Image.fromarray(digit).convert("RGBA").save(icon, format="ICO", sizes=[(64, 64), (256, 256)], bitmap_format=bitmap)
        assert reader.read(icon.getvalue()).digits == "1"


def test_a_page_of_specks_is_refused_at_once(reader):
    """A 1000x1000 PNG of random specks (92 kB) is 40,000 marks, refused as too many; before,
    every pair of its leaning specks was tried as a date's slashes first, 220 s of one server
    worker. (A bound with a wide margin: the read takes about 0.3 s here.)"""
    specks = np.where(np.random.default_rng(0).random((1000, 1000)) < 0.05, 0, 255).astype(np.uint8)
    started = time.perf_counter()
    result = reader.read(png(Image.fromarray(specks)))
    assert "separate marks found, more than the" in result.error and time.perf_counter() - started < 5


def test_damaged_metadata_is_read_without_warnings(reader, run_cli, tmp_path):
    """A TIFF whose BitsPerSample tag points past the file's end: Pillow warns, skips the tag and
    reads on. The reading (or its one-line error) is the whole answer: no Python warning, with its
    source line, under the CLI's answer or in a server's log."""
    import struct
    import warnings

    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 13:16] = 255
    out = io.BytesIO()
    Image.fromarray(digit).save(out, format="TIFF")
    raw = bytearray(out.getvalue())
    directory = struct.unpack_from("<I", raw, 4)[0]
    entries = [directory + 2 + 12 * i for i in range(struct.unpack_from("<H", raw, directory)[0])]
    bits = next(at for at in entries if struct.unpack_from("<H", raw, at)[0] == 258)
    struct.pack_into("<I", raw, bits + 4, 100_000)  # 100,000 values: 200 kB, in a file of 1 kB
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Image.open(io.BytesIO(raw))
        assert any("larger than file" in str(warning.message) for warning in caught)  # the damage shows
        caught.clear()
        result = reader.read(bytes(raw))
    assert caught == [] and result.error is None
    (tmp_path / "damaged.tif").write_bytes(raw)
    said = run_cli("predict", str(tmp_path / "damaged.tif"), timeout=60)
    assert said.returncode == 0 and said.stdout.startswith(str(tmp_path / "damaged.tif")) and said.stderr == ""


@pytest.mark.slow
def test_headers_sent_a_byte_at_a_time_are_cut_off(live_server):
    """Slowloris: a request line and headers trickled at 2 bytes a second; the server closes the
    connection at its header deadline (10 s), while other requests go on."""
    url, _ = live_server
    port = int(url.rsplit(":", 1)[1])
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                slow.sendall(bytes([byte]))
                time.sleep(0.5)
                if time.monotonic() - started > 5:
                    assert urllib.request.urlopen(f"{url}/healthz", timeout=5).status == 200
            except OSError:
                closed = True
                break
        if not closed:
            closed = slow.recv(1) == b""
    assert closed and time.monotonic() - started < 10 + 3


def test_boxes_are_in_the_file_pixels_on_both_axes(reader):
    """Each reduction rounds its size: the way back to the file's pixels is measured per axis."""
    tall = np.full((1000, 25), 255, dtype=np.uint8)
    tall[100:900, 5:20] = 0
    x, y, w, h = reader.read(png(Image.fromarray(tall))).predictions[0].box
    # analysed at about 80 px tall (one working pixel is 12.5 file pixels), the height within 2%
    assert abs(x - 5) <= 13 and abs(w - 15) <= 13 and x + w <= 25 and abs(y - 100) <= 13 and abs(h - 800) <= 16
    wide = io.BytesIO()
    Image.new("L", (30000, 10), 255).save(wide, format="JPEG")  # draft must not divide by zero
    result = reader.read(wide.getvalue())
    assert result.error is None and result.digits == ""


def test_a_blank_16_bit_scan_is_blank(reader):
    """16-bit pictures are read on 0-65535, as 16-bit arrays are: sensor noise is not stretched into ink."""
    noise = (50000 + np.random.default_rng(0).integers(0, 200, (200, 200))).astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, format="PNG")
    result = reader.read(out.getvalue())
    assert result.digits == "" and not result.rejected and result.message == "no digit found"


def test_cli_with_stdin_closed(run_cli, root):
    result = subprocess.run([sys.executable, "-m", "digitcnn", "predict", "-"], cwd=root, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, check=False, timeout=60,
                            preexec_fn=lambda: os.close(0))
    assert result.returncode == 1 and "standard input" in result.stdout and "Traceback" not in result.stderr
