"""Likelihood metrics on a linear-Gaussian model, whose log p(x) and ELBO have closed forms.

Model: p(z) = N(0, I_2), p(x|z) = N(W z + b, s^2 I_3), so p(x) = N(b, W W^T + s^2 I) (scipy is
the reference). The encoder is deliberately imperfect: the exact posterior mean shifted, the
diagonal of the exact posterior covariance inflated, so every bound has a visible gap.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from unigen_jax.eval import likelihood

LATENT, DIM, NOISE_SCALE = 2, 3, 0.5
_rng = np.random.default_rng(0)
W = _rng.normal(size=(DIM, LATENT))
B = _rng.normal(size=DIM)
POSTERIOR_COV = np.linalg.inv(np.eye(LATENT) + W.T @ W / NOISE_SCALE**2)
MEAN_SHIFT = np.array([0.3, -0.2])
VARIANCE = 1.5 * np.diag(POSTERIOR_COV)  # q's variance, wider than the exact marginals


def posterior_mean(x):
    return (x - B) @ W @ POSTERIOR_COV.T / NOISE_SCALE**2


def encode(x):
    mean = (x - B) @ jnp.asarray(W @ POSTERIOR_COV.T / NOISE_SCALE**2) + MEAN_SHIFT
    log_variance = jnp.broadcast_to(jnp.log(jnp.asarray(VARIANCE)), mean.shape)
    return mean.astype(jnp.float32), log_variance.astype(jnp.float32)


def decode_mean(z):
    return z @ jnp.asarray(W.T, jnp.float32) + jnp.asarray(B, jnp.float32)


def log_likelihood(x, z):
    # log N(x; W z + b, s^2 I), written out rather than taken from the library.
    residual = x - decode_mean(z)
    return -0.5 * jnp.sum(
        jnp.log(2 * jnp.pi * NOISE_SCALE**2) + residual**2 / NOISE_SCALE**2, axis=1
    )


def sample_x(n, seed):
    cov = W @ W.T + NOISE_SCALE**2 * np.eye(DIM)
    return np.random.default_rng(seed).multivariate_normal(B, cov, size=n).astype(np.float32)


def exact_log_px(x):
    cov = W @ W.T + NOISE_SCALE**2 * np.eye(DIM)
    return stats.multivariate_normal(B, cov).logpdf(x.astype(np.float64))


def closed_form_elbo(x):
    """E_q[log p(x|z)] - KL(q || p(z)) for q = N(m, diag v), per example."""
    x = x.astype(np.float64)
    m = posterior_mean(x) + MEAN_SHIFT
    residual = x - m @ W.T - B
    expected_sq = np.sum(residual**2, axis=1) + np.sum(VARIANCE * np.sum(W**2, axis=0))
    expected_log_lik = -0.5 * DIM * np.log(2 * np.pi * NOISE_SCALE**2)
    expected_log_lik -= expected_sq / (2 * NOISE_SCALE**2)
    kl = 0.5 * np.sum(VARIANCE + m**2 - 1 - np.log(VARIANCE), axis=1)
    return expected_log_lik - kl, kl


def assert_unbiased(estimates, reference, sigmas=4.0):
    diff = estimates - reference
    assert abs(diff.mean()) < sigmas * diff.std(ddof=1) / np.sqrt(diff.size), diff.mean()


def test_elbo_matches_closed_form_and_is_batch_independent():
    x = sample_x(2000, seed=1)
    key = jax.random.PRNGKey(3)
    result = likelihood.test_elbo(encode, log_likelihood, x, key, batch_size=512)
    reference, kl = closed_form_elbo(x)
    assert_unbiased(result["per_example_elbo"], reference)
    np.testing.assert_allclose(result["kl"], kl.mean(), rtol=1e-5)
    assert result["elbo"] == pytest.approx(result["per_example_elbo"].mean())
    # The ELBO lower-bounds log p(x) (the gap is KL(q(z|x) || p(z|x)) > 0 here).
    assert np.all(reference < exact_log_px(x))
    # Per-example keys: the batch size changes nothing.
    small = likelihood.test_elbo(encode, log_likelihood, x[:30], key, batch_size=7)
    np.testing.assert_allclose(
        small["per_example_elbo"], result["per_example_elbo"][:30], rtol=1e-6, atol=1e-6
    )


def test_iwae_k1_is_minus_elbo_and_decreases_with_k():
    x = sample_x(400, seed=2)
    key = jax.random.PRNGKey(4)
    reference, _ = closed_form_elbo(x)
    nll = {
        k: likelihood.importance_weighted_nll(
            encode, log_likelihood, x, key, num_samples=k, chunk_size=25, batch_size=128
        )
        for k in (1, 10, 100)
    }
    assert_unbiased(nll[1]["per_example_nll"], -reference)
    exact_nll = -exact_log_px(x).mean()
    assert nll[1]["nll"] > nll[10]["nll"] > nll[100]["nll"] > exact_nll - 0.01
    # Burda et al. Theorem 1, per example: with shared samples the bound can only shrink by
    # more than noise, so the k = 100 gap is far below the k = 1 gap.
    assert nll[100]["nll"] - exact_nll < 0.2 * (nll[1]["nll"] - exact_nll)


def test_iwae_5000_samples_reaches_exact_nll():
    x = sample_x(40, seed=5)
    result = likelihood.importance_weighted_nll(
        encode, log_likelihood, x, jax.random.PRNGKey(6), num_samples=5000, chunk_size=500
    )
    exact = -exact_log_px(x)
    # Per example the estimate's Monte Carlo spread is about 0.01 nats here (the k = 1 gap
    # is about 0.18); the mean over 40 examples is within about 0.002.
    np.testing.assert_allclose(result["per_example_nll"], exact, atol=0.05)
    assert abs(result["nll"] - exact.mean()) < 0.006
    assert result["num_samples"] == 5000


def test_iwae_chunking_and_batching_do_not_change_the_samples():
    x = sample_x(13, seed=7)
    key = jax.random.PRNGKey(8)
    whole = likelihood.importance_weighted_nll(
        encode, log_likelihood, x, key, num_samples=64, chunk_size=64, batch_size=13
    )
    chunked = likelihood.importance_weighted_nll(
        encode, log_likelihood, x, key, num_samples=64, chunk_size=10, batch_size=5
    )
    np.testing.assert_allclose(
        chunked["per_example_nll"], whole["per_example_nll"], rtol=1e-5, atol=1e-5
    )


def test_one_compilation_per_shape_and_partial_parameters():
    traces = []

    def encode_with(params, x):
        traces.append(x.shape)
        mean = (x - params["b"]) @ params["m"] + params["shift"]
        return mean, jnp.broadcast_to(jnp.log(params["variance"]), mean.shape)

    params = {
        "b": jnp.asarray(B, jnp.float32),
        "m": jnp.asarray(W @ POSTERIOR_COV.T / NOISE_SCALE**2, jnp.float32),
        "shift": jnp.asarray(MEAN_SHIFT, jnp.float32),
        "variance": jnp.asarray(VARIANCE, jnp.float32),
    }
    x = sample_x(25, seed=9)
    key = jax.random.PRNGKey(10)
    kwargs = dict(num_samples=30, chunk_size=8, batch_size=10)
    # Parameters bound by a Partial are traced arguments: one trace for 3 batches x 4 chunks.
    with_partial = likelihood.importance_weighted_nll(
        jax.tree_util.Partial(encode_with, params), log_likelihood, x, key, **kwargs
    )
    assert traces == [(10, DIM)]
    closure = likelihood.importance_weighted_nll(encode, log_likelihood, x, key, **kwargs)
    np.testing.assert_allclose(
        with_partial["per_example_nll"], closure["per_example_nll"], rtol=1e-5, atol=1e-5
    )


def test_reconstruction_rmse_matches_numpy():
    x = sample_x(23, seed=11)
    rmse = likelihood.reconstruction_rmse(lambda x: decode_mean(encode(x)[0]), x, batch_size=7)
    reconstruction = (posterior_mean(x) + MEAN_SHIFT) @ W.T + B
    assert rmse == pytest.approx(np.sqrt(np.mean((x - reconstruction) ** 2)), rel=1e-5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, k: likelihood.test_elbo(encode, log_likelihood, x, k, batch_size=0), "batch"),
        (
            lambda x, k: likelihood.importance_weighted_nll(
                encode, log_likelihood, x, k, num_samples=0
            ),
            "num_samples",
        ),
        (
            lambda x, k: likelihood.importance_weighted_nll(
                encode, log_likelihood, x, k, chunk_size=-1
            ),
            "chunk_size",
        ),
        (lambda x, k: likelihood.reconstruction_rmse(lambda x: x, x[0]), "x must"),
        (lambda x, k: likelihood.reconstruction_rmse(lambda x: x[:, :1], x), "reconstruct"),
        (lambda x, k: likelihood.test_elbo(encode, lambda x, z: z, x, k), "log_likelihood"),
    ],
)
def test_invalid_arguments_raise_one_line_value_errors(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call(sample_x(4, seed=12), jax.random.PRNGKey(0))
    assert "\n" not in str(info.value)
