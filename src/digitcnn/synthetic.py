"""Photo-like renderings of MNIST digits, for tests and benchmarks of reading new images.

Real images are dark ink on light or tinted paper, any size, off-centre, rotated, noisy,
blurred, JPEG-compressed or transparent. ``render`` makes such an image from MNIST digits
(one, or several in a row for a number), with a seeded random style, so that the true
answer is known. Pillow and NumPy only.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image, ImageFilter

STYLES = ("paper", "tinted", "offcentre", "small", "rotated", "noisy", "blurred", "jpeg", "transparent", "thick")


def crop_to_ink(digit: np.ndarray) -> np.ndarray:
    """A digit cropped to its ink: uint8 0-255 (MNIST) or float in [0, 1]; a blank one as it is."""
    rows, cols = np.nonzero(digit > (30 if digit.dtype == np.uint8 else 30 / 255))
    if rows.size == 0:
        return digit
    return digit[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def compose_number(digits: list[np.ndarray], rng: np.random.Generator, height: int) -> np.ndarray:
    """MNIST digits (28x28 uint8, light ink) side by side, each scaled to ``height`` px, with gaps."""
    parts = []
    for digit in digits:
        crop = crop_to_ink(digit)
        scale = height / crop.shape[0]
        size = (max(1, round(crop.shape[1] * scale)), height)
        parts.append(np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BICUBIC)))
    gap = max(2, int(height * rng.uniform(0.15, 0.4)))
    width = sum(p.shape[1] for p in parts) + gap * (len(parts) - 1)
    canvas = np.zeros((height, width), dtype=np.uint8)
    x = 0
    for part in parts:
        canvas[:, x:x + part.shape[1]] = np.maximum(canvas[:, x:x + part.shape[1]], part)
        x += part.shape[1] + gap
    return canvas


def render(digits: list[np.ndarray], style: str, rng: np.random.Generator) -> bytes:
    """Encoded image bytes (PNG or JPEG) of the digits written on paper in the given style."""
    canvas_size = int(rng.integers(80, 240))
    fill = rng.uniform(0.25, 0.9) if style != "small" else rng.uniform(0.25, 0.35)
    ink = compose_number(digits, rng, height=max(20, int(canvas_size * fill / max(1, len(digits)) ** 0.5)))
    if style == "thick":
        # a pen about a tenth of the digit's height wide
        ink = np.asarray(Image.fromarray(ink).filter(ImageFilter.MaxFilter(3 if ink.shape[0] < 48 else 5)))
    if style == "rotated":
        ink = np.asarray(Image.fromarray(ink).rotate(rng.uniform(-15, 15), expand=True,
                                                     resample=Image.Resampling.BILINEAR))
    height = max(canvas_size, ink.shape[0] + 4)
    width = max(canvas_size, ink.shape[1] + 4) + (int(rng.integers(0, 120)) if style == "offcentre" else 0)
    alpha = np.zeros((height, width), dtype=np.float32)
    top = int(rng.integers(0, height - ink.shape[0] + 1))
    left = int(rng.integers(0, width - ink.shape[1] + 1))
    alpha[top:top + ink.shape[0], left:left + ink.shape[1]] = ink / 255.0

    paper = np.array([rng.uniform(0.85, 1.0)] * 3)
    pen = np.array([rng.uniform(0.0, 0.25)] * 3)
    if style == "tinted":
        paper = rng.uniform(0.7, 1.0, 3)
        pen = rng.uniform(0.0, 0.35, 3) * np.array([1.0, 1.0, rng.uniform(1, 2.5)])
    rgb = paper * (1 - alpha[..., None]) + pen * alpha[..., None]
    if style == "noisy":
        rgb = rgb + rng.normal(0, 0.08, rgb.shape)
    if style == "transparent":
        rgba = np.dstack([np.broadcast_to(pen, rgb.shape), alpha])
        image = Image.fromarray((np.clip(rgba, 0, 1) * 255).astype(np.uint8), mode="RGBA")
    else:
        image = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), mode="RGB")
    if style == "blurred":
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.0)))
    out = io.BytesIO()
    if style == "jpeg":
        image.save(out, format="JPEG", quality=int(rng.integers(30, 70)))
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def make_cases(images: np.ndarray, labels: np.ndarray, count: int, digits_per_image=(1, 1), seed: int = 0):
    """``count`` rendered images of random MNIST digits: a list of (bytes, true string, style)."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        n = int(rng.integers(digits_per_image[0], digits_per_image[1] + 1))
        picks = rng.choice(len(images), size=n, replace=False)
        style = STYLES[i % len(STYLES)]
        cases.append((render([images[j] for j in picks], style, rng), "".join(str(labels[j]) for j in picks), style))
    return cases


