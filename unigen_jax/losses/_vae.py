"""Terms of variational bounds: KL divergences, log-likelihoods, the ELBO and the IWAE bound.

Every function returns per-example values of shape [batch], summed over the non-batch
dimensions (pixels, latent units). Log densities are the full normalised ones, constants
included, so that bounds are comparable with published nats. The ELBO and the IWAE bound are
quantities to maximise; a training loss is their negative.
"""

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from unigen_jax.losses import _common

_LOG_2PI = math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


def gaussian_kl_to_standard_normal(
    mean: ArrayLike, log_variance: ArrayLike, *, weights: ArrayLike | None = None
) -> jax.Array:
    """KL divergence from a diagonal Gaussian posterior to the standard normal prior.

    Objective::

      KL(N(mu, diag sigma^2) || N(0, I)) = 0.5 sum_j (sigma_j^2 + mu_j^2 - 1 - log sigma_j^2)

    Args:
      mean: [batch, ...] posterior means mu.
      log_variance: [batch, ...] posterior log variances log sigma^2, the same shape as `mean`.
      weights: optional [batch] per-example weights.

    Returns:
      [batch] KL divergences in nats, summed over the non-batch dimensions.

    References: Kingma & Welling 2014, "Auto-Encoding Variational Bayes", Appendix B;
    Hu et al. 2017 (arXiv 1706.00550) §3.3, eq. 7.

    Examples:
      N(0, 1) to itself is 0; a mean of 1 costs mu^2 / 2 = 0.5; a variance of e (log
      variance 1) costs (e - 1 - 1) / 2 = 0.3591:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> mean = jnp.array([[0.0], [1.0], [0.0]])
      >>> log_variance = jnp.array([[0.0], [0.0], [1.0]])
      >>> print(losses.gaussian_kl_to_standard_normal(mean, log_variance))
      [0.     0.5    0.3591]
    """
    mean = jnp.asarray(mean)
    log_variance = jnp.asarray(log_variance)
    batch = _common.check_same_shape("mean", mean, "log_variance", log_variance)
    weights = _common.check_weights("weights", weights, batch)
    result_dtype, compute_dtype = _common.dtypes(mean, log_variance)
    mean = mean.astype(compute_dtype)
    log_variance = log_variance.astype(compute_dtype)
    # exp(v) - 1 - v written as expm1(v) - v: exact near the optimum v = 0, where exp(v) - 1
    # would lose the small difference to rounding.
    per_unit = 0.5 * (jnp.expm1(log_variance) - log_variance + jnp.square(mean))
    return _common.finish(_common.sum_over_non_batch(per_unit), weights, result_dtype)


def diagonal_gaussian_log_density(
    x: ArrayLike, mean: ArrayLike, log_variance: ArrayLike, *, weights: ArrayLike | None = None
) -> jax.Array:
    """Log density of `x` under a diagonal Gaussian, e.g. log q(z|x) or log p(z).

    Objective::

      log N(x; mu, diag sigma^2)
        = -0.5 sum_j (log 2 pi + log sigma_j^2 + (x_j - mu_j)^2 / sigma_j^2)

    Args:
      x: [batch, ...] points.
      mean: [batch, ...] means, the same shape as `x`.
      log_variance: log variances, broadcastable to the shape of `x` (e.g. a scalar 0.0 for
        the standard normal prior together with `mean = jnp.zeros_like(x)`).
      weights: optional [batch] per-example weights.

    Returns:
      [batch] log densities, summed over the non-batch dimensions; the log importance weight
      of IWAE is diagonal_gaussian_log_density(z, 0, 0) + log p(x|z) - log q(z|x).

    References: Kingma & Welling 2014, Appendix B; Burda et al. 2016, "Importance Weighted
    Autoencoders", eq. 8.

    Examples:
      The standard normal's log density at its mode is -log(2 pi) / 2 = -0.9189 a dimension,
      and 1/2 less one standard deviation away:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> z = jnp.array([[0.0, 0.0], [1.0, 0.0]])
      >>> print(losses.diagonal_gaussian_log_density(z, jnp.zeros_like(z), 0.0))
      [-1.8379 -2.3379]
    """
    x = jnp.asarray(x)
    mean = jnp.asarray(mean)
    log_variance = jnp.asarray(log_variance)
    batch = _common.check_same_shape("x", x, "mean", mean)
    _common.check_broadcasts_to("log_variance", log_variance, x.shape, "x")
    weights = _common.check_weights("weights", weights, batch)
    result_dtype, compute_dtype = _common.dtypes(x, mean, log_variance)
    x, mean, log_variance = (a.astype(compute_dtype) for a in (x, mean, log_variance))
    # (x - mu)^2 * exp(-log sigma^2) rather than / exp(log sigma^2): one exp, no overflow of
    # the divisor for large log variances.
    per_unit = -0.5 * (_LOG_2PI + log_variance + jnp.square(x - mean) * jnp.exp(-log_variance))
    return _common.finish(_common.sum_over_non_batch(per_unit), weights, result_dtype)


