"""Su's regularised GAN (Su 2018, arXiv 1807.05936, eq. 26) and the GAN's `generator_steps`
(Rosca et al. 2017, arXiv 1706.04987): the generator's loss against a direct numpy
computation with the snapshot G_old applied by hand on the same z, the snapshot's timing over
training steps, the phases, and one-line errors for bad options."""

import jax
import numpy as np
import pytest
from scipy import special

from unigen_jax import models
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.models.spec import ParamUpdate, Phase
from unigen_jax.train import Networks, create_train_state
from unigen_jax.train.step import make_per_device_step

IMAGES = DatasetInfo(name="toy", kind="image", shape=(8, 8, 1), num_classes=10, num_examples=8)
TINY = {"latent_dim": 3, "hidden_sizes": (8,), "architecture": "mlp"}
KEY = jax.random.PRNGKey(7)


def _model(name="su_gan", **options):
    config = models.make_config(name, **{**TINY, **options})
    return models.build_model(name, config, IMAGES, axis_name=None)


def _batch(n=6, seed=0):
    x = np.random.default_rng(seed).uniform(size=(n, *IMAGES.shape)).astype(np.float32)
    return {"x": x, "label": np.zeros(n, np.int32)}


def _generator_phase(model):
    return next(p for p in model.phases if isinstance(p, Phase) and p.name == "generator")


def test_generator_loss_is_non_saturating_gan_plus_lambda_times_mse_to_the_snapshot():
    """Eq. 26: -log D(G(z)) + lambda * mean_j (G(z)_j - G_old(z)_j)^2, images on [-1, 1]."""
    model = _model(su_regularizer=2.5)
    batch = _batch()
    state = create_train_state(model, batch, seed=1)
    # A snapshot that differs from G: the generator's params from another initialisation.
    other = create_train_state(model, batch, seed=2).params["generator"]
    params = {**state.params, "generator_old": other}

    def nets():
        return Networks(
            model.networks,
            params,
            state.batch_stats,
            train=True,
            key=KEY,
            batch_size=6,
            shadows=model.shadow_sources,
        )

    def apply(name, params_of, *args):
        return np.asarray(
            model.networks[name].apply({"params": params_of}, *args, train=True), np.float64
        )

    z = np.asarray(nets().normal("z", (3,)))  # the phase's draw of tag "z"
    fake = special.expit(apply("generator", params["generator"], z))
    old = special.expit(apply("generator", other, z))  # G_old on the same z
    logits = np.asarray(
        model.networks["discriminator"].apply(
            {"params": params["discriminator"]}, fake.astype(np.float32), train=True
        )[0],
        np.float64,
    )
    gan = np.mean(np.logaddexp(0, -logits))
    mse = np.mean(((2 * fake - 1) - (2 * old - 1)) ** 2, axis=(1, 2, 3))  # per example
    assert np.all(mse > 0)

    loss, metrics = _generator_phase(model).loss_fn(nets(), batch)
    np.testing.assert_allclose(metrics["generator_loss"], gan, rtol=1e-5)
    np.testing.assert_allclose(metrics["su_regularizer"], np.mean(mse), rtol=1e-5)
    np.testing.assert_allclose(loss, gan + 2.5 * np.mean(mse), rtol=1e-5)


def _run(model, steps, seed=0):
    batch = _batch(seed=seed)
    state = create_train_state(model, batch, seed=0)
    step = jax.jit(make_per_device_step(model, axis_name=None))
    history = []
    for i in range(steps):
        before = state
        state, metrics = step(state, _batch(seed=i))
        history.append((before, state, metrics))
    return history


def _leaves(params):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(params)]


def _equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(b), strict=True))


@pytest.mark.parametrize("generator_steps", [1, 2])
def test_snapshot_is_the_generator_before_each_steps_generator_update(generator_steps):
    """After every step G_old holds the generator as it ends the step, i.e. as the next step's
    generator phase finds it; the first G repeat of a step is therefore unregularised (its
    term is 0 exactly) and only later repeats are pulled towards the step's starting G."""
    model = _model(generator_steps=generator_steps)
    for before, after, metrics in _run(model, steps=2):
        assert _equal(before.params["generator_old"], before.params["generator"])
        assert not _equal(after.params["generator"], before.params["generator"])
        assert _equal(after.params["generator_old"], after.params["generator"])
        regularizer = float(metrics["su_regularizer"])  # of the last generator repeat
        if generator_steps == 1:
            assert regularizer == 0.0
        else:
            assert regularizer > 0.0


def test_phases_of_gan_su_gan_and_generator_steps():
    plain = _model("gan")
    assert [(p.name, p.repeats) for p in plain.phases] == [
        ("discriminator", 1),
        ("generator", 1),
    ]
    assert plain.shadows == {}
    steps = _model("gan", generator_steps=3)
    assert [(p.name, p.repeats) for p in steps.phases] == [
        ("discriminator", 1),
        ("generator", 3),
    ]
    su = _model("su_gan")
    assert su.config.su_regularizer == 5.0 and su.config.generator_steps == 2
    assert [p.name for p in su.phases] == ["discriminator", "generator", "snapshot"]
    assert _generator_phase(su).repeats == 2
    assert isinstance(su.phases[2], ParamUpdate) and su.phases[2].writes == ("generator_old",)
    assert su.shadows["generator_old"].of == "generator"
    assert not su.shadows["generator_old"].replaces_in_sampling


@pytest.mark.parametrize(
    "options, message",
    [
        ({"generator_steps": 0}, "generator_steps must be a whole number >= 1, got 0"),
        ({"generator_steps": 1.5}, "generator_steps must be a whole number"),
        ({"su_regularizer": -1.0}, "su_regularizer must be >= 0"),
    ],
)
def test_bad_options_are_one_line_user_errors(options, message):
    with pytest.raises(UserInputError, match=message) as error:
        models.make_config("su_gan", **options)
    assert "\n" not in str(error.value)
