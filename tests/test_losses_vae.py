"""VAE terms, each pinned to scipy.stats, a closed form, or a Monte Carlo estimate; the IWAE
bound on a linear-Gaussian model whose exact log p(x) is known."""

import functools
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from unigen_jax import losses


def _normal(seed, shape, scale=1.0):
    return (scale * np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


# ------------------------------------------------------------------------------------------
# KL to the standard normal.


def test_gaussian_kl_matches_monte_carlo_and_closed_form():
    mean = np.array([[0.3, -1.2, 2.0], [0.0, 0.5, -0.4]], np.float32)
    log_variance = np.array([[0.0, -1.0, 0.7], [1.5, -0.3, 0.2]], np.float32)
    kl = np.asarray(losses.gaussian_kl_to_standard_normal(mean, log_variance))

    # Scalar closed form per unit, KL(N(m, s^2) || N(0, 1)) = -log s + (s^2 + m^2) / 2 - 1/2.
    std = np.exp(0.5 * log_variance.astype(np.float64))
    closed = np.sum(-np.log(std) + (std**2 + mean.astype(np.float64) ** 2) / 2 - 0.5, axis=1)
    np.testing.assert_allclose(kl, closed, rtol=1e-5)

    # Monte Carlo: E_q[log q(z) - log p(z)] with scipy densities, 200k samples.
    z = mean + std * np.random.default_rng(0).normal(size=(200_000, 2, 3))
    log_ratio = np.sum(stats.norm.logpdf(z, mean, std) - stats.norm.logpdf(z, 0.0, 1.0), axis=-1)
    estimate = log_ratio.mean(axis=0)
    standard_error = log_ratio.std(axis=0) / np.sqrt(z.shape[0])
    assert np.all(np.abs(kl - estimate) < 4 * standard_error)


def test_gaussian_kl_sums_over_all_non_batch_dims_and_is_accurate_near_zero():
    mean = _normal(1, (2, 4, 4, 3))
    log_variance = _normal(2, (2, 4, 4, 3), 0.5)
    m, v = mean.astype(np.float64), log_variance.astype(np.float64)
    closed = 0.5 * np.sum(np.exp(v) + m**2 - 1 - v, axis=(1, 2, 3))
    np.testing.assert_allclose(
        losses.gaussian_kl_to_standard_normal(mean, log_variance), closed, rtol=1e-5
    )
    # Near the prior, KL ~ 0.5 (v^2 / 2 + m^2) per unit: float32 exp(v) - 1 - v is off by
    # more than 10% here (rounding of exp(v) near 1); the library must stay within 0.2%.
    tiny = np.full((1, 5), 1e-4, np.float32)
    v = tiny.astype(np.float64)
    expected = 0.5 * np.sum(np.expm1(v) - v + v**2)
    naive = 0.5 * np.sum(np.exp(tiny) - np.float32(1) - tiny + tiny**2)
    assert abs(naive - expected) > 0.1 * expected
    np.testing.assert_allclose(
        losses.gaussian_kl_to_standard_normal(tiny, tiny), [expected], rtol=2e-3
    )


# ------------------------------------------------------------------------------------------
# Log densities against scipy.stats.


def test_diagonal_gaussian_log_density_matches_scipy():
    x, mean = _normal(3, (3, 2, 4)), _normal(4, (3, 2, 4))
    log_variance = _normal(5, (3, 2, 4), 0.5)
    expected = np.sum(
        stats.norm.logpdf(x, mean, np.exp(0.5 * log_variance.astype(np.float64))), axis=(1, 2)
    )
    actual = losses.diagonal_gaussian_log_density(x, mean, log_variance)
    np.testing.assert_allclose(actual, expected, rtol=1e-5)
    # The standard normal prior with a broadcast scalar log variance.
    prior = losses.diagonal_gaussian_log_density(x, np.zeros_like(x), 0.0)
    np.testing.assert_allclose(prior, np.sum(stats.norm.logpdf(x), axis=(1, 2)), rtol=1e-5)


def test_gaussian_log_likelihood_matches_scipy():
    mean, x = _normal(6, (3, 5, 2)), _normal(7, (3, 5, 2))
    for log_scale in (0.0, -0.7, np.array([0.3, -0.2], np.float32)):  # scalar or per channel
        expected = np.sum(stats.norm.logpdf(x, mean, np.exp(log_scale)), axis=(1, 2))
        actual = losses.gaussian_log_likelihood(mean, x, log_scale=log_scale)
        np.testing.assert_allclose(actual, expected, rtol=1e-5)


def test_laplace_log_likelihood_matches_scipy():
    loc, x = _normal(8, (3, 5, 2)), _normal(9, (3, 5, 2))
    for log_scale in (0.0, 0.4, np.array([0.3, -0.2], np.float32)):
        expected = np.sum(stats.laplace.logpdf(x, loc, np.exp(log_scale)), axis=(1, 2))
        actual = losses.laplace_log_likelihood(loc, x, log_scale=log_scale)
        np.testing.assert_allclose(actual, expected, rtol=1e-5)


def test_bernoulli_log_likelihood_matches_explicit_formula():
    logits = _normal(10, (4, 6), 3.0)
    rng = np.random.default_rng(11)
    for x in (rng.integers(0, 2, size=(4, 6)), rng.uniform(size=(4, 6))):  # binary, grey
        x = x.astype(np.float32)
        prob = special.expit(logits.astype(np.float64))
        expected = np.sum(x * np.log(prob) + (1 - x) * np.log1p(-prob), axis=1)
        np.testing.assert_allclose(losses.bernoulli_log_likelihood(logits, x), expected, rtol=1e-5)
    # Saturated logits: a confident right answer costs 0 nats, a confident wrong one |logit|.
    huge = np.array([[1e4, -1e4], [1e4, -1e4]], np.float32)
    targets = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    np.testing.assert_allclose(losses.bernoulli_log_likelihood(huge, targets), [0.0, -2e4])


# ------------------------------------------------------------------------------------------
# ELBO and the importance weighted bound on p(z) = N(0, 1), p(x|z) = N(a z + b, s^2), so that
# p(x) = N(b, a^2 + s^2), with a deliberately imperfect Gaussian proposal q(z|x).

A, B, S = 1.5, 0.5, 0.8
XS = np.array([-1.0, 0.3, 2.0])
POSTERIOR_VARIANCE = S**2 / (A**2 + S**2)
POSTERIOR_MEAN = A * (XS - B) / (A**2 + S**2)
PROPOSAL_MEAN = POSTERIOR_MEAN + 2.0 * np.sqrt(POSTERIOR_VARIANCE)
PROPOSAL_STD = 1.2 * np.sqrt(POSTERIOR_VARIANCE)
LOG_MARGINAL = stats.norm.logpdf(XS, B, np.sqrt(A**2 + S**2))
# ELBO = E_q[log p(x|z)] + E_q[log p(z)] + H[q], each a Gaussian expectation in closed form.
CLOSED_FORM_ELBO = (
    -0.5 * np.log(2 * np.pi * S**2)
    - ((XS - A * PROPOSAL_MEAN - B) ** 2 + A**2 * PROPOSAL_STD**2) / (2 * S**2)
    - 0.5 * np.log(2 * np.pi)
    - (PROPOSAL_MEAN**2 + PROPOSAL_STD**2) / 2
    + 0.5 * np.log(2 * np.pi * np.e * PROPOSAL_STD**2)
)


def test_elbo_is_log_likelihood_minus_beta_kl():
    log_likelihood = np.array([-3.0, -10.5, 0.25], np.float32)
    kl = np.array([1.0, 2.0, 0.5], np.float32)
    np.testing.assert_allclose(losses.elbo(log_likelihood, kl), [-4.0, -12.5, -0.25])
    np.testing.assert_allclose(losses.elbo(log_likelihood, kl, beta=4.0), [-7.0, -18.5, -1.75])


def test_elbo_from_library_terms_matches_closed_form():
    # Reparameterised single-sample ELBOs built from the library's terms, averaged.
    num_samples = 100_000
    noise = np.random.default_rng(12).normal(size=(num_samples, 3))
    z = (PROPOSAL_MEAN + PROPOSAL_STD * noise).reshape(-1, 1).astype(np.float32)
    x = np.tile(XS, num_samples).reshape(-1, 1).astype(np.float32)
    log_likelihood = losses.gaussian_log_likelihood(A * z + B, x, log_scale=np.log(S))
    mean = np.tile(PROPOSAL_MEAN, num_samples).reshape(-1, 1).astype(np.float32)
    log_variance = np.full_like(mean, 2 * np.log(PROPOSAL_STD))
    kl = losses.gaussian_kl_to_standard_normal(mean, log_variance)
    bounds = np.asarray(losses.elbo(log_likelihood, kl), np.float64).reshape(num_samples, 3)
    standard_error = bounds.std(axis=0) / np.sqrt(num_samples)
    assert np.all(np.abs(bounds.mean(axis=0) - CLOSED_FORM_ELBO) < 4 * standard_error)


def _chi_square_to_posterior():
    # E_q[(p(z|x) / q(z|x))^2] - 1 by quadrature: the asymptotic IWAE gap is this / (2 k).
    def integrand(z, i):
        log_posterior = stats.norm.logpdf(z, POSTERIOR_MEAN[i], np.sqrt(POSTERIOR_VARIANCE))
        return np.exp(2 * log_posterior - stats.norm.logpdf(z, PROPOSAL_MEAN[i], PROPOSAL_STD))

    return np.array([integrate.quad(integrand, -20, 20, args=(i,))[0] - 1 for i in range(3)])


def test_importance_weighted_bound_rises_with_k_to_log_marginal():
    rng = np.random.default_rng(13)
    bound = jax.jit(losses.importance_weighted_bound)
    means, errors = [], []
    for k in (1, 10, 100, 1000):
        replicates = 2_000_000 // k
        z = PROPOSAL_MEAN + PROPOSAL_STD * rng.normal(size=(k, replicates, 3))
        # log w = log p(z) + log p(x|z) - log q(z|x), written out independently of the library.
        log_weights = (
            -0.5 * z**2
            - 0.5 * (XS - A * z - B) ** 2 / S**2
            - np.log(S)
            - 0.5 * np.log(2 * np.pi)
            + 0.5 * ((z - PROPOSAL_MEAN) / PROPOSAL_STD) ** 2
            + np.log(PROPOSAL_STD)
        )
        values = np.asarray(bound(log_weights.reshape(k, -1).astype(np.float32)))
        values = values.reshape(replicates, 3).astype(np.float64)
        means.append(values.mean(axis=0))
        errors.append(values.std(axis=0) / np.sqrt(replicates))
    means, errors = np.array(means), np.array(errors)

    # L_1 is the ELBO.
    assert np.all(np.abs(means[0] - CLOSED_FORM_ELBO) < 4 * errors[0])
    # Every L_k <= log p(x), within Monte Carlo error.
    assert np.all(means <= LOG_MARGINAL + 4 * errors)
    # L_k rises with k, by more than the Monte Carlo error.
    rise = np.diff(means, axis=0)
    assert np.all(rise > 4 * np.hypot(errors[1:], errors[:-1]))
    # The gap log p(x) - L_k approaches its asymptote chi^2(p(z|x) || q) / (2 k) (Burda et al.
    # 2016; Maddison et al. 2017, Prop. 1): within 5% plus MC error at k = 100 (pooled over
    # the three x, whose weights are identically distributed in this model), and L_1000 sits
    # within that asymptote plus MC error of log p(x).
    chi_square = _chi_square_to_posterior()
    gap_100 = np.mean(LOG_MARGINAL - means[2])
    error_100 = np.sqrt(np.mean(errors[2] ** 2) / 3)
    assert abs(gap_100 - chi_square[0] / 200) < 4 * error_100 + 0.05 * chi_square[0] / 200
    assert np.all(np.abs(LOG_MARGINAL - means[3]) < chi_square / 2000 + 4 * errors[3])


def test_importance_weighted_bound_matches_scipy_logsumexp():
    log_weights = _normal(14, (7, 3), 20.0)
    expected = special.logsumexp(log_weights.astype(np.float64), axis=0) - np.log(7)
    np.testing.assert_allclose(losses.importance_weighted_bound(log_weights), expected, rtol=1e-6)
    np.testing.assert_array_equal(losses.importance_weighted_bound(log_weights[:1]), log_weights[0])
    # Equal weights: the bound is exactly the common log weight, even at a huge magnitude.
    np.testing.assert_allclose(
        losses.importance_weighted_bound(np.full((1000, 2), -1e4, np.float32)), [-1e4, -1e4]
    )


# ------------------------------------------------------------------------------------------
# Properties every function must have. Each case: (function, positional arrays for batch 4).

CASES = {
    "gaussian_kl": (
        losses.gaussian_kl_to_standard_normal,
        lambda: (_normal(20, (4, 3)), _normal(21, (4, 3), 0.5)),
    ),
    "diagonal_gaussian_log_density": (
        losses.diagonal_gaussian_log_density,
        lambda: (_normal(22, (4, 3)), _normal(23, (4, 3)), _normal(24, (4, 3), 0.5)),
    ),
    "bernoulli": (
        losses.bernoulli_log_likelihood,
        lambda: (_normal(25, (4, 3), 3.0), np.random.default_rng(26).uniform(size=(4, 3))),
    ),
    "gaussian": (
        functools.partial(losses.gaussian_log_likelihood, log_scale=0.3),
        lambda: (_normal(27, (4, 3)), _normal(28, (4, 3))),
    ),
    "laplace": (
        functools.partial(losses.laplace_log_likelihood, log_scale=-0.2),
        lambda: (_normal(29, (4, 3)), _normal(30, (4, 3))),
    ),
    "elbo": (
        functools.partial(losses.elbo, beta=2.0),
        lambda: (_normal(31, (4,), 5.0), np.abs(_normal(32, (4,)))),
    ),
    "importance_weighted_bound": (
        losses.importance_weighted_bound,
        lambda: (_normal(33, (5, 4), 5.0),),
    ),
}


def _as_float32(arrays):
    return tuple(np.asarray(a, np.float32) for a in arrays)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jit_and_vmap_match_eager(name):
    fn, make_args = CASES[name]
    args = _as_float32(make_args())
    other = tuple(a[::-1] + 0.1 for a in args)
    eager = np.stack([fn(*args), fn(*other)])
    np.testing.assert_allclose(jax.jit(fn)(*args), eager[0], rtol=1e-6, atol=1e-6)
    stacked = tuple(np.stack(pair) for pair in zip(args, other, strict=True))
    np.testing.assert_allclose(jax.vmap(fn)(*stacked), eager, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_finite_value_and_gradient_at_huge_first_argument(name):
    fn, make_args = CASES[name]
    args = _as_float32(make_args())
    args = (np.where(args[0] >= 0, 1e4, -1e4).astype(np.float32),) + args[1:]
    value = fn(*args)
    grads = jax.grad(lambda *a: jnp.sum(fn(*a)), argnums=tuple(range(len(args))))(*args)
    assert np.all(np.isfinite(value))
    assert all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bfloat16_in_bfloat16_out(name):
    fn, make_args = CASES[name]
    low_args = tuple(jnp.asarray(a, jnp.bfloat16) for a in make_args())
    low = fn(*low_args)
    high = fn(*(a.astype(jnp.float32) for a in low_args))
    assert low.dtype == jnp.bfloat16 and high.dtype == jnp.float32
    np.testing.assert_allclose(low.astype(jnp.float32), high, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name", sorted(CASES))
def test_weights_multiply_per_example(name):
    fn, make_args = CASES[name]
    args = _as_float32(make_args())
    weights = np.array([0.0, 0.5, 1.0, 3.0], np.float32)
    np.testing.assert_allclose(fn(*args, weights=weights), weights * fn(*args), rtol=1e-6)
    with pytest.raises(ValueError, match="weights"):
        fn(*args, weights=np.ones((4, 1), np.float32))


@pytest.mark.parametrize("name", sorted(CASES))
def test_mismatched_shapes_raise(name):
    fn, make_args = CASES[name]
    args = _as_float32(make_args())
    if len(args) == 1:
        bad = (args[0][0],)  # [batch] instead of [k, batch].
    else:
        bad = args[:-1] + (args[-1][:, :-1] if args[-1].ndim > 1 else args[-1][:-1],)
    with pytest.raises(ValueError, match="shape"):
        fn(*bad)


def test_scale_arrays_must_broadcast_to_the_data():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="log_scale"):
        losses.gaussian_log_likelihood(x, x, log_scale=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="log_scale"):
        losses.laplace_log_likelihood(x, x, log_scale=np.zeros((4, 3, 1), np.float32))
    with pytest.raises(ValueError, match="log_variance"):
        losses.diagonal_gaussian_log_density(x, x, np.zeros((2, 3), np.float32))


def test_importable_without_flax():
    code = "import sys; from unigen_jax import losses; assert 'flax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
