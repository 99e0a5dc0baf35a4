"""InfoGAN (Chen et al. 2016; Hu et al. 2017, eq. 5): the mutual-information penalty and the
model's phase losses against independent numpy / scipy computations, and code-conditioned
sampling; the engine's extra sample grids (Chen et al. Figure 2 sweeps)."""

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from unigen_jax import losses, models
from unigen_jax import nets as flax_nets
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.models.spec import SampleGrid
from unigen_jax.train import Networks, create_train_state

IMAGES = DatasetInfo(name="toy", kind="image", shape=(28, 28, 1), num_classes=10, num_examples=8)
KEY = jax.random.PRNGKey(5)
TINY = {"latent_dim": 2, "hidden_sizes": (8,), "architecture": "mlp", "q_hidden_sizes": (6,)}


def _penalty_inputs(batch=5, values=4, continuous=3, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(batch, values)).astype(np.float32) * 3,
        rng.integers(0, values, size=batch).astype(np.int32),
        rng.normal(size=(batch, continuous)).astype(np.float32),
        rng.normal(size=(batch, continuous)).astype(np.float32) * 0.5,
        rng.uniform(-1, 1, size=(batch, continuous)).astype(np.float32),
    )


def _numpy_penalty(logits, codes, mean, log_std, continuous, cat_weight, cont_weight):
    """-log softmax(logits)[code] and -sum_j log N(c_j; m_j, exp(log_std_j)^2), in float64."""
    logits = logits.astype(np.float64)
    cross_entropy = special.logsumexp(logits, axis=1) - logits[np.arange(len(codes)), codes]
    log_density = stats.norm.logpdf(
        continuous.astype(np.float64), mean.astype(np.float64), np.exp(log_std.astype(np.float64))
    ).sum(axis=1)
    return cat_weight * cross_entropy - cont_weight * log_density


def test_information_penalty_is_cross_entropy_plus_gaussian_nll():
    inputs = _penalty_inputs()
    penalty = losses.infogan_mutual_information_penalty(
        *inputs, categorical_weight=1.5, continuous_weight=0.25
    )
    assert penalty.shape == (5,)
    np.testing.assert_allclose(penalty, _numpy_penalty(*inputs, 1.5, 0.25), rtol=1e-5)

    weights = np.arange(5, dtype=np.float32)
    weighted = jax.jit(
        lambda *a: losses.infogan_mutual_information_penalty(
            *a, categorical_weight=1.5, continuous_weight=0.25, weights=weights
        )
    )(*inputs)
    np.testing.assert_allclose(weighted, weights * _numpy_penalty(*inputs, 1.5, 0.25), rtol=1e-5)


def test_information_penalty_with_one_kind_of_code():
    logits, codes, mean, log_std, continuous = _penalty_inputs(seed=1)
    categorical_only = losses.infogan_mutual_information_penalty(logits, codes, None, None, None)
    np.testing.assert_allclose(
        categorical_only,
        special.logsumexp(logits.astype(np.float64), axis=1) - logits[np.arange(5), codes],
        rtol=1e-5,
    )
    continuous_only = losses.infogan_mutual_information_penalty(
        None, None, mean, log_std, continuous, continuous_weight=2.0
    )
    np.testing.assert_allclose(
        continuous_only,
        -2.0 * stats.norm.logpdf(continuous, mean, np.exp(log_std)).sum(axis=1),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="together"):
        losses.infogan_mutual_information_penalty(logits, None, None, None, None)
    with pytest.raises(ValueError, match="categorical code, continuous codes"):
        losses.infogan_mutual_information_penalty(None, None, None, None, None)


def test_information_penalty_gradient_is_softmax_minus_one_hot():
    logits, codes, *_ = _penalty_inputs(seed=2)
    grad = jax.grad(
        lambda q_logits: jnp.sum(
            losses.infogan_mutual_information_penalty(q_logits, codes, None, None, None)
        )
    )(logits)
    softmax = special.softmax(logits.astype(np.float64), axis=1)
    np.testing.assert_allclose(grad, softmax - np.eye(4)[codes], atol=1e-6)


def _setup(batch, name="infogan", **hyperparameters):
    config = models.make_config(name, **{**TINY, **hyperparameters})
    model = models.build_model(name, config, IMAGES, axis_name=None)
    state = create_train_state(model, batch, seed=3)

    def nets():
        return Networks(
            model.networks,
            state.params,
            state.batch_stats,
            train=True,
            key=KEY,
            batch_size=len(batch["x"]),
        )

    def apply(name, *args):
        """Network `name` in training mode (batch statistics of `args`), by itself."""
        variables = {"params": state.params[name]}
        if state.batch_stats.get(name):
            variables["batch_stats"] = state.batch_stats[name]
        out, _ = model.networks[name].apply(variables, *args, train=True, mutable=["batch_stats"])
        return out

    return model, nets, apply


