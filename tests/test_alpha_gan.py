"""alpha-GAN (Rosca et al. 2017, arXiv 1706.04987) and the empirical KL of its Appendix D:
the KL against its closed form, the four losses against their formulas on fixed logits, the
E/G phase's gradients against each network's own loss written by hand, the D/C phase against
a numpy recomputation with the networks applied by hand, and bad options."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from unigen_jax import losses, models
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.models import alpha_gan
from unigen_jax.train import Networks, create_train_state

IMAGES = DatasetInfo(name="toy", kind="image", shape=(4, 4, 1), num_classes=0, num_examples=8)
LATENT = 3
TINY = {
    "latent_dim": LATENT,
    "hidden_sizes": (5,),
    "architecture": "mlp",
    "code_discriminator_hidden": (6, 6, 6),
}
KEY = jax.random.PRNGKey(5)
LAM = 2.5


def _log_sigmoid(logits):
    return -np.log1p(np.exp(-np.asarray(logits, np.float64)))


def _closed_form_kl(codes):
    """(1/M) sum_j (s_j^2 + m_j^2 - 1 - log s_j^2) / 2 with numpy's moments (float64)."""
    codes = np.asarray(codes, np.float64)
    m, v = codes.mean(0), codes.var(0)
    return np.mean((v + m**2 - 1 - np.log(v)) / 2)


def test_empirical_kl_is_the_closed_form_of_the_batch_moments():
    rng = np.random.default_rng(0)
    codes = (rng.normal(size=(50, 4)) * [0.3, 1.0, 2.0, 0.7] + [1.0, 0.0, -0.5, 2.0]).astype(
        np.float32
    )
    np.testing.assert_allclose(losses.empirical_gaussian_kl(codes), _closed_form_kl(codes), 1e-5)
    # A batch standardised exactly (mean 0, variance 1 per dimension) is at 0.
    white = rng.normal(size=(40, 3))
    white = (white - white.mean(0)) / white.std(0)
    np.testing.assert_allclose(losses.empirical_gaussian_kl(white), 0.0, atol=1e-6)
    # The reduction is pluggable: the mean of two halves' means is the whole batch's mean.
    halves = lambda x: (jnp.mean(x[:25], 0) + jnp.mean(x[25:], 0)) / 2  # noqa: E731
    np.testing.assert_allclose(
        losses.empirical_gaussian_kl(codes, batch_mean=halves), _closed_form_kl(codes), 1e-5
    )
    # Its gradient in c_ij is (1/M)(1/N)((1 - 1/v_j)(c_ij - m_j) + m_j): zero when m = 0, v = 1.
    grad = jax.grad(lambda c: losses.empirical_gaussian_kl(c))(jnp.asarray(white, jnp.float32))
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)
    assert losses.empirical_gaussian_kl(codes.astype(jnp.bfloat16)).dtype == jnp.bfloat16


def test_the_four_losses_match_rosca_et_al_on_fixed_logits():
    rng = np.random.default_rng(1)
    real, rec, gen, prior, code = (rng.normal(size=7).astype(np.float32) * 3 for _ in range(5))
    reconstruction = np.float32(0.37)
    d = lambda logits: 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))  # noqa: E731
    np.testing.assert_allclose(
        alpha_gan.encoder_loss(reconstruction, code, LAM),
        LAM * 0.37 - np.mean(np.log(d(code))),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        alpha_gan.generator_loss(reconstruction, rec, gen, LAM),
        LAM * 0.37 - np.mean(np.log(d(rec))) - np.mean(np.log(d(gen))),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        alpha_gan.discriminator_loss(real, rec, gen),
        np.mean(-np.log(d(real)) - np.log(1 - d(rec)) - np.log(1 - d(gen))),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        alpha_gan.code_discriminator_loss(prior, code),
        np.mean(-np.log(d(prior)) - np.log(1 - d(code))),
        rtol=1e-5,
    )


def _setup(**options):
    config = models.make_config("alpha_gan", **TINY, reconstruction_weight=LAM, **options)
    model = models.build_model("alpha_gan", config, IMAGES, axis_name=None)
    rng = np.random.default_rng(3)
    batch = {"x": rng.uniform(size=(6, 4, 4, 1)).astype(np.float32)}
    state = create_train_state(model, batch, seed=4)

    def nets(params=None):
        return Networks(
            model.networks,
            state.params if params is None else params,
            state.batch_stats,
            train=True,
            key=KEY,
            batch_size=6,
        )

    def apply(net, params, *args):
        return model.networks[net].apply({"params": params[net]}, *args, train=True)

    return model, state, batch, nets, apply


