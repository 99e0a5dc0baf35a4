"""The planar flow (Rezende & Mohamed 2015, arXiv 1505.05770, eqs. 10-13, Appendix A.1) and
the VAE with a flow posterior (`vae_flow`): the log-determinant against autodiff's full Jacobian,
the constraint on u, the inverse and its implicit gradient against finite differences, the
VAE phase's loss against numpy with the networks applied by hand, the identity flow against
the Gaussian path, and the evaluated ELBO against an independent Monte Carlo."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from unigen_jax import models
from unigen_jax import nets as flax_nets
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.eval import likelihood, runner
from unigen_jax.nets.flows import constrained_u, planar_forward, planar_inverse
from unigen_jax.train import Networks, create_train_state

IMAGES = DatasetInfo(name="toy", kind="image", shape=(2, 2, 1), num_classes=0, num_examples=8)
LATENT = 3
KEY = jax.random.PRNGKey(3)


def _random_flow(rng, length, d, scale=1.5):
    u, w = (jnp.asarray(rng.normal(size=(length, d)) * scale, jnp.float32) for _ in range(2))
    b = jnp.asarray(rng.normal(size=(length,)), jnp.float32)
    return constrained_u(u, w), w, b


def _autodiff_log_det(u_hat, w, b, z0):
    """log|det| of the whole flow's Jacobian at each z0, by jax.jacfwd and slogdet."""
    one = lambda z: planar_forward(z[None], u_hat, w, b)[0][0]  # noqa: E731
    jacobians = np.asarray(jax.vmap(jax.jacfwd(one))(z0), np.float64)
    signs, log_dets = np.linalg.slogdet(jacobians)
    assert np.all(signs > 0)  # an orientation-preserving bijection (w^T u_hat > -1)
    return log_dets


def test_log_det_is_autodiffs_full_jacobian():
    rng = np.random.default_rng(0)
    u_hat, w, b = _random_flow(rng, length=6, d=LATENT)
    z0 = jnp.asarray(rng.normal(size=(5, LATENT)) * 2, jnp.float32)
    _, log_det = planar_forward(z0, u_hat, w, b)
    np.testing.assert_allclose(log_det, _autodiff_log_det(u_hat, w, b, z0), rtol=1e-4, atol=1e-4)
    # The module: the same maps with its own parameters (u constrained inside).
    flow = flax_nets.PlanarFlow(length=4)
    variables = flow.init(KEY, z0, train=False)
    p = variables["params"]
    z_k, log_det = flow.apply(variables, z0, train=False)
    expected_z, _ = planar_forward(z0, constrained_u(p["u"], p["w"]), p["w"], p["b"])
    np.testing.assert_allclose(z_k, expected_z, rtol=1e-6)
    np.testing.assert_allclose(
        log_det,
        _autodiff_log_det(constrained_u(p["u"], p["w"]), p["w"], p["b"], z0),
        rtol=1e-4,
        atol=1e-4,
    )