def bernoulli_log_likelihood(
    logits: ArrayLike, x: ArrayLike, *, weights: ArrayLike | None = None
) -> jax.Array:
    """Log-likelihood of `x` under independent Bernoullis with the given logits.

    Objective::

      log p(x|z) = sum_j x_j log sigmoid(l_j) + (1 - x_j) log(1 - sigmoid(l_j))
                 = -sum_j [x_j softplus(-l_j) + (1 - x_j) softplus(l_j)]

    Targets in [0, 1] that are not binary (grey-level pixels) give the usual cross-entropy,
    which is then not a normalised log-probability of x.

    Args:
      logits: [batch, ...] decoder logits.
      x: [batch, ...] targets in [0, 1], the same shape as `logits`.
      weights: optional [batch] per-example weights.

    Returns:
      [batch] log-likelihoods (<= 0 for binary x), summed over the non-batch dimensions.

    References: Kingma & Welling 2014, Appendix C.1.

    Examples:
      Logits 0 (p = 1/2) give two binary pixels the probability 1/4, log(1/4) = -1.3863;
      confident right logits give nearly 0:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> x = jnp.array([[1.0, 0.0], [1.0, 0.0]])
      >>> logits = jnp.array([[0.0, 0.0], [6.0, -6.0]])
      >>> print(losses.bernoulli_log_likelihood(logits, x))
      [-1.3863 -0.0050]
    """
    logits = jnp.asarray(logits)
    x = jnp.asarray(x)
    batch = _common.check_same_shape("logits", logits, "x", x)
    weights = _common.check_weights("weights", weights, batch)
    result_dtype, compute_dtype = _common.dtypes(logits, x)
    logits = logits.astype(compute_dtype)
    x = x.astype(compute_dtype)
    # log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l): finite for any l.
    # (The shorter x l - softplus(l) cancels two huge terms when |l| is large.)
    per_unit = -(x * jax.nn.softplus(-logits) + (1.0 - x) * jax.nn.softplus(logits))
    return _common.finish(_common.sum_over_non_batch(per_unit), weights, result_dtype)


def _location_scale_setup(loc, x, log_scale, weights):
    loc = jnp.asarray(loc)
    x = jnp.asarray(x)
    log_scale = jnp.asarray(log_scale)
    batch = _common.check_same_shape("x", x, "loc", loc)
    _common.check_broadcasts_to("log_scale", log_scale, x.shape, "x")
    weights = _common.check_weights("weights", weights, batch)
    result_dtype, compute_dtype = _common.dtypes(loc, x, log_scale)
    loc, x, log_scale = (a.astype(compute_dtype) for a in (loc, x, log_scale))
    return loc, x, log_scale, weights, result_dtype


def gaussian_log_likelihood(
    mean: ArrayLike,
    x: ArrayLike,
    *,
    log_scale: ArrayLike = 0.0,
    weights: ArrayLike | None = None,
) -> jax.Array:
    """Log-likelihood of `x` under independent Gaussians N(mean, exp(log_scale)^2).

    Objective: log p(x|z) = sum_j -0.5 log 2 pi - log s_j - 0.5 ((x_j - mu_j) / s_j)^2,
    s = exp(log_scale) the standard deviation. With log_scale = 0 this is -0.5 ||x - mu||^2
    up to a constant.

    Args:
      mean: [batch, ...] decoder means.
      x: [batch, ...] data, the same shape as `mean`.
      log_scale: log standard deviation: a scalar or an array broadcastable to x's shape
        (e.g. a learned per-channel [channels] vector).
      weights: optional [batch] per-example weights.

    Returns:
      [batch] log-likelihoods, summed over the non-batch dimensions.

    References: Kingma & Welling 2014, Appendix C.2.

    Examples:
      With unit variance, a perfect reconstruction of 2 values has the log density
      2 * -log(2 pi) / 2 = -1.8379, and each unit of squared error costs 1/2 more:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> x = jnp.array([[0.5, 0.5]])
      >>> print(losses.gaussian_log_likelihood(x, x))
      [-1.8379]
      >>> print(losses.gaussian_log_likelihood(x + 1.0, x))
      [-2.8379]
    """
    mean, x, log_scale, weights, result_dtype = _location_scale_setup(mean, x, log_scale, weights)
    # (x - mu) * exp(-log s) rather than / exp(log s): one exp and no division by an overflow.
    standardized = (x - mean) * jnp.exp(-log_scale)
    per_unit = -0.5 * _LOG_2PI - log_scale - 0.5 * jnp.square(standardized)
    return _common.finish(_common.sum_over_non_batch(per_unit), weights, result_dtype)


