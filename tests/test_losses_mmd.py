"""The unbiased MMD: against a direct double loop, its expectation against the closed form for
two Gaussians under the RBF kernel, over a batch split across devices, and in InfoVAE's loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from unigen_jax import data, losses, models
from unigen_jax.models.networks import Networks
from unigen_jax.train import create_train_state
from unigen_jax.train.step import make_per_device_step


def _kernel(a, b, kernel, scale):
    squared = float(np.sum((a - b) ** 2))
    return np.exp(-squared / scale) if kernel == "rbf" else scale / (scale + squared)


def _double_loop_mmd(x, y, kernel, scale):
    """MMD_u^2 (Gretton et al. 2012, Lemma 6) written out pair by pair, in float64."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    n, m = len(x), len(y)
    xx = sum(_kernel(x[i], x[j], kernel, scale) for i in range(n) for j in range(n) if i != j)
    yy = sum(_kernel(y[i], y[j], kernel, scale) for i in range(m) for j in range(m) if i != j)
    xy = sum(_kernel(x[i], y[j], kernel, scale) for i in range(n) for j in range(m))
    return xx / (n * (n - 1)) + yy / (m * (m - 1)) - 2 * xy / (n * m)


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
@pytest.mark.parametrize("scale", [None, 0.7])
def test_mmd_matches_a_direct_double_loop(kernel, scale):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 3)).astype(np.float32)
    y = (0.5 + 1.5 * rng.normal(size=(5, 3))).astype(np.float32)
    expected = _double_loop_mmd(x, y, kernel, 2.0 * 3 if scale is None else scale)
    result = losses.maximum_mean_discrepancy(x, y, kernel=kernel, scale=scale)
    np.testing.assert_allclose(float(result), expected, rtol=1e-5, atol=1e-6)


def _rbf_mmd_between_gaussians(mean_gap, var_x, var_y, dim, scale):
    """MMD^2 of N(mu_x, var_x I) and N(mu_y, var_y I) under exp(-||a - b||^2 / C): for
    w ~ N(m, v I_d), E exp(-||w||^2 / C) = (1 + 2v/C)^(-d/2) exp(-||m||^2 / (C + 2v))."""

    def expected_kernel(m2, v):
        return (1 + 2 * v / scale) ** (-dim / 2) * np.exp(-m2 / (scale + 2 * v))

    return (
        expected_kernel(0.0, 2 * var_x)
        + expected_kernel(0.0, 2 * var_y)
        - 2 * expected_kernel(mean_gap, var_x + var_y)
    )


def test_mmd_is_unbiased_for_two_gaussians_under_the_rbf_kernel():
    dim, n, reps, scale = 2, 8, 20_000, 3.0
    shift = np.array([0.8, -0.4], np.float32)
    key_x, key_y = jax.random.split(jax.random.PRNGKey(0))
    xs = jax.random.normal(key_x, (reps, n, dim))
    ys = shift + 1.5 * jax.random.normal(key_y, (reps, n, dim))
    estimates = np.asarray(
        jax.vmap(lambda x, y: losses.maximum_mean_discrepancy(x, y, scale=scale))(xs, ys)
    )
    closed = _rbf_mmd_between_gaussians(float(np.sum(shift**2)), 1.0, 2.25, dim, scale)
    standard_error = estimates.std() / np.sqrt(reps)
    assert abs(estimates.mean() - closed) < 4 * standard_error, (estimates.mean(), closed)
    # The biased V-statistic (the diagonal terms k(x_i, x_i) = 1 included) is off by
    # (2 - E k(x, x') - E k(y, y')) / n: far outside the error bar, so the test tells them apart.

    def biased(x, y):
        def mean_kernel(a, b):
            return jnp.mean(jnp.exp(-jnp.sum((a[:, None] - b[None]) ** 2, -1) / scale))

        return mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y)

    assert abs(np.mean(jax.vmap(biased)(xs, ys)) - closed) > 20 * standard_error


def test_mmd_of_a_batch_split_across_devices_is_the_whole_batch_one():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 2)).astype(np.float32)
    y = rng.normal(size=(6, 2)).astype(np.float32) + 0.3
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:2]), ("data",))

    def on_device(x_local, y_local):
        nets = Networks(
            {}, {}, {}, train=True, key=jax.random.PRNGKey(0), batch_size=3, axis_name="data"
        )

        def loss(v):
            return losses.maximum_mean_discrepancy(nets.batch_gather(v), nets.batch_gather(y_local))

        value, grad = jax.value_and_grad(loss)(x_local)
        # Each device's loss is the global MMD, and the all-gather's transpose sums the 2
        # devices' cotangents: the engine's pmean over devices of gradients of shared params
        # halves that back, as dividing by 2 does for these per-row gradients.
        return jnp.broadcast_to(value, (3,)), grad / 2

    value, grad = jax.jit(
        jax.shard_map(
            on_device,
            mesh=mesh,
            in_specs=(P("data"), P("data")),
            out_specs=(P("data"), P("data")),
            check_vma=False,
        )
    )(x, y)
    whole_value, whole_grad = jax.value_and_grad(losses.maximum_mean_discrepancy)(x, y)
    np.testing.assert_allclose(value, np.full(6, whole_value), rtol=1e-5)
    np.testing.assert_allclose(float(value[0]), _double_loop_mmd(x, y, "rbf", 4.0), rtol=1e-5)
    np.testing.assert_allclose(grad, whole_grad, rtol=1e-5, atol=1e-7)


def test_mmd_rejects_bad_input():
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="kernel"):
        losses.maximum_mean_discrepancy(x, x, kernel="laplace")
    with pytest.raises(ValueError, match="at least 2"):
        losses.maximum_mean_discrepancy(x[:1], x)
    with pytest.raises(ValueError, match="differ"):
        losses.maximum_mean_discrepancy(x, np.zeros((4, 3), np.float32))


def test_infovae_loss_is_the_reconstruction_plus_lambda_times_the_mmd_of_the_codes():
    """Zhao et al.'s objective with alpha = 1: no per-example KL, mmd_weight * MMD_u^2 of the
    encoder's codes against as many prior draws."""
    source = data.get_source("ring8")
    config = models.make_config("infovae", latent_dim=2, hidden_sizes=(8,), mmd_weight=7.0)
    model = models.build_model("infovae", config, source.info, axis_name=None)
    batch = source.get(np.arange(16))
    state = create_train_state(model, batch, seed=0)
    _, metrics = jax.jit(make_per_device_step(model, axis_name=None))(state, batch)
    np.testing.assert_allclose(
        metrics["loss"], metrics["reconstruction"] + 7.0 * metrics["mmd"], rtol=1e-5
    )
    # The codes' MMD, recomputed from the same z and prior draws the step used.
    nets = Networks(
        model.networks,
        state.params,
        state.batch_stats,
        train=True,
        key=jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(state.rng, 0), 0), 0),
        batch_size=16,
    )
    mean, log_variance = nets("encoder", batch["x"])
    z = mean + jnp.exp(0.5 * log_variance) * nets.normal("eps", (2,))
    prior = nets.normal("prior_z", (2,))
    expected = _double_loop_mmd(np.asarray(z), np.asarray(prior), "rbf", 4.0)
    np.testing.assert_allclose(float(metrics["mmd"]), expected, rtol=1e-4, atol=1e-6)
