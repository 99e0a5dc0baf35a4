"""GAN stabilisers of the survey of Bajaj & Singh (Section 3): feature matching, annealed
instance noise and the consensus regulariser.

Feature matching and the consensus regulariser are statistics of the whole minibatch (a mean
feature vector, a gradient of the batch's loss), so they return scalars.
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from unigen_jax.losses import _common


def _mean_over_batch(x: jax.Array) -> jax.Array:
    return jnp.mean(x, axis=0)


def feature_matching_generator_loss(
    real_features: ArrayLike,
    fake_features: ArrayLike,
    *,
    batch_mean: Callable[[jax.Array], jax.Array] | None = None,
) -> jax.Array:
    """Generator loss of feature matching: the squared distance between the mean features of
    real and generated data at an intermediate layer f of the discriminator.

    Objective (minimised by G), both expectations the minibatch means::

      || E_x f(x) - E_z f(G(z)) ||_2^2

    It replaces the generator's usual objective, so G matches the statistics of the data in
    D's features instead of maximising D's output on the current D (which it can overfit to:
    overtraining on the discriminator).

    Args:
      real_features: [batch, ...] f(x) on real data (flattened per example).
      fake_features: [batch', ...] f(G(z)) on generated data, the same per-example size.
      batch_mean: the reduction over the batch, `x[batch, ...] -> [...]` (default: the mean
        over axis 0). Inside a data-parallel step pass `nets.batch_mean`, so that the means
        are the GLOBAL batch's on any number of devices.

    Returns:
      A scalar (differentiable in both arguments; the caller holds the real side constant).

    References: Salimans et al. 2016, "Improved Techniques for Training GANs" (arXiv
    1606.03498), Section 3.1; the survey of Bajaj & Singh, Section 3.

    Examples:
      Mean features (2, 3) on real data and (1, 1) on generated data are 1 and 2 apart:
      1^2 + 2^2 = 5:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> real_features = jnp.array([[1.0, 2.0], [3.0, 4.0]])
      >>> fake_features = jnp.array([[0.0, 0.0], [2.0, 2.0]])
      >>> print(losses.feature_matching_generator_loss(real_features, fake_features))
      5.0
    """
    real = jnp.asarray(real_features)
    fake = jnp.asarray(fake_features)
    _common.batch_size("real_features", real)
    _common.batch_size("fake_features", fake)
    result_dtype, compute_dtype = _common.dtypes(real, fake)
    real = real.reshape(real.shape[0], -1).astype(compute_dtype)
    fake = fake.reshape(fake.shape[0], -1).astype(compute_dtype)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real_features and fake_features must have the same size per example, got "
            f"shapes {jnp.shape(real_features)} and {jnp.shape(fake_features)}"
        )
    reduce = _mean_over_batch if batch_mean is None else batch_mean
    return jnp.sum(jnp.square(reduce(real) - reduce(fake))).astype(result_dtype)


def instance_noise_std(step: ArrayLike, *, initial_std: float, anneal_steps: int) -> jax.Array:
    """The standard deviation of annealed instance noise at a training step.

    Objective: D sees x + sigma_t * eps and G(z) + sigma_t * eps', eps, eps' ~ N(0, I), with::

      sigma_t = initial_std * max(0, 1 - t / anneal_steps)

    linear annealing to zero at step `anneal_steps` (and zero after). Noise on both inputs
    makes the real and generated distributions overlap, so that the divergence D estimates
    stays defined and its gradient informative while they are still apart; annealing it
    recovers the noise-free game.

    Args:
      step: the training step t (an int scalar, traced or not).
      initial_std: sigma_0 >= 0, in data units.
      anneal_steps: T >= 1.

    Returns:
      A float32 scalar sigma_t.

    References: Sønderby et al. 2016, "Amortised MAP Inference for Image Super-resolution"
    (arXiv 1610.04490): instance noise, annealed; Arjovsky & Bottou 2017, "Towards Principled
    Methods for Training Generative Adversarial Networks" (arXiv 1701.04862), Section 3:
    noise on both distributions; the survey of Bajaj & Singh, Section 3.

    Examples:
      Halved half-way, zero from `anneal_steps` on:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> steps = jnp.array([0, 50, 100, 150])
      >>> print(losses.instance_noise_std(steps, initial_std=0.1, anneal_steps=100))
      [0.1  0.05 0.   0.  ]
    """
    if anneal_steps < 1:
        raise ValueError(f"anneal_steps must be >= 1, got {anneal_steps}")
    remaining = 1.0 - jnp.asarray(step, jnp.float32) / anneal_steps
    return initial_std * jnp.maximum(remaining, 0.0)


def consensus_regularizer(
    player_losses: Sequence[Callable[[object], jax.Array]],
    player_params: Sequence[object],
    *,
    reduce_gradients: Callable[[object], object] | None = None,
) -> jax.Array:
    """Half the squared norm of the game's joint gradient field (consensus optimisation).

    Objective: with v = (grad_{theta_1} L_1, ..., grad_{theta_n} L_n), each player's gradient
    of its own loss at the current params::

      R = 1/2 ||v||^2 = 1/2 sum_i ||grad_{theta_i} L_i||^2

    added, times gamma, to EVERY player's loss (player i minimises L_i + gamma * R). Simultaneous
    gradient descent on a game may cycle or diverge where the Jacobian of v has eigenvalues
    with zero real part and large imaginary part; the gradient of R, a conservative field,
    pulls the players towards points where v vanishes (their Section 3 and Algorithm 1).
    R is differentiable in every player's params: its gradient needs second derivatives
    (double backprop), which JAX gives when the losses close over the outer params.

    Args:
      player_losses: each player's loss as a function of its own params, L_i(theta_i) -> a
        scalar (the other players' params closed over, differentiable).
      player_params: each player's params theta_i (any pytree), where v is evaluated.
      reduce_gradients: applied to v (a tuple of each player's gradient) before the norm:
        inside a data-parallel step `nets.device_mean`, so that v is the gradient of the
        GLOBAL batch's losses (default: none).

    Returns:
      A scalar R.

    References: Mescheder, Nowozin, Geiger 2017, "The Numerics of GANs" (arXiv 1705.10461),
    Section 3 and Algorithm 1 (the survey of Bajaj & Singh, its reference [25]).

    Examples:
      Player 1 with L_1(a) = a^2 at a = 1 (gradient 2) and player 2 with L_2(b) = 3 b
      (gradient 3): R = (2^2 + 3^2) / 2 = 6.5, and its gradient in a is
      d/da (2 a)^2 / 2 = 4 a = 4:

      >>> import jax, jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> def regulariser(a, b):
      ...     return losses.consensus_regularizer([lambda a: a**2, lambda b: 3.0 * b], [a, b])
      >>> print(regulariser(1.0, 0.0))
      6.5
      >>> print(jax.grad(regulariser)(1.0, 0.0))
      4.0
    """
    if len(player_losses) != len(player_params):
        raise ValueError(
            f"one params tree a player: got {len(player_losses)} losses and "
            f"{len(player_params)} params"
        )
    field = tuple(
        jax.grad(loss)(params) for loss, params in zip(player_losses, player_params, strict=True)
    )
    if reduce_gradients is not None:
        field = reduce_gradients(field)
    leaves = jax.tree.leaves(field)
    return 0.5 * sum(jnp.sum(jnp.square(leaf.astype(jnp.float32))) for leaf in leaves)
