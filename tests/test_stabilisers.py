"""The survey's GAN stabilisers (Bajaj & Singh, Section 3) against independent math: feature
matching (Salimans et al. 2016, Sec. 3.1) against numpy; minibatch discrimination (Sec. 3.2)
against a numpy loop over pairs, in both discriminators; annealed instance noise against its
closed-form schedule and the perturbation D's inputs carry; the consensus regulariser
(Mescheder et al. 2017) against the game's gradient field computed here with jax.grad."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from unigen_jax import losses, models
from unigen_jax import nets as flax_nets
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.train import Networks, create_train_state

VECTORS = DatasetInfo(name="toy", kind="vector", shape=(2,), num_classes=0, num_examples=8)
KEY = jax.random.PRNGKey(5)


def test_feature_matching_loss_is_the_squared_distance_of_mean_features():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(7, 3, 2))
    fake = rng.normal(loc=0.5, size=(5, 3, 2))
    expected = np.sum((real.reshape(7, -1).mean(0) - fake.reshape(5, -1).mean(0)) ** 2)
    np.testing.assert_allclose(losses.feature_matching_generator_loss(real, fake), expected, 1e-5)
    # The reduction is the caller's: here a (made-up) weighted mean stands in for a global one.
    weights = rng.uniform(size=7)
    weighted = lambda x: jnp.tensordot(weights[: len(x)] / weights[: len(x)].sum(), x, 1)  # noqa: E731
    real_mean = (weights / weights.sum()) @ real.reshape(7, -1)
    fake_mean = (weights[:5] / weights[:5].sum()) @ fake.reshape(5, -1)
    np.testing.assert_allclose(
        losses.feature_matching_generator_loss(real, fake, batch_mean=weighted),
        np.sum((real_mean - fake_mean) ** 2),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="same size per example"):
        losses.feature_matching_generator_loss(real, fake[:, :2])


def _numpy_minibatch_layer(features, tensor, bias):
    """Salimans et al. (2016), Sec. 3.2, a loop over pairs (j != i, the authors' code)."""
    n, (a, b, c) = len(features), tensor.shape
    m = (features @ tensor.reshape(a, b * c)).reshape(n, b, c)
    o = np.zeros((n, b))
    for i in range(n):
        for j in range(n):
            if j != i:
                o[i] += np.exp(-np.abs(m[i] - m[j]).sum(axis=-1))
    return np.concatenate([features, o + bias], axis=1)


def test_minibatch_discrimination_is_the_sum_of_l1_kernels_over_the_other_examples():
    features = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    layer = flax_nets.MinibatchDiscrimination(num_kernels=3, kernel_dim=2)
    params = layer.init(KEY, features)["params"]
    params = {**params, "bias": jnp.array([0.1, -0.2, 0.3])}
    out = layer.apply({"params": params}, features)
    expected = _numpy_minibatch_layer(
        features.astype(np.float64), np.asarray(params["tensor"], np.float64), params["bias"]
    )
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "discriminator, x",
    [
        (
            flax_nets.MLPDiscriminator(hidden=(5,), minibatch_kernels=3, minibatch_kernel_dim=2),
            (6, 2),
        ),
        (
            flax_nets.DCGANDiscriminator(
                base_features=2, minibatch_kernels=3, minibatch_kernel_dim=2
            ),
            (6, 8, 8, 1),
        ),
    ],
    ids=["mlp", "dcgan"],
)
def test_both_discriminators_read_their_logit_from_features_and_minibatch_features(
    discriminator, x
):
    x = np.random.default_rng(2).uniform(size=x).astype(np.float32)
    variables = discriminator.init(KEY, x, train=False)
    (logits, features), _ = discriminator.apply(variables, x, train=True, mutable=["batch_stats"])
    params = variables["params"]
    layer = params["minibatch"]
    logit_input = _numpy_minibatch_layer(
        np.asarray(features, np.float64), np.asarray(layer["tensor"], np.float64), layer["bias"]
    )
    expected = logit_input @ np.asarray(params["logit"]["kernel"], np.float64)
    expected = expected[:, 0] + np.asarray(params["logit"]["bias"])
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


