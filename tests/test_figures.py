"""The image grids of the report: each image in its cell under its own caption, any number of them."""

import numpy as np
import pytest
from PIL import Image

from digitcnn import figures


def test_grid_puts_each_image_in_its_cell_under_its_caption():
    rng = np.random.default_rng(0)
    images = rng.random((11, 28, 28, 1))
    _, ax = figures._image_grid(images, [f"image {i}" for i in range(11)], cols=4, caption_size=8)
    canvas = ax.images[0].get_array()
    assert [text.get_text() for text in ax.texts] == [f"image {i}" for i in range(11)]
    found = 0
    for i, text in enumerate(ax.texts):
        caption_x, caption_y = text.get_position()
        x, y = round(caption_x - 13.5), round(caption_y + 1.5)  # the image's top-left pixel
        np.testing.assert_array_equal(canvas[y:y + 28, x:x + 28], images[i, :, :, 0])
        found += 1
    assert found == 11
    # 11 images in rows of 4: three rows, the last one partial.
    assert len({round(text.get_position()[1]) for text in ax.texts}) == 3


def test_grid_refuses_captions_that_do_not_match_the_images():
    with pytest.raises(ValueError):
        figures._image_grid(np.zeros((4, 28, 28)), ["one", "two"], cols=8, caption_size=8)


def test_mistakes_shows_the_most_confident_errors_first_and_handles_none(tmp_path, monkeypatch):
    images = np.zeros((30, 28, 28, 1), dtype=np.float32)
    true = np.arange(30) % 10
    proba = np.full((30, 10), 0.01, dtype=np.float32)
    proba[np.arange(30), (true + 1) % 10] = np.linspace(0.3, 0.9, 30)  # all wrong, rising confidence
    proba[0] = np.eye(10)[0]  # except the first one

    path = figures.plot_mistakes(images, true, proba, tmp_path / "mistakes.png", count=24)
    with Image.open(path) as grid:
        assert grid.format == "PNG"
    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig))
    figures.plot_mistakes(images, true, proba, tmp_path / "again.png", count=24)
    captions = [text.get_text() for text in drawn[0].axes[0].texts]
    assert len(captions) == 24
    assert captions[0] == "true 9, pred 0\np=0.90" and captions[-1].startswith("true 6, pred 7")
    assert "24 of 29 errors shown" in drawn[0]._suptitle.get_text()

    figures.plot_mistakes(images, true, np.eye(10, dtype=np.float32)[true], tmp_path / "none.png")
    assert [text.get_text() for text in drawn[1].axes[0].texts] == ["no misclassified images"]
