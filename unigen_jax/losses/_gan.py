"""Generator and discriminator losses of the GAN families, per example.

Naming follows TF-GAN: `<family>_generator_loss(fake_logits, *, weights=None, ...)` and
`<family>_discriminator_loss(real_logits, fake_logits, *, real_weights=None,
fake_weights=None, ...)`.

Every loss returns values of shape [batch]. Discriminator outputs may be patch-shaped
[batch, ...] (PatchGAN): the loss of each output element is computed and then averaged over
the non-batch dimensions, so every patch counts as one classifier. A discriminator loss
returns the real term plus the fake term of each example, so `real_logits` and
`fake_logits` must have the same batch size (their patch shapes may differ).

In the logistic families D(x) = sigmoid(logit); all log-sigmoids are written with softplus,
log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l), which stay finite,
with finite gradients, for logits of any magnitude.
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from unigen_jax.losses import _common


def _generator_setup(fake_logits: ArrayLike, weights: ArrayLike | None):
    """Checks shapes; returns (fake logits in the compute dtype, weights, result dtype)."""
    fake_logits = jnp.asarray(fake_logits)
    batch = _common.batch_size("fake_logits", fake_logits)
    weights = _common.check_weights("weights", weights, batch)
    result_dtype, compute_dtype = _common.dtypes(fake_logits)
    return fake_logits.astype(compute_dtype), weights, result_dtype


def _discriminator_setup(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    real_weights: ArrayLike | None,
    fake_weights: ArrayLike | None,
):
    """Checks shapes; returns (real, fake, real_weights, fake_weights, result dtype)."""
    real_logits = jnp.asarray(real_logits)
    fake_logits = jnp.asarray(fake_logits)
    batch = _common.check_same_batch("real_logits", real_logits, "fake_logits", fake_logits)
    real_weights = _common.check_weights("real_weights", real_weights, batch)
    fake_weights = _common.check_weights("fake_weights", fake_weights, batch)
    result_dtype, compute_dtype = _common.dtypes(real_logits, fake_logits)
    return (
        real_logits.astype(compute_dtype),
        fake_logits.astype(compute_dtype),
        real_weights,
        fake_weights,
        result_dtype,
    )


def _weighted(values: jax.Array, weights: jax.Array | None) -> jax.Array:
    """[batch, ...] element losses -> [batch]: patch mean, then the per-example weight."""
    return _common.finish(_common.mean_over_non_batch(values), weights, values.dtype)


def _discriminator_total(real_terms, fake_terms, real_weights, fake_weights, result_dtype):
    """Per-example real term plus fake term, each patch-averaged and weighted."""
    total = _weighted(real_terms, real_weights) + _weighted(fake_terms, fake_weights)
    return total.astype(result_dtype)


# ------------------------------------------------------------------------------------------
# Minimax and modified (non-saturating) GAN: Goodfellow et al. 2014.


def minimax_generator_loss(
    fake_logits: ArrayLike, *, weights: ArrayLike | None = None
) -> jax.Array:
    """Generator loss of the original minimax GAN; saturates when D rejects the fakes.

    Objective (minimised by G): log(1 - D(G(z))) = -softplus(fake_logits).

    Args:
      fake_logits: [batch, ...] discriminator logits on generated samples.
      weights: optional [batch] per-example weights.

    Returns:
      [batch] per-example losses.

    References: Goodfellow et al. 2014, "Generative Adversarial Nets", eq. 1; Hu et al. 2017
    (arXiv 1706.00550) §3.2.

    Examples:
      Where D is undecided (logit 0, D = 1/2) the loss is log(1/2); where D rejects the fake
      (logit -3) it is near 0, and so is its gradient (the saturation):

      >>> import jax, jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> print(losses.minimax_generator_loss(jnp.array([0.0, -3.0])))
      [-0.6931 -0.0486]
      >>> print(jax.grad(lambda l: losses.minimax_generator_loss(l)[0])(jnp.array([-3.0])))
      [-0.0474]
    """
    fake, weights, result_dtype = _generator_setup(fake_logits, weights)
    # log(1 - sigmoid(l)) = -softplus(l): no 1 - sigmoid cancellation, finite for any l.
    return _weighted(-jax.nn.softplus(fake), weights).astype(result_dtype)


def _logistic_discriminator_loss(
    real_logits, fake_logits, real_weights, fake_weights, label_smoothing
) -> jax.Array:
    if isinstance(label_smoothing, (int, float)) and not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
    real, fake, real_weights, fake_weights, result_dtype = _discriminator_setup(
        real_logits, fake_logits, real_weights, fake_weights
    )
    real_target = 1.0 - label_smoothing
    # Binary cross-entropy with target t: -t log sigmoid(l) - (1 - t) log(1 - sigmoid(l))
    # = t softplus(-l) + (1 - t) softplus(l), with no log of a rounded-to-zero probability.
    real_terms = real_target * jax.nn.softplus(-real) + (1.0 - real_target) * jax.nn.softplus(real)
    fake_terms = jax.nn.softplus(fake)  # -log(1 - sigmoid(l)) = softplus(l).
    return _discriminator_total(real_terms, fake_terms, real_weights, fake_weights, result_dtype)


def minimax_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    real_weights: ArrayLike | None = None,
    fake_weights: ArrayLike | None = None,
    label_smoothing: float = 0.0,
) -> jax.Array:
    """Discriminator loss of the logistic GAN: binary cross-entropy, real = 1, fake = 0.

    Objective (minimised by D), with t = 1 - label_smoothing::

      -t log D(x) - (1 - t) log(1 - D(x)) - log(1 - D(G(z)))
      = t softplus(-real_logits) + (1 - t) softplus(real_logits) + softplus(fake_logits).

    Its minimiser is D*(x) = p_data(x) / (p_data(x) + p_g(x)), i.e. logit* = log p_data - log p_g
    (with t = 1). One-sided label smoothing moves only the real target to 1 - label_smoothing
    (Salimans et al. 2016); note TF-GAN instead uses 1 - label_smoothing / 2.

    Args:
      real_logits: [batch, ...] discriminator logits on real data.
      fake_logits: [batch, ...] discriminator logits on generated samples; same batch size.
      real_weights: optional [batch] weights of the real terms.
      fake_weights: optional [batch] weights of the fake terms.
      label_smoothing: in [0, 1); the real target becomes 1 - label_smoothing.

    Returns:
      [batch] per-example real term + fake term.

    References: Goodfellow et al. 2014, eq. 1 and Prop. 1; Hu et al. 2017 (arXiv 1706.00550) §3.2;
    Salimans et al. 2016, "Improved Techniques for Training GANs", §3.4.

    Examples:
      An undecided D (both logits 0) pays log 2 on each side, 2 log 2 = 1.3863; a D sure of
      both (real logit 5, fake logit -5) pays little, 2 softplus(-5):

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> real_logits = jnp.array([0.0, 5.0])
      >>> fake_logits = jnp.array([0.0, -5.0])
      >>> print(losses.minimax_discriminator_loss(real_logits, fake_logits))
      [1.3863 0.0134]
    """
    return _logistic_discriminator_loss(
        real_logits, fake_logits, real_weights, fake_weights, label_smoothing
    )


def modified_generator_loss(
    fake_logits: ArrayLike, *, weights: ArrayLike | None = None
) -> jax.Array:
    """Non-saturating generator loss: G maximises log D(G(z)).

    Objective (minimised by G): -log D(G(z)) = softplus(-fake_logits).

    Args:
      fake_logits: [batch, ...] discriminator logits on generated samples.
      weights: optional [batch] per-example weights (e.g. IWGAN's importance weights).

    Returns:
      [batch] per-example losses.

    References: Goodfellow et al. 2014, §3; Hu et al. 2017 (arXiv 1706.00550) §3.2.

    Examples:
      -log D(G(z)): log 2 = 0.6931 where D is undecided (logit 0), large where D rejects the
      fake (logit -3), with a gradient near -1 there, where the minimax loss saturates:

      >>> import jax, jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> print(losses.modified_generator_loss(jnp.array([0.0, -3.0])))
      [0.6931 3.0486]
      >>> print(jax.grad(lambda l: losses.modified_generator_loss(l)[0])(jnp.array([-3.0])))
      [-0.9526]

      Weighted per example (IWGAN, Hu et al. 2017, eq. 15: the weights held constant):

      >>> fake_logits = jnp.array([0.0, 0.0])
      >>> w = losses.importance_weights(fake_logits)  # [0.5, 0.5]
      >>> print(jnp.sum(losses.modified_generator_loss(fake_logits, weights=w)))
      0.6931
    """
    fake, weights, result_dtype = _generator_setup(fake_logits, weights)
    # -log sigmoid(l) = softplus(-l): finite value and gradient for any l.
    return _weighted(jax.nn.softplus(-fake), weights).astype(result_dtype)


def modified_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    real_weights: ArrayLike | None = None,
    fake_weights: ArrayLike | None = None,
    label_smoothing: float = 0.0,
) -> jax.Array:
    """Discriminator loss paired with the non-saturating generator; same as the minimax one.

    Objective (minimised by D), with t = 1 - label_smoothing::

      t softplus(-real_logits) + (1 - t) softplus(real_logits) + softplus(fake_logits)

    Args:
      real_logits: [batch, ...] discriminator logits on real data.
      fake_logits: [batch, ...] discriminator logits on generated samples; same batch size.
      real_weights: optional [batch] weights of the real terms.
      fake_weights: optional [batch] weights of the fake terms.
      label_smoothing: in [0, 1); one-sided, the real target becomes 1 - label_smoothing.

    Returns:
      [batch] per-example real term + fake term.

    References: Goodfellow et al. 2014; Hu et al. 2017 (arXiv 1706.00550) §3.2; Salimans et
    al. 2016.

    Examples:
      Logits 0 on both sides cost 2 log 2 = 1.3863 with or without smoothing; one-sided label
      smoothing (target 0.9) penalises a real logit of 5 that the plain loss accepts:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> real_logits = jnp.array([0.0, 5.0])
      >>> fake_logits = jnp.array([0.0, -5.0])
      >>> print(losses.modified_discriminator_loss(real_logits, fake_logits))
      [1.3863 0.0134]
      >>> print(losses.modified_discriminator_loss(real_logits, fake_logits, label_smoothing=0.1))
      [1.3863 0.5134]
    """
    return _logistic_discriminator_loss(
        real_logits, fake_logits, real_weights, fake_weights, label_smoothing
    )


# ------------------------------------------------------------------------------------------
# Wasserstein GAN: Arjovsky et al. 2017.


def wasserstein_generator_loss(
    fake_logits: ArrayLike, *, weights: ArrayLike | None = None
) -> jax.Array:
    """Wasserstein generator loss: G raises the critic's score of its samples.

    Objective (minimised by G): -f(G(z)), f the critic.

    Args:
      fake_logits: [batch, ...] critic outputs on generated samples.
      weights: optional [batch] per-example weights.

    Returns:
      [batch] per-example losses.

    References: Arjovsky, Chintala, Bottou 2017, "Wasserstein GAN", Algorithm 1.

    Examples:
      The negated critic scores (the hinge GAN's generator loss is the same function):

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> print(losses.wasserstein_generator_loss(jnp.array([1.5, -2.0])))
      [-1.5  2. ]
    """
    fake, weights, result_dtype = _generator_setup(fake_logits, weights)
    return _weighted(-fake, weights).astype(result_dtype)


def wasserstein_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    real_weights: ArrayLike | None = None,
    fake_weights: ArrayLike | None = None,
) -> jax.Array:
    """Wasserstein critic loss: its negative estimates the Wasserstein-1 distance.

    Objective (minimised by the critic f, kept Lipschitz by clipping or a gradient penalty):
    f(G(z)) - f(x).

    Args:
      real_logits: [batch, ...] critic outputs on real data.
      fake_logits: [batch, ...] critic outputs on generated samples; same batch size.
      real_weights: optional [batch] weights of the real terms.
      fake_weights: optional [batch] weights of the fake terms.

    Returns:
      [batch] per-example real term + fake term.

    References: Arjovsky, Chintala, Bottou 2017, "Wasserstein GAN", Algorithm 1.

    Examples:
      The batch mean of the negated loss is the critic's estimate of the Wasserstein-1
      distance, E f(x) - E f(G(z)) = (2 + 0) / 2 = 1 here:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> real_scores = jnp.array([3.0, 1.0])
      >>> fake_scores = jnp.array([1.0, 1.0])
      >>> print(losses.wasserstein_discriminator_loss(real_scores, fake_scores))
      [-2.  0.]
      >>> print(-jnp.mean(losses.wasserstein_discriminator_loss(real_scores, fake_scores)))
      1.0
    """
    real, fake, real_weights, fake_weights, result_dtype = _discriminator_setup(
        real_logits, fake_logits, real_weights, fake_weights
    )
    return _discriminator_total(-real, fake, real_weights, fake_weights, result_dtype)


# ------------------------------------------------------------------------------------------
# Hinge GAN: Lim & Ye 2017 (Geometric GAN); Miyato et al. 2018 (SN-GAN).


# The hinge GAN's generator minimises -D(G(z)), the Wasserstein generator loss (TF-GAN aliases
# it the same way). Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, "Spectral
# Normalization for GANs".
hinge_generator_loss = wasserstein_generator_loss


def hinge_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    real_weights: ArrayLike | None = None,
    fake_weights: ArrayLike | None = None,
) -> jax.Array:
    """Hinge-GAN discriminator loss: a margin of 1 on each side.

    Objective (minimised by D): relu(1 - D(x)) + relu(1 + D(G(z))).

    Args:
      real_logits: [batch, ...] discriminator outputs on real data.
      fake_logits: [batch, ...] discriminator outputs on generated samples; same batch size.
      real_weights: optional [batch] weights of the real terms.
      fake_weights: optional [batch] weights of the fake terms.

    Returns:
      [batch] per-example real term + fake term.

    References: Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, "Spectral Normalization
    for GANs".

    Examples:
      Outputs beyond the margins (real >= 1, fake <= -1) cost nothing; inside, the distance to
      the margin: relu(1 - 0.5) + relu(1 + 0.5) = 2:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> print(losses.hinge_discriminator_loss(jnp.array([2.0, 0.5]), jnp.array([-2.0, 0.5])))
      [0. 2.]
    """
    real, fake, real_weights, fake_weights, result_dtype = _discriminator_setup(
        real_logits, fake_logits, real_weights, fake_weights
    )
    return _discriminator_total(
        jax.nn.relu(1.0 - real), jax.nn.relu(1.0 + fake), real_weights, fake_weights, result_dtype
    )


# ------------------------------------------------------------------------------------------
# Least-squares GAN: Mao et al. 2017.


def least_squares_generator_loss(
    fake_logits: ArrayLike, *, weights: ArrayLike | None = None, real_label: float = 1.0
) -> jax.Array:
    """Least-squares generator loss: pull D's outputs on fakes to the real label.

    Objective (minimised by G): 0.5 (D(G(z)) - real_label)^2, D's raw output (no sigmoid).

    Args:
      fake_logits: [batch, ...] discriminator outputs on generated samples.
      weights: optional [batch] per-example weights.
      real_label: the target c of Mao et al. eq. 2.

    Returns:
      [batch] per-example losses.

    References: Mao et al. 2017, "Least Squares Generative Adversarial Networks", eq. 2.

    Examples:
      Half the squared distance of D's output to the real label 1:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> print(losses.least_squares_generator_loss(jnp.array([1.0, 0.0, -1.0])))
      [0.  0.5 2. ]
    """
    fake, weights, result_dtype = _generator_setup(fake_logits, weights)
    return _weighted(0.5 * jnp.square(fake - real_label), weights).astype(result_dtype)


def least_squares_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    *,
    real_weights: ArrayLike | None = None,
    fake_weights: ArrayLike | None = None,
    real_label: float = 1.0,
    fake_label: float = 0.0,
) -> jax.Array:
    """Least-squares discriminator loss: regress outputs to the real and fake labels.

    Objective (minimised by D): 0.5 (D(x) - real_label)^2 + 0.5 (D(G(z)) - fake_label)^2.
    Its minimiser is D*(x) = (real_label p_data + fake_label p_g) / (p_data + p_g).

    Args:
      real_logits: [batch, ...] discriminator outputs on real data.
      fake_logits: [batch, ...] discriminator outputs on generated samples; same batch size.
      real_weights: optional [batch] weights of the real terms.
      fake_weights: optional [batch] weights of the fake terms.
      real_label: the target b of Mao et al. eq. 2.
      fake_label: the target a of Mao et al. eq. 2.

    Returns:
      [batch] per-example real term + fake term.

    References: Mao et al. 2017, eq. 2 and §3.2.2.

    Examples:
      A D that outputs the labels (real 1, fake 0) pays 0; one that swaps them pays
      0.5 + 0.5 = 1:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> print(losses.least_squares_discriminator_loss(jnp.array([1.0, 0.0]),
      ...                                               jnp.array([0.0, 1.0])))
      [0. 1.]
    """
    real, fake, real_weights, fake_weights, result_dtype = _discriminator_setup(
        real_logits, fake_logits, real_weights, fake_weights
    )
    return _discriminator_total(
        0.5 * jnp.square(real - real_label),
        0.5 * jnp.square(fake - fake_label),
        real_weights,
        fake_weights,
        result_dtype,
    )


# ------------------------------------------------------------------------------------------
# Discriminator-derived example weights: Hu, Yang, Salakhutdinov, Xing 2017, arXiv 1706.00550.


def importance_weights(fake_logits: ArrayLike) -> jax.Array:
    """IWGAN's normalised importance weights of a minibatch of generated samples.

    w_i = exp(l_i) / sum_j exp(l_j), l_i the logit of D(G(z_i)): with the optimal-discriminator
    approximation w_i ~ D(x_i) / (1 - D(x_i)) = exp(l_i) (below eq. 13), normalised over the k
    samples of the minibatch (eq. 13), held constant (no gradient flows through them, eq. 15).
    For a batch split over devices use the engine's `nets.batch_softmax`, which normalises
    over the global batch.

    Args:
      fake_logits: [batch] or [batch, ...] discriminator logits on generated samples (patch
        logits are averaged per example).

    Returns:
      [batch] weights, non-negative, summing to 1.

    References: Hu et al. 2017, arXiv 1706.00550, eqs. 13 and 15.

    Examples:
      A fake that D finds 3 times likelier to be real (logit log 3, D/(1 - D) = 3) weighs 3
      times as much:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> print(losses.importance_weights(jnp.array([0.0, jnp.log(3.0)])))
      [0.25 0.75]
    """
    fake_logits = jnp.asarray(fake_logits)
    _common.batch_size("fake_logits", fake_logits)
    logits = _common.mean_over_non_batch(jax.lax.stop_gradient(fake_logits))
    return jax.nn.softmax(logits.astype(jnp.promote_types(logits.dtype, jnp.float32)))


def adversary_activation_weights(logits: ArrayLike, *, temperature: float = 1.0) -> jax.Array:
    """AA-VAE's example weights: the discriminator's probability that x is real, tempered.

    w(x) = sigmoid(l(x) / tau), held constant (no gradient): the inverted discriminator
    q^r(y|x) that weights every example's ELBO in eq. 16; tau > 1 smooths it (the paper
    cross-validates tau in {1, 1.5, 3, 5}, Section 5.2).

    Args:
      logits: [batch] or [batch, ...] discriminator logits (patch logits averaged).
      temperature: tau > 0.

    Returns:
      [batch] weights in (0, 1).

    References: Hu et al. 2017, arXiv 1706.00550, eqs. 16-18 and Section 5.2.

    Examples:
      D's probability of "real", sigmoid(logit / tau): 1/2 at logit 0; tau = 3 turns logit 3
      into sigmoid(1) = 0.7311 (0.9526 untempered):

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> print(losses.adversary_activation_weights(jnp.array([0.0, 3.0]), temperature=3.0))
      [0.5    0.7311]
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = jnp.asarray(logits)
    _common.batch_size("logits", logits)
    logits = _common.mean_over_non_batch(jax.lax.stop_gradient(logits))
    return jax.nn.sigmoid(logits / temperature)
