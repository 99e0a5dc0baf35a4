"""Each model's phase losses against the formulas written out independently of unigen_jax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from unigen_jax import models
from unigen_jax import nets as flax_nets
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.train import Networks, create_train_state

IMAGES = DatasetInfo(name="toy", kind="image", shape=(28, 28, 1), num_classes=0, num_examples=8)
BINARY_IMAGES = DatasetInfo(
    name="toy", kind="image", shape=(28, 28, 1), num_classes=0, num_examples=8, binary=True
)
VECTORS = DatasetInfo(name="toy", kind="vector", shape=(2,), num_classes=0, num_examples=8)
KEY = jax.random.PRNGKey(11)


def _setup(name, info, batch, **hyperparameters):
    model = models.build_model(
        name, models.make_config(name, **hyperparameters), info, axis_name=None
    )
    state = create_train_state(model, batch, seed=2)

    def nets():
        return Networks(
            model.networks,
            state.params,
            state.batch_stats,
            train=True,
            key=KEY,
            batch_size=len(batch["x"]),
        )

    return model, state, nets


def test_vae_loss_is_the_negative_elbo():
    x = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    batch = {"x": x, "label": np.zeros(4, np.int32)}
    model, state, nets = _setup("vae", IMAGES, batch, latent_dim=3, base_features=4, beta=2.0)
    loss, metrics = model.phases[0].loss_fn(nets(), batch)

    # Independently: encoder, reparameterised z with the same noise, decoder logits.
    (mean, log_var), _ = model.networks["encoder"].apply(
        {"params": state.params["encoder"], "batch_stats": state.batch_stats["encoder"]},
        x,
        train=True,
        mutable=["batch_stats"],
    )
    eps = nets().normal("eps", (3,))
    z = mean + jnp.exp(0.5 * log_var) * eps
    logits, _ = model.networks["generator"].apply(
        {"params": state.params["generator"], "batch_stats": state.batch_stats["generator"]},
        z,
        train=True,
        mutable=["batch_stats"],
    )
    logits, x64 = np.asarray(logits, np.float64), x.astype(np.float64)
    log_px = np.sum(
        x64 * special.log_expit(logits) + (1 - x64) * special.log_expit(-logits), axis=(1, 2, 3)
    )
    mean, log_var = np.asarray(mean, np.float64), np.asarray(log_var, np.float64)
    kl = 0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=1)
    np.testing.assert_allclose(loss, np.mean(-log_px + 2.0 * kl), rtol=1e-4)
    np.testing.assert_allclose(metrics["elbo"], np.mean(log_px - kl), rtol=1e-4)


@pytest.mark.parametrize(
    "binary, example_weights", [(False, "discriminator"), (True, "discriminator"), (True, "equal")]
)
def test_aavae_loss_is_the_weighted_mean_of_real_and_generated_elbos(binary, example_weights):
    """Hu et al. 2017, eq. 16 with the normalisation of the docstring: -(1/2B) sum over B real
    and B generated examples of sigmoid(D(x)/tau) * ELBO(x), recomputed here in numpy. On
    binary data a generated x' is a draw from p(x|z'): pixel 1 where u < sigmoid(G(z')).
    The control `example_weights=equal` weighs every example 1/2 and has no D at all."""
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(4, 28, 28, 1)).astype(np.float32)
    info = IMAGES
    if binary:
        x, info = (x < 0.5).astype(np.float32), BINARY_IMAGES
    batch = {"x": x, "label": np.zeros(4, np.int32)}
    equal = example_weights == "equal"
    tau = 1.0 if equal else 3.0
    model, state, nets = _setup(
        "aavae",
        info,
        batch,
        latent_dim=2,
        hidden_sizes=(8,),
        architecture="mlp",
        temperature=tau,
        example_weights=example_weights,
    )
    phase_names = ["vae"] if equal else ["discriminator", "vae"]
    assert [phase.name for phase in model.phases] == phase_names
    assert ("discriminator" in model.networks) is not equal
    loss, metrics = model.phases[-1].loss_fn(nets(), batch)
    params = state.params

    def apply(name, *args):
        return model.networks[name].apply({"params": params[name]}, *args, train=True)

    draws = nets()  # the phase's noise, drawn by tag
    fake_z, fake_eps = draws.normal("fake_z", (2,)), draws.normal("fake_eps", (2,))
    eps = draws.normal("eps", (2,))
    fake = special.expit(np.asarray(apply("generator", fake_z), np.float64))
    if binary:
        fake = (np.asarray(draws.uniform("fake_pixels", (28, 28, 1))) < fake).astype(np.float64)
        assert 0.2 < fake.mean() < 0.8  # a draw, neither all 0 nor all 1
    assert model.config.generated_examples == ("draw" if binary else "mean")

    def elbo(data, noise):
        mean, log_var = (np.asarray(a, np.float64) for a in apply("encoder", data))
        z = mean + np.exp(0.5 * log_var) * np.asarray(noise)
        logits = np.asarray(apply("generator", z.astype(np.float32)), np.float64)
        log_px = np.sum(
            data * special.log_expit(logits) + (1 - data) * special.log_expit(-logits),
            axis=(1, 2, 3),
        )
        return log_px - 0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=1)

    def weight(data):
        if equal:
            return np.full(len(data), 0.5)
        logits = np.asarray(apply("discriminator", data)[0], np.float64).reshape(len(data))
        return special.expit(logits / tau)

    fake32 = fake.astype(np.float32)
    weighted = np.concatenate(
        [weight(x) * elbo(x.astype(np.float64), eps), weight(fake32) * elbo(fake, fake_eps)]
    )
    np.testing.assert_allclose(loss, -np.mean(weighted), rtol=2e-4)
    np.testing.assert_allclose(metrics["real_weight"], np.mean(weight(x)), rtol=1e-5)


def test_aavae_discriminator_phase_sees_draws_on_binary_data():
    """Eq. 18 on binary data: D's logistic loss of real x against x' with pixel 1 where
    u < sigmoid(G(z')), the same draw the weighted bound uses, recomputed in numpy."""
    x = (np.random.default_rng(4).uniform(size=(4, 28, 28, 1)) < 0.5).astype(np.float32)
    batch = {"x": x, "label": np.zeros(4, np.int32)}
    model, state, nets = _setup(
        "aavae", BINARY_IMAGES, batch, latent_dim=2, hidden_sizes=(8,), architecture="mlp"
    )
    loss, _ = model.phases[0].loss_fn(nets(), batch)
    params = state.params

    def apply(name, *args):
        return model.networks[name].apply({"params": params[name]}, *args, train=True)

    draws = nets()
    mean = special.expit(np.asarray(apply("generator", draws.normal("fake_z", (2,)))))
    fake = (np.asarray(draws.uniform("fake_pixels", (28, 28, 1))) < mean).astype(np.float32)
    real_logits = np.asarray(apply("discriminator", x)[0], np.float64).ravel()
    fake_logits = np.asarray(apply("discriminator", fake)[0], np.float64).ravel()
    expected = np.mean(np.logaddexp(0, -real_logits) + np.logaddexp(0, fake_logits))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    means_logits = np.asarray(apply("discriminator", mean.astype(np.float32))[0]).ravel()
    assert not np.allclose(fake_logits, means_logits)  # the draw is what D saw, not the mean


def test_generated_examples_are_drawn_only_where_the_data_are_binary():
    resolve = models.vae.resolve_generated_examples
    assert resolve("auto", "bernoulli", BINARY_IMAGES) == "draw"
    assert resolve("auto", "bernoulli", IMAGES) == "mean"  # grey digits, cross-entropy
    assert resolve("auto", "gaussian", BINARY_IMAGES) == "mean"
    assert resolve("mean", "bernoulli", BINARY_IMAGES) == "mean"
    assert resolve("draw", "bernoulli", IMAGES) == "draw"
    assert resolve("auto", "bernoulli", BINARY_IMAGES, adversary_activated=False) == "mean"
    with pytest.raises(UserInputError, match="likelihood=bernoulli or generated_examples=mean"):
        resolve("draw", "gaussian", IMAGES)
    with pytest.raises(UserInputError, match="generated_examples"):
        models.make_config("aavae", generated_examples="sample")

    # The models resolve it: only with an adversary, only on binary data (the SVAE's
    # `binarize` draws its bound's data, not what D sees: its D still sees grey digits).
    def resolved(name, info, **hyperparameters):
        shapes = dict(architecture="mlp", hidden_sizes=(8,), latent_dim=2)
        config = models.make_config(name, **shapes, **hyperparameters)
        return models.build_model(name, config, info, axis_name=None).config.generated_examples

    labelled = DatasetInfo("toy", "image", (28, 28, 1), 10, 8)
    binary_labelled = DatasetInfo("toy", "image", (28, 28, 1), 10, 8, binary=True)
    assert resolved("vae", BINARY_IMAGES) == "mean"
    assert resolved("aavae", BINARY_IMAGES) == "draw"
    assert resolved("aasvae", binary_labelled) == "draw"
    assert resolved("aasvae", labelled, binarize=True) == "mean"


@pytest.mark.parametrize(
    "family, generator_formula",
    [
        ("modified", lambda f: np.log1p(np.exp(-f))),
        ("minimax", lambda f: -np.log1p(np.exp(f))),
        ("wasserstein", lambda f: -f),
        ("hinge", lambda f: -f),
        ("least_squares", lambda f: 0.5 * (f - 1) ** 2),
    ],
)
def test_gan_generator_phase_uses_the_chosen_family(family, generator_formula):
    batch = {"x": np.zeros((4, 2), np.float32), "label": np.zeros(4, np.int32)}
    model, state, nets = _setup("gan", VECTORS, batch, loss=family, latent_dim=2, hidden_sizes=(8,))
    loss, _ = model.phases[1].loss_fn(nets(), batch)
    z = nets().normal("z", (2,))
    fake = model.networks["generator"].apply({"params": state.params["generator"]}, z, train=True)
    fake_logits, _ = model.networks["discriminator"].apply(
        {"params": state.params["discriminator"]}, fake, train=True
    )
    np.testing.assert_allclose(
        loss, np.mean(generator_formula(np.asarray(fake_logits))), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("noise", ["normal", "uniform"])
def test_gan_generator_reads_noise_of_the_chosen_distribution(noise):
    """z ~ N(0, I), or Uniform[-1, 1] per variable (DCGAN's): G(z) of the phase's own draw."""
    batch = {"x": np.zeros((256, 2), np.float32), "label": np.zeros(256, np.int32)}
    model, state, nets = _setup("gan", VECTORS, batch, noise=noise, latent_dim=2, hidden_sizes=(8,))
    uniform = 2.0 * np.asarray(nets().uniform("z", (2,))) - 1.0
    z = uniform if noise == "uniform" else np.asarray(nets().normal("z", (2,)))
    if noise == "uniform":  # the draw covers [-1, 1] with the uniform's variance 1/3
        assert np.all(np.abs(z) <= 1) and abs(np.var(z) - 1 / 3) < 0.05
    fake = model.networks["generator"].apply({"params": state.params["generator"]}, z, train=True)
    fake_logits, _ = model.networks["discriminator"].apply(
        {"params": state.params["discriminator"]}, fake, train=True
    )
    loss, _ = model.phases[1].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, np.mean(np.log1p(np.exp(-np.asarray(fake_logits)))), rtol=1e-5)


def test_gan_families_take_chen_et_al_mnist_networks():
    """`architecture="chen_mnist"` gives every generator-and-discriminator family Chen et al.'s
    MNIST nets (FC 1024 + BatchNorm in G and D); the GAN's generator loss on them is the
    modified loss of D(G(z)) applied by hand."""
    x = np.random.default_rng(3).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    batch = {"x": x, "label": np.arange(4, dtype=np.int32)}
    model, state, nets = _setup("gan", IMAGES, batch, architecture="chen_mnist", latent_dim=3)
    assert isinstance(model.networks["generator"], flax_nets.InfoGANMNISTGenerator)
    assert isinstance(model.networks["discriminator"], flax_nets.InfoGANMNISTDiscriminator)
    variables = {
        name: {"params": state.params[name], "batch_stats": state.batch_stats[name]}
        for name in ("generator", "discriminator")
    }
    z = nets().normal("z", (3,))
    fake_logits, _ = model.networks["generator"].apply(
        variables["generator"], z, train=True, mutable=["batch_stats"]
    )
    (d_logits, features), _ = model.networks["discriminator"].apply(
        variables["discriminator"], special.expit(fake_logits), train=True, mutable=["batch_stats"]
    )
    assert features.shape == (4, 1024)
    loss, _ = model.phases[1].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, np.mean(np.log1p(np.exp(-np.asarray(d_logits)))), rtol=1e-5)
    labelled = DatasetInfo(
        name="toy", kind="image", shape=(28, 28, 1), num_classes=10, num_examples=8
    )
    cgan, _, cgan_nets = _setup("cgan", labelled, batch, architecture="chen_mnist", latent_dim=3)
    assert isinstance(cgan.networks["discriminator"], flax_nets.InfoGANMNISTDiscriminator)
    d_loss, _ = cgan.phases[0].loss_fn(cgan_nets(), batch)
    assert np.isfinite(d_loss)


@pytest.mark.parametrize(
    "info, hyperparameters, message",
    [
        (VECTORS, {}, "chen_mnist needs image data; use mlp"),
        (IMAGES, {"discriminator_norm": "layer"}, "BatchNorm and no minibatch layer"),
        (IMAGES, {"minibatch_kernels": 2}, "BatchNorm and no minibatch layer"),
    ],
)
def test_chen_et_al_mnist_networks_refuse_what_they_cannot_be(info, hyperparameters, message):
    config = models.make_config("gan", architecture="chen_mnist", **hyperparameters)
    with pytest.raises(UserInputError, match=message):
        models.build_model("gan", config, info, axis_name=None)


def test_wgan_gp_discriminator_phase_adds_the_penalty():
    batch = {
        "x": np.random.default_rng(1).normal(size=(4, 2)).astype(np.float32),
        "label": np.zeros(4, np.int32),
    }
    model, _, nets = _setup(
        "gan",
        VECTORS,
        batch,
        loss="wasserstein",
        gradient_penalty=10.0,
        discriminator_steps=5,
        latent_dim=2,
        hidden_sizes=(8,),
    )
    assert model.phases[0].repeats == 5
    loss, metrics = model.phases[0].loss_fn(nets(), batch)
    assert metrics["gradient_penalty"] > 0
    np.testing.assert_allclose(
        loss, metrics["discriminator_loss"] + 10.0 * metrics["gradient_penalty"], rtol=1e-6
    )


@pytest.mark.parametrize(
    "name, hyperparameters, message",
    [
        ("gan", {"loss": "nope"}, "unknown loss"),
        ("gan", {"noise": "cauchy"}, "unknown noise 'cauchy'"),
        ("gan", {"latent_dim": 0}, "--config.latent_dim must be > 0"),
        ("gan", {"label_smoothing": 0.1, "loss": "hinge"}, "logistic losses"),
        ("gan", {"nope": 1}, "no hyperparameter 'nope'"),
        ("vae", {"likelihood": "poisson"}, "unknown likelihood"),
        ("vae", {"architecture": "chen_mnist"}, "unknown architecture 'chen_mnist'"),
        ("aavae", {"example_weights": "uniform"}, "unknown example_weights 'uniform'"),
        ("vae", {"example_weights": "equal"}, "add --config.adversary_activated=true"),
        ("aasvae", {"example_weights": "equal", "temperature": 3.0}, "leave the temperature"),
        ("nope", {}, "unknown model"),
    ],
)
def test_bad_hyperparameters_are_user_errors(name, hyperparameters, message):
    with pytest.raises(UserInputError, match=message):
        models.make_config(name, **hyperparameters)


def test_registered_presets_belong_to_their_family():
    assert [models.family(n) for n in ("gan", "cgan", "iwgan", "wgan", "wgan_gp")] == ["gan"] * 5
    assert [models.family(n) for n in ("vae", "cvae", "aavae")] == ["vae"] * 3
    assert models.default_config("wgan").weight_clip == 0.01
    assert models.make_config("iwgan", latent_dim=3).importance_weighted