def laplace_log_likelihood(
    loc: ArrayLike,
    x: ArrayLike,
    *,
    log_scale: ArrayLike = 0.0,
    weights: ArrayLike | None = None,
) -> jax.Array:
    """Log-likelihood of `x` under independent Laplace distributions (an L1 reconstruction).

    Objective: log p(x|z) = sum_j -log 2 - log b_j - abs(x_j - mu_j) / b_j, b = exp(log_scale).
    With log_scale = 0 this is -||x - mu||_1 up to a constant (alpha-GAN's reconstruction term).

    Args:
      loc: [batch, ...] decoder locations (medians).
      x: [batch, ...] data, the same shape as `loc`.
      log_scale: log of the scale b: a scalar or an array broadcastable to x's shape.
      weights: optional [batch] per-example weights.

    Returns:
      [batch] log-likelihoods, summed over the non-batch dimensions.

    References: Rosca et al. 2017 (arXiv 1706.04987) §3 ("Likelihood Choice": the L1
    reconstruction loss as a Laplace likelihood).

    Examples:
      With unit scale, a perfect reconstruction of one value has the log density -log 2, and
      each unit of absolute error costs 1 more:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> x = jnp.array([[0.5]])
      >>> print(losses.laplace_log_likelihood(x, x))
      [-0.6931]
      >>> print(losses.laplace_log_likelihood(x - 2.0, x))
      [-2.6931]
    """
    loc, x, log_scale, weights, result_dtype = _location_scale_setup(loc, x, log_scale, weights)
    per_unit = -_LOG_2 - log_scale - jnp.abs(x - loc) * jnp.exp(-log_scale)
    return _common.finish(_common.sum_over_non_batch(per_unit), weights, result_dtype)


def elbo(
    log_likelihood: ArrayLike,
    kl: ArrayLike,
    *,
    beta: float = 1.0,
    weights: ArrayLike | None = None,
) -> jax.Array:
    """Evidence lower bound per example, with the beta-VAE weight on the KL term.

    Objective (maximised): E_q(z|x)[log p(x|z)] - beta KL(q(z|x) || p(z)); beta = 1 gives the
    ELBO <= log p(x), beta > 1 the beta-VAE objective. The training loss is -elbo(...).

    Args:
      log_likelihood: [batch] (single-sample estimates of) E_q[log p(x|z)], e.g. from
        `bernoulli_log_likelihood`.
      kl: [batch] KL terms, e.g. from `gaussian_kl_to_standard_normal`.
      beta: weight of the KL term.
      weights: optional [batch] per-example weights (e.g. AA-VAE's D(x), Hu et al. eq. 16).

    Returns:
      [batch] log_likelihood - beta * kl.

    References: Kingma & Welling 2014, eq. 3; Hu et al. 2017 (arXiv 1706.00550) §3.3, eq. 7;
    Higgins et al. 2017, "beta-VAE".

    Examples:
      The bound of a VAE on two examples (the loss to minimise is its negative mean), and
      beta = 4 weighting the KL four times:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> mean = jnp.array([[0.0], [1.0]])
      >>> kl = losses.gaussian_kl_to_standard_normal(mean, jnp.zeros_like(mean))  # [0, 0.5]
      >>> log_likelihood = jnp.array([-10.0, -12.0])
      >>> print(losses.elbo(log_likelihood, kl))
      [-10.  -12.5]
      >>> print(losses.elbo(log_likelihood, kl, beta=4.0))
      [-10. -14.]
    """
    log_likelihood = jnp.asarray(log_likelihood)
    kl = jnp.asarray(kl)
    batch = _common.check_same_shape("log_likelihood", log_likelihood, "kl", kl)
    if log_likelihood.ndim != 1:
        raise ValueError(f"log_likelihood and kl must have shape [batch], got {kl.shape}")
    weights = _common.check_weights("weights", weights, batch)
    result_dtype, compute_dtype = _common.dtypes(log_likelihood, kl)
    bound = log_likelihood.astype(compute_dtype) - beta * kl.astype(compute_dtype)
    return _common.finish(bound, weights, result_dtype)


