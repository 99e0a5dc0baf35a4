"""Two-dimensional Gaussian mixtures used to measure mode collapse.

- `ring8`: 8 isotropic Gaussians with means on a circle of radius 2, std 0.02
  (Metz et al. 2017, "Unrolled Generative Adversarial Networks", https://arxiv.org/abs/1611.02163,
  §3.1; also Srivastava et al. 2017, VEEGAN, https://arxiv.org/abs/1705.07761, §5.1).
- `grid25`: 25 isotropic Gaussians with means on the grid {-4, -2, 0, 2, 4}^2, std 0.05
  (VEEGAN §5.1; Lin et al. 2018, PacGAN, https://arxiv.org/abs/1712.04086, §5).

Each example picks its mode uniformly at random, then adds `std * N(0, I)`; `label` is the
index of the mode in `mixture_modes(name)[0]`. The sample sets are fixed: 100,000 training and
10,000 test points, drawn from a generator seeded only by the dataset and the split.
"""

from __future__ import annotations

import functools

import numpy as np

from unigen_jax.data.sources import ArraySource, DatasetInfo, check_split

SPLITS = ("train", "test")
NUM_EXAMPLES = {"train": 100_000, "test": 10_000}
RING_RADIUS = 2.0
RING_STD = 0.02
GRID_VALUES = (-4.0, -2.0, 0.0, 2.0, 4.0)
GRID_STD = 0.05
# Fixed entropy per (dataset, split); changing it changes the data set of every user.
_SEEDS = {"ring8": 8, "grid25": 25}
_SPLIT_IDS = {"train": 0, "test": 1}

MIXTURES = ("ring8", "grid25")


def mixture_modes(name: str) -> tuple[np.ndarray, float]:
    """Means and standard deviation of a mixture's components.

    Args:
      name: 'ring8' or 'grid25'.

    Returns:
      (means float32 [K, 2], std): ring8 has K = 8 means `2 (cos 2pi k/8, sin 2pi k/8)`,
      grid25 has K = 25 means `(a, b)` for a, b in {-4, -2, 0, 2, 4} (row-major in a).
    """
    if name == "ring8":
        angles = 2.0 * np.pi * np.arange(8) / 8
        means = RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        return means.astype(np.float32), RING_STD
    if name == "grid25":
        a, b = np.meshgrid(GRID_VALUES, GRID_VALUES, indexing="ij")
        means = np.stack([a.ravel(), b.ravel()], axis=1)
        return means.astype(np.float32), GRID_STD
    raise ValueError(f"no mixture named {name!r}; choose one of: {', '.join(MIXTURES)}")


@functools.cache
def mixture_arrays(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The fixed sample set: float32 [n, 2] points and int32 [n] mode indices (read-only)."""
    means, std = mixture_modes(name)
    rng = np.random.default_rng([_SEEDS[name], _SPLIT_IDS[split]])
    n = NUM_EXAMPLES[split]
    modes = rng.integers(0, len(means), size=n)
    x = means[modes].astype(np.float64) + std * rng.standard_normal((n, 2))
    x, modes = x.astype(np.float32), modes.astype(np.int32)
    x.setflags(write=False)
    modes.setflags(write=False)
    return x, modes


def mixture(name: str, split: str = "train") -> ArraySource:
    """An in-memory source of the mixture `name` ('ring8' or 'grid25')."""
    check_split(name, split, SPLITS)
    x, modes = mixture_arrays(name, split)
    info = DatasetInfo(
        name=name,
        kind="vector",
        shape=(2,),
        num_classes=len(mixture_modes(name)[0]),
        num_examples=len(x),
    )
    return ArraySource(info, x, modes)