def test_constrained_u_keeps_w_u_above_minus_one():
    """w^T u_hat = -1 + softplus(w^T u) (Appendix A.1), even for u pointing against w."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(50, 4))
    u = np.concatenate([rng.normal(size=(25, 4)) * 3, -10 * w[25:]])  # w^T u down to ~ -400
    u_hat = np.asarray(constrained_u(jnp.asarray(u), jnp.asarray(w)), np.float64)
    wu = np.sum(w * u, axis=1)
    np.testing.assert_allclose(
        np.sum(w * u_hat, axis=1), -1 + np.log1p(np.exp(wu)), rtol=1e-4, atol=1e-5
    )
    # >= -1 up to u_hat's float32 rounding (the float64 dot product of rounded values).
    assert np.all(np.sum(w * u_hat, axis=1) >= -1 - 1e-4)


def test_inverse_recovers_z0_and_carries_the_implicit_gradient():
    rng = np.random.default_rng(2)
    u_hat, w, b = _random_flow(rng, length=5, d=LATENT, scale=2.0)
    z0 = jnp.asarray(rng.normal(size=(4, LATENT)), jnp.float32)
    z_k, forward_log_det = planar_forward(z0, u_hat, w, b)
    recovered, inverse_log_det = planar_inverse(z_k, u_hat, w, b)
    np.testing.assert_allclose(recovered, z0, atol=2e-4)
    np.testing.assert_allclose(inverse_log_det, forward_log_det, rtol=1e-4, atol=1e-4)

    # d/db of sum(z0(z_K; b)) at fixed z_K: the implicit gradient against central differences.
    def total(b_):
        return jnp.sum(planar_inverse(z_k, u_hat, w, b_)[0])

    grad = np.asarray(jax.grad(total)(b), np.float64)
    step = 1e-2
    for k in range(len(b)):
        shift = jnp.zeros_like(b).at[k].set(step)
        numeric = (float(total(b + shift)) - float(total(b - shift))) / (2 * step)
        np.testing.assert_allclose(grad[k], numeric, rtol=2e-2, atol=2e-3)


def test_batch_roll_pairs_each_row_with_the_one_before():
    handle = Networks({}, {}, {}, train=True, key=KEY, batch_size=4)
    x = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(handle.batch_roll(jnp.asarray(x)), np.roll(x, 1, axis=0))


# --- the VAE with a flow posterior -------------------------------------------------------


def _flow_vae(**hyperparameters):
    config = models.make_config(
        "vae_flow",
        latent_dim=LATENT,
        hidden_sizes=(5,),
        architecture="mlp",
        **{"flow_length": 3, **hyperparameters},
    )
    model = models.build_model("vae_flow", config, IMAGES, axis_name=None)
    x = (np.random.default_rng(4).uniform(size=(6, *IMAGES.shape)) > 0.5).astype(np.float32)
    batch = {"x": x, "label": np.zeros(6, np.int32)}
    return model, batch, create_train_state(model, batch, seed=1)


def _mlp(params, a, layers):
    for name in layers[:-1]:
        a = np.maximum(a @ params[name]["kernel"] + params[name]["bias"], 0)
    return a @ params[layers[-1]]["kernel"] + params[layers[-1]]["bias"]


def _log_normal(z, mean=0.0, log_variance=0.0):
    return np.sum(
        -0.5 * (np.log(2 * np.pi) + log_variance + (z - mean) ** 2 / np.exp(log_variance)), -1
    )


def _by_hand(state, x, eps):
    """log p(x|z_K) + log p(z_K) - log q_K(z_K|x) in float64: the MLPs in numpy, z_K by the
    planar maps in numpy, log q_K by the change of variables with autodiff's Jacobian."""
    params = jax.tree.map(lambda a: np.asarray(a, np.float64), state.params)
    encoded = _mlp(params["encoder"], x.reshape(len(x), -1), ["hidden_0", "gaussian"])
    mean, log_variance = encoded[:, :LATENT], encoded[:, LATENT:]
    z = mean + np.exp(0.5 * log_variance) * eps
    log_q = _log_normal(z, mean, log_variance)
    flow = params["flow"]
    u_hat = np.asarray(constrained_u(state.params["flow"]["u"], state.params["flow"]["w"]))
    log_q -= _autodiff_log_det(u_hat, state.params["flow"]["w"], state.params["flow"]["b"], z)
    for u, w, b in zip(u_hat, flow["w"], flow["b"], strict=True):
        z = z + np.tanh(z @ w + b)[:, None] * u
    logits = _mlp(params["generator"], z, ["hidden_0", "output"])
    t = x.reshape(len(x), -1)
    log_px = np.sum(t * -np.logaddexp(0, -logits) + (1 - t) * -np.logaddexp(0, logits), -1)
    return log_px + _log_normal(z) - log_q