def test_instance_noise_std_anneals_linearly_to_zero():
    steps = np.array([0, 25, 50, 100, 150])
    got = [losses.instance_noise_std(t, initial_std=0.4, anneal_steps=100) for t in steps]
    np.testing.assert_allclose(got, [0.4, 0.3, 0.2, 0.0, 0.0], atol=1e-7)


_SEEN = []  # what _Probe was given, call by call


class _Probe(nn.Module):
    """A stand-in discriminator that records what it is given (run eagerly, outside jit)."""

    @nn.compact
    def __call__(self, x, *, train):
        if not self.is_initializing():
            _SEEN.append(np.asarray(x))
        weight = self.param("weight", nn.initializers.zeros, ())
        return x[:, 0] * weight, x


def _probed_gan(**options):
    model = models.build_model(
        "gan",
        models.make_config("gan", latent_dim=2, hidden_sizes=(4,), **options),
        VECTORS,
        axis_name=None,
    )
    return dataclasses.replace(model, networks={**model.networks, "discriminator": _Probe()})


@pytest.mark.parametrize("step", [0, 30, 60, 200])
def test_the_discriminator_sees_data_and_samples_plus_annealed_noise(step):
    sigma_0, anneal = 0.5, 60
    sigma_t = sigma_0 * max(0.0, 1 - step / anneal)
    seen = _SEEN
    model = _probed_gan(instance_noise=sigma_0, instance_noise_steps=anneal)
    n = 4000
    x = np.random.default_rng(3).normal(size=(n, 2)).astype(np.float32)
    batch = {"x": x, "label": np.zeros(n, np.int32)}
    state = create_train_state(model, batch, seed=0)
    seen.clear()

    def handle():
        return Networks(
            model.networks, state.params, {}, train=True, key=KEY, batch_size=n, step=step
        )

    discriminator_phase, generator_phase = model.phases
    discriminator_phase.loss_fn(handle(), batch)
    real_seen, fake_seen = seen
    twin = handle()  # the same key: the same noise for each tag
    fake = np.asarray(twin("generator", twin.normal("z", (2,))))
    np.testing.assert_allclose(
        real_seen, x + sigma_t * twin.normal("instance_noise_real", (2,)), atol=1e-6
    )
    np.testing.assert_allclose(
        fake_seen, fake + sigma_t * twin.normal("instance_noise_fake", (2,)), atol=1e-6
    )
    # Monte Carlo: the perturbation has variance sigma_t^2 in each coordinate (0 once annealed).
    for perturbation in (real_seen - x, fake_seen - fake):
        np.testing.assert_allclose(perturbation.var(axis=0), sigma_t**2, rtol=0.1, atol=1e-12)
    seen.clear()
    generator_phase.loss_fn(handle(), batch)  # G's loss reads D on noisy samples too
    (fake_seen,) = seen
    np.testing.assert_allclose((fake_seen - fake).var(axis=0), sigma_t**2, rtol=0.1, atol=1e-12)


def _squared_norm(tree):
    return sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(tree))


def test_consensus_regulariser_of_a_bilinear_game_in_closed_form():
    # L_1(x, y) = x y, L_2(x, y) = -x y: v = (y, -x), R = (x^2 + y^2) / 2, dR/dx = x.
    x, y = 0.7, -1.3

    def regularizer(x, y):
        return losses.consensus_regularizer((lambda a: a * y, lambda b: -x * b), (x, y))

    np.testing.assert_allclose(regularizer(x, y), 0.5 * (x**2 + y**2), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(regularizer)(x, y), x, rtol=1e-6)


