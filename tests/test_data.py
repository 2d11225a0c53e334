"""The IDX reader, the checksums, the split and the preprocessing."""

import gzip
import hashlib

import numpy as np
import pytest

from digitcnn import data
from digitcnn.data import DataError


def test_reads_good_files_plain_and_gzip(tmp_path, write_idx):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], dtype=np.uint8)
    for compress in (True, False):
        suffix = ".gz" if compress else ""
        np.testing.assert_array_equal(data.read_idx(write_idx(tmp_path / f"i{suffix}", images, compress)), images)
        np.testing.assert_array_equal(data.read_idx(write_idx(tmp_path / f"l{suffix}", labels, compress)), labels)


def test_truncated_file_is_a_clear_error(tmp_path, write_idx):
    path = write_idx(tmp_path / "images.gz", np.zeros((5, 28, 28), np.uint8))
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match=r"images\.gz.*expected 3936.*truncated"):
        data.read_idx(path)
    path.write_bytes(path.read_bytes()[:40])  # a cut gzip stream
    with pytest.raises(DataError, match="cannot decompress"):
        data.read_idx(path)


def test_wrong_magic_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x02" + b"\x00" * 20))
    with pytest.raises(DataError, match="magic number 0x00000802, expected 0x00000801"):
        data.read_idx(path)


def test_wrong_checksum_is_a_clear_error(tmp_path, write_idx):
    labels = np.array([1, 2, 3], np.uint8)
    path = write_idx(tmp_path / "labels.gz", labels)
    good = hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
    assert data.read_idx(path, good).tolist() == [1, 2, 3]
    with pytest.raises(DataError, match=f"labels.gz: SHA-256 .* expected {'0' * 64}"):
        data.read_idx(path, "0" * 64)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        data.load_mnist(tmp_path)


def test_shipped_mnist_matches_its_readme(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_data_dir_loads_any_folder_without_pinned_checksums(tmp_path, write_idx):
    rng = np.random.default_rng(0)
    for name, shape in (("train-images-idx3-ubyte.gz", (50, 28, 28)), ("t10k-images-idx3-ubyte.gz", (20, 28, 28))):
        write_idx(tmp_path / name, rng.integers(0, 256, shape, dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(50, dtype=np.uint8) % 10)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(20, dtype=np.uint8) % 10)
    (x_train, _), (_, y_test) = data.load_mnist(tmp_path)
    assert x_train.shape == (50, 28, 28) and y_test.shape == (20,)
    assert set(data.checksums(tmp_path)) == set(data.FILES.values())


def test_mismatched_counts_are_an_error(tmp_path, write_idx):
    for name in data.FILES.values():
        count = 9 if name.startswith("train-labels") else 10
        shape = (count, 28, 28) if "images" in name else (count,)
        write_idx(tmp_path / name, np.zeros(shape, np.uint8))
    with pytest.raises(DataError, match="10 train images but 9 train labels"):
        data.load_mnist(tmp_path)


def test_preprocess_shape_dtype_range(mnist):
    (x_train, y_train), _ = mnist
    x = data.preprocess(x_train[:500])
    assert x.shape == (500, 28, 28, 1) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(x[..., 0] * 255, x_train[:500])
    y = data.one_hot(y_train[:500])
    assert y.shape == (500, 10) and y.dtype == np.float32
    assert (y.sum(axis=1) == 1).all() and (y.argmax(axis=1) == y_train[:500]).all()
    with pytest.raises(DataError, match="labels must be 0-9"):
        data.one_hot(np.array([3, 10]))


def test_stratified_split_is_seeded_disjoint_and_stratified(mnist):
    (_, y_train), _ = mnist
    train_idx, val_idx = data.stratified_split(y_train, 0.1, seed=0)
    assert len(val_idx) == 6000 and len(train_idx) == 54000
    assert np.intersect1d(train_idx, val_idx).size == 0
    assert np.array_equal(np.union1d(train_idx, val_idx), np.arange(60000))
    # every class keeps its share within one image
    assert np.abs(np.bincount(y_train[val_idx]) - np.bincount(y_train) * 0.1).max() <= 1
    again, _ = data.stratified_split(y_train, 0.1, seed=0)
    other, _ = data.stratified_split(y_train, 0.1, seed=1)
    assert np.array_equal(again, train_idx) and not np.array_equal(other, train_idx)


def test_validation_comes_from_training_set_only(mnist):
    from digitcnn.train import load_training_data, make_config

    (x_train, _), (_, y_test) = mnist
    splits = load_training_data(make_config("fast", limit=None))
    x_val = splits["val"][0][..., 0]
    # the test split is the whole test set, untouched
    np.testing.assert_array_equal(splits["test"][1], y_test)
    assert len(splits["train"][1]) + len(splits["val"][1]) == 60000
    # every validation image is a training-set image (compare exact bytes)
    train_rows = {bytes(row) for row in x_train.reshape(60000, -1)}
    val_rows = (np.round(x_val * 255).astype(np.uint8)).reshape(len(x_val), -1)
    assert all(bytes(row) in train_rows for row in val_rows)
