"""End to end in a real browser: Playwright drives Debian's Chromium against `digitcnn serve`.

Screenshots go to $DIGITCNN_TEST_ARTIFACTS (default: pytest's temporary folder). axe-core comes from
the npm package that .ci/run installs ($AXE_CORE_JS, default ~/.cache/digitcnn-npm/...); without it
the accessibility test is skipped here and fails under CI=true.
"""

import itertools
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
CI = os.environ.get("CI") == "true"
AXE = Path(os.environ.get("AXE_CORE_JS")
           or Path.home() / ".cache/digitcnn-npm/node_modules/axe-core/axe.min.js")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
    if CI:
        raise RuntimeError("Chromium is missing: .ci/run must apt-get install chromium")
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(live_server):
    """The page's server (`digitcnn serve --allow-private-urls`, so that it reaches the image server)."""
    return live_server[0]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    """Where screenshots are kept: $DIGITCNN_TEST_ARTIFACTS, or a pytest temporary folder."""
    folder = Path(os.environ.get("DIGITCNN_TEST_ARTIFACTS") or tmp_path_factory.mktemp("browser-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport=DESKTOP)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True)
    yield context.new_page()
    context.close()


# Strokes in pad units (the pad is 560x280 whatever its size on screen).
SEVEN = [[(220, 50), (340, 50), (330, 70), (300, 130), (270, 230)]]
ONE = [[(120, 40), (122, 140), (124, 240)]]
ZERO = [[(400, 60), (370, 80), (360, 140), (370, 200), (400, 225), (430, 200), (440, 140), (430, 80), (400, 60)]]


def to_screen(page, x, y):
    box = page.locator("#pad").bounding_box()
    return box["x"] + x * box["width"] / 560, box["y"] + y * box["height"] / 280


def draw(page, strokes):
    """Draw with the mouse."""
    for stroke in strokes:
        page.mouse.move(*to_screen(page, *stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*to_screen(page, *point), steps=8)
        page.mouse.up()


def touch_draw(page, strokes):
    """Draw with a finger: real touch events through the DevTools protocol (pointerType "touch")."""
    cdp = page.context.new_cdp_session(page)
    for stroke in strokes:
        points = [stroke[0]]
        for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
            points += [(x0 + (x1 - x0) * t / 8, y0 + (y1 - y0) * t / 8) for t in range(1, 9)]
        x, y = to_screen(page, *points[0])
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for point in points[1:]:
            x, y = to_screen(page, *point)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def wait_digits(page, digits, timeout=15000):
    page.wait_for_function("d => document.getElementById('digits').textContent.startsWith(d) && "
                           "!document.getElementById('result').classList.contains('busy')", arg=digits,
                           timeout=timeout)
    assert page.text_content("#digits").replace("unsure", "") == digits


def pen_up_to_answer_ms(page) -> float:
    return page.evaluate("""() => {
        const last = (name) => performance.getEntriesByName(name).at(-1).startTime;
        return last('digitcnn-answer') - last('digitcnn-pen-up');
    }""")


def in_view(page, selector) -> bool:
    """Is the whole element inside the viewport, with the page not scrolled?"""
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return (page.evaluate("window.scrollY") == 0 and box["y"] >= 0 and box["x"] >= 0
            and box["y"] + box["height"] <= size["height"] and box["x"] + box["width"] <= size["width"])


def check_answer_in_view(page):
    assert in_view(page, "#digits"), page.locator("#digits").bounding_box()
    assert in_view(page, ".digit-card .bars"), page.locator(".digit-card .bars").bounding_box()
    assert in_view(page, ".digit-card .seen img")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_desktop_draw_read_undo_clear(server, desktop, artifacts, capsys):
    page = desktop
    page.goto(server)
    draw(page, SEVEN)
    wait_digits(page, "7")
    check_answer_in_view(page)  # the answer beside the pad, above the fold at 1280x800
    assert page.locator(".digit-card .bar").count() == 10
    assert page.locator(".digit-card .chips li").count() == 3
    assert page.locator(".digit-card .chips li").first.text_content().startswith("7")
    assert page.text_content(".seen figcaption") == "What the model saw (28x28)"
    assert page.locator("#pad-boxes span").count() == 1
    assert page.text_content("#status").startswith("Read 7")
    elapsed = pen_up_to_answer_ms(page)
    page.screenshot(path=str(artifacts / "desktop-1280x800.png"))
    with capsys.disabled():
        print(f"\n[browser] desktop: pen-up to answer {elapsed:.0f} ms (250 ms of it the pause before reading)")

    # a second digit to the left makes a number; Ctrl+Z takes it back, Clear empties everything
    draw(page, ONE)
    wait_digits(page, "17")
    page.keyboard.press("Control+z")
    wait_digits(page, "7")
    page.click("#clear")
    assert page.text_content("#digits") == ""
    assert page.locator(".digit-card").count() == 0 and page.locator("#pad-boxes span").count() == 0
    assert page.text_content("#status") == "Draw a digit to start."


def test_phone_touch_drawing_answer_in_view(server, phone, artifacts, capsys):
    page = phone
    page.goto(server)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    # the pad's pixels follow the screen's (3x here), so strokes are sharp
    css_width = page.evaluate("document.getElementById('pad').getBoundingClientRect().width")
    assert page.evaluate("document.getElementById('pad').width") == round(css_width * 3)
    touch_draw(page, SEVEN)
    wait_digits(page, "7")
    check_answer_in_view(page)
    elapsed = pen_up_to_answer_ms(page)
    page.screenshot(path=str(artifacts / "phone-390x844.png"))
    with capsys.disabled():
        print(f"\n[browser] phone: pen-up to answer {elapsed:.0f} ms (250 ms of it the pause before reading)")
    page.check("input[value=upload]", force=True)
    assert not page.locator(".drop-hint").is_visible()  # no "drop here" where nothing can be dropped


def test_unsure_and_no_digit_are_said_in_words(server, desktop, tmp_path):
    page = desktop
    page.goto(server)
    draw(page, [[(280, 140), (281, 141)]])  # a dot: not a digit, said so, not a guessed "0"
    page.wait_for_function("document.getElementById('status').className === 'no-digit'", timeout=15000)
    assert page.text_content("#status").startswith("Not a digit")
    assert "not a digit" in page.text_content("#digits") and page.locator(".digit-card").count() == 0
    assert page.locator("#pad-boxes span.unsure").count() == 1  # the mark is boxed, as not a digit
    # a blank picture: no digit, said as such, no cards
    Image.new("L", (200, 120), 255).save(tmp_path / "blank.png")
    page.check("input[value=upload]", force=True)
    page.set_input_files("#file", str(tmp_path / "blank.png"))
    page.wait_for_function("document.getElementById('status').className === 'no-digit'", timeout=15000)
    assert page.text_content("#status").startswith("No digit found")
    assert page.text_content("#digits") == "No digit found" and page.locator(".digit-card").count() == 0
    assert page.locator("#picture").is_visible()  # the picture read is still shown: it is what was read


# Wraps fetch so that the next N replies of /api/predict arrive late, abort or not: the page must
# drop them itself, not count on the abort.
SLOW_FETCH = """
window.__slow = 0; window.__sent = 0; window.__shown = [];
const realFetch = window.fetch;
window.fetch = async (url, options = {}) => {
  const slow = String(url).includes('/api/predict') && window.__slow > 0;
  if (String(url).includes('/api/predict')) window.__sent += 1;
  if (!slow) return realFetch(url, options);
  window.__slow -= 1;
  const response = await realFetch(url, { ...options, signal: undefined });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return response;
};
document.addEventListener('DOMContentLoaded', () => new MutationObserver(() =>
  window.__shown.push(document.getElementById('digits').textContent)
).observe(document.getElementById('digits'), { childList: true, characterData: true, subtree: true }));
"""


def test_a_slow_reply_never_overwrites_a_newer_one(server, desktop):
    page = desktop
    page.add_init_script(SLOW_FETCH)
    page.goto(server)
    page.evaluate("window.__slow = 1")
    draw(page, ONE)
    page.wait_for_function("window.__sent === 1", timeout=5000)  # the slow read of "1" is on its way
    draw(page, SEVEN)
    wait_digits(page, "17")
    page.wait_for_timeout(1800)  # the stale reply has arrived by now
    assert page.text_content("#digits") == "17"
    assert "1" not in page.evaluate("window.__shown")

    # nor does a reply repaint after Clear
    page.evaluate("window.__slow = 1")
    draw(page, ZERO)
    page.wait_for_function("window.__sent === 3", timeout=5000)
    page.click("#clear")
    page.wait_for_timeout(1800)
    assert page.text_content("#digits") == "" and page.locator(".digit-card").count() == 0
    assert page.locator("#pad-boxes span").count() == 0
    assert page.text_content("#status") == "Draw a digit to start."
    assert page.evaluate("document.getElementById('result').classList.contains('busy')") is False


def test_upload_shows_the_picture_read_and_errors_clear_it(server, phone, mnist_test, tmp_path):
    x_test, y_test = mnist_test
    page = phone
    page.goto(server)
    page.check("input[value=upload]", force=True)
    photo = Image.fromarray(255 - np.kron(x_test[9], np.ones((6, 6), np.uint8))).convert("RGB")
    photo.save(tmp_path / "upload.jpg", quality=90)
    page.set_input_files("#file", str(tmp_path / "upload.jpg"))
    wait_digits(page, str(y_test[9]))
    assert page.locator("#picture").is_visible()
    assert page.evaluate("document.getElementById('picture-img').naturalWidth") == 168
    page.wait_for_function("document.querySelectorAll('#picture-boxes span').length === 1")

    page.set_input_files("#file", {"name": "bad.png", "mimeType": "image/png", "buffer": b"no image here"})
    page.wait_for_function("document.getElementById('status').className === 'error'", timeout=15000)
    assert page.text_content("#status") == "That file isn't an image."
    assert not page.locator("#picture").is_visible() and page.text_content("#digits") == ""
    # an image cut short is an image, damaged: the API answers 400, not 415
    whole = (tmp_path / "whole.png")
    Image.fromarray(255 - np.kron(x_test[9], np.ones((6, 6), np.uint8))).save(whole)
    page.set_input_files("#file", {"name": "cut.png", "mimeType": "image/png", "buffer": whole.read_bytes()[:400]})
    page.wait_for_function("document.getElementById('status').textContent.includes('damaged')", timeout=15000)
    assert page.text_content("#status") == ("That picture could not be read: it is damaged or too large, "
                                            "or it holds more than a number.")

    # a file over the limit is refused before it is sent
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "/api/predict" in request.url else None)
    page.set_input_files("#file", {"name": "huge.png", "mimeType": "image/png", "buffer": b"\0" * (11 * 2**20)})
    page.wait_for_function("document.getElementById('status').textContent.includes('max 10 MB')", timeout=15000)
    assert page.text_content("#status") == "That picture is too large (max 10 MB)." and sent == []


# Records the size of each uploaded picture, as the page sent it.
RECORD_UPLOADS = """
window.__uploads = [];
const realFetch = window.fetch;
window.fetch = async (url, options = {}) => {
  if (options.body instanceof FormData) {
    const image = options.body.get('image');
    const bitmap = await createImageBitmap(image);
    window.__uploads.push([bitmap.width, bitmap.height, image.type]);
  }
  return realFetch(url, options);
};
"""


def test_big_photos_are_shrunk_before_they_are_sent(server, desktop, mnist_test, tmp_path):
    x_test, y_test = mnist_test
    page = desktop
    page.add_init_script(RECORD_UPLOADS)
    page.goto(server)
    page.check("input[value=upload]", force=True)
    digit = Image.fromarray(255 - x_test[3]).resize((1200, 1200), Image.BILINEAR)
    photo = Image.new("L", (3000, 2000), 255)
    photo.paste(digit, (900, 400))
    photo.convert("RGB").save(tmp_path / "big.jpg", quality=85)
    page.set_input_files("#file", str(tmp_path / "big.jpg"))
    wait_digits(page, str(y_test[3]))
    assert page.evaluate("window.__uploads") == [[1600, 1067, "image/jpeg"]]
    page.wait_for_function("document.querySelectorAll('#picture-boxes span').length === 1")


def test_a_link_shows_the_picture_the_server_fetched(server, desktop, image_server):
    page = desktop
    page.goto(server)
    page.check("input[value=link]", force=True)
    page.fill("#url", f"{image_server}/digit.png")
    page.click("#url-form button")
    wait_digits(page, "7")
    assert page.locator("#picture").is_visible()
    # the picture shown is the server's copy (a data URL), not one loaded from the other site
    assert page.evaluate("document.getElementById('picture-img').src").startswith("data:image/png")
    assert page.evaluate("document.getElementById('picture-img').naturalWidth") == 84
    page.wait_for_function("document.querySelectorAll('#picture-boxes span').length === 1")

    page.fill("#url", f"{image_server}/missing.png")
    page.click("#url-form button")
    page.wait_for_function("document.getElementById('status').className === 'error'", timeout=15000)
    assert page.text_content("#status") == "That address can't be reached from here."
    assert not page.locator("#picture").is_visible()

    # an address that is no web address is said to be none, not unreachable (the field's own check
    # stops text that is no address at all)
    page.fill("#url", "ftp://example.org/digit.png")
    page.click("#url-form button")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('That isn')")
    assert page.text_content("#status") == "That isn't a web address: it starts with http:// or https://."

    # one input at a time: going back to the pad drops the link's answer
    page.fill("#url", f"{image_server}/digit.png")
    page.click("#url-form button")
    wait_digits(page, "7")
    page.check("input[value=draw]", force=True)
    assert page.text_content("#digits") == "" and not page.locator("#picture").is_visible()


def axe_violations(page) -> list:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}" for v in result["violations"]]


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_axe_finds_nothing_before_and_after_a_read(server, request, viewport):
    if not AXE.is_file():
        message = f"axe-core is missing at {AXE}: npm install --prefix ~/.cache/digitcnn-npm axe-core (see .ci/run)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    page = request.getfixturevalue(viewport)
    page.goto(server)
    assert axe_violations(page) == []
    (touch_draw if viewport == "phone" else draw)(page, SEVEN)
    wait_digits(page, "7")
    assert axe_violations(page) == []
    page.check("input[value=link]", force=True)
    assert axe_violations(page) == []
    page.check("input[value=upload]", force=True)
    page.set_input_files("#file", {"name": "bad.png", "mimeType": "image/png", "buffer": b"no image here"})
    page.wait_for_function("document.getElementById('status').className === 'error'", timeout=15000)
    assert axe_violations(page) == []


def test_keyboard_and_names(server, desktop):
    page = desktop
    page.goto(server)
    # only the one-line summary is live
    assert page.evaluate("document.querySelectorAll('[aria-live], [role=status], [role=alert]').length") == 1
    assert page.get_attribute("#status", "role") == "status"
    for role, name in [("img", "Drawing area"), ("button", "Undo"), ("button", "Clear"), ("radio", "Draw"),
                       ("radio", "Upload"), ("radio", "Link")]:
        assert page.get_by_role(role, name=name).count() == 1, (role, name)
    # every tab stop is a control, and focus is visible on each
    stops = []
    for _ in range(8):
        page.keyboard.press("Tab")
        stops.append(page.evaluate("""() => {
            const el = document.activeElement;
            const label = el.closest('label');
            const outline = getComputedStyle(label && el.type === 'radio' ? label : el).outlineStyle;
            return [el.tagName, el.id || el.value || el.textContent.trim(), outline];
        }"""))
    assert [s[:2] for s in stops[:3]] == [["INPUT", "draw"], ["BUTTON", "undo"], ["BUTTON", "clear"]]
    assert all(outline != "none" for _, _, outline in stops[:3]), stops
    page.check("input[value=upload]", force=True)
    page.focus("input[value=upload]")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file"
    assert page.get_by_label("Choose a picture").count() == 1  # one label for the file control
    assert page.evaluate("getComputedStyle(document.querySelector('.drop .button')).outlineStyle") != "none"


def test_docs_work_offline_and_the_side_pages(server, desktop):
    page = desktop
    blocked = []

    def only_local(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{server}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=15000)
    assert "/api/predict" in page.text_content(".swagger-ui")
    assert blocked == []

    page.goto(f"{server}/model")
    assert page.text_content("h1") == "Model card"
    assert "99." in page.text_content(".facts")
    assert page.locator(".scores tbody tr").count() == 10
    with urllib.request.urlopen(f"{server}/favicon.ico") as answer:
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("image/svg+xml")
    assert blocked == []


def test_a_picture_with_two_numbers_shows_both_lines(server, desktop, touching_number, tmp_path):
    """Touching digits on two lines: the page shows each line's number, top to bottom."""
    page = desktop
    page.goto(server)
    page.check("input[value=upload]", force=True)
    top, bottom = touching_number("47"), touching_number("10")
    paper = np.zeros((300, 400), np.float32)
    paper[30:130, 40:40 + top.shape[1]] = top
    paper[180:280, 60:60 + bottom.shape[1]] = bottom
    Image.fromarray(np.round(255 * (1 - paper)).astype(np.uint8)).save(tmp_path / "two-lines.png")
    page.set_input_files("#file", str(tmp_path / "two-lines.png"))
    wait_digits(page, "47\n10")
    assert "2 lines: 47, then 10" in page.text_content("#status")
    assert page.locator(".digit-card").count() == 4
