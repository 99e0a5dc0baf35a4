"""Every dataset by name: `DATASETS` and `get_source`."""

from __future__ import annotations

from unigen_jax.data import binarized, mixtures, mnist_full, offline, stacked_mnist
from unigen_jax.data.sources import Source
from unigen_jax.data.tfds_source import TFDS_SPECS, TfdsSource
from unigen_jax.errors import UserInputError

OFFLINE = ("mnist5k", mnist_full.NAME, "digits")
# Built from another source: stacked_mnist, and binarized_mnist5k and binarized_mnist70k (pixels
# fixed once to Bernoulli(grey level)) from mnist5k and mnist70k, and their dynamic forms
# (training batches redrawn each step, evaluation on the fixed draw).
DERIVED = (
    "stacked_mnist",
    binarized.NAME,
    mnist_full.BINARIZED_NAME,
    binarized.DYNAMIC_NAME,
    mnist_full.DYNAMIC_NAME,
)
DATASETS: tuple[str, ...] = OFFLINE + DERIVED + mixtures.MIXTURES + tuple(TFDS_SPECS)


def get_source(
    name: str, split: str = "train", *, data_dir: str | None = None, seed: int = 0
) -> Source:
    """Returns the random-access source of one split of the dataset `name`.

    Args:
      name: one of `DATASETS`.
      split: 'train' or 'test' for every dataset; some TFDS datasets also have 'validation'
        (binarized_mnist, celeb_a) or 'extra' (svhn_cropped).
      data_dir: TFDS data directory for the TFDS datasets (None: TFDS's default); the offline,
        derived and generated datasets ignore it.
      seed: reserved for sources that are derived at random; every current dataset is fixed
        (its split and contents never depend on a seed) and ignores it.

    Raises:
      UserInputError: unknown name or split, a missing optional package, or a TFDS dataset
        that is not prepared in `data_dir`.
    """
    del seed  # No current source is random; the order of examples is the iterator's job.
    if name == "mnist5k":
        return offline.mnist5k(split)
    if name == mnist_full.NAME:
        return mnist_full.mnist70k(split)
    if name == mnist_full.BINARIZED_NAME:
        return mnist_full.binarized_mnist70k(split)
    if name == mnist_full.DYNAMIC_NAME:
        return mnist_full.dynamic_binarized_mnist70k(split)
    if name == binarized.DYNAMIC_NAME:
        return binarized.dynamic_binarized_mnist5k(split)
    if name == "digits":
        return offline.digits(split)
    if name == "stacked_mnist":
        return stacked_mnist.stacked_mnist(split)
    if name == binarized.NAME:
        return binarized.binarized_mnist5k(split)
    if name in mixtures.MIXTURES:
        return mixtures.mixture(name, split)
    if name in TFDS_SPECS:
        return TfdsSource(name, split, data_dir=data_dir)
    raise UserInputError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
