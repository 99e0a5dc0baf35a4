"""Binarised MNIST from the offline digits: `binarized_mnist5k`.

The usual "stochastically binarised, then fixed" protocol (Salakhutdinov & Murray 2008, "On the
quantitative analysis of deep belief networks"; the binarised MNIST of Larochelle & Murray 2011
and of Bornschein & Bengio 2015, arXiv 1406.2751): every pixel of every image is set once to 1
with probability its grey level, independently, and kept so. Here the images are the 5,000
`mnist5k` digits: all 5,000 are binarised together by `np.random.default_rng(SEED)` (one
uniform u per pixel, in the package's file order; pixel = 1 iff u < grey level), then split
by mnist5k's fixed stratified rule (4,500 train / 500 test). The data therefore depend on
nothing but mnist5k and SEED, and image i of a split is the binarised image i of the same
split of mnist5k (same labels).
"""

from __future__ import annotations

import functools

import numpy as np

from unigen_jax.data import offline
from unigen_jax.data.sources import ArraySource, DynamicallyBinarizedSource

NAME = "binarized_mnist5k"
# The same digits redrawn from their grey levels in every training batch (evaluation reads the
# fixed draw): `DatasetInfo.dynamic_binarization`.
DYNAMIC_NAME = "dynamic_binarized_mnist5k"
# Fixed entropy; changing it changes the data set of every user.
SEED = 1995


@functools.cache
def binarized_mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits binarised once: float32 [5000, 28, 28, 1] in {0, 1}, int32 [5000]."""
    grey, labels = offline.mnist5k_arrays()
    u = np.random.default_rng(SEED).random(grey.shape, dtype=np.float64)
    binary = (u < grey).astype(np.float32)
    binary.setflags(write=False)
    return binary, labels


def binarized_mnist5k(split: str = "train") -> ArraySource:
    """mnist5k with each pixel fixed once to Bernoulli(grey level): 4,500 / 500, 28x28x1."""
    return offline.array_source(NAME, split, binarized_mnist5k_arrays, binary=True)


def dynamic_binarized_mnist5k(split: str = "train") -> DynamicallyBinarizedSource:
    """mnist5k drawn afresh as Bernoulli(grey level) in every training batch; `get` (evaluation,
    validation) gives `binarized_mnist5k`'s fixed draw."""
    fixed = offline.array_source(DYNAMIC_NAME, split, binarized_mnist5k_arrays)
    grey = offline.mnist5k(split)
    everything = np.arange(len(grey))
    return DynamicallyBinarizedSource(
        fixed.info,
        fixed.get(everything)["x"],
        grey.get(everything)["x"],
        grey.get(everything)["label"],
    )
