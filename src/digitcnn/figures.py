"""The run's figures, as PNG files: samples, curves, confusion matrices, worst mistakes.

Each function takes plain arrays, draws one titled and labelled figure with matplotlib (and
seaborn for the heatmaps), writes it atomically and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .artifacts import atomic_path


def _subplots(rows: int = 1, cols: int = 1, **kwargs):
    """A figure and its axes, without pyplot: no global state, no backend, nothing to close."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(rows, cols, **kwargs)


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return Path(path)


TITLE_INCHES = 0.4  # the band above an image grid that holds its title


def _image_grid(images: np.ndarray, captions: list[str], cols: int, caption_size: int):
    """A figure and its one axes, showing images as a grid with a caption above each.

    images (N, 28, 28[, 1]), uint8 in 0-255 or float in [0, 1] (darker is more ink); captions,
    N strings of one or more lines. The grid is a single picture on one axes: drawing one axes
    per image made these figures the slowest part of a fast run's report.
    """
    rows = max(1, int(np.ceil(len(images) / cols)))
    caption_lines = max([caption.count("\n") + 1 for caption in captions], default=1)
    side, top = 4, 4 + 9 * caption_lines  # pixels around each image; the caption goes on top
    cell_w, cell_h = 28 + 2 * side, 28 + top
    canvas = np.zeros((rows * cell_h, cols * cell_w))
    width, height = canvas.shape[1] / 32, canvas.shape[0] / 32  # inches; a 28-pixel digit is 7/8 in
    fig, ax = _subplots(figsize=(width, height + TITLE_INCHES))
    fig.subplots_adjust(left=0, right=1, bottom=0, top=height / (height + TITLE_INCHES))
    for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
        row, col = divmod(i, cols)
        y, x = row * cell_h + top, col * cell_w + side
        canvas[y:y + 28, x:x + 28] = np.squeeze(image)
        # Pixel centres are at integer coordinates, so the image spans x - 0.5 to x + 27.5.
        ax.text(x + 13.5, y - 1.5, caption, ha="center", va="bottom", fontsize=caption_size)
    # The upper limit follows the images' scale: 1 for floats, 255 for raw uint8 images.
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=max(1.0, float(canvas.max())))
    ax.axis("off")
    return fig, ax


def plot_samples(images: np.ndarray, labels: np.ndarray, path: Path, cols: int = 8) -> Path:
    """A grid of images (N, 28, 28[, 1]) with their labels (N,)."""
    fig, _ = _image_grid(images, [f"label {label}" for label in labels], cols=cols, caption_size=9)
    fig.suptitle("Training samples and their labels")
    return _save(fig, path)


def plot_curves(history: dict, path: Path, metric: str = "accuracy", metric_name: str = "Accuracy") -> Path:
    """``metric`` and loss per epoch, training against validation (history as in history.json;
    a metric or loss measured on one side only, such as the line reader's exact match, is drawn alone)."""
    from matplotlib.ticker import MaxNLocator

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax_acc, ax_loss) = _subplots(1, 2, figsize=(11, 4))
    for ax, key, name in ((ax_acc, metric, metric_name), (ax_loss, "loss", "Loss")):
        if key in history:
            ax.plot(epochs, history[key], "o-", label="training")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "s-", label="validation")
        ax.set_title(f"{name} per epoch")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name.lower())
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Training against validation")
    return _save(fig, path)


def plot_confusion(matrix: np.ndarray, path: Path, normalized: bool) -> Path:
    """Heatmap of a confusion matrix (10, 10) of counts; row-normalized when ``normalized``."""
    import seaborn as sns

    values = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalized else matrix
    fig, ax = _subplots(figsize=(7.5, 6.5))
    sns.heatmap(values, annot=True, fmt=".3f" if normalized else "d", cmap="Blues", ax=ax,
                annot_kws={"fontsize": 7}, cbar_kws={"label": "share of the true class" if normalized else "images"})
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title("Confusion matrix, row-normalized" if normalized else "Confusion matrix (counts)")
    return _save(fig, path)


def plot_reliability(bins: dict, ece: float, path: Path) -> Path:
    """Reliability diagram: accuracy against confidence per bin (calibrate.reliability), the diagonal
    being perfect calibration; bar widths are the bins, labels their counts."""
    fig, ax = _subplots(figsize=(5.5, 5))
    edges = np.array(bins["edges"])
    width = edges[1] - edges[0]
    lefts = edges[bins["bins"]]
    ax.bar(lefts, bins["accuracy"], width=width, align="edge", edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfectly calibrated")
    ax.plot(bins["confidence"], bins["accuracy"], "o", color="black", markersize=3, label="mean confidence")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (probability of the digit answered)", ylabel="accuracy",
           title=f"Reliability on the test set (ECE {ece:.2%})")
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_mistakes(images: np.ndarray, true: np.ndarray, proba: np.ndarray, path: Path, count: int = 24) -> Path:
    """The most confidently misclassified images, with true label, prediction and probability.

    images (N, 28, 28[, 1]); true (N,) int labels; proba (N, 10) predicted probabilities.
    """
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != true)
    wrong = wrong[np.argsort(-proba[wrong, predicted[wrong]])][:count]
    captions = [f"true {true[i]}, pred {predicted[i]}\np={proba[i, predicted[i]]:.2f}" for i in wrong]
    fig, ax = _image_grid(images[wrong], captions, cols=8, caption_size=8)
    if len(wrong) == 0:
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(f"Most confident mistakes ({len(wrong)} of {int((predicted != true).sum())} errors shown)")
    return _save(fig, path)