def canvas_drawing(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """The PNG the web page posts: an opaque white 560x280 RGBA canvas, a dark digit drawn on it."""
    height = int(rng.integers(150, 250))
    crop = crop_to_ink(digit)
    ink = np.asarray(Image.fromarray(crop).resize(
        (max(1, round(crop.shape[1] * height / crop.shape[0])), height), Image.Resampling.BICUBIC))
    alpha = np.zeros((280, 560), dtype=np.float32)
    top = int(rng.integers(0, 280 - height + 1))
    left = int(rng.integers(0, 560 - ink.shape[1] + 1))
    alpha[top:top + height, left:left + ink.shape[1]] = (ink > 100)
    gray = (255 - alpha * (255 - 17)).astype(np.uint8)  # #111 on #fff, as app.js draws
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    out = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(out, format="PNG")
    return out.getvalue()


def phone_photo(digit: np.ndarray, rng: np.random.Generator, size=(4000, 3000), paper: str = "plain",
                shadow: bool = False, dim: bool = False) -> bytes:
    """A phone-camera JPEG (12 megapixels by default): shaded, slightly tinted paper, a pen digit.

    ``paper``: "plain"; or a notebook's "ruled" paper (lines about 1.3 digit heights apart) or
    "squared" paper (squares about 0.6 of a digit's height), printed light blue-grey, a little
    tilted, with the digit smaller in the picture so that several lines show. ``shadow``: the
    shadow of the phone or of a hand across the page and the digit (``shadow_across``). ``dim``: a
    room's dim light, the whole picture 30-45% as bright and the sensor's noise showing (8-14 grey
    levels): the paper's border is dark all round, as a dark page's is.
    """
    width, height = size
    digit_height = int(height * (rng.uniform(0.3, 0.6) if paper == "plain" else rng.uniform(0.2, 0.35)))
    crop = crop_to_ink(digit)
    ink = np.asarray(Image.fromarray(crop).resize(
        (max(1, round(crop.shape[1] * digit_height / crop.shape[0])), digit_height), Image.Resampling.BICUBIC),
        dtype=np.float32) / 255
    light = (np.linspace(1.0, rng.uniform(0.6, 0.85), width, dtype=np.float32)[np.newaxis, :]
             * np.linspace(1.0, rng.uniform(0.8, 0.95), height, dtype=np.float32)[:, np.newaxis])
    paper_grey = 235 * light
    lines = ruling((height, width), digit_height, paper, rng) if paper != "plain" else None
    top = int(rng.integers(0, height - digit_height))
    left = int(rng.integers(0, width - ink.shape[1]))
    region = paper_grey[top:top + digit_height, left:left + ink.shape[1]]
    paper_grey[top:top + digit_height, left:left + ink.shape[1]] = region * (1 - ink) + 40 * ink
    rgb = paper_grey[..., np.newaxis] * np.array([1.0, 0.98, 0.93], dtype=np.float32)
    if lines is not None:  # printed under the ink: only paper shows it
        on_paper = np.ones_like(paper_grey)
        on_paper[top:top + digit_height, left:left + ink.shape[1]] = 1 - ink
        rgb *= 1 - (lines * on_paper)[..., np.newaxis] * np.array([1.0, 0.8, 0.35], dtype=np.float32)
    if shadow:
        rgb *= shadow_across((height, width), (left + ink.shape[1] / 2, top + digit_height / 2), digit_height, rng)[..., np.newaxis]
    if dim:
        rgb = rgb * rng.uniform(0.3, 0.45) + rng.normal(0, rng.uniform(8, 14), (height, width, 1)).astype(np.float32)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(out, format="JPEG", quality=88)
    return out.getvalue()


def shadow_across(shape: tuple[int, int], centre: tuple[float, float], size: float,
                  rng: np.random.Generator) -> np.ndarray:
    """How much light a shadow leaves, float32 (H, W) in [0.45, 1]: one side of a straight edge, at
    any angle, through a point within 0.3 ``size`` of ``centre`` (x, y), is 25-55% darker; the edge
    is soft over 0.5-4% of the width, as a phone's or a hand's shadow is under a room's light."""
    height, width = shape
    angle = rng.uniform(0, 2 * np.pi)
    x, y = centre[0] + rng.uniform(-0.3, 0.3) * size, centre[1] + rng.uniform(-0.3, 0.3) * size
    across = (np.cos(angle) * (np.arange(width, dtype=np.float32) - x))[np.newaxis, :] \
        + (np.sin(angle) * (np.arange(height, dtype=np.float32) - y))[:, np.newaxis]
    softness = rng.uniform(0.005, 0.04) * width
    inside = 1 / (1 + np.exp(np.clip(-across / softness, -50, 50)))
    return (1 - rng.uniform(0.25, 0.55) * inside).astype(np.float32)


def ruling(shape: tuple[int, int], digit_height: int, paper: str, rng: np.random.Generator) -> np.ndarray:
    """How much of the paper's light a notebook's printed lines take, float32 (H, W) in [0, 0.35]:
    "ruled" lines or a "squared" grid, tilted by up to 3 degrees, 0.2-0.5% of the height thick."""
    if paper not in ("ruled", "squared"):
        raise ValueError(f"paper must be 'plain', 'ruled' or 'squared', got {paper!r}")
    height, width = shape
    angle = np.deg2rad(rng.uniform(-3, 3))
    yy = np.arange(height, dtype=np.float32)[:, np.newaxis]
    xx = np.arange(width, dtype=np.float32)[np.newaxis, :]
    period = digit_height * (rng.uniform(1.15, 1.5) if paper == "ruled" else rng.uniform(0.45, 0.8))
    thickness = height * rng.uniform(0.002, 0.005)
    printed = (yy * np.cos(angle) - xx * np.sin(angle) + rng.uniform(0, period)) % period < thickness
    if paper == "squared":
        printed |= (xx * np.cos(angle) + yy * np.sin(angle) + rng.uniform(0, period)) % period < thickness
    return np.float32(rng.uniform(0.15, 0.35)) * printed


def on_a_desk(photo: bytes, rng: np.random.Generator, share: float) -> bytes:
    """A photo of a sheet (JPEG bytes, as ``phone_photo`` makes) seen on a dark brown desk with a
    little noise: the sheet in the middle, ``share`` of the new picture's height; the picture 4:3,
    or wider when the sheet would not fit."""
    sheet = Image.open(io.BytesIO(photo)).convert("RGB")
    height = round(sheet.size[1] / share)
    width = max(height * 4 // 3, sheet.size[0])
    desk = (np.array([90, 60, 40], np.float32) + rng.integers(0, 25, (height, width, 1))).astype(np.uint8)
    picture = Image.fromarray(desk, mode="RGB")
    picture.paste(sheet, ((width - sheet.size[0]) // 2, (height - sheet.size[1]) // 2))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=88)
    return out.getvalue()


def at_an_angle(photo: bytes, rng: np.random.Generator) -> bytes:
    """A photo of a sheet (JPEG bytes, as ``phone_photo`` makes) taken at an angle: the sheet seen
    in perspective, its far edge 20-50% narrower (the top, or one side), and wedges of a dark
    desk beside it, the picture's size unchanged."""
    sheet = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))
    height, width = sheet.shape[:2]
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    narrower = rng.uniform(0.1, 0.25)
    if rng.random() < 0.5:  # the top edge farther away
        seen = np.float32([[narrower * width, 0], [(1 - narrower) * width, 0], [width, height], [0, height]])
    else:  # the left edge farther away
        seen = np.float32([[0, narrower * height], [width, 0], [width, height], [0, (1 - narrower) * height]])
    desk = (int(rng.integers(80, 100)), int(rng.integers(55, 70)), int(rng.integers(35, 50)))
    picture = cv2.warpPerspective(sheet, cv2.getPerspectiveTransform(corners, seen), (width, height),
                                  flags=cv2.INTER_LINEAR, borderValue=desk)
    out = io.BytesIO()
    Image.fromarray(picture, mode="RGB").save(out, format="JPEG", quality=88)
    return out.getvalue()
