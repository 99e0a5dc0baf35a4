"""GAN losses and the WGAN-GP penalty, each pinned to a published value, an independent
formula (numpy/scipy), or the known optimum of the game between two 1-D Gaussians."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import special, stats

from unigen_jax import losses

# TF-GAN's shared fixture (tensorflow_gan/python/losses/losses_impl_test.py).
REAL_LOGITS = np.array([-5.0, 1.4, 12.5, 2.7], np.float32)
FAKE_LOGITS = np.array([10.0, 4.4, -5.5, 3.6], np.float32)

GENERATOR_LOSSES = {
    "minimax": losses.minimax_generator_loss,
    "modified": losses.modified_generator_loss,
    "wasserstein": losses.wasserstein_generator_loss,
    "hinge": losses.hinge_generator_loss,
    "least_squares": losses.least_squares_generator_loss,
}
DISCRIMINATOR_LOSSES = {
    "minimax": losses.minimax_discriminator_loss,
    "modified": losses.modified_discriminator_loss,
    "wasserstein": losses.wasserstein_discriminator_loss,
    "hinge": losses.hinge_discriminator_loss,
    "least_squares": losses.least_squares_discriminator_loss,
}
# Every loss as f(real, fake, **weights): generator losses ignore `real`.


def _ignoring_real(generator_loss):
    return lambda real, fake, **kwargs: generator_loss(fake, **kwargs)


ALL_LOSSES = {
    **{f"{name}_generator": _ignoring_real(fn) for name, fn in GENERATOR_LOSSES.items()},
    **{f"{name}_discriminator": fn for name, fn in DISCRIMINATOR_LOSSES.items()},
}


def _weight_kwargs(name, weights):
    if name.endswith("_generator"):
        return {"weights": weights}
    return {"real_weights": weights, "fake_weights": weights}


def _patch_logits(seed, shape=(4, 3, 2), scale=3.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.normal(size=shape)).astype(np.float32)


# ------------------------------------------------------------------------------------------
# Published values and independent formulas.


def test_tf_gan_published_values():
    mean = lambda x: float(jnp.mean(x))
    assert mean(losses.modified_generator_loss(FAKE_LOGITS)) == pytest.approx(1.38582, abs=1e-5)
    assert mean(losses.least_squares_generator_loss(FAKE_LOGITS)) == pytest.approx(17.69625)
    assert mean(losses.least_squares_discriminator_loss(REAL_LOGITS, FAKE_LOGITS)) == pytest.approx(
        41.73375
    )
    assert mean(losses.wasserstein_generator_loss(FAKE_LOGITS)) == pytest.approx(-3.125)
    assert mean(losses.wasserstein_discriminator_loss(REAL_LOGITS, FAKE_LOGITS)) == pytest.approx(
        0.225, abs=1e-6
    )
    assert mean(losses.hinge_discriminator_loss(REAL_LOGITS, FAKE_LOGITS)) == pytest.approx(6.75)


def test_logistic_losses_match_scipy_probabilities():
    # Written with probabilities in float64, the way the papers state them.
    d_real = special.expit(REAL_LOGITS.astype(np.float64))
    d_fake = special.expit(FAKE_LOGITS.astype(np.float64))
    expected_d = -np.log(d_real) - np.log1p(-d_fake)
    for fn in (losses.minimax_discriminator_loss, losses.modified_discriminator_loss):
        np.testing.assert_allclose(fn(REAL_LOGITS, FAKE_LOGITS), expected_d, rtol=1e-5)
    np.testing.assert_allclose(
        losses.minimax_generator_loss(FAKE_LOGITS), np.log1p(-d_fake), rtol=1e-5, atol=1e-9
    )
    np.testing.assert_allclose(
        losses.modified_generator_loss(FAKE_LOGITS), -np.log(d_fake), rtol=1e-5, atol=1e-9
    )


def test_one_sided_label_smoothing_matches_hand_formula():
    smoothing = 0.2
    d_real = special.expit(REAL_LOGITS.astype(np.float64))
    d_fake = special.expit(FAKE_LOGITS.astype(np.float64))
    expected = -(1 - smoothing) * np.log(d_real) - smoothing * np.log1p(-d_real) - np.log1p(-d_fake)
    for fn in (losses.minimax_discriminator_loss, losses.modified_discriminator_loss):
        actual = fn(REAL_LOGITS, FAKE_LOGITS, label_smoothing=smoothing)
        np.testing.assert_allclose(actual, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.minimax_discriminator_loss(REAL_LOGITS, FAKE_LOGITS, label_smoothing=1.0)


def test_remaining_families_match_numpy():
    r, f = REAL_LOGITS.astype(np.float64), FAKE_LOGITS.astype(np.float64)
    np.testing.assert_allclose(losses.hinge_generator_loss(FAKE_LOGITS), -f)
    np.testing.assert_allclose(
        losses.hinge_discriminator_loss(REAL_LOGITS, FAKE_LOGITS),
        np.maximum(0, 1 - r) + np.maximum(0, 1 + f),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        losses.wasserstein_discriminator_loss(REAL_LOGITS, FAKE_LOGITS), f - r, rtol=1e-6
    )
    np.testing.assert_allclose(
        losses.least_squares_discriminator_loss(
            REAL_LOGITS, FAKE_LOGITS, real_label=0.5, fake_label=-1.0
        ),
        0.5 * (r - 0.5) ** 2 + 0.5 * (f + 1.0) ** 2,
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        losses.least_squares_generator_loss(FAKE_LOGITS, real_label=0.5),
        0.5 * (f - 0.5) ** 2,
        rtol=1e-6,
    )


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_patch_outputs_are_averaged_per_element(name):
    # A [batch, 3, 2] patch output counts as 6 classifiers per example: the per-example loss
    # is the mean of the losses of the patches taken as separate examples.
    fn = ALL_LOSSES[name]
    real, fake = _patch_logits(1), _patch_logits(2)
    per_patch = fn(real.reshape(-1), fake.reshape(-1)).reshape(4, 6)
    np.testing.assert_allclose(fn(real, fake), per_patch.mean(axis=1), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------
# The optimal discriminator between two known 1-D Gaussians: p = N(0, 1), q = N(1, 2^2).

GRID = np.linspace(-8.0, 10.0, 1801)
DX = GRID[1] - GRID[0]
LOG_P = stats.norm.logpdf(GRID, 0.0, 1.0)
LOG_Q = stats.norm.logpdf(GRID, 1.0, 2.0)
# Expectations E_p[real term] + E_q[fake term] as density-weighted sums over the grid.
P_WEIGHTS = jnp.asarray(np.exp(LOG_P) * DX, jnp.float32)
Q_WEIGHTS = jnp.asarray(np.exp(LOG_Q) * DX, jnp.float32)


def _expected_loss(fn, logits, **kwargs):
    per_point = fn(logits, logits, real_weights=P_WEIGHTS, fake_weights=Q_WEIGHTS, **kwargs)
    return jnp.sum(per_point)


@pytest.mark.parametrize(
    "fn", [losses.minimax_discriminator_loss, losses.least_squares_discriminator_loss]
)
def test_gradient_vanishes_at_the_optimal_discriminator(fn):
    p, q = np.exp(LOG_P), np.exp(LOG_Q)
    if fn is losses.least_squares_discriminator_loss:
        kwargs = {"real_label": 1.0, "fake_label": -1.0}
        optimum = (1.0 * p - 1.0 * q) / (p + q)  # Mao et al. 2017: (b p + a q) / (p + q).
    else:
        kwargs = {}
        optimum = LOG_P - LOG_Q  # D* = p / (p + q) <=> logit* = log p - log q.
    grad = jax.grad(_expected_loss, argnums=1)
    at_optimum = np.asarray(grad(fn, jnp.asarray(optimum, jnp.float32), **kwargs))
    off_optimum = np.asarray(grad(fn, jnp.asarray(optimum + 0.5, jnp.float32), **kwargs))
    assert np.all(np.abs(off_optimum) > 0)
    assert np.max(np.abs(at_optimum) / np.abs(off_optimum)) < 1e-4


def test_quadratic_logit_recovers_the_gaussian_log_ratio():
    # log N(x; 0, 1) - log N(x; 1, 4) = -3/8 x^2 - 1/4 x + (1/8 + log 2): a quadratic logit
    # a x^2 + b x + c can represent D* exactly, so minimising the loss must find these values.
    expected = np.array([-3.0 / 8.0, -1.0 / 4.0, 1.0 / 8.0 + np.log(2.0)])
    grid = jnp.asarray(GRID, jnp.float32)

    def objective(coefficients):
        logits = coefficients[0] * grid**2 + coefficients[1] * grid + coefficients[2]
        return _expected_loss(losses.modified_discriminator_loss, logits)

    optimizer = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(objective)

    @jax.jit
    def fit(coefficients):
        def step(carry, _):
            coefficients, state = carry
            value, grad = value_and_grad(coefficients, state=state)
            updates, state = optimizer.update(
                grad, state, coefficients, value=value, grad=grad, value_fn=objective
            )
            return (optax.apply_updates(coefficients, updates), state), None

        (coefficients, _), _ = jax.lax.scan(
            step, (coefficients, optimizer.init(coefficients)), None, length=30
        )
        return coefficients

    np.testing.assert_allclose(fit(jnp.zeros(3)), expected, atol=1e-4)


def test_hinge_optimum_is_two_minus_twice_total_variation():
    # Pointwise, p relu(1 - d) + q relu(1 + d) is minimised by d = sign(p - q), with value
    # 2 min(p, q); its integral is 2 (1 - TV(p, q)). p and q cross where
    # log p = log q: 3 x^2 + 2 x - (1 + 8 log 2) = 0; TV = P(A) - Q(A), A = {p > q}.
    roots = np.sort(np.roots([3.0, 2.0, -(1.0 + 8.0 * np.log(2.0))]))
    p_mass = stats.norm.cdf(roots[1]) - stats.norm.cdf(roots[0])
    q_mass = stats.norm.cdf(roots[1], 1.0, 2.0) - stats.norm.cdf(roots[0], 1.0, 2.0)
    expected = 2.0 * (1.0 - (p_mass - q_mass))
    optimum = jnp.asarray(np.sign(LOG_P - LOG_Q), jnp.float32)
    value = float(_expected_loss(losses.hinge_discriminator_loss, optimum))
    assert value == pytest.approx(expected, abs=5e-3)  # Grid (Riemann sum) error only.
    rng = np.random.default_rng(0)
    for _ in range(3):
        perturbed = optimum + jnp.asarray(0.3 * rng.normal(size=GRID.shape), jnp.float32)
        assert float(_expected_loss(losses.hinge_discriminator_loss, perturbed)) > value


# ------------------------------------------------------------------------------------------
# Properties every loss must have.


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_jit_and_vmap_match_eager(name):
    fn = ALL_LOSSES[name]
    real, fake = _patch_logits(3, (2, 4, 3)), _patch_logits(4, (2, 4, 3))
    eager = np.stack([fn(real[i], fake[i]) for i in range(2)])
    np.testing.assert_allclose(jax.jit(fn)(real[0], fake[0]), eager[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(fn)(real, fake), eager, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_finite_value_and_gradient_at_huge_logits(name):
    fn = ALL_LOSSES[name]
    real = jnp.array([[1e4, -1e4], [-1e4, 1e4], [0.0, 1e4], [-1e4, 0.0]])
    fake = -real[::-1]
    value = fn(real, fake)
    grads = jax.grad(lambda r, f: jnp.sum(fn(r, f)), argnums=(0, 1))(real, fake)
    assert np.all(np.isfinite(value))
    assert all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_bfloat16_in_bfloat16_out(name):
    fn = ALL_LOSSES[name]
    real = jnp.asarray(_patch_logits(5), jnp.bfloat16)
    fake = jnp.asarray(_patch_logits(6), jnp.bfloat16)
    low = fn(real, fake)
    assert low.dtype == jnp.bfloat16
    assert fn(real.astype(jnp.float32), fake.astype(jnp.float32)).dtype == jnp.float32
    high = fn(real.astype(jnp.float32), fake.astype(jnp.float32))
    np.testing.assert_allclose(low.astype(jnp.float32), high, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_weights_multiply_per_example(name):
    fn = ALL_LOSSES[name]
    real, fake = _patch_logits(7), _patch_logits(8)
    weights = np.array([0.0, 0.5, 1.0, 3.0], np.float32)
    weighted = fn(real, fake, **_weight_kwargs(name, weights))
    np.testing.assert_allclose(weighted, weights * fn(real, fake), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="weights"):
        fn(real, fake, **_weight_kwargs(name, np.ones(3, np.float32)))


@pytest.mark.parametrize("name", sorted(DISCRIMINATOR_LOSSES))
def test_real_and_fake_weights_act_on_their_own_terms(name):
    fn = DISCRIMINATOR_LOSSES[name]
    real, fake = _patch_logits(9), _patch_logits(10)
    zero = np.zeros(4, np.float32)
    real_weights = np.array([1.0, 2.0, 0.0, 0.5], np.float32)
    fake_weights = np.array([0.0, 1.0, 4.0, 0.5], np.float32)
    both = fn(real, fake, real_weights=real_weights, fake_weights=fake_weights)
    real_only = fn(real, fake, real_weights=real_weights, fake_weights=zero)
    fake_only = fn(real, fake, real_weights=zero, fake_weights=fake_weights)
    np.testing.assert_allclose(both, real_only + fake_only, rtol=1e-6, atol=1e-6)
    # The real term does not depend on the fake logits and vice versa.
    np.testing.assert_allclose(
        real_only, fn(real, 0 * fake, real_weights=real_weights, fake_weights=zero)
    )


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_bad_shapes_raise(name):
    fn = ALL_LOSSES[name]
    with pytest.raises(ValueError, match="batch"):
        fn(np.float32(1.0), np.float32(1.0))
    if name.endswith("_discriminator"):
        with pytest.raises(ValueError, match="same batch size"):
            fn(np.zeros((4, 2), np.float32), np.zeros((3, 2), np.float32))


# ------------------------------------------------------------------------------------------
# WGAN-GP gradient penalty.


def _linear_critic(w):
    return lambda x: jnp.sum(x * w, axis=(1, 2))


def test_linear_critic_penalty_is_exact():
    w = jnp.asarray(_patch_logits(11, (3, 2), 1.0))
    real, fake = _patch_logits(12, (5, 3, 2)), _patch_logits(13, (5, 3, 2))
    norm = float(np.linalg.norm(np.asarray(w)))
    key = jax.random.key(0)
    for target in (1.0, 2.5):
        penalty = losses.wasserstein_gradient_penalty(
            _linear_critic(w), real, fake, key, target_norm=target
        )
        np.testing.assert_allclose(penalty, np.full(5, (norm - target) ** 2), rtol=1e-5)


def test_interpolation_coefficients_are_uniform_per_example():
    # With fake = 0, unit-norm real samples and critic 0.5 ||x||^2, the input gradient is
    # x_hat = eps * real, so the penalty is (eps - 1)^2 and reveals each example's eps.
    batch = 2000
    real = np.random.default_rng(14).normal(size=(batch, 3))
    real = (real / np.linalg.norm(real, axis=1, keepdims=True)).astype(np.float32)
    critic = lambda x: 0.5 * jnp.sum(x**2, axis=1)
    penalty_fn = jax.jit(losses.wasserstein_gradient_penalty, static_argnums=0)
    zeros = np.zeros_like(real)
    eps = 1.0 - np.sqrt(np.asarray(penalty_fn(critic, real, zeros, jax.random.key(1))))
    assert stats.kstest(eps, "uniform").pvalue > 1e-3
    other = 1.0 - np.sqrt(np.asarray(penalty_fn(critic, real, zeros, jax.random.key(2))))
    assert not np.allclose(eps, other)
    again = 1.0 - np.sqrt(np.asarray(penalty_fn(critic, real, zeros, jax.random.key(1))))
    np.testing.assert_array_equal(eps, again)


def _nonlinear_critic(x):
    # Patch-shaped output [batch, 2], summed per example by the penalty.
    w = jnp.linspace(-1.0, 1.0, 12).reshape(6, 2)
    return jnp.tanh(x.reshape(x.shape[0], -1) @ w) + 0.1 * jnp.sum(x**3, axis=(1, 2))[:, None]


def test_nonlinear_critic_matches_per_example_gradients():
    # real == fake makes x_hat = real whatever eps is; the reference takes one gradient per
    # example with vmap, the penalty one gradient of the batch sum.
    real = _patch_logits(15, (5, 3, 2), 1.0)
    per_example_grad = jax.vmap(jax.grad(lambda xi: jnp.sum(_nonlinear_critic(xi[None]))))(real)
    norms = np.linalg.norm(np.asarray(per_example_grad, np.float64).reshape(5, -1), axis=1)
    penalty = losses.wasserstein_gradient_penalty(_nonlinear_critic, real, real, jax.random.key(3))
    np.testing.assert_allclose(penalty, (norms - 1.0) ** 2, rtol=1e-5)
    # And the norms agree with central finite differences.
    x0 = np.asarray(real[0], np.float64)
    critic_sum = jax.jit(lambda x: jnp.sum(_nonlinear_critic(x[None])))
    critic64 = lambda x: float(critic_sum(jnp.asarray(x, jnp.float32)))
    h = 1e-2
    fd = np.zeros_like(x0)
    for index in np.ndindex(x0.shape):
        step = np.zeros_like(x0)
        step[index] = h
        fd[index] = (critic64(x0 + step) - critic64(x0 - step)) / (2 * h)
    np.testing.assert_allclose(np.linalg.norm(fd), norms[0], rtol=2e-3)


def test_penalty_properties():
    w = jnp.asarray(_patch_logits(16, (3, 2), 1.0))
    real, fake = _patch_logits(17, (2, 4, 3, 2)), _patch_logits(18, (2, 4, 3, 2))
    keys = jax.random.split(jax.random.key(4), 2)
    penalty = lambda w, r, f, k, **kw: losses.wasserstein_gradient_penalty(
        lambda x: _nonlinear_critic(x * w), r, f, k, **kw
    )
    eager = np.stack([penalty(w, real[i], fake[i], keys[i]) for i in range(2)])
    np.testing.assert_allclose(jax.jit(penalty)(w, real[0], fake[0], keys[0]), eager[0], rtol=1e-5)
    np.testing.assert_allclose(
        jax.vmap(penalty, in_axes=(None, 0, 0, 0))(w, real, fake, keys), eager, rtol=1e-5
    )
    # Weights multiply per example.
    weights = np.array([0.0, 1.0, 2.0, 0.5], np.float32)
    np.testing.assert_allclose(
        penalty(w, real[0], fake[0], keys[0], weights=weights), weights * eager[0], rtol=1e-5
    )
    # bfloat16 in, bfloat16 out.
    low = penalty(w, real[0].astype(jnp.bfloat16), fake[0].astype(jnp.bfloat16), keys[0])
    assert low.dtype == jnp.bfloat16
    np.testing.assert_allclose(low.astype(jnp.float32), eager[0], rtol=5e-2, atol=5e-2)
    # Finite gradients for the critic's parameters, also where the input gradient is zero.
    grad = jax.grad(lambda w: jnp.sum(penalty(w, real[0], fake[0], keys[0])))
    assert np.all(np.isfinite(grad(w))) and np.all(np.isfinite(grad(jnp.zeros_like(w))))
    zero_critic = jax.grad(
        lambda v: jnp.sum(
            losses.wasserstein_gradient_penalty(_linear_critic(v), real[0], fake[0], keys[0])
        )
    )(jnp.zeros_like(w))
    assert np.all(np.isfinite(zero_critic))
    # Mismatched shapes raise.
    with pytest.raises(ValueError, match="same shape"):
        penalty(w, real[0], fake[0][:3], keys[0])
    with pytest.raises(ValueError, match="critic_fn"):
        losses.wasserstein_gradient_penalty(lambda x: jnp.sum(x), real[0], fake[0], keys[0])
    with pytest.raises(ValueError, match="weights"):
        penalty(w, real[0], fake[0], keys[0], weights=np.ones(5, np.float32))


def test_penalty_with_given_interpolation_equals_the_keyed_draw():
    key = jax.random.PRNGKey(3)
    real = jax.random.normal(jax.random.PRNGKey(1), (5, 4))
    fake = jax.random.normal(jax.random.PRNGKey(2), (5, 4))
    w = jnp.arange(4.0)

    def critic(x):
        return jnp.tanh(x) @ w

    eps = jax.random.uniform(key, (5, 1), dtype=jnp.float32)[:, 0]
    keyed = losses.wasserstein_gradient_penalty(critic, real, fake, key)
    given = losses.wasserstein_gradient_penalty(critic, real, fake, interpolation=eps)
    np.testing.assert_allclose(given, keyed, rtol=1e-6)
    # Independently: the input gradient of tanh(x) . w is (1 - tanh(x)^2) * w.
    x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake
    norms = np.linalg.norm((1 - np.tanh(x_hat) ** 2) * np.asarray(w), axis=1)
    np.testing.assert_allclose(given, (norms - 1) ** 2, rtol=1e-4)
    with pytest.raises(ValueError, match="exactly one"):
        losses.wasserstein_gradient_penalty(critic, real, fake)
