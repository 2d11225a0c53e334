"""The image grids of the report: any number of images, none included, and a readable PNG."""

import numpy as np
from PIL import Image

from digitcnn import figures


def test_mistakes_grid_shows_the_most_confident_errors_and_handles_none(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((40, 28, 28, 1), dtype=np.float32)
    true = np.arange(40) % 10
    proba = np.eye(10, dtype=np.float32)[(true + 1) % 10]  # every image wrong
    few = figures.plot_mistakes(images, true, proba, tmp_path / "many.png", count=24)
    none = figures.plot_mistakes(images, true, np.eye(10, dtype=np.float32)[true], tmp_path / "none.png")
    with Image.open(few) as grid, Image.open(none) as empty:
        assert grid.format == empty.format == "PNG"
        # 24 images in rows of 8 are 3 rows; the empty figure is one row of text.
        assert grid.height > 2 * empty.height


def test_samples_grid_with_a_partial_last_row(tmp_path):
    images = np.zeros((5, 28, 28), dtype=np.float32)
    path = figures.plot_samples(images, np.arange(5), tmp_path / "samples.png")
    with Image.open(path) as grid:
        assert grid.format == "PNG" and grid.width > grid.height