def test_flow_vae_phase_is_the_negative_flow_elbo():
    """Loss = -mean[log p(x|z_K) + log p(z_K) - log q_0(z_0|x) + sum_k log|det|] (eq. 15)."""
    model, batch, state = _flow_vae()
    assert [(p.name, p.trains) for p in model.phases] == [("vae", ("encoder", "generator", "flow"))]
    assert model.encode_fn is None and model.log_importance_weight_fn is not None

    def nets():
        return Networks(
            model.networks, state.params, state.batch_stats, train=True, key=KEY, batch_size=6
        )

    eps = np.asarray(nets().normal("eps", (LATENT,)), np.float64)
    expected = _by_hand(state, batch["x"], eps)
    loss, metrics = model.phases[0].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, -np.mean(expected), rtol=1e-4)
    np.testing.assert_allclose(metrics["elbo"], np.mean(expected), rtol=1e-4)
    np.testing.assert_allclose(
        model.log_importance_weight_fn(nets(), batch), expected, rtol=1e-4, atol=1e-3
    )


def test_identity_flow_gives_the_gaussian_path():
    """With u = w = 0 every layer is the identity (log det 0): the log weight is the Gaussian
    posterior's, log p(x|z) + log N(z; 0, I) - log N(z; mean, sigma^2), as `vae` evaluates it."""
    model, batch, state = _flow_vae()
    params = dict(state.params)
    params["flow"] = jax.tree.map(jnp.zeros_like, params["flow"])
    handle = Networks(model.networks, params, {}, train=False, key=KEY, batch_size=6)
    eps = np.asarray(
        Networks(model.networks, params, {}, train=False, key=KEY, batch_size=6).normal(
            "eps", (LATENT,)
        )
    )
    mean, log_variance = model.networks["encoder"].apply(
        {"params": params["encoder"]}, batch["x"], train=False
    )
    z = mean + jnp.exp(0.5 * log_variance) * eps
    gaussian = (
        model.log_likelihood_fn(handle, batch, z)
        + np.asarray(_log_normal(np.asarray(z, np.float64)))
        - np.asarray(_log_normal(np.asarray(z, np.float64), mean, log_variance))
    )
    got = model.log_importance_weight_fn(
        Networks(model.networks, params, {}, train=False, key=KEY, batch_size=6), batch
    )
    np.testing.assert_allclose(got, gaussian, rtol=1e-5, atol=1e-4)


def test_evaluated_flow_elbo_matches_an_independent_monte_carlo():
    """The evaluation path (runner's log weights, `elbo_from_log_weights`) on one digit copied
    400 times is a 400-sample estimate of its ELBO; numpy's own 4000 draws estimate the same."""
    model, batch, state = _flow_vae()
    x = np.repeat(batch["x"][:1], 400, axis=0)
    log_weight = runner.log_importance_weights(model, state.params, state.batch_stats)
    ours = likelihood.elbo_from_log_weights(log_weight, {"x": x}, jax.random.PRNGKey(7))
    eps = np.random.default_rng(8).normal(size=(4000, LATENT))
    reference = _by_hand(state, np.repeat(batch["x"][:1], 4000, axis=0), eps)
    spread = np.hypot(ours["standard_error"], reference.std() / np.sqrt(len(reference)))
    assert abs(ours["elbo"] - reference.mean()) < 4 * spread
    nll = likelihood.importance_weighted_nll_from_log_weights(
        log_weight, {"x": batch["x"][:1]}, jax.random.PRNGKey(9), num_samples=50
    )
    assert nll["nll"] <= -ours["elbo"] + 4 * spread  # L_50 >= L_1 in expectation


def test_bad_flow_length_is_a_one_line_user_error():
    with pytest.raises(UserInputError, match="flow_length must be >= 0") as error:
        models.make_config("vae_flow", flow_length=-1)
    assert "\n" not in str(error.value)
