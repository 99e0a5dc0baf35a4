"""SSIM / MS-SSIM against a separate float64 scipy implementation, plus their identities."""

import jax
import numpy as np
import pytest
from scipy import signal

from unigen_jax.eval.ms_ssim import MS_SSIM_WEIGHTS, diversity, ms_ssim, ssim

# Reference implementation (float64, scipy.signal, loops; written independently of the module) --


def _ref_window(size, sigma):
    t = np.linspace(-(size - 1) / 2, (size - 1) / 2, size)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    w = np.outer(g, g)
    return w / w.sum()


def _ref_ssim_cs(x, y, size=11, sigma=1.5, max_val=1.0, k1=0.01, k2=0.03):
    """Per-image, per-channel mean SSIM and mean cs: two float64 arrays [B, C]."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    window = _ref_window(size, sigma)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    out_ssim = np.zeros(x.shape[0::3])
    out_cs = np.zeros(x.shape[0::3])
    for b in range(x.shape[0]):
        for c in range(x.shape[3]):
            a, d = x[b, :, :, c], y[b, :, :, c]

            def blur(img):
                return signal.convolve2d(img, window, mode="valid")

            ma, md = blur(a), blur(d)
            va, vd, cov = blur(a * a) - ma**2, blur(d * d) - md**2, blur(a * d) - ma * md
            lum = (2 * ma * md + c1) / (ma**2 + md**2 + c1)
            cs = (2 * cov + c2) / (va + vd + c2)
            out_ssim[b, c] = np.mean(lum * cs)
            out_cs[b, c] = np.mean(cs)
    return out_ssim, out_cs


def _ref_halve(img):
    h, w = img.shape[1:3]
    img = np.pad(img, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    b, h, w, c = img.shape
    return img.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _ref_ms_ssim(x, y, weights, filter_size=11, filter_sigma=1.5):
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    value = np.ones(x.shape[0::3])
    for scale, weight in enumerate(weights):
        if scale:
            x, y = _ref_halve(x), _ref_halve(y)
        size = min(filter_size, *x.shape[1:3])
        s, cs = _ref_ssim_cs(x, y, size, filter_sigma * size / filter_size)
        term = s if scale == len(weights) - 1 else cs
        value *= np.maximum(term, 0.0) ** weight
    return value.mean(axis=1)


# Fixtures -----------------------------------------------------------------------------------------


def _smooth_images(rng, shape):
    """Images with spatial structure (blurred noise), in [0, 1]."""
    noise = rng.uniform(size=shape)
    kernel = np.ones((1, 5, 5, 1)) / 25.0
    from scipy import ndimage

    return np.clip(ndimage.convolve(noise, kernel, mode="reflect") * 1.6 - 0.3, 0, 1)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


# Tests --------------------------------------------------------------------------------------------


def test_identical_images_score_one(rng):
    x = rng.uniform(size=(2, 28, 28, 3)).astype(np.float32)
    np.testing.assert_allclose(ssim(x, x), 1.0, atol=1e-6)
    np.testing.assert_allclose(ms_ssim(x, x), 1.0, atol=1e-6)


def test_ssim_matches_scipy_reference(rng):
    x = rng.uniform(size=(3, 20, 24, 2))
    y = np.clip(x + 0.2 * rng.normal(size=x.shape), 0, 1)
    y[0] = rng.uniform(size=y.shape[1:])  # one unrelated pair
    expected = _ref_ssim_cs(x, y)[0].mean(axis=1)
    np.testing.assert_allclose(ssim(x, y), expected, atol=2e-5)
    # Other constants and range, a 7-wide window.
    expected = _ref_ssim_cs(255 * x, 255 * y, 7, 1.0, 255.0, 0.02, 0.05)[0].mean(axis=1)
    got = ssim(255 * x, 255 * y, max_val=255.0, filter_size=7, filter_sigma=1.0, k1=0.02, k2=0.05)
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_ssim_decreases_with_noise(rng):
    x = _smooth_images(rng, (1, 32, 32, 1))
    noise = rng.normal(size=x.shape)
    scores = [float(ssim(x, np.clip(x + s * noise, 0, 1))[0]) for s in (0.0, 0.05, 0.1, 0.3)]
    assert scores[0] == pytest.approx(1.0, abs=1e-6)
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores


def test_ms_ssim_symmetric_bounded_and_jittable(rng):
    x = rng.uniform(size=(4, 28, 28, 3)).astype(np.float32)
    y = rng.uniform(size=(4, 28, 28, 3)).astype(np.float32)
    xy, yx = ms_ssim(x, y), ms_ssim(y, x)
    np.testing.assert_allclose(xy, yx, atol=1e-6)
    assert np.all((np.asarray(xy) >= 0) & (np.asarray(xy) <= 1))
    np.testing.assert_allclose(jax.jit(ms_ssim)(x, y), xy, atol=2e-5)


def test_ms_ssim_two_scales_is_the_product_formula(rng):
    # cs at full size ^ w0 * SSIM after one 2x2 average pool ^ w1, per channel, then averaged.
    x = _smooth_images(rng, (2, 32, 32, 2))
    y = np.clip(x + 0.1 * rng.normal(size=x.shape), 0, 1)
    weights = (0.4, 0.6)
    _, cs0 = _ref_ssim_cs(x, y)
    xs = x.reshape(2, 16, 2, 16, 2, 2).mean(axis=(2, 4))
    ys = y.reshape(2, 16, 2, 16, 2, 2).mean(axis=(2, 4))
    ssim1, _ = _ref_ssim_cs(xs, ys)
    assert np.all(cs0 > 0) and np.all(ssim1 > 0)
    expected = (cs0**0.4 * ssim1**0.6).mean(axis=1)
    np.testing.assert_allclose(ms_ssim(x, y, power_factors=weights), expected, atol=3e-5)


def test_ms_ssim_small_images_shrink_the_window(rng):
    # 28 -> 14 -> 7 -> 4 -> 2 with windows 11, 11, 7, 4, 2 (odd sides padded by the last row).
    x = _smooth_images(rng, (2, 28, 28, 1))
    y = np.clip(x + 0.1 * rng.normal(size=x.shape), 0, 1)
    expected = _ref_ms_ssim(x, y, MS_SSIM_WEIGHTS)
    np.testing.assert_allclose(ms_ssim(x, y), expected, atol=3e-5)
    assert 0.2 < expected.min() < 1.0


def test_too_small_images_raise(rng):
    x = rng.uniform(size=(1, 15, 15, 1))
    with pytest.raises(ValueError, match="at least 16x16"):
        ms_ssim(x, x)
    ms_ssim(x, x, power_factors=(0.5, 0.5))  # 2 scales need only 2x2
    with pytest.raises(ValueError, match="smaller than"):
        ssim(x[:, :10, :10], x[:, :10, :10])
    with pytest.raises(ValueError):
        ssim(x, x[:, :14])


def test_diversity(rng):
    same = np.repeat(_smooth_images(rng, (1, 28, 28, 1)), 8, axis=0)
    assert abs(diversity(same, num_pairs=40, chunk_size=16)) < 1e-5
    noisy = np.clip(same + 0.1 * rng.normal(size=same.shape), 0, 1)
    random = rng.uniform(size=same.shape)
    d_noisy = diversity(noisy, num_pairs=40, chunk_size=16)
    d_random = diversity(random, num_pairs=40, chunk_size=16)
    assert 0.0 < d_noisy < d_random
    assert d_random > 0.5
    # Same seed, same pairs, same score; the chunking does not change it.
    assert diversity(random, num_pairs=40, chunk_size=16) == pytest.approx(d_random, abs=1e-12)
    assert diversity(random, num_pairs=40, chunk_size=40) == pytest.approx(d_random, abs=1e-6)
    with pytest.raises(ValueError):
        diversity(same[:1])
