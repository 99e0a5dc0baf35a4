"""InfoGAN's mutual-information penalty: the negative variational lower bound on I(c; G(z, c)).

Chen et al. 2016 (arXiv 1606.03657), eqs. 4-5: for the structured codes c of the generator's
input and an auxiliary distribution Q(c|x),

  I(c; G(z, c)) >= L_I(G, Q) = E_{c ~ p(c), x ~ G(z, c)}[log Q(c|x)] + H(c).

H(c) is a constant of the code prior, so the penalty to minimise is -E[log Q(c|x)], one term per
code: a categorical code's cross-entropy and a continuous code's Gaussian negative
log-likelihood, each with its own weight lambda (Chen et al. Section 5 use lambda = 1 for
discrete codes and a smaller one for continuous codes where their scale needs it).
Hu et al. 2017 (arXiv 1706.00550), eq. 5, read the same term as the reconstruction of the code
c from x by q_eta(c|x), the generator and Q both minimising it.
"""

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from unigen_jax.losses import _common

_LOG_2PI = math.log(2.0 * math.pi)


def infogan_mutual_information_penalty(
    categorical_logits: ArrayLike | None,
    categorical_codes: ArrayLike | None,
    continuous_mean: ArrayLike | None,
    continuous_log_std: ArrayLike | None,
    continuous_codes: ArrayLike | None,
    *,
    categorical_weight: float = 1.0,
    continuous_weight: float = 1.0,
    weights: ArrayLike | None = None,
) -> jax.Array:
    """Weighted negative log-likelihood of the codes under Q: InfoGAN's -L_I (up to H(c)).

    Objective (minimised by G and Q), per example::

      categorical_weight * (-log softmax(l)_k)
      + continuous_weight * sum_j [0.5 log 2 pi + log s_j + 0.5 ((c_j - m_j) / s_j)^2]

    where k is the categorical code's value, l = categorical_logits, and Q's factored Gaussian
    over the continuous codes c_j has means m_j and standard deviations s_j = exp(log s_j).
    TF-GAN calls the same quantity `mutual_information_penalty`.

    Args:
      categorical_logits: [batch, K] Q's logits of the categorical code, or None if the model
        has no categorical code (then `categorical_codes` must be None too).
      categorical_codes: [batch] int code values in [0, K), or None.
      continuous_mean: [batch, C] Q's Gaussian means, or None if there are no continuous codes
        (then `continuous_log_std` and `continuous_codes` must be None too).
      continuous_log_std: [batch, C] Q's log standard deviations (zeros: unit variance, as in
        Chen et al.'s MNIST code), or None.
      continuous_codes: [batch, C] the continuous codes that generated each example, or None.
      categorical_weight: lambda of the categorical term (Chen et al.: 1).
      continuous_weight: lambda of the continuous term.
      weights: optional [batch] per-example weights.

    Returns:
      [batch] penalties in nats (>= 0 for the categorical term; the Gaussian term is a
      negative log density and may be negative when Q's variance is small).

    References: Chen et al. 2016 (arXiv 1606.03657), eqs. 4-6; Hu et al. 2017
    (arXiv 1706.00550), eq. 5.

    Examples:
      A Q that cannot tell which of 4 categories made x pays log 4 = 1.3863; a continuous
      code that Q's unit Gaussian centres exactly adds log(2 pi) / 2 = 0.9189:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> logits = jnp.zeros((1, 4))
      >>> codes = jnp.array([2])
      >>> print(losses.infogan_mutual_information_penalty(logits, codes, None, None, None))
      [1.3863]
      >>> c = jnp.array([[0.3]])
      >>> print(losses.infogan_mutual_information_penalty(
      ...     logits, codes, c, jnp.zeros_like(c), c))
      [2.3052]
    """
    has_categorical = categorical_logits is not None
    has_continuous = continuous_mean is not None
    if has_categorical != (categorical_codes is not None):
        raise ValueError("categorical_logits and categorical_codes must be given together")
    if not (has_continuous == (continuous_log_std is not None) == (continuous_codes is not None)):
        raise ValueError(
            "continuous_mean, continuous_log_std and continuous_codes must be given together"
        )
    if not (has_categorical or has_continuous):
        raise ValueError("give a categorical code, continuous codes, or both")
    data = []
    batch = None
    if has_categorical:
        categorical_logits = jnp.asarray(categorical_logits)
        categorical_codes = jnp.asarray(categorical_codes)
        if categorical_logits.ndim != 2:
            raise ValueError(
                f"categorical_logits must have shape [batch, K], got {categorical_logits.shape}"
            )
        if categorical_codes.shape != categorical_logits.shape[:1]:
            raise ValueError(
                f"categorical_codes must have shape [batch] = {categorical_logits.shape[:1]}, "
                f"got {categorical_codes.shape}"
            )
        if not jnp.issubdtype(categorical_codes.dtype, jnp.integer):
            raise ValueError(f"categorical_codes must be integers, got {categorical_codes.dtype}")
        batch = categorical_logits.shape[0]
        data.append(categorical_logits)
    if has_continuous:
        continuous_mean = jnp.asarray(continuous_mean)
        continuous_log_std = jnp.asarray(continuous_log_std)
        continuous_codes = jnp.asarray(continuous_codes)
        _common.check_same_shape("continuous_mean", continuous_mean, "codes", continuous_codes)
        _common.check_same_shape(
            "continuous_log_std", continuous_log_std, "codes", continuous_codes
        )
        if batch is not None:
            _common.check_same_batch(
                "categorical_logits", categorical_logits, "continuous_mean", continuous_mean
            )
        batch = continuous_mean.shape[0]
        data += [continuous_mean, continuous_log_std, continuous_codes]
    weights = _common.check_weights("weights", weights, batch)
    result_dtype, compute_dtype = _common.dtypes(*data)
    penalty = jnp.zeros((batch,), compute_dtype)
    if has_categorical:
        # log_softmax subtracts the max logit before exponentiating: finite for any logits.
        log_q = jax.nn.log_softmax(categorical_logits.astype(compute_dtype), axis=-1)
        chosen = jnp.take_along_axis(log_q, categorical_codes[:, None], axis=-1)[:, 0]
        penalty = penalty + categorical_weight * -chosen
    if has_continuous:
        mean, log_std, codes = (
            a.astype(compute_dtype) for a in (continuous_mean, continuous_log_std, continuous_codes)
        )
        # (c - m) * exp(-log s) rather than / exp(log s): one exp, no overflowing divisor.
        standardised = (codes - mean) * jnp.exp(-log_std)
        negative_log_density = 0.5 * _LOG_2PI + log_std + 0.5 * jnp.square(standardised)
        penalty = penalty + continuous_weight * _common.sum_over_non_batch(negative_log_density)
    return _common.finish(penalty, weights, result_dtype)
