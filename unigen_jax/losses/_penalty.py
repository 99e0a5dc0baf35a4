"""Gradient penalty of WGAN-GP (Gulrajani et al. 2017), per example."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from unigen_jax.losses import _common

# Added to the squared norm inside the square root: d sqrt(s) / ds is infinite at s = 0, and a
# critic whose input gradient vanishes (e.g. at initialisation) would otherwise give NaN.
_SQUARED_NORM_EPSILON = 1e-12


def wasserstein_gradient_penalty(
    critic_fn: Callable[[jax.Array], jax.Array],
    real: ArrayLike,
    fake: ArrayLike,
    key: jax.Array | None = None,
    *,
    interpolation: ArrayLike | None = None,
    target_norm: float = 1.0,
    weights: ArrayLike | None = None,
) -> jax.Array:
    """Two-sided gradient penalty at random interpolates of real and fake samples.

    Objective (added, times lambda = 10 in the paper, to the critic loss), one eps per
    example::

      (||grad_x f(x_hat)||_2 - target_norm)^2,  x_hat = eps x + (1 - eps) G(z),  eps ~ U[0, 1]

    The per-example input gradients come from a single gradient of the critic's summed output,
    which equals the per-example gradients only if the critic treats examples independently:
    batch normalization (in training mode) or minibatch discrimination in the critic mixes
    examples and breaks this (the paper uses layer normalization for that reason). Gradients
    flow into the critic's parameters (closed over by `critic_fn`) and into `real` and `fake`;
    stop them on `fake` where the generator must not be updated by the penalty.

    Args:
      critic_fn: maps [batch, ...] samples to [batch] scores, or to [batch, ...] patch scores
        that are summed per example.
      real: [batch, ...] real samples.
      fake: [batch, ...] generated samples, the same shape as `real`.
      key: PRNG key for the interpolation coefficients eps ~ U[0, 1].
      interpolation: or the coefficients themselves, [batch] in [0, 1] (a data-parallel step
        draws them per example of the global batch, so that they do not depend on the
        device count); exactly one of `key` and `interpolation`.
      target_norm: the gradient norm the penalty pulls towards (1 for a 1-Lipschitz critic).
      weights: optional [batch] per-example weights.

    Returns:
      [batch] per-example penalties, in the dtype of `real` and `fake`.

    References: Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", eq. 3 and
    Algorithm 1.

    Examples:
      A linear critic f(x) = 2 x has the input gradient 2 everywhere, so the penalty is
      (2 - 1)^2 = 1 at every interpolate; a 1-Lipschitz f(x) = x pays 0:

      >>> import jax, jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> real = jnp.array([[1.0], [2.0]])
      >>> fake = jnp.array([[0.0], [-1.0]])
      >>> key = jax.random.PRNGKey(0)
      >>> print(losses.wasserstein_gradient_penalty(lambda x: 2.0 * x[:, 0], real, fake, key))
      [1. 1.]
      >>> print(losses.wasserstein_gradient_penalty(lambda x: x[:, 0], real, fake, key))
      [0. 0.]
    """
    real = jnp.asarray(real)
    fake = jnp.asarray(fake)
    batch = _common.check_same_shape("real", real, "fake", fake)
    weights = _common.check_weights("weights", weights, batch)
    result_dtype, compute_dtype = _common.dtypes(real, fake)

    eps_shape = (batch,) + (1,) * (real.ndim - 1)
    if (key is None) == (interpolation is None):
        raise ValueError("give exactly one of key and interpolation")
    if interpolation is None:
        eps = jax.random.uniform(key, eps_shape, dtype=jnp.float32).astype(result_dtype)
    else:
        eps = jnp.asarray(interpolation).reshape(eps_shape).astype(result_dtype)
    # The critic sees the samples' own dtype (e.g. bfloat16), as it does in training.
    interpolates = eps * real.astype(result_dtype) + (1 - eps) * fake.astype(result_dtype)

    scores, critic_vjp = jax.vjp(critic_fn, interpolates)
    if scores.ndim < 1 or scores.shape[0] != batch:
        raise ValueError(
            f"critic_fn must map [batch, ...] to [batch] or [batch, ...], got output shape "
            f"{scores.shape} for input shape {interpolates.shape}"
        )
    # Pulling back a cotangent of ones is the gradient of the summed scores: for a critic that
    # treats examples independently, row i of it is the gradient of example i's (summed) score.
    (input_grads,) = critic_vjp(jnp.ones_like(scores))

    squared_norms = _common.sum_over_non_batch(jnp.square(input_grads.astype(compute_dtype)))
    norms = jnp.sqrt(squared_norms + _SQUARED_NORM_EPSILON)
    return _common.finish(jnp.square(norms - target_norm), weights, result_dtype)
