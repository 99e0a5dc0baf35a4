"""Mode-coverage scores on hand-built samples with known answers."""

import math

import numpy as np
import pytest

from unigen_jax.data import get_source, mixture_modes
from unigen_jax.eval.mode_coverage import kl_to_uniform, mixture_coverage, stacked_mnist_coverage


def _around(means, per_mode, radius, rng):
    """`per_mode` points at distance exactly `radius` from each mean, in random directions."""
    angles = rng.uniform(0, 2 * np.pi, size=(len(means), per_mode))
    offsets = radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    return (means[:, None, :] + offsets).reshape(-1, 2)


def test_kl_to_uniform_closed_forms():
    assert kl_to_uniform([5, 5, 5, 5]) == pytest.approx(0.0, abs=1e-15)
    assert kl_to_uniform([0, 7, 0, 0]) == pytest.approx(math.log(4))
    # p = (3/4, 1/4, 0, 0): 3/4 log 3 + 1/4 log 1 (empty bins add 0 log 0 = 0).
    assert kl_to_uniform([3, 1, 0, 0]) == pytest.approx(0.75 * math.log(3))
    assert math.isnan(kl_to_uniform([0, 0, 0]))


def test_ring_all_modes_collapsed_and_far_off():
    rng = np.random.default_rng(0)
    means, std = mixture_modes("ring8")
    every_mode = mixture_coverage(_around(means, 10, 2.0 * std, rng), means, std)
    assert every_mode["modes_hit"] == every_mode["num_modes"] == 8
    assert every_mode["high_quality_share"] == 1.0
    np.testing.assert_array_equal(every_mode["mode_counts"], np.full(8, 10))
    assert every_mode["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)

    collapsed = mixture_coverage(_around(means[3:4], 30, 0.5 * std, rng), means, std)
    assert collapsed["modes_hit"] == 1 and collapsed["mode_counts"][3] == 30
    assert collapsed["high_quality_share"] == 1.0
    assert collapsed["kl_to_uniform"] == pytest.approx(math.log(8))

    # The ring's centre is 2 / 0.02 = 100 std from every mode: nothing counts.
    far = mixture_coverage(np.zeros((20, 2)), means, std)
    assert far["modes_hit"] == 0 and far["high_quality_share"] == 0.0
    assert math.isnan(far["kl_to_uniform"])


def test_threshold_boundary_and_min_count():
    rng = np.random.default_rng(1)
    means, std = mixture_modes("grid25")
    inside = _around(means[:5], 3, 2.9 * std, rng)  # modes 0..4, 3 each, high quality
    outside = _around(means[5:], 3, 3.1 * std, rng)  # nearest modes 5..24, not high quality
    stray = _around(means[7:8], 1, 1.0 * std, rng)  # one high-quality sample at mode 7
    samples = np.concatenate([inside, outside, stray])
    result = mixture_coverage(samples, means, std)
    expected_counts = np.zeros(25, np.int64)
    expected_counts[:5] = 3
    expected_counts[7] = 1
    np.testing.assert_array_equal(result["mode_counts"], expected_counts)
    assert result["modes_hit"] == 6
    assert result["high_quality_share"] == pytest.approx(16 / len(samples))
    assert mixture_coverage(samples, means, std, min_count=2)["modes_hit"] == 5
    assert mixture_coverage(samples, means, std, min_count=4)["modes_hit"] == 0
    assert mixture_coverage(samples, means, std, threshold=3.2)["modes_hit"] == 25


def test_real_grid_samples_match_the_gaussian_share():
    # For a 2-D isotropic Gaussian, P(||x - mu|| <= 3 std) = 1 - exp(-9 / 2) = 0.98889.
    means, std = mixture_modes("grid25")
    samples = get_source("grid25", "test").get(np.arange(10_000))["x"]
    result = mixture_coverage(samples, means, std)
    assert result["modes_hit"] == 25
    assert result["high_quality_share"] == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert result["kl_to_uniform"] < 0.01


def test_stacked_mnist_coverage_exact_counts():
    predictions = np.array([[1, 2, 3], [1, 2, 3], [0, 0, 7], [9, 9, 9]])
    result = stacked_mnist_coverage(predictions)
    assert result["modes_hit"] == 3 and result["num_samples"] == 4 and result["num_modes"] == 1000
    assert result["mode_counts"][123] == 2
    assert result["mode_counts"][7] == result["mode_counts"][999] == 1
    assert result["mode_counts"].sum() == 4
    p = np.array([0.5, 0.25, 0.25])
    assert result["kl_to_uniform"] == pytest.approx(np.sum(p * np.log(1000 * p)))


def test_stacked_mnist_coverage_uniform_and_collapsed():
    modes = np.tile(np.arange(1000), 2)
    digits = np.stack([modes // 100, modes // 10 % 10, modes % 10], axis=1)
    uniform = stacked_mnist_coverage(digits)
    assert uniform["modes_hit"] == 1000 and uniform["num_samples"] == 2000
    assert uniform["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    collapsed = stacked_mnist_coverage(np.full((50, 3), 4))
    assert collapsed["modes_hit"] == 1 and collapsed["mode_counts"][444] == 50
    assert collapsed["kl_to_uniform"] == pytest.approx(math.log(1000))


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        stacked_mnist_coverage(np.array([[1, 2, 10]]))
    with pytest.raises(ValueError):
        stacked_mnist_coverage(np.zeros((4, 2), int))
    with pytest.raises(ValueError):
        stacked_mnist_coverage(np.zeros((4, 3)))  # floats are not class predictions
    means, std = mixture_modes("ring8")
    with pytest.raises(ValueError):
        mixture_coverage(np.zeros((4, 3)), means, std)
    with pytest.raises(ValueError):
        mixture_coverage(np.zeros((4, 2)), means, std, min_count=0)