@pytest.mark.parametrize("code_critic", ["discriminator", "empirical_kl"])
def test_encoder_and_generator_each_get_only_their_own_losses_gradient(code_critic):
    model, state, batch, nets, apply = _setup(code_critic=code_critic)
    phase = model.phases[0]
    assert (phase.trains, phase.repeats) == (("encoder", "generator"), 2)
    x = batch["x"]
    z = nets().normal("z", (LATENT,))  # the phase's noise, drawn by its tag

    def own_losses(params):
        """E's and G's losses (Rosca et al.), networks applied by hand."""
        codes = apply("encoder", params, x)[0]
        x_rec = jax.nn.sigmoid(apply("generator", params, codes))
        x_gen = jax.nn.sigmoid(apply("generator", params, z))
        l1 = jnp.mean(jnp.abs(x - x_rec))
        if code_critic == "discriminator":
            prior_term = -jnp.mean(
                jnp.log(jax.nn.sigmoid(apply("code_discriminator", params, codes)[0]))
            )
        else:
            m, v = jnp.mean(codes, 0), jnp.var(codes, 0)
            prior_term = jnp.mean((v + m**2 - 1 - jnp.log(v)) / 2)
        log_d = lambda img: jnp.log(jax.nn.sigmoid(apply("discriminator", params, img)[0]))  # noqa: E731
        return LAM * l1 + prior_term, LAM * l1 - jnp.mean(log_d(x_rec)) - jnp.mean(log_d(x_gen))

    def phase_loss(params):
        return phase.loss_fn(nets(params), batch)

    grads, metrics = jax.grad(phase_loss, has_aux=True)(state.params)
    e_loss, g_loss = own_losses(state.params)
    np.testing.assert_allclose(metrics["encoder_loss"], e_loss, rtol=1e-5)
    np.testing.assert_allclose(metrics["generator_loss"], g_loss, rtol=1e-5)
    e_grad = jax.grad(lambda p: own_losses(p)[0])(state.params)["encoder"]
    g_grad = jax.grad(lambda p: own_losses(p)[1])(state.params)["generator"]
    for ours, theirs in ((grads["encoder"], e_grad), (grads["generator"], g_grad)):
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # The sum of the two losses would differ: D's terms push E too.
    both = jax.grad(lambda p: own_losses(p)[0] + own_losses(p)[1])(state.params)["encoder"]
    assert any(
        not np.allclose(a, b, rtol=1e-3)
        for a, b in zip(jax.tree.leaves(both), jax.tree.leaves(e_grad), strict=True)
    )


def test_discriminators_phase_is_rosca_et_al_d_and_c_losses():
    model, state, batch, nets, apply = _setup()
    phase = model.phases[1]
    assert phase.trains == ("discriminator", "code_discriminator")
    draws = nets()
    z = draws.normal("z", (LATENT,))
    prior = draws.normal("prior_z", (LATENT,))
    p, x = state.params, batch["x"]
    codes = apply("encoder", p, x)[0]
    logit = lambda img: np.asarray(apply("discriminator", p, img)[0], np.float64)  # noqa: E731
    x_rec = jax.nn.sigmoid(apply("generator", p, codes))
    x_gen = jax.nn.sigmoid(apply("generator", p, z))
    d = -_log_sigmoid(logit(x)) - _log_sigmoid(-logit(x_rec)) - _log_sigmoid(-logit(x_gen))
    c_prior = np.asarray(apply("code_discriminator", p, prior)[0], np.float64)
    c_codes = np.asarray(apply("code_discriminator", p, codes)[0], np.float64)
    c = -_log_sigmoid(c_prior) - _log_sigmoid(-c_codes)
    loss, metrics = phase.loss_fn(nets(), batch)
    np.testing.assert_allclose(metrics["discriminator_loss"], np.mean(d), rtol=1e-5)
    np.testing.assert_allclose(metrics["code_discriminator_loss"], np.mean(c), rtol=1e-5)
    np.testing.assert_allclose(loss, np.mean(d) + np.mean(c), rtol=1e-5)


def test_empirical_kl_ablation_has_no_code_discriminator_and_sampling_reconstructs():
    model, state, batch, nets, apply = _setup(code_critic="empirical_kl")
    assert "code_discriminator" not in model.networks
    assert model.phases[1].trains == ("discriminator",)
    p = state.params
    inference = model.inference_networks(p, state.batch_stats, key=KEY, batch_size=6)
    expected = jax.nn.sigmoid(
        model.networks["generator"].apply(
            {"params": p["generator"]},
            model.networks["encoder"].apply({"params": p["encoder"]}, batch["x"], train=False)[0],
            train=False,
        )
    )
    np.testing.assert_allclose(model.reconstruct_fn(inference, batch), expected, rtol=1e-6)
    assert model.sample_fn(inference, {}).shape == (6, 4, 4, 1)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"code_critic": "wasserstein"}, "unknown code_critic 'wasserstein'"),
        ({"reconstruction_weight": -1.0}, "--config.reconstruction_weight must be >= 0"),
        ({"encoder_generator_steps": 0}, "--config.encoder_generator_steps must be > 0"),
        ({"code_discriminator_hidden": (750, 0)}, "--config.code_discriminator_hidden"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(UserInputError, match="^" + message) as error:
        models.make_config("alpha_gan", **options)
    assert "\n" not in str(error.value)
