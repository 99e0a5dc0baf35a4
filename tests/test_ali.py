"""ALI / BiGAN (Dumoulin et al. 2016; Donahue et al. 2016; Su 2018, eqs. 38-43): the joint
discriminator's shapes and layers against a by-hand forward pass, the E+G objectives (Su's
eq. 41 among them) on fixed logits, both phase losses against a float64 numpy recomputation
with the networks applied by hand, and bad options."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from unigen_jax import models
from unigen_jax import nets as flax_nets
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.models.ali import encoder_generator_losses
from unigen_jax.train import Networks, create_train_state

IMAGES = DatasetInfo(name="toy", kind="image", shape=(8, 8, 1), num_classes=0, num_examples=8)
VECTORS = DatasetInfo(name="toy", kind="vector", shape=(2,), num_classes=0, num_examples=8)
TINY = {"latent_dim": 3, "hidden_sizes": (5,), "architecture": "mlp"}
KEY = jax.random.PRNGKey(13)


def _leaky(a):
    return np.where(a > 0, a, 0.2 * a)


def _dense(params, a):
    return a @ np.asarray(params["kernel"], np.float64) + np.asarray(params["bias"], np.float64)


def test_vector_joint_discriminator_is_an_mlp_on_the_concatenation():
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=(4, 2)), rng.normal(size=(4, 3))
    net = flax_nets.JointDiscriminator(trunk="none", z_hidden=(), joint_hidden=(6, 7))
    params = net.init(KEY, x, z, train=False)["params"]
    logits, features = net.apply({"params": params}, x, z, train=False)
    assert logits.shape == (4,) and features.shape == (4, 7)
    h = _leaky(_dense(params["joint_hidden_0"], np.concatenate([x, z], axis=1)))
    h = _leaky(_dense(params["joint_hidden_1"], h))
    np.testing.assert_allclose(features, h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, _dense(params["logit"], h)[:, 0], rtol=1e-5, atol=1e-6)

    bare = flax_nets.JointDiscriminator(trunk="none", joint_hidden=())
    variables = bare.init(KEY, x, z, train=False)
    assert bare.apply(variables, x, z, train=False)[1].shape == (4, 5)
    with pytest.raises(ValueError, match="one row per pair"):
        bare.apply(variables, x, z[:3], train=False)


def test_image_joint_discriminator_joins_a_dcgan_trunk_and_an_mlp_on_z():
    """D(x, z) = Dense(1)(D_xz([DCGANTrunk(x), D_z(z)])) (Dumoulin et al. 2016, Appendix A)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(4, 8, 8, 1)).astype(np.float32)
    z = rng.normal(size=(4, 3)).astype(np.float32)
    net = flax_nets.JointDiscriminator(
        trunk="dcgan", z_hidden=(5, 4), joint_hidden=(6,), base_features=2
    )
    variables = net.init(KEY, x, z, train=False)
    (logits, features), _ = net.apply(variables, x, z, train=True, mutable=["batch_stats"])
    assert logits.shape == (4,) and features.shape == (4, 6)
    params = variables["params"]
    trunk = flax_nets.DCGANTrunk(base_features=2)
    trunk_features = np.asarray(
        trunk.apply({"params": params["x_trunk"]}, x, train=True), np.float64
    )
    assert trunk_features.shape == (4, 4 * 4 * 2)  # 8x8 halved once, 2 channels
    h_z = _leaky(_dense(params["z_hidden_1"], _leaky(_dense(params["z_hidden_0"], z))))
    h = _leaky(_dense(params["joint_hidden_0"], np.concatenate([trunk_features, h_z], axis=1)))
    np.testing.assert_allclose(features, h, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(logits, _dense(params["logit"], h)[:, 0], rtol=1e-4, atol=1e-6)


def test_su_eq_41_and_the_standard_objectives_on_fixed_logits():
    """With D = sigmoid(logit), a = logit(x, E(x)), b = logit(G(z), z), per example:
    su (eq. 41): -log D(a) and -log D(b); non_saturating (eq. 43): -log(1 - D(a)), -log D(b);
    minimax (eq. 42): log D(a), log(1 - D(b)). Their gradients in a: D(a) - 1, D(a), 1 - D(a)."""
    a = np.array([-3.0, -0.5, 0.0, 0.7, 4.0])
    b = np.array([2.0, -1.0, 0.3, -4.0, 0.1])
    d_a, d_b = special.expit(a), special.expit(b)
    expected = {
        "su": (-np.log(d_a), -np.log(d_b)),
        "non_saturating": (-np.log(1 - d_a), -np.log(d_b)),
        "minimax": (np.log(d_a), np.log(1 - d_b)),
    }
    gradients = {"su": d_a - 1, "non_saturating": d_a, "minimax": 1 - d_a}
    for objective, (encoder, generator) in expected.items():
        got = encoder_generator_losses(objective, jnp.asarray(a), jnp.asarray(b))
        np.testing.assert_allclose(got[0], encoder, rtol=1e-6, err_msg=objective)
        np.testing.assert_allclose(got[1], generator, rtol=1e-6, err_msg=objective)
        grad = jax.grad(
            lambda logits, o=objective: jnp.sum(encoder_generator_losses(o, logits, b)[0])
        )(jnp.asarray(a))
        np.testing.assert_allclose(grad, gradients[objective], rtol=1e-6, err_msg=objective)
    with pytest.raises(ValueError, match="unknown ALI objective"):
        encoder_generator_losses("wasserstein", a, b)


def _setup(info, **hyperparameters):
    config = models.make_config("ali", **{**TINY, **hyperparameters})
    model = models.build_model("ali", config, info, axis_name=None)
    x = np.random.default_rng(2).uniform(size=(6, *info.shape)).astype(np.float32)
    batch = {"x": x, "label": np.zeros(6, np.int32)}
    state = create_train_state(model, batch, seed=4)

    def nets():
        return Networks(
            model.networks, state.params, state.batch_stats, train=True, key=KEY, batch_size=6
        )

    def apply(name, *args):
        """The network in training mode (batch statistics of these inputs), float64 out."""
        variables = {"params": state.params[name]}
        if state.batch_stats[name]:
            variables["batch_stats"] = state.batch_stats[name]
        out, _ = model.networks[name].apply(variables, *args, train=True, mutable=["batch_stats"])
        return jax.tree.map(lambda a: np.asarray(a, np.float64), out)

    return model, state, batch, nets, apply


@pytest.mark.parametrize(
    "info, objective, stochastic",
    [
        (VECTORS, "non_saturating", False),
        (VECTORS, "minimax", True),
        (VECTORS, "su", False),
        (VECTORS, "su", True),
        (IMAGES, "su", True),
    ],
    ids=["vector-ns", "vector-minimax-stochastic", "vector-su", "vector-su-stochastic", "image"],
)
def test_phase_losses_against_numpy(info, objective, stochastic):
    """D: -log D(x, E(x)) - log(1 - D(G(z), z)) (Su eq. 38); E and G: the objective's two
    terms (eqs. 41-43) written with probabilities, from the networks applied by hand to the
    phase's own draws (z: tag "z"; the stochastic encoder's eps: tag "eps")."""
    hyperparameters = {"ali_objective": objective, "stochastic_encoder": stochastic}
    if info.kind == "image":
        hyperparameters.update(
            architecture="dcgan", base_features=2, z_hidden_sizes=(4,), joint_hidden_sizes=(5,)
        )
    model, _, batch, nets, apply = _setup(info, **hyperparameters)
    assert [(p.name, p.trains) for p in model.phases] == [
        ("discriminator", ("discriminator",)),
        ("encoder_generator", ("encoder", "generator")),
    ]
    draws = nets()
    z = np.asarray(draws.normal("z", (3,)))
    eps = np.asarray(draws.normal("eps", (3,)), np.float64)
    mean, log_variance = apply("encoder", batch["x"])
    z_hat = mean + np.exp(0.5 * log_variance) * eps if stochastic else mean
    generated = apply("generator", z)
    if info.kind == "image":
        generated = special.expit(generated)
    d_real = special.expit(apply("discriminator", batch["x"], z_hat.astype(np.float32))[0])
    d_fake = special.expit(apply("discriminator", generated.astype(np.float32), z)[0])

    d_loss, d_metrics = model.phases[0].loss_fn(nets(), batch)
    np.testing.assert_allclose(d_loss, np.mean(-np.log(d_real) - np.log(1 - d_fake)), rtol=1e-5)
    np.testing.assert_allclose(d_metrics["real_logit"], np.mean(special.logit(d_real)), atol=1e-5)

    encoder_term, generator_term = {
        "su": (-np.log(d_real), -np.log(d_fake)),  # Su 2018, eq. 41
        "non_saturating": (-np.log(1 - d_real), -np.log(d_fake)),  # eq. 43
        "minimax": (np.log(d_real), np.log(1 - d_fake)),  # eq. 42
    }[objective]
    loss, metrics = model.phases[1].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, np.mean(encoder_term) + np.mean(generator_term), rtol=1e-5)
    np.testing.assert_allclose(metrics["encoder_loss"], np.mean(encoder_term), rtol=1e-5)
    np.testing.assert_allclose(metrics["generator_loss"], np.mean(generator_term), rtol=1e-5)


