"""VAE/GAN (Larsen et al. 2016, arXiv 1512.09300, Algorithm 1): the three networks' losses
against numpy computations with the discriminator applied by hand from its params, the
discriminators' per-layer activations, reconstructions, and one-line errors for bad options."""

import jax
import numpy as np
import pytest
from scipy import special

from unigen_jax import models
from unigen_jax import nets as flax_nets
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.train import Networks, create_train_state

IMAGES = DatasetInfo(name="toy", kind="image", shape=(8, 8, 1), num_classes=10, num_examples=8)
KEY = jax.random.PRNGKey(11)
LATENT = 3


def _leaky(a):
    return np.where(a > 0, a, 0.2 * a)


def _numpy_discriminator(params, x):
    """The MLP discriminator by hand: (logits, [hidden activations])."""
    h = np.asarray(x, np.float64).reshape(len(x), -1)
    layers = []
    i = 0
    while f"hidden_{i}" in params:
        layer = params[f"hidden_{i}"]
        h = _leaky(h @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"]))
        layers.append(h)
        i += 1
    logit = params["logit"]
    return (h @ np.asarray(logit["kernel"], np.float64) + np.asarray(logit["bias"]))[:, 0], layers


@pytest.mark.parametrize("feature_layer", [0, -1])
def test_each_networks_loss_is_its_algorithm_1_objective(feature_layer):
    config = models.make_config(
        "vaegan",
        latent_dim=LATENT,
        hidden_sizes=(7, 5),
        architecture="mlp",
        gamma=0.3,
        feature_layer=feature_layer,
    )
    model = models.build_model("vaegan", config, IMAGES, axis_name=None)
    x = np.random.default_rng(3).uniform(size=(6, 8, 8, 1)).astype(np.float32)
    batch = {"x": x, "label": np.zeros(6, np.int32)}
    state = create_train_state(model, batch, seed=4)
    # One phase: E, G and D from one forward pass, each on its own loss (Algorithm 1).
    assert [(p.name, p.trains) for p in model.phases] == [
        ("encoder_generator_discriminator", ("encoder", "generator", "discriminator")),
    ]

    def handle():
        return Networks(
            model.networks, state.params, state.batch_stats, train=True, key=KEY, batch_size=6
        )

    def apply(name, *args):
        out = model.networks[name].apply({"params": state.params[name]}, *args, train=True)
        return jax.tree.map(lambda a: np.asarray(a, np.float64), out)

    draws = handle()
    eps, z_p = np.asarray(draws.normal("eps", (LATENT,))), np.asarray(draws.normal("z", (LATENT,)))
    mean, log_variance = apply("encoder", x)
    z = (mean + np.exp(0.5 * log_variance) * eps).astype(np.float32)
    reconstruction = special.expit(apply("generator", z))
    generated = special.expit(apply("generator", z_p.astype(np.float32)))
    d_params = state.params["discriminator"]
    real_logits, real_layers = _numpy_discriminator(d_params, x)
    rec_logits, rec_layers = _numpy_discriminator(d_params, reconstruction)
    gen_logits, _ = _numpy_discriminator(d_params, generated)
    f, f_rec = real_layers[feature_layer], rec_layers[feature_layer]
    # -log N(f | f_rec, I) summed over the layer's units.
    llike = 0.5 * np.sum((f - f_rec) ** 2, axis=1) + 0.5 * f.shape[1] * np.log(2 * np.pi)
    kl = 0.5 * np.sum(np.exp(log_variance) + mean**2 - 1 - log_variance, axis=1)

    own, metrics = model.phases[0].loss_fn(handle(), batch)
    np.testing.assert_allclose(own["encoder"], np.mean(kl + llike), rtol=1e-5)
    np.testing.assert_allclose(metrics["kl"], np.mean(kl), rtol=1e-5)
    np.testing.assert_allclose(metrics["feature_nll"], np.mean(llike), rtol=1e-5)

    gan_g = np.mean(np.logaddexp(0, -rec_logits) + np.logaddexp(0, -gen_logits))
    np.testing.assert_allclose(metrics["generator_gan"], gan_g, rtol=1e-5)
    np.testing.assert_allclose(own["generator"], 0.3 * np.mean(llike) + gan_g, rtol=1e-5)

    gan_d = np.mean(
        np.logaddexp(0, -real_logits) + np.logaddexp(0, rec_logits) + np.logaddexp(0, gen_logits)
    )
    np.testing.assert_allclose(own["discriminator"], gan_d, rtol=1e-5)
    np.testing.assert_allclose(metrics["reconstruction_logit"], np.mean(rec_logits), rtol=1e-5)

    # Reconstructions are G(mean of q(z|x)); no likelihood of x, hence no ELBO abilities.
    expected = special.expit(apply("generator", mean.astype(np.float32)))
    inference = model.inference_networks(state.params, state.batch_stats, key=KEY, batch_size=6)
    np.testing.assert_allclose(model.reconstruct_fn(inference, batch), expected, atol=1e-6)
    assert model.log_likelihood_fn is None and model.encode_fn is None


def test_discriminators_return_their_layers_without_changing_their_outputs():
    x = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    dcgan = flax_nets.DCGANDiscriminator(base_features=4)
    variables = dcgan.init(jax.random.PRNGKey(0), x, train=False)
    logits, features = dcgan.apply(variables, x, train=False)
    again, same_features, layers = dcgan.apply(variables, x, train=False, return_layers=True)
    np.testing.assert_array_equal(again, logits)
    np.testing.assert_array_equal(same_features, features)
    assert [layer.shape for layer in layers] == [(4, 14, 14, 4), (4, 7, 7, 8)]
    np.testing.assert_array_equal(np.asarray(layers[-1]).reshape(4, -1), features)
    # The first block has no normalization: LeakyReLU(conv(2x - 1)) by hand.
    conv = variables["params"]["trunk"]["conv_0"]
    pre = jax.lax.conv_general_dilated(
        2 * x - 1, conv["kernel"], (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(layers[0], _leaky(np.asarray(pre + conv["bias"])), atol=1e-5)

    mlp = flax_nets.MLPDiscriminator(hidden=(6, 5))
    flat = x.reshape(4, -1)[:, :10]
    params = mlp.init(jax.random.PRNGKey(1), flat, train=False)
    logits, features, layers = mlp.apply(params, flat, train=False, return_layers=True)
    by_hand, hand_layers = _numpy_discriminator(params["params"], flat)
    np.testing.assert_allclose(logits, by_hand, rtol=1e-5, atol=1e-6)
    for layer, hand in zip(layers, hand_layers, strict=True):
        np.testing.assert_allclose(layer, hand, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(features, layers[-1])


def test_default_gamma_and_dcgan_feature_layers():
    config = models.make_config("vaegan")
    assert config.gamma == 1e-6 and config.feature_layer == -1
    mnist = DatasetInfo(name="toy", kind="image", shape=(28, 28, 1), num_classes=10, num_examples=8)
    for layer in (0, 1, -2):  # 28x28: two conv blocks (14x14, 7x7)
        model = models.build_model(
            "vaegan", models.make_config("vaegan", feature_layer=layer), mnist
        )
        assert set(model.networks) == {"encoder", "generator", "discriminator"}
    with pytest.raises(UserInputError, match="discriminator has 2 feature layers"):
        models.build_model("vaegan", models.make_config("vaegan", feature_layer=2), mnist)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"feature_layer": 2}, r"feature_layer=2 is out of range: the discriminator has 2"),
        ({"feature_layer": -3}, r"feature_layer=-3 is out of range"),
        ({"feature_layer": 0.5}, "feature_layer must be a whole number"),
        ({"gamma": -1.0}, "gamma must be >= 0"),
        ({"latent_dim": 0}, "latent_dim must be > 0"),
    ],
)
def test_bad_options_are_one_line_user_errors(options, message):
    with pytest.raises(UserInputError, match=message) as error:
        config = models.make_config("vaegan", architecture="mlp", hidden_sizes=(4, 4), **options)
        models.build_model("vaegan", config, IMAGES)
    assert "\n" not in str(error.value)
