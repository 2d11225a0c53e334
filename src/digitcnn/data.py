"""MNIST data: read the IDX files, verify them, split, and preprocess.

The four gzip'd IDX files ship inside the package (``digitcnn/mnist/``), so nothing is ever
downloaded. Their *decompressed* bytes are checked against pinned SHA-256 sums; a folder given
with ``data_dir`` (Fashion-MNIST, say) gets the format checks but not the pinned sums.

Only NumPy is imported here: prediction and the web server import this module too.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from .errors import DigitcnnError

PACKAGE_DATA_DIR = Path(__file__).resolve().parent / "mnist"

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

# SHA-256 of the decompressed bytes, from shared/data/mnist/README.md.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
NUM_CLASSES = 10


class DataError(DigitcnnError, ValueError):
    """A data file is missing, truncated, corrupt or not what was expected."""


def read_idx(path: str | Path, expected_sha256: str | None = None) -> np.ndarray:
    """Read one IDX file (gzip'd or plain) into a uint8 array.

    Parameters
    ----------
    path : path to an ``*-idx1-ubyte`` (labels) or ``*-idx3-ubyte`` (images) file, ``.gz`` or not.
    expected_sha256 : if given, the SHA-256 hex digest the *decompressed* bytes must have.

    Returns
    -------
    np.ndarray of dtype uint8: shape (count,) for labels, (count, rows, cols) for images.

    Raises
    ------
    DataError naming the file and what was expected, for a missing, truncated, badly
    compressed, wrong-magic or wrong-checksum file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected an IDX file)")
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot decompress ({exc}); the file is truncated or not gzip") from exc

    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise DataError(
                f"{path}: SHA-256 of the decompressed bytes is {actual}, expected {expected_sha256}"
            )

    if len(data) < 8:
        raise DataError(f"{path}: {len(data)} bytes, too short for an IDX header (at least 8)")
    magic = int.from_bytes(data[0:4], "big")
    if magic == LABELS_MAGIC:
        ndim = 1
    elif magic == IMAGES_MAGIC:
        ndim = 3
    else:
        raise DataError(
            f"{path}: magic number 0x{magic:08x}, expected 0x{LABELS_MAGIC:08x} (labels) "
            f"or 0x{IMAGES_MAGIC:08x} (images)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated header ({len(data)} bytes, expected at least {header})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected_size = header + int(np.prod(shape))
    if len(data) != expected_size:
        raise DataError(
            f"{path}: {len(data)} bytes, expected {expected_size} for dimensions {shape} "
            "(the file is truncated or has trailing bytes)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist(data_dir: str | Path | None = None):
    """Load the four IDX files of MNIST (or of any data set in the same format).

    Parameters
    ----------
    data_dir : folder holding the four files named in ``FILES``; None uses the copy shipped
        with the package and checks the pinned SHA-256 sums.

    Returns
    -------
    (x_train, y_train), (x_test, y_test): uint8 arrays of shapes (N, 28, 28) with values
    0-255 (0 = background) and (N,) with values 0-9.
    """
    pinned = data_dir is None
    folder = PACKAGE_DATA_DIR if pinned else Path(data_dir)
    arrays = {}
    for key, name in FILES.items():
        arrays[key] = read_idx(folder / name, MNIST_SHA256[name] if pinned else None)

    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1:
            raise DataError(f"{folder}: {split} images must be 3-D and labels 1-D")
        if len(images) != len(labels):
            raise DataError(
                f"{folder}: {len(images)} {split} images but {len(labels)} {split} labels"
            )
        if labels.size and labels.max() >= NUM_CLASSES:
            raise DataError(f"{folder}: {split} labels must be 0-{NUM_CLASSES - 1}, found {labels.max()}")
    return (arrays["train_images"], arrays["train_labels"]), (arrays["test_images"], arrays["test_labels"])


def checksums(data_dir: str | Path | None = None) -> dict[str, str]:
    """SHA-256 of the decompressed bytes of each file, for the run's record."""
    if data_dir is None:
        return dict(MNIST_SHA256)
    folder = Path(data_dir)
    return {
        name: hashlib.sha256(gzip.decompress((folder / name).read_bytes())
                             if name.endswith(".gz") else (folder / name).read_bytes()).hexdigest()
        for name in FILES.values()
    }


def stratified_split(labels: np.ndarray, fraction: float = 0.1, seed: int = 0):
    """Split indices into (train, validation), keeping each class's share.

    Parameters
    ----------
    labels : int array of shape (N,), values 0-9.
    fraction : share of each class that goes to validation, in (0, 1).
    seed : seed of the shuffle; the same seed gives the same split.

    Returns
    -------
    (train_idx, val_idx): disjoint sorted int64 arrays that together cover range(N).
    """
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    train_idx, val_idx = train_test_split(
        indices, test_size=fraction, random_state=seed, stratify=labels
    )
    return np.sort(train_idx), np.sort(val_idx)


def limit_per_split(images: np.ndarray, labels: np.ndarray, limit: int | None, seed: int = 0):
    """Keep a stratified subset of at most ``limit`` examples (all of them when None)."""
    if limit is None or limit >= len(labels):
        return images, labels
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(
        np.arange(len(labels)), train_size=limit, random_state=seed, stratify=labels
    )
    keep = np.sort(keep)
    return images[keep], labels[keep]


def preprocess(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) with 0-255 -> float32 (N, 28, 28, 1) in [0, 1]."""
    if images.ndim != 3:
        raise DataError(f"expected images of shape (N, rows, cols), got {images.shape}")
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def one_hot(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """int (N,) with values 0..num_classes-1 -> float32 (N, num_classes) one-hot."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"labels must be 0-{num_classes - 1}, got {labels.min()}-{labels.max()}")
    return np.eye(num_classes, dtype=np.float32)[labels]