def _by_hand(nets, apply, values, continuous_dim, noise="normal", latent_dim=2):
    """The phase's draws (by tag), the generated samples and D's and Q's outputs on them."""
    draws = nets()
    value = draws.categorical("code", values)
    codes = 2.0 * np.asarray(draws.uniform("continuous", (continuous_dim,))) - 1.0
    if noise == "uniform":  # Chen et al.'s Uniform(62): each noise variable on [-1, 1]
        z = 2.0 * np.asarray(draws.uniform("z", (latent_dim,))) - 1.0
    else:
        z = draws.normal("z", (latent_dim,))
    latent = np.concatenate([z, np.eye(values)[value], codes], axis=1).astype(np.float32)
    fake = special.expit(np.asarray(apply("generator", latent), np.float64)).astype(np.float32)
    fake_logits, features = apply("discriminator", fake)
    q_logits, q_mean, q_log_std = (np.asarray(a) for a in apply("q_head", features))
    return (
        np.asarray(value),
        codes,
        np.asarray(fake_logits, np.float64),
        q_logits,
        q_mean,
        q_log_std,
    )


@pytest.mark.parametrize("learn_std", [True, False])
def test_phase_losses_are_gan_losses_plus_the_information_penalty(learn_std):
    """Chen et al. 2016, eqs. 1 and 6 (non-saturating G): D+Q minimise
    softplus(-D(x)) + softplus(D(G(z, c))) - L_I and G+Q softplus(-D(G(z, c))) - L_I, with
    -L_I recomputed from the networks applied by hand."""
    x = np.random.default_rng(4).uniform(size=(6, 28, 28, 1)).astype(np.float32)
    batch = {"x": x, "label": np.zeros(6, np.int32)}
    model, nets, apply = _setup(
        batch,
        categorical_dim=3,
        continuous_dim=2,
        categorical_weight=0.7,
        continuous_weight=0.3,
        learn_continuous_std=learn_std,
    )
    assert [p.trains for p in model.phases] == [
        ("discriminator", "q_head"),
        ("generator", "q_head"),
    ]
    value, codes, fake_logits, q_logits, q_mean, q_log_std = _by_hand(nets, apply, 3, 2)
    if not learn_std:  # Chen et al.'s MNIST code: Q's continuous part has unit variance
        q_log_std = np.zeros_like(q_mean)
    penalty = _numpy_penalty(q_logits, value, q_mean, q_log_std, codes, 0.7, 0.3)
    real_logits = np.asarray(apply("discriminator", x)[0], np.float64)

    d_loss, d_metrics = model.phases[0].loss_fn(nets(), batch)
    d_gan = np.mean(np.logaddexp(0, -real_logits) + np.logaddexp(0, fake_logits))
    np.testing.assert_allclose(d_loss, d_gan + np.mean(penalty), rtol=1e-5)
    np.testing.assert_allclose(d_metrics["discriminator_loss"], d_gan, rtol=1e-5)
    np.testing.assert_allclose(d_metrics["information_penalty"], np.mean(penalty), rtol=1e-5)
    np.testing.assert_allclose(
        d_metrics["q_code_accuracy"], np.mean(np.argmax(q_logits, 1) == value)
    )

    g_loss, g_metrics = model.phases[1].loss_fn(nets(), batch)
    g_gan = np.mean(np.logaddexp(0, -fake_logits))
    np.testing.assert_allclose(g_loss, g_gan + np.mean(penalty), rtol=1e-5)
    np.testing.assert_allclose(g_metrics["generator_loss"], g_gan, rtol=1e-5)


def _sample(model, state, conditions, n=4):
    nets = model.inference_networks(state.params, state.batch_stats, key=KEY, batch_size=n)
    return np.asarray(model.sample_fn(nets, conditions))