def test_reconstruct_is_the_generator_on_the_encoder_mean():
    model, state, batch, _, _ = _setup(VECTORS, stochastic_encoder=True)
    handle = model.inference_networks(state.params, state.batch_stats, key=KEY, batch_size=6)

    def apply(name, *args):
        return model.networks[name].apply({"params": state.params[name]}, *args, train=False)

    mean, _ = apply("encoder", batch["x"])
    np.testing.assert_allclose(
        model.reconstruct_fn(handle, batch), apply("generator", mean), rtol=1e-6
    )
    np.testing.assert_allclose(model.code_fn(handle, batch), mean, rtol=1e-6)  # code statistics
    assert model.encode_fn is None and model.log_likelihood_fn is None


@pytest.mark.parametrize(
    "hyperparameters, message",
    [
        ({"ali_objective": "wasserstein"}, "unknown ali_objective 'wasserstein'; choose one of"),
        ({"joint_hidden_sizes": (0,)}, "joint_hidden_sizes must list positive"),
        ({"discriminator_norm": "group"}, "unknown discriminator_norm"),
        ({"generator_lr": -1.0}, "generator_lr must be > 0"),
    ],
)
def test_bad_hyperparameters_are_one_line_user_errors(hyperparameters, message):
    with pytest.raises(UserInputError, match=message) as error:
        models.make_config("ali", **hyperparameters)
    assert "\n" not in str(error.value)
