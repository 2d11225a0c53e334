"""End to end in a real browser: Playwright drives Debian's Chromium against `digitcnn serve`."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from digitcnn import data

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]

if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("Chromium is missing: .ci/run must apt-get install chromium")
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(root):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "digitcnn", "serve", "--port", str(port)], cwd=root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {process.stderr.read().decode()}")
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


def draw(page, strokes):
    """Draw strokes, each a list of (x, y) in canvas pixels (the canvas is 560x280)."""
    box = page.locator("#pad").bounding_box()
    sx, sy = box["width"] / 560, box["height"] / 280
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0] * sx, box["y"] + stroke[0][1] * sy)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=8)
        page.mouse.up()


SEVEN = [[(220, 50), (340, 50), (330, 70), (300, 130), (270, 230)]]
ONE = [[(120, 40), (122, 140), (124, 240)]]


def test_draw_a_digit_and_read_it(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server)
    draw(page, SEVEN)
    page.wait_for_function("document.getElementById('digits').textContent.length > 0", timeout=15000)
    assert page.text_content("#digits") == "7"
    assert page.locator(".digit-card .bar").count() == 10
    assert page.locator(".digit-card img").count() == 1  # the 28x28 image the model saw
    page.screenshot(path=str(tmp_path / "drawn-7.png"), full_page=True)

    # a second digit to the left makes a number; undo takes it back
    draw(page, ONE)
    page.wait_for_function("document.getElementById('digits').textContent === '17'", timeout=15000)
    page.click("#undo")
    page.wait_for_function("document.getElementById('digits').textContent === '7'", timeout=15000)
    page.click("#clear")
    assert page.text_content("#digits") == ""
    page.screenshot(path=str(tmp_path / "cleared.png"))
    assert (tmp_path / "drawn-7.png").stat().st_size > 10_000


def test_upload_an_image_and_read_it(server, browser, tmp_path):
    (_, _), (x_test, y_test) = data.load_mnist()
    photo = Image.fromarray(255 - np.kron(x_test[9], np.ones((6, 6), np.uint8))).convert("RGB")
    photo.save(tmp_path / "upload.jpg", quality=90)
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(server)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    page.set_input_files("#file", str(tmp_path / "upload.jpg"))
    page.wait_for_function("document.getElementById('digits').textContent.length > 0", timeout=15000)
    assert page.text_content("#digits") == str(y_test[9])
    page.screenshot(path=str(tmp_path / "phone-upload.png"), full_page=True)

    page.set_input_files("#file", {"name": "bad.png", "mimeType": "image/png", "buffer": b"no image here"})
    page.wait_for_function("document.getElementById('status').className === 'error'", timeout=15000)
    assert "not an image" in page.text_content("#status")


def test_every_control_is_labelled(server, browser):
    page = browser.new_page()
    page.goto(server)
    for selector in ("#pad", "#undo", "#clear", "#read", "#file", "#url"):
        label = page.get_attribute(selector, "aria-label")
        assert label and len(label) > 3, selector
