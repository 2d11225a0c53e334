"""Read digits in new images: the Python API behind `digitcnn predict` and the web server.

    from digitcnn import DigitReader
    reader = DigitReader()                 # loads the default ONNX model once
    result = reader.read("photo.jpg")      # a path, URL, bytes, PIL image or NumPy array
    result.digits, result.confidence       # a results.ReadResult

ONNX Runtime only: this module never imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fetch import MAX_BYTES, fetch_url, is_url, short
from .imaging import ImageError, decode_image, image_to_digits, mnist_like
from .inference import load_session, predict_proba, resolve_model_path
from .models import NOT_A_DIGIT, REFUSE_ABOVE
from .results import Candidate, DigitPrediction, ReadResult, RejectedMark


def source_name(source) -> str:
    """How an input is named in results: the path or URL as given, or its type."""
    if isinstance(source, (str, Path)):
        return str(source)
    return f"<{type(source).__name__}>"


def read_file(text: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (the URL cap): never a device, a FIFO
    (which would wait for a writer forever) or a folder, never an unbounded read."""
    import os
    import stat

    name = short(text, keep=200)
    try:
        info = os.stat(text)
        if stat.S_ISDIR(info.st_mode):
            raise ImageError(f"{name}: is a directory (expected an image file)")
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(f"{name}: not a regular file (a device, FIFO or socket is not read)")
        if info.st_size > max_bytes:
            raise ImageError(f"{name}: {info.st_size} bytes, over the limit of {max_bytes} bytes")
        with open(text, "rb") as file:
            raw = file.read(max_bytes + 1)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except (OSError, ValueError) as exc:  # permission, a name too long, a NUL in the name...
        raise ImageError(f"{name}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if len(raw) > max_bytes:  # it grew while we read
        raise ImageError(f"{name}: over the limit of {max_bytes} bytes")
    return raw


def load_source(source, fetch=None):
    """A path, URL, bytes, PIL image or NumPy array -> a PIL image or a NumPy array."""
    from PIL import Image

    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_image(bytes(source))
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return source
    if isinstance(source, (str, Path)):
        text = str(source)
        if is_url(text):
            return decode_image((fetch or fetch_url)(text))
        return decode_image(read_file(text))
    raise ImageError(f"cannot read an image from a {type(source).__name__}; expected a path, URL, "
                     "bytes, PIL image or NumPy array")


class DigitReader:
    """Reads the digits in images with an ONNX model, loaded once.

    Parameters
    ----------
    model : a .onnx file or a run folder; None for the pretrained default model.
    top_k : how many candidates each digit's ``top_k`` lists.
    """

    def __init__(self, model=None, top_k: int = 3, threads: int | None = None):
        self.model_path = resolve_model_path(model)
        self.session = load_session(self.model_path, threads=threads)
        self.top_k = top_k

    def read(self, source, fetch=None, strict: bool = False) -> ReadResult:
        """Read one image; return its ReadResult (the fields of ``digitcnn predict --json``).

        A bad input gives a result whose ``error`` is set, or raises ImageError when ``strict``.
        ``fetch(url) -> bytes`` replaces the default URL fetcher (the server adds its guard).
        The 28x28 images the model saw are in ``result.frames`` (not in the JSON).
        """
        name = source_name(source)
        try:
            image = load_source(source, fetch)
            digits, boxes = image_to_digits(image)
        except ImageError as exc:
            if strict:
                raise
            return ReadResult.failed(name, str(exc))
        proba = predict_proba(self.session, digits)
        kept, rejected = self.split_rejected(proba, boxes)
        result = ReadResult.read(name, self.digit_predictions(proba[kept, :10], [boxes[i] for i in kept]),
                                 digits[kept], rejected)
        result.source = image
        return result

    @staticmethod
    def split_rejected(proba: np.ndarray, boxes: list) -> tuple[list[int], list[RejectedMark]]:
        """Rows whose "not a digit" probability is over REFUSE_ABOVE (models with 11 outputs) become RejectedMarks."""
        if proba.shape[1] == 10:
            return list(range(len(proba))), []
        refused = proba[:, NOT_A_DIGIT] > REFUSE_ABOVE
        return ([i for i in range(len(proba)) if not refused[i]],
                [RejectedMark(float(proba[i, NOT_A_DIGIT]), list(boxes[i])) for i in np.flatnonzero(refused)])

    def read_batch(self, images: np.ndarray) -> list[ReadResult]:
        """Read many single-digit images at once: uint8 or float (N, H, W) arrays.

        Images already in MNIST form (28x28, dark border, bright ink) go to the model in one
        call; the others take the full path of ``read``.
        """
        try:
            images = np.asarray(images)
        except ValueError:
            raise ImageError("expected images of one shape (N, H, W), got a ragged sequence") from None
        if images.ndim != 3 or min(images.shape[1:], default=0) < 1:
            raise ImageError(f"expected images of shape (N, H, W), got {images.shape}")
        if images.dtype.kind not in "biuf":
            raise ImageError(f"expected a numeric image array, got dtype {images.dtype}")
        if images.dtype.kind == "f" and not np.isfinite(images).all():
            raise ImageError("image array holds NaN or infinite values")
        # The rules of imaging.array_to_gray: integers are 0-255 (uint16 0-65535), floats 0-1.
        scale = 1 / 65535 if images.dtype == np.uint16 else 1 / 255 if images.dtype.kind in "iu" else 1.0
        scaled = np.multiply(images, np.float32(scale), dtype=np.float32)  # 4x quicker than astype, then /
        np.clip(scaled, 0.0, 1.0, out=scaled)
        results: list[ReadResult | None] = [None] * len(images)
        if images.shape[1:] == (28, 28):
            fast = np.flatnonzero(mnist_like(scaled))
            proba = predict_proba(self.session, scaled[fast][..., np.newaxis])
            box = [0, 0, 28, 28]
            kept, rejected = self.split_rejected(proba, [box] * len(fast))
            for i, digit in zip(fast[kept].tolist(), self.digit_predictions(proba[kept, :10], [box] * len(kept))):
                results[i] = ReadResult.read(f"<image {i}>", [digit])
            for i, mark in zip(np.setdiff1d(fast, fast[kept]).tolist(), rejected):
                results[i] = ReadResult.read(f"<image {i}>", [], rejected=[mark])
        for i, result in enumerate(results):
            if result is None:
                results[i] = self.read(scaled[i])
                results[i].input = f"<image {i}>"
        return results

    def digit_predictions(self, proba: np.ndarray, boxes: list) -> list[DigitPrediction]:
        """One prediction per row of ``proba`` (k, 10): the digit, its probability, the top k, the box."""
        orders = np.argsort(-proba, axis=1, kind="stable")[:, :self.top_k].tolist()
        return [DigitPrediction(digit=order[0], probability=p[order[0]],
                                top_k=[Candidate(d, p[d]) for d in order], probabilities=p, box=list(box))
                for order, p, box in zip(orders, proba.tolist(), boxes)]