def test_conditioning_on_code_k_changes_only_the_categorical_part():
    x = np.zeros((4, 28, 28, 1), np.float32)
    batch = {"x": x, "label": np.zeros(4, np.int32)}
    model, _, apply = _setup(batch, categorical_dim=3, continuous_dim=2)
    state = create_train_state(model, batch, seed=3)
    assert model.conditions == ("label",)

    draws = model.inference_networks(state.params, state.batch_stats, key=KEY, batch_size=4)
    z = np.asarray(draws.normal("sample_z", (2,)))
    codes = 2.0 * np.asarray(draws.uniform("sample_continuous", (2,))) - 1.0

    def expected(value, continuous):
        latent = np.concatenate([z, np.eye(3)[value], continuous], axis=1).astype(np.float32)
        return special.expit(np.asarray(apply("generator", latent), np.float64))

    samples = {}
    for k in range(3):
        samples[k] = _sample(model, state, {"label": np.full(4, k, np.int32)})
        # Same noise z and continuous codes for every k: only the one-hot part of G's input
        # differs.
        np.testing.assert_allclose(samples[k], expected(np.full(4, k), codes), rtol=1e-5)
    assert not np.allclose(samples[0], samples[1])
    # A label beyond the code's K values wraps around (the grid of a 10-class dataset).
    np.testing.assert_allclose(
        _sample(model, state, {"label": np.full(4, 4, np.int32)}), samples[1]
    )

    sweep = np.stack([np.linspace(-1, 1, 4), np.zeros(4)], axis=1).astype(np.float32)
    given = _sample(model, state, {"label": np.full(4, 2, np.int32), "continuous": sweep})
    np.testing.assert_allclose(given, expected(np.full(4, 2), sweep), rtol=1e-5)


def test_model_without_a_categorical_code_is_unconditional():
    batch = {"x": np.zeros((4, 28, 28, 1), np.float32), "label": np.zeros(4, np.int32)}
    model, nets, apply = _setup(batch, categorical_dim=0, continuous_dim=2)
    assert model.conditions == ()
    loss, metrics = model.phases[1].loss_fn(nets(), batch)
    assert "q_code_accuracy" not in metrics
    draws = nets()
    codes = 2.0 * np.asarray(draws.uniform("continuous", (2,))) - 1.0
    latent = np.concatenate([draws.normal("z", (2,)), codes], axis=1).astype(np.float32)
    fake = special.expit(np.asarray(apply("generator", latent), np.float64)).astype(np.float32)
    fake_logits, features = apply("discriminator", fake)
    _, q_mean, _ = apply("q_head", features)
    penalty = -stats.norm.logpdf(codes, np.asarray(q_mean, np.float64), 1.0).sum(axis=1)
    np.testing.assert_allclose(
        loss, np.mean(np.logaddexp(0, -np.asarray(fake_logits, np.float64)) + penalty), rtol=1e-5
    )


def test_chen_et_al_released_code_phases_and_losses():
    """`infogan_chen` (Chen et al.'s released MNIST code): uniform noise, their nets, and their
    trainer's two updates: D's optimizer (D's and Q's variables) on
    -log D(x) - log(1 - D(G(z, c))) - L_I, G's optimizer (G's variables alone) on
    -log D(G(z, c)) - L_I; D applied to the real and the generated batch separately, each with
    its own BatchNorm statistics; all recomputed from the networks applied by hand."""
    x = np.random.default_rng(4).uniform(size=(6, 28, 28, 1)).astype(np.float32)
    batch = {"x": x, "label": np.zeros(6, np.int32)}
    model, nets, apply = _setup(
        batch, name="infogan_chen", architecture="chen_mnist", latent_dim=5, base_features=4
    )
    config = model.config
    assert (config.noise, config.q_in_generator_phase, config.architecture) == (
        "uniform",
        False,
        "chen_mnist",
    )
    assert [p.trains for p in model.phases] == [("discriminator", "q_head"), ("generator",)]
    assert isinstance(model.networks["discriminator"], flax_nets.InfoGANMNISTDiscriminator)
    assert isinstance(model.networks["generator"], flax_nets.InfoGANMNISTGenerator)
    assert isinstance(model.networks["q_head"], flax_nets.InfoGANMNISTQHead)

    value, codes, fake_logits, q_logits, q_mean, _ = _by_hand(
        nets, apply, 10, 2, noise="uniform", latent_dim=5
    )
    # Q's continuous part has unit variance: -log N(u; m, 1).
    penalty = _numpy_penalty(q_logits, value, q_mean, np.zeros_like(q_mean), codes, 1.0, 1.0)
    real_logits = np.asarray(apply("discriminator", x)[0], np.float64)
    d_loss, _ = model.phases[0].loss_fn(nets(), batch)
    d_gan = np.mean(-np.log(special.expit(real_logits)) - np.log(special.expit(-fake_logits)))
    np.testing.assert_allclose(d_loss, d_gan + np.mean(penalty), rtol=1e-5)
    g_loss, _ = model.phases[1].loss_fn(nets(), batch)
    g_gan = np.mean(-np.log(special.expit(fake_logits)))
    np.testing.assert_allclose(g_loss, g_gan + np.mean(penalty), rtol=1e-5)


