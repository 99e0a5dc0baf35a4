"""What every dataset offers: a `DatasetInfo` and a random-access, host-side `Source`.

A source maps integer indices to a batch `{'x': float32 [n, *shape], 'label': int32 [n]}`.
Images are in [0, 1]; unlabelled datasets carry `label` = 0 so that every batch has the same
structure. Sources hold no randomness: the order of examples is the iterator's job
(`unigen_jax.data.iterator`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from unigen_jax.errors import UserInputError

HOLDOUTS = ("stratified", "last")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static description of one split of a dataset.

    Attributes:
      name: the dataset's registry name, e.g. `'mnist5k'`.
      kind: `'image'` or `'vector'`.
      shape: one example's shape: `(H, W, C)` for images, `(D,)` for vectors.
      num_classes: number of label values (labels lie in `[0, num_classes)`); 0 if unlabelled.
      num_examples: number of examples in this split.
      holdout: how a validation share is held out of this split
        (`unigen_jax.data.subsets.holdout`): `'stratified'`, a class-balanced random share, or
        `'last'`, the last examples in the file's order (the full MNIST's convention: the last
        10,000 of the 60,000 training digits).
      dynamic_binarization: the training iterator draws each pixel of each batch afresh as
        Bernoulli(its grey level), with the source's `grey_levels` (the "dynamically
        binarised" protocol of Burda et al. 2016's MNIST experiments, arXiv 1509.00519);
        `get`, which evaluation and validation read, gives one fixed draw, so scores stay
        comparable across runs.
      binary: every pixel of the training batches is 0 or 1 (a binarised dataset, fixed or
        dynamic; a resized dynamic source's `get` may be grey), so
        a generated example has to be binary too to pass for real: a VAE whose adversary is
        shown its generator's grey means tells them from data by their grey levels alone
        (`unigen_jax.models.vae.resolve_generated_examples`).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    num_classes: int
    num_examples: int
    holdout: str = "stratified"
    dynamic_binarization: bool = False
    binary: bool = False

    def __post_init__(self):
        if self.kind not in ("image", "vector"):
            raise ValueError(f"kind must be 'image' or 'vector', got {self.kind!r}")
        if self.holdout not in HOLDOUTS:
            raise ValueError(f"holdout must be one of {HOLDOUTS}, got {self.holdout!r}")
        if self.num_examples < 0 or self.num_classes < 0:
            raise ValueError(f"negative sizes in {self}")


@runtime_checkable
class Source(Protocol):
    """A random-access dataset split on the host."""

    info: DatasetInfo

    def __len__(self) -> int: ...

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Returns `{'x': float32 [n, *info.shape], 'label': int32 [n]}` for `indices` [n]."""
        ...


def check_indices(indices, num_examples: int) -> np.ndarray:
    """Returns `indices` as int64 [n], raising IndexError for anything outside [0, num_examples)."""
    indices = np.asarray(indices)
    if indices.ndim != 1 or not (indices.size == 0 or np.issubdtype(indices.dtype, np.integer)):
        raise IndexError(f"indices must be a 1-D integer array, got {indices.dtype}{indices.shape}")
    indices = indices.astype(np.int64, copy=False)
    if indices.size and (indices.min() < 0 or indices.max() >= num_examples):
        raise IndexError(
            f"indices must lie in [0, {num_examples}), got [{indices.min()}, {indices.max()}]"
        )
    return indices


def check_split(name: str, split: str, splits: Sequence[str]) -> str:
    """Returns `split` if `name` has it, else raises a one-line UserInputError."""
    if split not in splits:
        raise UserInputError(
            f"unknown split {split!r} for dataset {name!r}; choose one of: {', '.join(splits)}"
        )
    return split


class ArraySource:
    """A source whose examples all sit in memory as numpy arrays.

    Args:
      info: the split's description; `info.num_examples` must equal `len(x)`.
      x: float32 `[num_examples, *info.shape]`.
      label: int32 [num_examples] (zeros for unlabelled data).
    """

    def __init__(self, info: DatasetInfo, x: np.ndarray, label: np.ndarray):
        x = np.asarray(x, dtype=np.float32)
        label = np.asarray(label, dtype=np.int32)
        if x.shape != (info.num_examples, *info.shape) or label.shape != (info.num_examples,):
            raise ValueError(f"arrays x{x.shape}, label{label.shape} do not match {info}")
        self.info = info
        self._x = x
        self._label = label

    def __len__(self) -> int:
        return self.info.num_examples

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Returns copies of the examples at `indices` [n] (fancy indexing copies)."""
        indices = check_indices(indices, len(self))
        return {"x": self._x[indices], "label": self._label[indices]}

    def __repr__(self) -> str:
        return f"ArraySource({self.info})"


class DynamicallyBinarizedSource(ArraySource):
    """Binary images whose training batches are redrawn each step (`DatasetInfo`'s
    `dynamic_binarization`): `get` gives the fixed draw `binary`, `grey_levels` the
    probabilities the training iterator draws from.

    Args:
      info: the split's description (its `dynamic_binarization` and `binary` are set here).
      binary: float32 {0, 1} `[num_examples, *info.shape]`, one fixed draw of `grey`.
      grey: float32 [0, 1] of the same shape.
      label: int32 [num_examples].
    """

    def __init__(self, info: DatasetInfo, binary: np.ndarray, grey: np.ndarray, label: np.ndarray):
        info = dataclasses.replace(info, dynamic_binarization=True, binary=True)
        super().__init__(info, binary, label)
        grey = np.asarray(grey, dtype=np.float32)
        if grey.shape != self._x.shape:
            raise ValueError(f"grey levels {grey.shape} do not match the images {self._x.shape}")
        self._grey = grey

    def grey_levels(self, indices: np.ndarray) -> np.ndarray:
        """float32 `[n, *info.shape]`: the probability of a 1 in each pixel of `indices` [n]."""
        return self._grey[check_indices(indices, len(self))]
