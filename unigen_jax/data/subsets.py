"""Parts of a training split: a held-out validation share and a smaller share to train on.

Both are class-balanced and fixed: which examples they hold depends on the dataset only (a
`data_seed` of 0 by default), not on the run's seed, so the arms of a study that train on "10%
of the data" see the same examples and differ only by their model and seed.

  train, validation = holdout(source, validation_fraction=0.1)   # stratified 90 / 10
  small = share(train, 0.01)                                      # 1% of the rest, per class
"""

from __future__ import annotations

import dataclasses

import numpy as np

from unigen_jax.data.sources import Source, check_indices
from unigen_jax.errors import UserInputError


class SubsetSource:
    """The examples `indices` of `base`, as a source of their own."""

    def __init__(self, base: Source, indices: np.ndarray):
        self._base = base
        self._indices = check_indices(indices, len(base))
        self.info = dataclasses.replace(base.info, num_examples=len(self._indices))

    @property
    def base(self) -> Source:
        return self._base

    @property
    def indices(self) -> np.ndarray:
        """The examples of `base` this subset holds, in its order."""
        return self._indices

    def __len__(self) -> int:
        return self.info.num_examples

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return self._base.get(self._indices[check_indices(indices, len(self))])

    def grey_levels(self, indices: np.ndarray) -> np.ndarray:
        """The base's `grey_levels` (a dynamically binarised base only)."""
        return self._base.grey_levels(self._indices[check_indices(indices, len(self))])

    def __repr__(self) -> str:
        return f"SubsetSource({self.info})"


def check_fraction(name: str, fraction: float, *, allow_one: bool) -> float:
    """`fraction` as a float if it is in (0, 1] (or (0, 1)), else a one-line error."""
    upper_ok = fraction <= 1 if allow_one else fraction < 1
    if not (0 < fraction and upper_ok):
        bound = "(0, 1]" if allow_one else "(0, 1)"
        raise UserInputError(f"--{name} must be in {bound}, got {fraction}")
    return float(fraction)


def stratified_choice(labels: np.ndarray, fraction: float, *, data_seed: int = 0) -> np.ndarray:
    """Sorted indices of a class-balanced random share of the examples.

    Per class c with n_c examples: max(1, round(fraction * n_c)) of them, drawn without
    replacement by np.random.default_rng([data_seed, c]).
    """
    labels = np.asarray(labels)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = max(1, int(round(fraction * len(members))))
        rng = np.random.default_rng([data_seed, int(c)])
        chosen.append(rng.choice(members, size=min(k, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def _labels(source: Source) -> np.ndarray:
    return source.get(np.arange(len(source)))["label"]


def holdout(source: Source, validation_fraction: float, *, data_seed: int = 0):
    """(train, validation): a share `validation_fraction` of `source` held out.

    The share is class-balanced and drawn at random (`stratified_choice`), unless the dataset
    declares its own convention, `source.info.holdout == "last"`: then it is the last
    round(fraction * n) examples in the file's order (the full MNIST's last 10,000 of 60,000
    at fraction 1/6, as Kingma et al. 2014 and most MNIST papers hold out).
    """
    validation_fraction = check_fraction(
        "validation_fraction", validation_fraction, allow_one=False
    )
    if source.info.holdout == "last":  # the dataset's own convention (full MNIST's)
        size = max(1, int(round(validation_fraction * len(source))))
        validation = np.arange(len(source) - size, len(source))
    else:
        validation = stratified_choice(_labels(source), validation_fraction, data_seed=data_seed)
    train = np.setdiff1d(np.arange(len(source)), validation)
    if not len(train):
        raise UserInputError(f"--validation_fraction={validation_fraction} leaves no training data")
    return SubsetSource(source, train), SubsetSource(source, validation)


def share(source: Source, fraction: float, *, data_seed: int = 0) -> Source:
    """A stratified share `fraction` of `source` (the source itself for fraction 1)."""
    fraction = check_fraction("train_fraction", fraction, allow_one=True)
    if fraction == 1:
        return source
    # Another stream of choices than the hold-out's, so the two do not coincide.
    return SubsetSource(
        source, stratified_choice(_labels(source), fraction, data_seed=data_seed + 1)
    )


def training_sources(
    source: Source, *, train_fraction: float = 1.0, validation_fraction: float = 0.0
) -> tuple[Source, Source | None]:
    """(what a run trains on, its validation split or None) from a dataset's train split."""
    validation = None
    if validation_fraction:
        source, validation = holdout(source, validation_fraction)
    return share(source, train_fraction), validation


def without(source: Source, subset: Source) -> Source:
    """The examples of `source` that `subset` (a `SubsetSource` of it) does not hold."""
    if not isinstance(subset, SubsetSource) or subset.base is not source:
        raise ValueError("without() takes a SubsetSource of the same source")
    rest = np.setdiff1d(np.arange(len(source)), subset.indices)
    if not len(rest):
        raise UserInputError(
            f"the {len(subset)} examples taken out leave none of the {len(source)} training "
            "examples; choose a smaller fraction"
        )
    return SubsetSource(source, rest)
