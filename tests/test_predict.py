"""Reading new images: MNIST-convention preprocessing, numbers, bad input, the CLI, no TensorFlow."""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from digitcnn import synthetic
from digitcnn.imaging import decode_image, image_to_digits


def png_bytes(image: Image.Image, format="PNG", **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=format, **kwargs)
    return out.getvalue()


def paper_digit(digit: np.ndarray, size=120) -> Image.Image:
    """An MNIST digit written dark on white paper, upscaled, in a bigger frame."""
    big = Image.fromarray(255 - digit).resize((size // 2, size // 2), Image.Resampling.BICUBIC)
    page = Image.new("L", (size, size), 255)
    page.paste(big, (size // 5, size // 3))
    return page


def test_photo_like_digits_are_read(reader, mnist_test):
    x_test, y_test = mnist_test
    cases = synthetic.make_cases(x_test, y_test, 300, seed=7)
    correct = [reader.read(raw).digits == truth for raw, truth, _ in cases]
    assert np.mean(correct) >= 0.97, np.mean(correct)
    # every style is represented and none collapses
    for style in synthetic.STYLES:
        hits = [ok for ok, (_, _, s) in zip(correct, cases) if s == style]
        assert len(hits) == 30 and np.mean(hits) >= 0.85, style


def test_numbers_of_several_digits_are_read(reader, mnist_test):
    x_test, y_test = mnist_test
    cases = synthetic.make_cases(x_test, y_test, 120, digits_per_image=(2, 6), seed=11)
    results = [reader.read(raw) for raw, _, _ in cases]
    exact = np.mean([r.digits == truth for r, (_, truth, _) in zip(results, cases)])
    assert exact >= 0.90, exact
    for result, (_, truth, _) in zip(results, cases):
        if len(result.digits) == len(truth):
            lefts = [p.box[0] for p in result.predictions]
            assert lefts == sorted(lefts)  # left to right


def test_mnist_form_passes_through_unchanged(mnist_test):
    x_test, _ = mnist_test
    digits, boxes = image_to_digits(Image.fromarray(x_test[0]))
    np.testing.assert_allclose(digits[0, :, :, 0], x_test[0] / 255.0, atol=1e-6)
    assert boxes == [[0, 0, 28, 28]]


def test_preprocessed_digit_follows_mnist_convention(mnist_test):
    from scipy import ndimage

    x_test, _ = mnist_test
    digits, boxes = image_to_digits(paper_digit(x_test[3], size=200))
    assert digits.shape == (1, 28, 28, 1) and digits.dtype == np.float32
    image = digits[0, :, :, 0]
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.max() > 0.9
    rows, cols = np.nonzero(image > 0.1)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)  # longest side 20 px
    assert np.allclose(ndimage.center_of_mass(image), (13.5, 13.5), atol=1.0)
    assert image[0].max() == 0 and image[:, 0].max() == 0  # background black at the border
    # the box is the digit's ink in the 200x200 page: its MNIST bounding box, scaled by 100/28
    rows, cols = np.nonzero(x_test[3] > 60)
    expected = [40 + cols.min() * 100 / 28, 66 + rows.min() * 100 / 28,
                (np.ptp(cols) + 1) * 100 / 28, (np.ptp(rows) + 1) * 100 / 28]
    np.testing.assert_allclose(boxes[0], expected, atol=5)


def test_box_is_in_original_pixels_for_large_images(reader, mnist_test):
    x_test, y_test = mnist_test
    page = paper_digit(x_test[0], size=3000)
    result = reader.read(page)
    assert result.digits == str(y_test[0])
    x, y, _, h = result.predictions[0].box
    assert 600 <= x <= 1000 and 1000 <= y <= 1400 and h > 700


def test_transparent_drawing_is_not_black_on_black(reader, mnist_test):
    x_test, y_test = mnist_test
    alpha = Image.fromarray(x_test[1]).resize((140, 140), Image.Resampling.BICUBIC)
    drawing = Image.new("RGBA", (140, 140), (0, 0, 0, 0))
    drawing.putalpha(alpha)  # black strokes, transparent elsewhere
    assert reader.read(png_bytes(drawing)).digits == str(y_test[1])


def test_blank_image_has_no_digit(reader):
    for blank in (Image.new("L", (100, 100), 255), Image.new("RGB", (50, 80), (200, 180, 160)),
                  np.zeros((28, 28), np.uint8)):
        result = reader.read(blank)
        assert result.digits == "" and result.predictions == []
        assert result.message == "no digit found" and result.error is None


def test_image_modes_are_read(reader, mnist_test):
    x_test, y_test = mnist_test
    page = paper_digit(x_test[2])
    truth = str(y_test[2])
    sixteen = Image.fromarray(np.asarray(page, dtype=np.uint16) * 257)
    assert sixteen.mode.startswith("I;16")
    variants = {
        "16-bit": png_bytes(sixteen),
        "cmyk": png_bytes(page.convert("CMYK"), format="JPEG", quality=95),
        "palette": png_bytes(page.convert("P")),
        "gif": png_bytes(page.convert("P"), format="GIF"),
    }
    frames = [page.convert("P"), Image.new("P", page.size, 0)]
    variants["animated gif"] = png_bytes(frames[0], format="GIF", save_all=True, append_images=frames[1:])
    for name, raw in variants.items():
        result = reader.read(raw)
        assert result.error is None and result.digits == truth, name


def test_plain_pngs_decode_as_pillow_decodes_them(reader, mnist_test, capfd):
    """8-bit grey, RGB and RGBA PNGs go to libspng (twice as quick for canvas drawings): the same
    pixels; damaged ones get Pillow's message and nothing on stderr; EXIF and tRNS PNGs stay with Pillow."""
    pixels = np.random.default_rng(0).integers(0, 256, (40, 60, 4), dtype=np.uint8)
    for mode in ("L", "RGB", "RGBA"):
        image = Image.fromarray(pixels).convert(mode)
        decoded = decode_image(png_bytes(image))
        assert isinstance(decoded, np.ndarray) and np.array_equal(decoded, np.asarray(image)), mode
    raw = png_bytes(Image.fromarray(pixels))
    idat = raw.index(b"IDAT")
    damaged = raw[:idat + 20] + bytes([raw[idat + 20] ^ 0xFF]) + raw[idat + 21:]
    for bad in (damaged, raw[:len(raw) // 2]):
        assert "corrupt or truncated" in reader.read(bad).error
    assert capfd.readouterr().err == ""
    x_test, y_test = mnist_test
    index = int(np.flatnonzero(y_test == 7)[0])
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    sideways = png_bytes(paper_digit(x_test[index]).rotate(90, expand=True).convert("RGB"), exif=exif)
    assert isinstance(decode_image(sideways), Image.Image) and reader.read(sideways).digits == "7"
    keyed = png_bytes(Image.fromarray(pixels[..., :3]), transparency=(0, 0, 0))
    assert isinstance(decode_image(keyed), Image.Image)
    texts = PngImagePlugin.PngInfo()
    texts.add_text("Raw profile type exif", "may turn the picture")
    assert isinstance(decode_image(png_bytes(Image.fromarray(pixels), pnginfo=texts)), Image.Image)


def test_paper_of_one_grey_is_taken_away_as_the_paper_estimate_would(monkeypatch, mnist_test):
    """A screen drawing's paper of one grey skips the paper estimate (a grey opening), with the
    estimate's answer; a grey panel as wide as the opening's window is no such paper."""
    from digitcnn import imaging

    x_test, _ = mnist_test
    canvas = imaging.array_to_gray(decode_image(synthetic.canvas_drawing(x_test[0], np.random.default_rng(0))))
    panel = canvas.copy()
    panel[20:260, 20:260] = 0.6
    for gray in (canvas, panel):
        quick = imaging.remove_background(gray)
        with monkeypatch.context() as patch:
            patch.setattr(imaging, "ONE_SHADE", -1.0)  # no paper is one grey: always estimated
            estimated = imaging.remove_background(gray)
        assert np.abs(quick - estimated).max() <= 1 / 255


def test_exif_orientation_is_applied(reader, mnist_test):
    x_test, y_test = mnist_test
    index = int(np.flatnonzero(y_test == 7)[0])
    page = paper_digit(x_test[index]).rotate(90, expand=True)  # stored sideways...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...with "rotate 90 clockwise to display"
    raw = png_bytes(page.convert("RGB"), format="JPEG", exif=exif, quality=95)
    assert reader.read(raw).digits == "7"


@pytest.mark.parametrize("raw, message", [
    (b"", "empty input"),
    (b"hello, this is no image", "not an image"),
    (None, "corrupt or truncated"),
])
def test_bad_bytes_are_clear_errors(reader, raw, message):
    if raw is None:  # a PNG cut in the middle
        raw = png_bytes(Image.new("L", (300, 300), 128).point(lambda v: v))[:200]
    result = reader.read(raw)
    assert message in result.error and result.digits == ""


def test_decompression_bomb_is_refused(reader):
    bomb = png_bytes(Image.new("1", (9000, 9000), 0))  # 81 megapixels in a few kB
    assert len(bomb) < 100_000
    assert "over the limit" in reader.read(bomb).error


def test_cli_human_json_and_exit_codes(tmp_path, mnist_test, run_cli):
    x_test, y_test = mnist_test
    folder = tmp_path / "mixed"
    folder.mkdir()
    paper_digit(x_test[0]).save(folder / "a.png")
    paper_digit(x_test[1]).convert("RGB").save(folder / "b.jpg", quality=90)
    (folder / "c.txt").write_text("not an image")
    (folder / "d.png").write_bytes(b"")

    result = run_cli("predict", folder / "a.png", "--top-k", "2")
    assert result.returncode == 0
    assert result.stdout.startswith(f"{folder / 'a.png'}: {y_test[0]} (confidence")
    assert "runners-up" in result.stdout

    result = run_cli("predict", folder, "--json", "--save-preprocessed", tmp_path / "seen")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["input"]).name for r in lines] == ["a.png", "b.jpg", "c.txt", "d.png"]
    assert [r["digits"] for r in lines[:2]] == [str(y_test[0]), str(y_test[1])]
    assert lines[0]["error"] is None and lines[2]["error"] and lines[3]["error"]
    first = lines[0]["predictions"][0]
    assert set(first) == {"digit", "probability", "top_k", "probabilities", "box"} and len(first["top_k"]) == 3
    assert abs(sum(first["probabilities"]) - 1) < 1e-4 and first["top_k"][0]["digit"] == first["digit"]
    assert 0 <= lines[0]["confidence"] <= 1
    saved = sorted(p.name for p in (tmp_path / "seen").iterdir())
    assert saved == ["000_a_0.png", "001_b_0.png"]
    assert Image.open(tmp_path / "seen" / saved[0]).size == (28, 28)


def test_cli_says_a_folder_has_no_file_and_refuses_two_line_readers(tmp_path, run_cli):
    """An empty folder (or one of subfolders only) is an error on its line, exit 1, not silence;
    --line-model and --no-line-reader together are a usage error."""
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    result = run_cli("predict", tmp_path / "empty")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.strip() == f"{tmp_path / 'empty'}: error: a folder with no file in it (its subfolders are not read)"
    result = run_cli("predict", tmp_path / "x.png", "--line-model", tmp_path, "--no-line-reader")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr
    # a URL's error names it once
    result = run_cli("predict", "ftp://example.org/x.png")
    assert result.stdout.strip() == "ftp://example.org/x.png: error: only http and https URLs are fetched, not ftp"


def test_cli_reads_stdin(mnist_test, run_cli):
    x_test, y_test = mnist_test
    result = run_cli("predict", "-", "--json", stdin_bytes=png_bytes(paper_digit(x_test[4])))
    assert json.loads(result.stdout)["digits"] == str(y_test[4])


def test_cli_missing_file_and_bad_model(tmp_path, run_cli):
    result = run_cli("predict", tmp_path / "nope.png")
    assert result.returncode == 1 and result.stdout.strip() == f"{tmp_path / 'nope.png'}: error: no such file"
    result = run_cli("predict", tmp_path / "nope.png", "--model", tmp_path / "none.onnx")
    assert result.returncode == 1 and "no such ONNX model" in result.stderr
    # a folder of models is no run folder: the message names the models it holds
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "digitcnn.onnx").write_bytes(b"")
    result = run_cli("predict", tmp_path / "nope.png", "--model", tmp_path / "models")
    assert result.returncode == 1 and "not a run folder" in result.stderr and "digitcnn.onnx" in result.stderr


def test_predict_never_imports_tensorflow(tmp_path, mnist_test, root):
    x_test, _ = mnist_test
    paper_digit(x_test[0]).save(tmp_path / "one.png")
    code = ("import sys; from digitcnn.cli import main; rc = main(['predict', sys.argv[1]]); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'; "
            "sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "one.png")], capture_output=True, check=False,
                            text=True, cwd=root)
    assert result.returncode == 0, result.stderr



def test_file_objects_and_frames_are_read(reader, mnist_test, tmp_path):
    """A binary file object reads as its bytes; a text-mode one says how to open it; read_batch
    takes the (N, 28, 28, 1) frames a result holds."""
    x_test, y_test = mnist_test
    png = io.BytesIO()
    Image.fromarray(x_test[0]).save(png, format="PNG")
    assert reader.read(io.BytesIO(png.getvalue())).digits == str(y_test[0])
    (tmp_path / "digit.png").write_bytes(png.getvalue())
    with open(tmp_path / "digit.png", "rb") as file:
        assert reader.read(file).digits == str(y_test[0])
    for encoding in ("utf-8", "latin-1"):  # a PNG is no UTF-8 text: the first fails to decode
        with open(tmp_path / "digit.png", encoding=encoding) as file:
            assert "open it in binary mode" in reader.read(file).error
    frames = reader.read(x_test[1]).frames
    assert frames.shape == (1, 28, 28, 1)
    assert reader.read_batch(frames)[0].digits == str(y_test[1])


def test_float_images_of_0_to_255_are_refused_not_clipped(reader, mnist_test):
    """Floats are read as 0-1: an MNIST digit as float32 0-255 was clipped to black and white and
    read differently from its uint8 self (5 of 500 digits); it is now refused, saying why."""
    from digitcnn.imaging import ImageError

    x_test, _ = mnist_test
    as_255 = x_test[:3].astype(np.float32)
    with pytest.raises(ImageError, match=r"in \[0, 1\], got values from 0 to 255"):
        reader.read_batch(as_255)
    assert "divide 0-255 values by 255" in reader.read(as_255[0]).error
    assert [r.digits for r in reader.read_batch(as_255 / 255)] == [r.digits for r in reader.read_batch(x_test[:3])]
    assert reader.read(np.clip(x_test[0] / 255 * 1.005, 0, None)).digits == reader.read(x_test[0]).digits  # rounding


def test_read_batch_agrees_with_read(reader, mnist_test):
    x_test, y_test = mnist_test
    batch = reader.read_batch(x_test[:50])
    for image, result in zip(x_test[:50], batch):
        single = reader.read(image)
        assert result.digits == single.digits
        # The float32 first convolution of the int8 model rounds differently by batch size; the
        # next layer's int8 steps can turn that into a few 1e-4 of probability.
        assert abs(result.confidence - single.confidence) < 2e-3
    assert np.mean([r.digits == str(y) for r, y in zip(batch, y_test[:50])]) >= 0.98
    blank_and_digit = np.stack([np.zeros((28, 28), np.uint8), x_test[0]])
    assert [r.digits for r in reader.read_batch(blank_and_digit)] == ["", str(y_test[0])]
    # An MNIST-like input is one line of writing, as any picture is, alone or in a batch.
    for result in (single, batch[-1]):
        assert [(line.digits, line.reader) for line in result.lines] == [(result.digits, "digit")]
    blank = np.zeros((1, 28, 28), np.uint8)
    assert reader.read(blank[0]).lines == [] == reader.read_batch(blank)[0].lines
    # Each result is its own: changing one (a caller annotating boxes, say) leaves the others alone.
    batch[0].predictions[0].box[2] = 99
    assert batch[1].predictions[0].box == [0, 0, 28, 28]

    def ranked(results):  # a digit refused as not a digit has no candidates
        return [[c.digit for c in r.predictions[0].top_k] if r.predictions else [] for r in results]

    assert ranked(batch) == ranked(map(reader.read, x_test[:50]))


def test_cli_text_of_several_lines_puts_the_marks_left_out_on_their_own_line_and_frames_sort(tmp_path):
    """The marks left out are the picture's, not its last line's; and a number's frames saved by
    --save-preprocessed sort by name in the digits' order ("_02" before "_10")."""
    from digitcnn.cli import format_result, save_preprocessed
    from digitcnn.results import DigitPrediction, LineReading, ReadResult, RejectedMark

    digits = [DigitPrediction(d, 0.99, [], [], [0, 0, 1, 1]) for d in (1, 2, 3)]
    lines = [LineReading("12", "12", 0.99, [0, 0, 1, 1], "line"), LineReading("3", "3", 0.99, [0, 9, 1, 1], "digit")]
    result = ReadResult.read("form.png", digits, rejected=[RejectedMark(0.9, [5, 5, 2, 2])] * 2, lines=lines)
    assert format_result(result, 3, False).splitlines() == [
        "form.png: 2 lines (confidence 0.990)", "  line 1: 12 (confidence 0.990)", "  line 2: 3 (confidence 0.990)",
        "  2 marks that are not a digit left out"]
    one = ReadResult.read("one.png", digits[:1], rejected=[RejectedMark(0.9, [5, 5, 2, 2])],
                          lines=[LineReading("1", "1", 0.99, [0, 0, 1, 1], "digit")])
    assert format_result(one, 3, False) == "one.png: 1 (confidence 0.990); 1 mark that is not a digit left out"

    result.frames = np.stack([np.full((28, 28, 1), k / 12, np.float32) for k in range(12)])
    save_preprocessed(tmp_path, 7, result)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[:3] == ["007_form_00.png", "007_form_01.png", "007_form_02.png"] and names[-1] == "007_form_11.png"
