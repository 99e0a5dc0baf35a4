"""Statistics of a minibatch of latent codes: the empirical KL to the standard normal.

Unlike the per-example losses of this package, the empirical KL is a property of the whole
minibatch (its per-dimension moments), so it returns a scalar.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from unigen_jax.losses import _common
from unigen_jax.losses._vae import gaussian_kl_to_standard_normal


def _mean_over_batch(x: jax.Array) -> jax.Array:
    return jnp.mean(x, axis=0)


def empirical_gaussian_kl(
    codes: ArrayLike,
    *,
    batch_mean: Callable[[jax.Array], jax.Array] | None = None,
) -> jax.Array:
    """KL from the Gaussian fitted to a minibatch of codes, dimension by dimension, to N(0, 1),
    divided by the latent size.

    Objective: with m_j and s_j^2 the sample mean and (biased, 1/N) sample variance of code
    dimension j over the minibatch of N codes of size M::

      (1 / M) sum_j KL(N(m_j, s_j^2) || N(0, 1))
        = (1 / M) sum_j (s_j^2 + m_j^2 - 1 - log s_j^2) / 2

    Correlations between dimensions are ignored (the fitted Gaussian is diagonal).

    Args:
      codes: [batch, M] (or [batch, ...], flattened) codes.
      batch_mean: the reduction over the batch, `x[batch, ...] -> [...]` (default: the mean
        over axis 0 of `codes`). Inside a data-parallel step pass `nets.batch_mean` of the
        model's `Networks` handle, so that m_j and s_j^2 are the GLOBAL batch's moments on any
        number of devices (and the gradient is that of the global statistic).

    Returns:
      A scalar: the divergence per latent dimension, in nats (differentiable in `codes`).

    References: Rosca et al. 2017, "Variational Approaches for Auto-Encoding Generative
    Adversarial Networks" (arXiv 1706.04987), Appendix D, eq. 18 (divided by the latent size
    there, "to use the same hyperparameters for different latent sizes"); Ulyanov, Vedaldi,
    Lempitsky 2017, "It Takes (Only) Two: Adversarial Generator-Encoder Networks"
    (arXiv 1704.02304), their divergence estimate between the codes and the prior.

    Examples:
      Codes whose batch mean is 0 and variance 1 in every dimension give 0; a variance of 4
      gives (4 - 1 - log 4) / 2 = 0.8069 in that dimension, halved over the 2 dimensions:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> codes = jnp.array([[1.0, 2.0], [-1.0, -2.0]])
      >>> print(losses.empirical_gaussian_kl(codes[:, :1]))
      0.0
      >>> print(losses.empirical_gaussian_kl(codes))
      0.4034
    """
    codes = jnp.asarray(codes)
    _common.batch_size("codes", codes)
    result_dtype, compute_dtype = _common.dtypes(codes)
    codes = codes.reshape(codes.shape[0], -1).astype(compute_dtype)
    reduce = _mean_over_batch if batch_mean is None else batch_mean
    mean = reduce(codes)
    variance = reduce(jnp.square(codes - mean))
    kl = gaussian_kl_to_standard_normal(mean[None], jnp.log(variance)[None])[0]
    return (kl / codes.shape[1]).astype(result_dtype)
