"""Wake-sleep (Hinton et al. 1995; Hu et al. 2017, arXiv 1706.00550, eq. 10) on tiny sigmoid
belief networks: each phase's gradient is the numpy delta rule (t - sigmoid(a)) s^T; the
importance-sampled NLL with the recognition net as proposal agrees with log p(x) summed over
every h; the general likelihood path agrees with the Gaussian one on a VAE; grey inputs are
thresholded; binarized_mnist5k is mnist5k with pixels fixed once to Bernoulli(grey)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit, logsumexp

from unigen_jax import data, models
from unigen_jax.data import DatasetInfo, binarized, offline
from unigen_jax.errors import UserInputError
from unigen_jax.eval import likelihood, runner
from unigen_jax.models import wake_sleep
from unigen_jax.models.networks import Networks
from unigen_jax.train import create_train_state

HIDDEN, LATENT = 3, 2  # h_1 and h_2 (the top layer)


def _tiny(shape=(2, 2, 1), hidden=(HIDDEN,), latent=LATENT, scale=1.5, seed=0):
    """A tiny Helmholtz machine with random (not initial) params, for data of `shape`."""
    info = DatasetInfo("tiny", "image", shape, 0, 16)
    config = models.make_config("wake_sleep", latent_dim=latent, hidden_sizes=hidden)
    model = models.build_model("wake_sleep", config, info, axis_name=None)
    state = create_train_state(model, {"x": np.zeros((2, *shape), np.float32)}, seed=0)
    leaves, tree = jax.tree.flatten(state.params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    leaves = [
        scale * jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves, strict=True)
    ]
    return model, jax.tree.unflatten(tree, leaves)


def _handle(model, params, key, batch_size):
    return Networks(model.networks, params, {}, train=True, key=key, batch_size=batch_size)


def _gradient(model, params, phase_name, batch, key):
    phase = next(p for p in model.phases if p.name == phase_name)
    (trained,) = phase.trains

    def loss(p):
        nets = _handle(model, {**params, trained: p}, key, batch["x"].shape[0])
        return phase.loss_fn(nets, batch)[0]

    return jax.grad(loss)(params[trained])


def _delta_rule(kernel_bias, parent, target):
    """Mean over the batch of the delta rule: (dW, db) = ((t - sigmoid(a)) s^T, t - sigmoid(a))."""
    kernel, bias = (np.asarray(p, np.float64) for p in kernel_bias)
    delta = target - expit(parent @ kernel + bias)
    return parent.T @ delta / len(parent), delta.mean(axis=0)


def _binary_batch(n, dim, seed):
    return (np.random.default_rng(seed).random((n, dim)) < 0.5).astype(np.float64)


def test_wake_gradient_is_the_delta_rule_of_the_generative_net():
    model, params = _tiny()
    v = _binary_batch(5, 4, seed=1)
    batch, key = {"x": v.reshape(5, 2, 2, 1).astype(np.float32)}, jax.random.PRNGKey(7)
    grads = _gradient(model, params, "wake", batch, key)
    # The recognition samples the phase draws: the same handle noise, drawn again here.
    h1, h2 = (
        np.asarray(h, np.float64)
        for h in wake_sleep.recognize(
            _handle(model, params, key, 5), jnp.asarray(v, jnp.float32), 2, "wake"
        )[0]
    )
    assert set(np.unique(np.concatenate([h1.ravel(), h2.ravel()]))) <= {0.0, 1.0}
    g = params["generative"]
    prior = np.asarray(g["prior_bias"], np.float64)
    expected = {
        "prior_bias": (h2 - expit(prior)).mean(axis=0),
        "layer_1": _delta_rule((g["layer_1"]["kernel"], g["layer_1"]["bias"]), h2, h1),
        "layer_2": _delta_rule((g["layer_2"]["kernel"], g["layer_2"]["bias"]), h1, v),
    }
    # The loss is -mean log p(x, h): its gradient is minus the (ascent) delta rule.
    np.testing.assert_allclose(-grads["prior_bias"], expected["prior_bias"], atol=1e-5)
    for layer in ("layer_1", "layer_2"):
        np.testing.assert_allclose(-grads[layer]["kernel"], expected[layer][0], atol=1e-5)
        np.testing.assert_allclose(-grads[layer]["bias"], expected[layer][1], atol=1e-5)


def test_sleep_gradient_is_the_delta_rule_of_the_recognition_net_on_dreams():
    model, params = _tiny()
    batch = {"x": np.zeros((6, 2, 2, 1), np.float32)}  # the sleep phase reads no data
    key = jax.random.PRNGKey(3)
    grads = _gradient(model, params, "sleep", batch, key)
    states, _ = wake_sleep.dream(_handle(model, params, key, 6), LATENT, 2, "sleep")
    h2, h1, v = (np.asarray(s, np.float64) for s in states)
    assert v.shape == (6, 4) and set(np.unique(v)) <= {0.0, 1.0}
    r = params["recognition"]
    for layer, parent, target in (("layer_0", v, h1), ("layer_1", h1, h2)):
        d_kernel, d_bias = _delta_rule((r[layer]["kernel"], r[layer]["bias"]), parent, target)
        np.testing.assert_allclose(-grads[layer]["kernel"], d_kernel, atol=1e-5)
        np.testing.assert_allclose(-grads[layer]["bias"], d_bias, atol=1e-5)


def _exact_log_marginal(params, v):
    """log p(x) = log sum over every (h_1, h_2) of p(h_2) p(h_1|h_2) p(x|h_1), in numpy."""
    g = jax.tree.map(lambda a: np.asarray(a, np.float64), params["generative"])

    def log_bernoulli(logits, t):
        return np.sum(t * -np.logaddexp(0, -logits) + (1 - t) * -np.logaddexp(0, logits), -1)

    terms = []
    for h2 in itertools.product((0.0, 1.0), repeat=LATENT):
        for h1 in itertools.product((0.0, 1.0), repeat=HIDDEN):
            h2, h1 = np.array(h2), np.array(h1)
            terms.append(
                log_bernoulli(g["prior_bias"], h2)
                + log_bernoulli(h2 @ g["layer_1"]["kernel"] + g["layer_1"]["bias"], h1)
                + log_bernoulli(h1 @ g["layer_2"]["kernel"] + g["layer_2"]["bias"], v)
            )
    return logsumexp(np.stack(terms), axis=0)


def test_importance_sampled_nll_converges_to_the_enumerated_log_likelihood():
    model, params = _tiny(scale=0.3)
    x = np.array(list(itertools.product((0.0, 1.0), repeat=4)), np.float32)  # all 16 images
    exact = -_exact_log_marginal(params, x.astype(np.float64))
    log_weight = runner.log_importance_weights(model, params, {})
    batch, key = {"x": x.reshape(16, 2, 2, 1)}, jax.random.PRNGKey(0)
    big = likelihood.importance_weighted_nll_from_log_weights(
        log_weight, batch, key, num_samples=20000, chunk_size=2000, batch_size=8
    )
    # The weights' coefficient of variation is about 1.3 here (q is far from the posterior):
    # the standard error of each estimate is about 0.01 nats.
    np.testing.assert_allclose(big["per_example_nll"], exact, atol=0.05)
    assert abs(big["nll"] - exact.mean()) < 0.02
    elbo = likelihood.elbo_from_log_weights(log_weight, batch, key, batch_size=5)
    one = likelihood.importance_weighted_nll_from_log_weights(
        log_weight, batch, key, num_samples=1, batch_size=16
    )
    # The ELBO is the first importance sample, whatever the batching.
    np.testing.assert_allclose(elbo["per_example_elbo"], -one["per_example_nll"], rtol=1e-6)
    # A bound: -ELBO >= -log p(x) in expectation, here visibly looser than NLL_20000.
    assert -elbo["elbo"] > big["nll"] + 0.05


def test_general_path_agrees_with_the_gaussian_path_on_a_vae():
    source = data.get_source("digits")
    config = models.make_config("vae", latent_dim=3, hidden_sizes=(16,), architecture="mlp")
    model = models.build_model("vae", config, source.info, axis_name=None)
    state = create_train_state(model, source.get(np.arange(2)), seed=0)
    nets = _handle(model, state.params, jax.random.PRNGKey(0), 1)

    def encode(batch):
        return model.encode_fn(nets, batch)

    def log_likelihood(batch, z):
        return model.log_likelihood_fn(nets, batch, z)

    def log_weight(batch, keys):  # a Gaussian proposal written out, eps from keys[i]
        mean, log_variance = encode(batch)
        eps = jax.vmap(lambda k: jax.random.normal(k, (3,)))(keys)
        z = mean + jnp.exp(0.5 * log_variance) * eps
        log_prior = -0.5 * jnp.sum(z**2 + jnp.log(2 * jnp.pi), axis=1)
        log_q = -0.5 * jnp.sum(eps**2 + jnp.log(2 * jnp.pi) + log_variance, axis=1)
        return log_likelihood(batch, z) + log_prior - log_q

    batch = {"x": source.get(np.arange(10))["x"]}
    key = jax.random.PRNGKey(5)
    gaussian = likelihood.importance_weighted_nll(
        encode, log_likelihood, batch, key, num_samples=37, chunk_size=10, batch_size=4
    )
    general = likelihood.importance_weighted_nll_from_log_weights(
        log_weight, batch, key, num_samples=37, chunk_size=8, batch_size=6
    )
    np.testing.assert_allclose(general["per_example_nll"], gaussian["per_example_nll"], rtol=2e-5)


def test_grey_inputs_are_thresholded_at_one_half():
    model, params = _tiny()
    grey = np.random.default_rng(2).random((7, 2, 2, 1)).astype(np.float32)
    thresholded = (grey >= 0.5).astype(np.float32)
    np.testing.assert_array_equal(wake_sleep.binarize(grey), thresholded.reshape(7, 4))
    weights = [
        model.log_importance_weight_fn(_handle(model, params, jax.random.PRNGKey(1), 7), {"x": x})
        for x in (grey, thresholded)
    ]
    np.testing.assert_array_equal(weights[0], weights[1])


def test_samples_and_reconstructions_are_bernoulli_means_of_the_image_shape():
    model, params = _tiny(shape=(3, 3, 1))
    nets = _handle(model, params, jax.random.PRNGKey(0), 4)
    samples = model.sample_fn(nets, {})
    x = np.random.default_rng(0).random((4, 3, 3, 1)).astype(np.float32)
    reconstruction = model.reconstruct_fn(nets, {"x": x})
    for out in (samples, reconstruction):
        assert out.shape == (4, 3, 3, 1) and np.all((out > 0) & (out < 1))
    # Reconstruction: sigmoid(W_x sigmoid(R_1 x + c_1) + b_x), written out.
    g, r = params["generative"]["layer_2"], params["recognition"]["layer_0"]
    h1 = expit((x.reshape(4, 9) >= 0.5) @ np.asarray(r["kernel"]) + np.asarray(r["bias"]))
    expected = expit(h1 @ np.asarray(g["kernel"]) + np.asarray(g["bias"]))
    np.testing.assert_allclose(reconstruction.reshape(4, 9), expected, rtol=1e-5, atol=1e-6)


def test_bad_configurations_are_one_line_errors():
    with pytest.raises(UserInputError, match="use mlp") as excinfo:
        models.make_config("wake_sleep", architecture="dcgan")
    assert "\n" not in str(excinfo.value)
    with pytest.raises(UserInputError, match="vectors"):
        models.build_model(
            "wake_sleep", models.make_config("wake_sleep"), data.get_source("ring8").info
        )


def test_binarized_mnist5k_fixes_each_pixel_once_to_a_bernoulli_of_its_grey_level():
    for split in ("train", "test"):
        grey = offline.mnist5k(split).get(np.arange(len(offline.mnist5k(split))))
        binary = data.get_source("binarized_mnist5k", split)
        assert binary.info.shape == (28, 28, 1) and len(binary) == len(grey["x"])
        got = binary.get(np.arange(len(binary)))
        np.testing.assert_array_equal(got["label"], grey["label"])
        assert set(np.unique(got["x"])) == {0.0, 1.0}
        assert np.all(got["x"][grey["x"] == 0] == 0) and np.all(got["x"][grey["x"] == 1] == 1)
        # Bernoulli(grey): the mean of x - grey over ~3.5e5 pixels is within 5 standard errors.
        diff = got["x"] - grey["x"]
        assert abs(diff.mean()) < 5 * np.sqrt(np.mean(grey["x"] * (1 - grey["x"])) / diff.size)
        # Fixed: the same pixels when built again, whatever numpy's global random state.
        binarized.binarized_mnist5k_arrays.cache_clear()
        np.random.seed(123)
        again = data.get_source("binarized_mnist5k", split).get(np.arange(5))["x"]
        np.testing.assert_array_equal(again, got["x"][:5])