@pytest.mark.parametrize("options", [{}, {"feature_matching": True}], ids=["gan", "fm"])
def test_consensus_adds_half_the_squared_gradient_field_to_both_players(options):
    gamma = 2.0
    n = 8
    x = np.random.default_rng(4).normal(size=(n, 2)).astype(np.float32)
    batch = {"x": x, "label": np.zeros(n, np.int32)}

    def build(consensus):
        config = models.make_config(
            "gan", latent_dim=2, hidden_sizes=(5,), consensus=consensus, **options
        )
        return models.build_model("gan", config, VECTORS, axis_name=None)

    plain, regularised = build(0.0), build(gamma)
    params = create_train_state(plain, batch, seed=1).params

    def phase_loss(model, index, d, g):
        handle = Networks(
            model.networks,
            {"discriminator": d, "generator": g},
            {},
            train=True,
            key=KEY,
            batch_size=n,
        )
        return model.phases[index].loss_fn(handle, batch)

    # A second implementation: v = (dL_D/dd, dL_G/dg) of the plain losses, by jax.grad here.
    def field_norm(d, g):
        v_d = jax.grad(lambda d_: phase_loss(plain, 0, d_, g)[0])(d)
        v_g = jax.grad(lambda g_: phase_loss(plain, 1, d, g_)[0])(g)
        return 0.5 * (_squared_norm(v_d) + _squared_norm(v_g))

    def compare(d, g):
        """What each player's regularised phase gives, and what the second implementation
        does: one compiled program (op by op, the double backprop dispatches for seconds)."""
        expected, players = field_norm(d, g), []
        for index, trained in ((0, 0), (1, 1)):
            loss, metrics = phase_loss(regularised, index, d, g)
            player = {
                "regularizer": metrics["consensus_regularizer"],
                "loss": loss,
                "plain_loss": phase_loss(plain, index, d, g)[0],
            }

            # The gradient each player steps on, through the regulariser too (double backprop).
            def total(theta, index=index, trained=trained):
                args = (theta, g) if trained == 0 else (d, theta)
                return phase_loss(plain, index, *args)[0] + gamma * field_norm(*args)

            def engine(theta, index=index, trained=trained):
                args = (theta, g) if trained == 0 else (d, theta)
                return phase_loss(regularised, index, *args)[0]

            theta = (d, g)[trained]
            got, want = jax.grad(engine)(theta), jax.grad(total)(theta)
            player["gap"] = optax.tree.norm(jax.tree.map(jnp.subtract, got, want))
            player["want"] = optax.tree.norm(want)
            players.append(player)
        return expected, players

    expected, players = jax.jit(compare)(params["discriminator"], params["generator"])
    assert expected > 0
    for got in players:
        np.testing.assert_allclose(got["regularizer"], expected, rtol=1e-5)
        np.testing.assert_allclose(got["loss"], got["plain_loss"] + gamma * expected, rtol=1e-5)
        np.testing.assert_allclose(got["gap"], 0.0, atol=1e-5 * float(got["want"]))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"feature_matching": True, "importance_weighted": True}, "choose one"),
        ({"minibatch_kernels": 4, "gradient_penalty": 10.0}, "choose one"),
        ({"instance_noise": -0.1}, "instance_noise"),
        ({"instance_noise_steps": 0}, "instance_noise_steps"),
        ({"consensus": -1.0}, "consensus"),
        ({"minibatch_kernels": 2.5}, "minibatch_kernels"),
    ],
)
def test_bad_stabiliser_options_are_one_line_errors(options, message):
    with pytest.raises(UserInputError, match=message):
        models.make_config("gan", **options)


def test_each_stabiliser_owns_config_fields_of_the_gan_and_is_a_no_op_when_off():
    # The transforms read their own GANConfig fields, no two the same; off (the defaults),
    # each builds nothing and leaves the objective it wraps as it is.
    from unigen_jax.models import gan_stabilisers as stabilisers

    owned = [field for s in stabilisers.STABILISERS for field in s.FIELDS]
    config_fields = {f.name for f in dataclasses.fields(models.GANConfig)}
    assert len(owned) == len(set(owned)) and set(owned) <= config_fields
    defaults = models.GANConfig()
    assert all(s.of(defaults) is None for s in stabilisers.STABILISERS)

    def objective(nets, batch):
        return 0.0, {}

    assert stabilisers.with_consensus(objective, None, ()) is objective
    assert stabilisers.with_instance_noise_std(objective, None) is objective
    x = jnp.ones((3, 2))
    assert stabilisers.discriminator_view(None)(None, x, "tag") is x