def test_uniform_noise_samples_lie_in_the_unit_box():
    """noise="uniform": the sampler's z is 2 u - 1 for the handle's uniform draws u."""
    x = np.zeros((4, 28, 28, 1), np.float32)
    batch = {"x": x, "label": np.zeros(4, np.int32)}
    model, _, apply = _setup(batch, noise="uniform", categorical_dim=3, continuous_dim=0)
    state = create_train_state(model, batch, seed=3)
    draws = model.inference_networks(state.params, state.batch_stats, key=KEY, batch_size=4)
    z = 2.0 * np.asarray(draws.uniform("sample_z", (2,))) - 1.0
    latent = np.concatenate([z, np.eye(3)[[0, 1, 2, 0]]], axis=1).astype(np.float32)
    np.testing.assert_allclose(
        _sample(model, state, {"label": np.array([0, 1, 2, 0], np.int32)}),
        special.expit(np.asarray(apply("generator", latent), np.float64)),
        rtol=1e-5,
    )


def test_defaults_are_chen_et_al_mnist_settings():
    config = models.default_config("infogan")
    assert (config.latent_dim, config.categorical_dim, config.continuous_dim) == (62, 10, 2)
    assert (config.generator_lr, config.discriminator_lr, config.adam_b1) == (1e-3, 2e-4, 0.5)
    assert models.family("infogan") == "infogan"


@pytest.mark.parametrize(
    "hyperparameters, message",
    [
        ({"categorical_dim": 0, "continuous_dim": 0}, "needs a code"),
        ({"categorical_dim": 1}, "categorical_dim must be 0"),
        ({"continuous_weight": -1.0}, "continuous_weight must be >= 0"),
        ({"noise": "gaussian"}, "unknown noise 'gaussian'; choose one of: normal, uniform"),
        ({"architecture": "chen"}, "choose one of: auto, dcgan, mlp, chen_mnist"),
    ],
)
def test_bad_hyperparameters_are_user_errors(hyperparameters, message):
    with pytest.raises(UserInputError, match=message):
        models.make_config("infogan", **hyperparameters)


def test_sweep_grids_are_chen_et_al_figure_2_layouts():
    """One grid per continuous code u_j: row r holds code value r with noise draw r, column c
    the value -2 + c/2 of u_j, every other continuous code 0 (Chen et al. 2016, Figure 2c-d)."""
    model = models.build_model(
        "infogan",
        models.make_config("infogan", **TINY, categorical_dim=3, continuous_dim=2),
        IMAGES,
        axis_name=None,
    )
    assert sorted(model.sample_grids) == ["sweep_u1", "sweep_u2"]
    sweep = np.array([-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2], np.float32)
    for j, name in enumerate(["sweep_u1", "sweep_u2"]):
        grid = model.sample_grids[name]
        assert grid.columns == 9 and grid.num_samples == 27
        continuous = np.asarray(grid.conditions["continuous"]).reshape(3, 9, 2)
        np.testing.assert_array_equal(continuous[:, :, j], np.tile(sweep, (3, 1)))
        np.testing.assert_array_equal(continuous[:, :, 1 - j], 0)
        rows = np.array([[r] * 9 for r in range(3)])
        np.testing.assert_array_equal(np.reshape(grid.conditions["label"], (3, 9)), rows)
        np.testing.assert_array_equal(np.reshape(grid.noise, (3, 9)), rows)

    unconditional = models.build_model(
        "infogan",
        models.make_config("infogan", **TINY, categorical_dim=0, continuous_dim=1),
        IMAGES,
        axis_name=None,
    )
    (grid,) = unconditional.sample_grids.values()
    assert set(grid.conditions) == {"continuous"} and grid.num_samples == 8 * 9
    no_continuous = models.make_config("infogan", **TINY, continuous_dim=0)
    assert models.build_model("infogan", no_continuous, IMAGES).sample_grids == {}


def _tiles(png_path, rows, columns, size):
    """The [rows, columns, size, size] images of a grid PNG (2 pixels of padding)."""
    from PIL import Image

    grid = np.asarray(Image.open(png_path), np.float64) / 255.0
    return np.array(
        [
            [
                grid[2 + r * (size + 2) :][:size, 2 + c * (size + 2) :][:, :size]
                for c in range(columns)
            ]
            for r in range(rows)
        ]
    )