def importance_weighted_bound(
    log_weights: ArrayLike, *, weights: ArrayLike | None = None
) -> jax.Array:
    """The k-sample importance weighted lower bound L_k on log p(x) (IWAE).

    Objective (maximised): L_k = log (1/k) sum_i w_i = logsumexp_i(log w_i) - log k, with
    log w_i = log p(x, z_i) - log q(z_i|x), z_i ~ q(z|x). L_1 is the ELBO, L_k <= L_{k+1}
    <= log p(x) in expectation, and L_k -> log p(x) as k grows.

    Args:
      log_weights: [k, batch] log importance weights, k samples per example.
      weights: optional [batch] per-example weights (not the importance weights).

    Returns:
      [batch] bounds.

    References: Burda, Grosse, Salakhutdinov 2016, "Importance Weighted Autoencoders", eq. 8
    and Theorem 1; Hu et al. 2017 (arXiv 1706.00550) §4.1, eq. 12 (the same bound for IWGAN).

    Examples:
      Two samples with weights 1 and 3: L_2 = log((1 + 3) / 2) = log 2, above the ELBO's
      estimate from the same draws, the mean log weight log(3) / 2 = 0.5493:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> log_weights = jnp.log(jnp.array([[1.0], [3.0]]))  # [k = 2, batch = 1]
      >>> print(losses.importance_weighted_bound(log_weights))
      [0.6931]
      >>> single_draws = log_weights.reshape(1, 2)  # each draw alone: k = 1, the ELBO
      >>> print(jnp.mean(losses.importance_weighted_bound(single_draws)))
      0.5493
    """
    log_weights = jnp.asarray(log_weights)
    if log_weights.ndim != 2:
        raise ValueError(f"log_weights must have shape [k, batch], got {log_weights.shape}")
    num_samples, batch = log_weights.shape
    if num_samples < 1:
        raise ValueError(
            f"log_weights needs at least one sample per example, got shape {log_weights.shape}"
        )
    weights = _common.check_weights("weights", weights, batch)
    result_dtype, compute_dtype = _common.dtypes(log_weights)
    # logsumexp subtracts the largest log weight before exponentiating: no overflow for
    # log weights in the thousands (typical of images), and a softmax gradient.
    bound = jax.nn.logsumexp(log_weights.astype(compute_dtype), axis=0) - math.log(num_samples)
    return _common.finish(bound, weights, result_dtype)


def unlabelled_bound(
    class_logits: ArrayLike, labelled_bounds: ArrayLike, *, weights: ArrayLike | None = None
) -> jax.Array:
    """The semi-supervised VAE's bound on log p(x) for an unlabelled x (Kingma et al. M2).

    Objective (maximised)::

      -U(x) = sum_y q(y|x) B(x, y) + H(q(y|x))

    where B(x, y) <= log p(x, y) is the labelled bound (the ELBO of x with label y, including
    log p(y)) and q(y|x) = softmax(class_logits). With exact B = log p(x, y) it equals
    log p(x) - KL(q(y|x) || p(y|x)) <= log p(x), with equality at q(y|x) = p(y|x).

    Args:
      class_logits: [batch, K] logits of the classifier q(y|x).
      labelled_bounds: [batch, K] B(x, y) for every label y.
      weights: optional [batch] per-example weights (AA-SVAE's D(x)).

    Returns:
      [batch] bounds.

    Reference: Kingma, Rezende, Mohamed, Welling 2014, "Semi-supervised Learning with Deep
    Generative Models" (arXiv 1406.5298), eq. 7 (U(x) = -this); Hu et al. 2017
    (arXiv 1706.00550) Section 5.2 (SVAE).

    Examples:
      An undecided classifier over 2 classes whose labelled bounds are both -10 adds its
      entropy, log 2, to the expected bound: -10 + 0.6931:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> class_logits = jnp.array([[0.0, 0.0]])
      >>> labelled_bounds = jnp.array([[-10.0, -10.0]])
      >>> print(losses.unlabelled_bound(class_logits, labelled_bounds))
      [-9.3069]
    """
    class_logits = jnp.asarray(class_logits)
    labelled_bounds = jnp.asarray(labelled_bounds)
    batch = _common.check_same_shape(
        "class_logits", class_logits, "labelled_bounds", labelled_bounds
    )
    if class_logits.ndim != 2:
        raise ValueError(f"class_logits must have shape [batch, K], got {class_logits.shape}")
    weights = _common.check_weights("weights", weights, batch)
    result_dtype, compute_dtype = _common.dtypes(class_logits, labelled_bounds)
    log_q = jax.nn.log_softmax(class_logits.astype(compute_dtype), axis=-1)
    q = jnp.exp(log_q)
    bound = jnp.sum(q * (labelled_bounds.astype(compute_dtype) - log_q), axis=-1)
    return _common.finish(bound, weights, result_dtype)
