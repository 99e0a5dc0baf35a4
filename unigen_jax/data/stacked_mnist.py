"""Stacked MNIST: three MNIST digits as the red, green and blue channels of one image.

A 1000-mode benchmark for mode collapse (Metz et al. 2017, "Unrolled Generative Adversarial
Networks", https://arxiv.org/abs/1611.02163, §3.3.2; Srivastava et al. 2017, VEEGAN,
https://arxiv.org/abs/1705.07761, §5.2; Lin et al. 2018, PacGAN, §5). Example i stacks the base
digits `b0, b1, b2` of its split as channels 0, 1, 2 of a 28x28x3 image in [0, 1]; its label
is the mode `100 * d0 + 10 * d1 + d2` of their digits (`compose_label`), 1000 classes.

The base is any 28x28x1 ten-class MNIST source of the same split: `mnist5k` (offline, the
default) or TFDS `mnist`. The composite split is fixed: 50,000 training and 10,000 test
examples whatever the base (the base's own sizes, 4,500 / 500 for mnist5k, would leave under
five examples per mode). The triples `(b0, b1, b2)` are drawn independently and uniformly with
replacement over the base split by `np.random.default_rng([1000, split_id])` (split_id 0 for
train, 1 for test), `integers(0, len(base), size=(n, 3))`: they depend only on the split, the
base's length and n. Images are assembled lazily from the base in `get`.
"""

from __future__ import annotations

import numpy as np

from unigen_jax.data import offline
from unigen_jax.data.sources import DatasetInfo, Source, check_indices, check_split
from unigen_jax.errors import UserInputError

NAME = "stacked_mnist"
SPLITS = ("train", "test")
NUM_EXAMPLES = {"train": 50_000, "test": 10_000}
NUM_MODES = 1000
BASES = ("mnist5k", "mnist")
SHAPE = (28, 28, 3)
# Fixed entropy per split; changing it changes the data set of every user.
_SEED = 1000
_SPLIT_IDS = {"train": 0, "test": 1}


def compose_label(digits) -> np.ndarray:
    """The stacked-MNIST mode of digit triples: `100 * d0 + 10 * d1 + d2`.

    Args:
      digits: int [n, 3], the digits of channels 0, 1, 2, each in [0, 10).

    Returns:
      int32 [n] in [0, 1000).
    """
    digits = np.asarray(digits)
    if digits.ndim != 2 or digits.shape[1] != 3:
        raise ValueError(f"digits must be [n, 3], got shape {digits.shape}")
    if digits.size and (digits.min() < 0 or digits.max() > 9):
        raise ValueError(f"digits must lie in [0, 9], got [{digits.min()}, {digits.max()}]")
    digits = digits.astype(np.int32)
    return 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2]


def base_triples(split: str, base_size: int, num_examples: int) -> np.ndarray:
    """The fixed base indices of every composite example: int64 [num_examples, 3]."""
    rng = np.random.default_rng([_SEED, _SPLIT_IDS[split]])
    return rng.integers(0, base_size, size=(num_examples, 3), dtype=np.int64)


class StackedMnistSource:
    """A split of stacked MNIST built on an MNIST source of the same split.

    Args:
      base: a source with `info.shape == (28, 28, 1)` and 10 classes.
      split: 'train' or 'test' (selects the triples' seed and the default size).
      num_examples: composite examples in the split; None for `NUM_EXAMPLES[split]`.
    """

    def __init__(self, base: Source, split: str = "train", *, num_examples: int | None = None):
        check_split(NAME, split, SPLITS)
        if tuple(base.info.shape) != (28, 28, 1) or base.info.num_classes != 10:
            raise UserInputError(f"stacked_mnist needs a 28x28x1 ten-class base, got {base.info}")
        if len(base) == 0:
            raise UserInputError(f"stacked_mnist base {base.info.name!r} has no examples")
        n = NUM_EXAMPLES[split] if num_examples is None else int(num_examples)
        if n < 0:
            raise UserInputError(f"num_examples must be >= 0, got {n}")
        self._base = base
        self._triples = base_triples(split, len(base), n)
        self._triples.setflags(write=False)
        self.info = DatasetInfo(
            name=NAME, kind="image", shape=SHAPE, num_classes=NUM_MODES, num_examples=n
        )

    @property
    def triples(self) -> np.ndarray:
        """The base indices stacked in each example, read-only int64 [num_examples, 3]."""
        return self._triples

    def __len__(self) -> int:
        return self.info.num_examples

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Returns `{'x': float32 [n, 28, 28, 3], 'label': int32 [n]}` for `indices` [n]."""
        indices = check_indices(indices, len(self))
        triples = self._triples[indices]  # [n, 3]
        base = self._base.get(triples.reshape(-1))  # examples in order b0, b1, b2 per row
        n = len(indices)
        # [n * 3, 28, 28, 1] -> [n, 3, 28, 28] -> [n, 28, 28, 3]: digit k becomes channel k.
        x = np.asarray(base["x"], np.float32).reshape(n, 3, 28, 28).transpose(0, 2, 3, 1)
        label = compose_label(np.asarray(base["label"]).reshape(n, 3))
        return {"x": np.ascontiguousarray(x), "label": label}

    def __repr__(self) -> str:
        return f"StackedMnistSource({self.info}, base={self._base.info.name!r})"


def stacked_mnist(
    split: str = "train",
    *,
    base: str | Source = "mnist5k",
    data_dir: str | None = None,
    num_examples: int | None = None,
) -> StackedMnistSource:
    """Stacked MNIST over the base dataset `base` ('mnist5k' or TFDS 'mnist', or a source).

    Args:
      split: 'train' or 'test'; the base's split of the same name is used.
      base: a name in `BASES`, or a 28x28x1 ten-class source of that split.
      data_dir: TFDS data directory when `base == 'mnist'`; ignored otherwise.
      num_examples: size of the composite split; None for 50,000 train / 10,000 test.

    Raises:
      UserInputError: unknown split or base, or a base that is not MNIST-shaped.
    """
    check_split(NAME, split, SPLITS)
    if isinstance(base, str):
        if base == "mnist5k":
            base = offline.mnist5k(split)
        elif base == "mnist":
            from unigen_jax.data.tfds_source import TfdsSource

            base = TfdsSource("mnist", split, data_dir=data_dir)
        else:
            raise UserInputError(
                f"unknown stacked_mnist base {base!r}; choose one of: {', '.join(BASES)}"
            )
    return StackedMnistSource(base, split, num_examples=num_examples)