def test_training_loop_writes_sweeps_whose_columns_vary_only_the_swept_code(tmp_path):
    """The loop's `samples/step_NNNNNN_sweep_u<j>.png`: column c of the u_1 sweep equals the
    model's samples of code values 0..K-1 with u = (-2 + c/2, 0) and the noise of examples
    0..K-1 (drawn independently, a column at a time), and the generator applied by hand."""
    from unigen_jax import data
    from unigen_jax.train.checkpoint import Checkpointer
    from unigen_jax.train.loop import RunConfig, train

    run = RunConfig(
        model="infogan", dataset="digits", workdir=str(tmp_path), steps=1, batch_size=8, seed=2
    )
    config = models.make_config("infogan", **TINY, categorical_dim=3, continuous_dim=2)
    train(run, config, log=lambda _: None)
    assert sorted(os.listdir(tmp_path / "samples")) == [
        "step_000001.png",
        "step_000001_sweep_u1.png",
        "step_000001_sweep_u2.png",
    ]

    source = data.get_source("digits")
    model = models.build_model("infogan", config, source.info, axis_name=None)
    template = create_train_state(model, source.get(np.arange(2)), run.seed)
    state = jax.device_get(Checkpointer(str(tmp_path / "checkpoints")).restore(template))
    key = jax.random.fold_in(jax.random.PRNGKey(run.seed), 0x5A3)  # the loop's sample key
    tiles = _tiles(tmp_path / "samples" / "step_000001_sweep_u1.png", 3, 9, 28)

    nets = model.inference_networks(state.params, state.batch_stats, key=key, batch_size=3)
    z = np.asarray(nets.normal("sample_z", (2,)))  # noise of examples 0, 1, 2

    def generator(latent):
        out = model.networks["generator"].apply(
            {"params": state.params["generator"]}, latent.astype(np.float32), train=False
        )
        return special.expit(np.asarray(out, np.float64)).reshape(-1, 28, 28)

    for c, u in enumerate(np.linspace(-2, 2, 9)):
        codes = np.stack([np.full(3, u), np.zeros(3)], axis=1).astype(np.float32)
        handle = model.inference_networks(state.params, state.batch_stats, key=key, batch_size=3)
        column = np.asarray(
            model.sample_fn(handle, {"label": np.arange(3, dtype=np.int32), "continuous": codes})
        ).reshape(3, 28, 28)
        np.testing.assert_allclose(tiles[:, c], column, atol=0.6 / 255)
        by_hand = generator(np.concatenate([z, np.eye(3), codes], axis=1))
        np.testing.assert_allclose(tiles[:, c], by_hand, atol=0.6 / 255)
    # The swept code changes the images along each row.
    assert np.abs(tiles[:, 0] - tiles[:, -1]).max() > 2 / 255


def test_noise_indices_share_noise_between_examples():
    """Examples given one noise index draw the same noise: that example's noise in a handle
    without indices."""
    modules, params = {}, {}
    plain = Networks(modules, params, {}, train=False, key=KEY, batch_size=4)
    shared = Networks(
        modules, params, {}, train=False, key=KEY, batch_size=5, noise_indices=[3, 0, 3, 1, 0]
    )
    np.testing.assert_array_equal(
        shared.normal("z", (6,)), np.asarray(plain.normal("z", (6,)))[[3, 0, 3, 1, 0]]
    )
    with pytest.raises(ValueError, match="single-device"):
        Networks(
            modules,
            params,
            {},
            train=False,
            key=KEY,
            batch_size=2,
            axis_name="data",
            noise_indices=[0, 0],
        )


@pytest.mark.parametrize(
    "grid, message",
    [
        ({"Bad-Name": ({"label": np.zeros(4)}, 2, None)}, "lowercase"),
        ({"reconstructions": ({"label": np.zeros(4)}, 2, None)}, "reserved"),
        ({"odd": ({"label": np.zeros(5)}, 2, None)}, "whole number of rows"),
        ({"mismatch": ({"label": np.zeros(4)}, 2, np.zeros(6))}, "one entry a sample"),
    ],
)
def test_bad_sample_grids_are_rejected(grid, message):
    model = models.build_model(
        "infogan", models.make_config("infogan", **TINY), IMAGES, axis_name=None
    )
    grids = {name: SampleGrid(*args) for name, args in grid.items()}
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(model, sample_grids=grids)
