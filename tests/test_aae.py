"""AAE (Makhzani et al. 2015; Su 2018, eqs. 30 and 34): the code discriminator's and the
autoencoder's phase losses against a float64 numpy recomputation with the networks applied by
hand, sampling and reconstruction, the declared abilities, and bad options."""

import jax
import numpy as np
import pytest
from scipy import special

from unigen_jax import models
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.eval import runner
from unigen_jax.train import Networks, create_train_state

IMAGES = DatasetInfo(name="toy", kind="image", shape=(4, 4, 1), num_classes=0, num_examples=8)
VECTORS = DatasetInfo(name="toy", kind="vector", shape=(2,), num_classes=0, num_examples=8)
TINY = {"latent_dim": 3, "hidden_sizes": (5,), "code_hidden_sizes": (4,), "architecture": "mlp"}
KEY = jax.random.PRNGKey(7)


def _setup(info, **hyperparameters):
    config = models.make_config("aae", **{**TINY, **hyperparameters})
    model = models.build_model("aae", config, info, axis_name=None)
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(6, *info.shape)).astype(np.float32)
    if info.kind == "vector":
        x = 3 * x - 1.5
    batch = {"x": x, "label": np.zeros(6, np.int32)}
    state = create_train_state(model, batch, seed=2)

    def nets():
        return Networks(
            model.networks, state.params, state.batch_stats, train=True, key=KEY, batch_size=6
        )

    def apply(name, *args):
        out = model.networks[name].apply({"params": state.params[name]}, *args, train=True)
        return jax.tree.map(lambda a: np.asarray(a, np.float64), out)

    return model, state, batch, nets, apply


def _data_space(output, info):
    return special.expit(output) if info.kind == "image" else output


@pytest.mark.parametrize(
    "info, stochastic",
    [(VECTORS, False), (VECTORS, True), (IMAGES, False)],
    ids=["vector", "vector-stochastic", "image"],
)
def test_phase_losses_match_su_eqs_30_and_34(info, stochastic):
    """C: -log C(z) - log(1 - C(E(x))), z ~ N(0, I); E and G: -log C(E(x)) +
    lambda * sum_d (x_d - G(E(x))_d)^2, batch means, with C = sigmoid(logit) and
    E(x) = mean(x) or mean(x) + exp(log_variance(x) / 2) * eps."""
    model, _, batch, nets, apply = _setup(
        info, stochastic_encoder=stochastic, reconstruction_weight=0.3
    )
    assert [(p.name, p.trains) for p in model.phases] == [
        ("code_discriminator", ("code_discriminator",)),
        ("autoencoder", ("encoder", "generator")),
    ]
    x = batch["x"].astype(np.float64)
    draws = nets()
    prior = np.asarray(draws.normal("prior_z", (3,)), np.float64)
    eps = np.asarray(draws.normal("eps", (3,)), np.float64)
    mean, log_variance = apply("encoder", batch["x"])
    codes = mean + np.exp(0.5 * log_variance) * eps if stochastic else mean

    def code_probability(z):  # C(z): the probability that z is a prior sample
        return special.expit(apply("code_discriminator", z.astype(np.float32))[0])

    c_loss, c_metrics = model.phases[0].loss_fn(nets(), batch)
    expected = np.mean(-np.log(code_probability(prior)) - np.log(1 - code_probability(codes)))
    np.testing.assert_allclose(c_loss, expected, rtol=1e-5)
    np.testing.assert_allclose(c_metrics["discriminator_loss"], expected, rtol=1e-5)

    reconstruction = _data_space(apply("generator", codes.astype(np.float32)), info)
    squared = np.sum((x - reconstruction).reshape(6, -1) ** 2, axis=1)
    code_loss = -np.log(code_probability(codes))
    ae_loss, ae_metrics = model.phases[1].loss_fn(nets(), batch)
    np.testing.assert_allclose(ae_loss, np.mean(code_loss + 0.3 * squared), rtol=1e-5)
    np.testing.assert_allclose(ae_metrics["reconstruction"], np.mean(squared), rtol=1e-5)
    np.testing.assert_allclose(ae_metrics["code_loss"], np.mean(code_loss), rtol=1e-5)


def test_sample_and_reconstruct_are_the_decoder_on_prior_and_mean_codes():
    """sample_fn = G(z), z ~ N(0, I) (tag sample_z); reconstruct_fn = G(mean(x)) also for the
    stochastic encoder; no likelihood abilities, so evaluation offers rmse but no ELBO."""
    model, state, batch, _, apply = _setup(IMAGES, stochastic_encoder=True)
    handle = model.inference_networks(state.params, state.batch_stats, key=KEY, batch_size=6)
    z = np.asarray(handle.normal("sample_z", (3,)))
    samples = model.sample_fn(
        model.inference_networks(state.params, state.batch_stats, key=KEY, batch_size=6), {}
    )
    np.testing.assert_allclose(samples, special.expit(apply("generator", z)), rtol=1e-5)
    reconstructions = model.reconstruct_fn(handle, batch)
    mean, _ = apply("encoder", batch["x"])
    np.testing.assert_allclose(
        reconstructions, special.expit(apply("generator", mean.astype(np.float32))), rtol=1e-5
    )
    np.testing.assert_allclose(model.code_fn(handle, batch), mean, rtol=1e-5)  # code statistics
    assert model.encode_fn is None and model.log_likelihood_fn is None
    metrics = runner.applicable_metrics(model, IMAGES)
    assert "rmse" in metrics and "elbo" not in metrics and "nll" not in metrics


@pytest.mark.parametrize(
    "hyperparameters, message",
    [
        ({"reconstruction_weight": 0.0}, "reconstruction_weight must be > 0"),
        ({"code_hidden_sizes": (4, 0)}, "code_hidden_sizes must list positive"),
        ({"architecture": "resnet"}, "unknown architecture 'resnet'"),
        ({"latent_dim": 0}, "latent_dim must be > 0"),
    ],
)
def test_bad_hyperparameters_are_one_line_user_errors(hyperparameters, message):
    with pytest.raises(UserInputError, match=message) as error:
        models.make_config("aae", **hyperparameters)
    assert "\n" not in str(error.value)


def test_dcgan_on_vectors_is_a_user_error():
    config = models.make_config("aae", architecture="dcgan")
    with pytest.raises(UserInputError, match="needs image data"):
        models.build_model("aae", config, VECTORS)
