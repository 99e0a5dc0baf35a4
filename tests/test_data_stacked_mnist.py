"""Stacked MNIST: channels are the base digits, labels compose, and the split is fixed."""

import numpy as np
import pytest

from unigen_jax.data import ArraySource, DatasetInfo, Source, get_source
from unigen_jax.data.stacked_mnist import (
    NUM_EXAMPLES,
    StackedMnistSource,
    compose_label,
    stacked_mnist,
)
from unigen_jax.errors import UserInputError


@pytest.fixture(scope="module")
def train():
    return get_source("stacked_mnist", "train")


def test_registry_source_and_info(train):
    assert isinstance(train, Source)
    assert train.info == DatasetInfo("stacked_mnist", "image", (28, 28, 3), 1000, 50_000)
    assert len(train) == NUM_EXAMPLES["train"] == 50_000
    assert len(get_source("stacked_mnist", "test")) == 10_000
    with pytest.raises(UserInputError, match="unknown split 'validate'"):
        get_source("stacked_mnist", "validate")


def test_channels_are_the_base_digits_and_labels_compose(train):
    base = get_source("mnist5k", "train")
    indices = np.array([0, 17, 49_999, 17])
    batch = train.get(indices)
    assert batch["x"].dtype == np.float32 and batch["x"].shape == (4, 28, 28, 3)
    assert batch["label"].dtype == np.int32
    triples = train.triples[indices]
    assert triples.min() >= 0 and triples.max() < len(base)
    for row, triple in enumerate(triples):
        digits = base.get(triple)
        for channel in range(3):
            np.testing.assert_array_equal(
                batch["x"][row, :, :, channel], digits["x"][channel, :, :, 0]
            )
        d0, d1, d2 = digits["label"]
        assert batch["label"][row] == 100 * d0 + 10 * d1 + d2
    assert 0.0 <= batch["x"].min() and batch["x"].max() <= 1.0


def test_deterministic_and_splits_differ(train):
    again = get_source("stacked_mnist", "train")
    np.testing.assert_array_equal(again.triples, train.triples)
    indices = np.arange(0, 50_000, 997)
    first, second = train.get(indices), again.get(indices)
    np.testing.assert_array_equal(first["x"], second["x"])
    np.testing.assert_array_equal(first["label"], second["label"])
    test = get_source("stacked_mnist", "test")
    assert not np.array_equal(test.triples[:100], train.triples[:100])
    # The channels are independent, so the 1000 modes are all present in the training split.
    base = get_source("mnist5k", "train")
    base_labels = base.get(np.arange(len(base)))["label"]
    labels = compose_label(base_labels[train.triples])
    assert len(np.unique(labels)) == 1000


def test_explicit_base_and_size():
    # A tiny base whose image i is the constant i / 10 with label (i + 3) % 10.
    n = 10
    x = np.broadcast_to((np.arange(n) / 10.0)[:, None, None, None], (n, 28, 28, 1))
    info = DatasetInfo("tiny", "image", (28, 28, 1), 10, n)
    base = ArraySource(info, x, (np.arange(n) + 3) % 10)
    source = stacked_mnist("test", base=base, num_examples=6)
    assert isinstance(source, StackedMnistSource) and len(source) == 6
    batch = source.get(np.arange(6))
    np.testing.assert_allclose(batch["x"][:, 0, 0, :], source.triples / 10.0, rtol=1e-6)
    np.testing.assert_array_equal(batch["x"].min(axis=(1, 2)), batch["x"].max(axis=(1, 2)))
    digits = (source.triples + 3) % 10
    np.testing.assert_array_equal(batch["label"], digits @ np.array([100, 10, 1]))
    with pytest.raises(IndexError):
        source.get(np.array([6]))


def test_compose_label_and_bad_bases():
    np.testing.assert_array_equal(compose_label([[0, 0, 0], [1, 2, 3], [9, 9, 9]]), [0, 123, 999])
    with pytest.raises(ValueError):
        compose_label([[1, 2, 10]])
    with pytest.raises(UserInputError, match="unknown stacked_mnist base"):
        stacked_mnist("train", base="cifar10")
    colour = ArraySource(
        DatasetInfo("c", "image", (28, 28, 3), 10, 1), np.zeros((1, 28, 28, 3)), [0]
    )
    with pytest.raises(UserInputError, match="28x28x1"):
        stacked_mnist("train", base=colour)


def test_tfds_mnist_base_under_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        source = stacked_mnist("test", base="mnist", num_examples=5)
        base = get_source("mnist", "test")
        batch = source.get(np.arange(5))
        flat = base.get(source.triples.ravel())
    expected = flat["x"].reshape(5, 3, 28, 28).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(batch["x"], expected)
    np.testing.assert_array_equal(batch["label"], compose_label(flat["label"].reshape(5, 3)))
