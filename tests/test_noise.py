"""Counter-based noise: the hash against JAX's own threefry, the distributions against scipy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend import random as jax_random_internals
from scipy import stats

from unigen_jax.models import noise


def test_threefry_equals_jax_threefry():
    rng = np.random.default_rng(0)
    for _ in range(3):
        key = jnp.asarray(rng.integers(0, 2**32, size=2, dtype=np.uint32))
        counts = jnp.asarray(rng.integers(0, 2**32, size=(2, 50), dtype=np.uint32))
        ours = noise.threefry2x32(key, counts[0], counts[1])
        # jax hashes a flat count array as its two halves (x0 = first half, x1 = second half).
        theirs = jax_random_internals.threefry_2x32(key, counts.reshape(-1))
        np.testing.assert_array_equal(np.concatenate([ours[0], ours[1]]), np.asarray(theirs))


def test_threefry_published_known_answer():
    # Random123's known-answer vector for threefry2x32_20, key = counter = (0, 0).
    zero = jnp.zeros(1, jnp.uint32)
    x0, x1 = noise.threefry2x32(jnp.zeros(2, jnp.uint32), zero, zero)
    assert (int(x0[0]), int(x1[0])) == (0x6B200159, 0x99BA4EFE)


def test_normal_matches_standard_normal():
    draws = noise.normal(jax.random.key(3), jnp.arange(4000), (25,))
    assert draws.shape == (4000, 25) and draws.dtype == jnp.float32
    flat = np.asarray(draws, np.float64).reshape(-1)
    assert stats.kstest(flat, "norm").pvalue > 1e-3
    assert abs(flat.mean()) < 4 / np.sqrt(flat.size)
    assert abs(flat.var() - 1) < 4 * np.sqrt(2 / flat.size)
    # No correlation between neighbouring elements, nor between neighbouring examples.
    arr = np.asarray(draws, np.float64)
    for a, b in ((arr[:, :-1], arr[:, 1:]), (arr[:-1], arr[1:])):
        assert abs(np.corrcoef(a.reshape(-1), b.reshape(-1))[0, 1]) < 0.01


def test_uniform_matches_unit_interval():
    draws = np.asarray(noise.uniform(jax.random.key(4), jnp.arange(2000), (3, 7)), np.float64)
    assert draws.shape == (2000, 3, 7)
    assert draws.min() >= 0 and draws.max() < 1
    assert stats.kstest(draws.reshape(-1), "uniform").pvalue > 1e-3


def test_an_examples_noise_depends_on_its_index_not_on_the_batch():
    key = jax.random.key(5)
    full = noise.normal(key, jnp.arange(8), (5,))
    second_half = noise.normal(key, jnp.arange(4, 8), (5,))
    np.testing.assert_array_equal(full[4:], second_half)
    other_key = noise.normal(jax.random.key(6), jnp.arange(8), (5,))
    assert not np.allclose(full, other_key)


def test_odd_sizes_and_dtypes():
    draws = noise.normal(jax.random.key(7), jnp.arange(3), (3,), jnp.bfloat16)
    assert draws.shape == (3, 3) and draws.dtype == jnp.bfloat16
    # The first elements of a longer draw are the shorter draw (pairs are hashed in order).
    longer = noise.normal(jax.random.key(7), jnp.arange(3), (4,))
    np.testing.assert_allclose(np.asarray(draws, np.float32), longer[:, :3], rtol=1e-2)


@pytest.mark.parametrize("bits, expected", [(0, 0.0), (0xFFFFFFFF, 1 - 2.0**-23)])
def test_extreme_bits_stay_inside_the_interval_and_finite(bits, expected):
    word = jnp.full((1,), bits, jnp.uint32)
    assert float(noise.bits_to_unit_interval(word)[0]) == expected
    z = float(noise.bits_to_normal(word)[0])
    assert np.isfinite(z) and abs(z) > 5  # both ends are deep in the tails (|z| ~ 5.3)
