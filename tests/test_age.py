"""AGE (Ulyanov et al. 2017, arXiv 1704.02304): both phase losses against a float64 numpy
recomputation with the networks applied by hand, codes and prior on the unit sphere, the
update ratio, and bad options."""

import jax
import numpy as np
import pytest

from unigen_jax import models
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.train import Networks, create_train_state

IMAGES = DatasetInfo(name="toy", kind="image", shape=(4, 4, 1), num_classes=0, num_examples=8)
M = 4
KEY = jax.random.PRNGKey(8)
WEIGHTS = {
    "real_kl_weight": 0.7,
    "fake_kl_weight": 1.3,
    "data_reconstruction_weight": 3.0,
    "generator_kl_weight": 0.9,
    "code_reconstruction_weight": 50.0,
}


def _sphere(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _kl(codes):
    """Empirical KL per dimension: (1/M) sum_j (v_j + m_j^2 - 1 - log v_j) / 2."""
    m, v = codes.mean(0), codes.var(0)
    return np.mean((v + m**2 - 1 - np.log(v)) / 2)


@pytest.fixture(scope="module")
def age():
    config = models.make_config(
        "age", latent_dim=M, hidden_sizes=(6,), architecture="mlp", **WEIGHTS
    )
    model = models.build_model("age", config, IMAGES, axis_name=None)
    rng = np.random.default_rng(2)
    batch = {"x": rng.uniform(size=(7, 4, 4, 1)).astype(np.float32)}
    state = create_train_state(model, batch, seed=1)

    def nets():
        return Networks(
            model.networks, state.params, state.batch_stats, train=True, key=KEY, batch_size=7
        )

    def encode(x):
        mean = model.networks["encoder"].apply(
            {"params": state.params["encoder"]}, x.astype(np.float32), train=True
        )[0]
        return _sphere(mean)

    def decode(z):
        logits = model.networks["generator"].apply(
            {"params": state.params["generator"]}, z.astype(np.float32), train=True
        )
        return 1 / (1 + np.exp(-np.asarray(logits, np.float64)))

    nets.state = state
    return model, batch, nets, encode, decode


def test_the_update_ratio_is_one_encoder_step_then_two_generator_steps(age):
    model = age[0]
    assert [(p.name, p.trains, p.repeats) for p in model.phases] == [
        ("encoder", ("encoder",), 1),
        ("generator", ("generator",), 2),
    ]
    default = models.default_config("age")
    assert (default.generator_steps, default.code_reconstruction_weight) == (2, 1000.0)


def test_encoder_loss_is_the_game_plus_data_reconstruction(age):
    model, batch, nets, encode, decode = age
    z = _sphere(nets().normal("z", (M,)))  # the phase's noise, drawn by its tag
    x = batch["x"].astype(np.float64)
    real_codes, fake_codes = encode(batch["x"]), encode(decode(z))
    l1 = np.mean(np.abs(x - decode(real_codes)))
    expected = 0.7 * _kl(real_codes) - 1.3 * _kl(fake_codes) + 3.0 * l1
    loss, metrics = model.phases[0].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, expected, rtol=2e-5)
    np.testing.assert_allclose(metrics["kl_fake"], _kl(fake_codes), rtol=2e-5)


def test_generator_loss_is_fake_kl_plus_code_cosine_distance(age):
    model, batch, nets, encode, decode = age
    z = _sphere(nets().normal("z", (M,)))
    fake_codes = encode(decode(z))
    cosine = np.sum(z * fake_codes, 1) / np.linalg.norm(z, axis=1)
    expected = 0.9 * _kl(fake_codes) + 50.0 * np.mean(1 - cosine) / M
    loss, metrics = model.phases[1].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, expected, rtol=2e-5)
    np.testing.assert_allclose(metrics["code_cosine_distance"], np.mean(1 - cosine), rtol=1e-4)


def test_samples_come_from_the_sphere_and_reconstructions_through_it(age):
    model, batch, nets, encode, decode = age

    def inference():
        return model.inference_networks(
            nets.state.params, nets.state.batch_stats, key=KEY, batch_size=7
        )

    z = _sphere(inference().normal("sample_z", (M,)))
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(model.sample_fn(inference(), {}), decode(z), rtol=1e-5)
    np.testing.assert_allclose(
        model.reconstruct_fn(inference(), batch), decode(encode(batch["x"])), rtol=1e-5
    )
    # The codes that `code_statistics` reads: E(x) on the sphere.
    np.testing.assert_allclose(model.code_fn(inference(), batch), encode(batch["x"]), rtol=1e-6)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"latent_dim": 1}, "--config.latent_dim must be >= 2"),
        ({"generator_steps": 0}, "--config.generator_steps must be > 0"),
        ({"code_reconstruction_weight": -1.0}, "--config.code_reconstruction_weight must be >= 0"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(UserInputError, match="^" + message) as error:
        models.make_config("age", **options)
    assert "\n" not in str(error.value)
