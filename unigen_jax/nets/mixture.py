"""A Gaussian mixture as a Flax module: no layers, only the mixture's parameters.

Its params are written by closed-form updates (EM's M-step, `unigen_jax.models.em_gmm`), not
by an optimizer; the module only evaluates the log joint densities of data and components.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

COVARIANCES = ("full", "diagonal")
_LOG_2PI = math.log(2.0 * math.pi)


def mixture_log_joint(x: jax.Array, params, covariance: str) -> jax.Array:
    """log pi_k + log N(x_i; mu_k, Sigma_k) for every example and component.

    Args:
      x: [batch, D] data.
      params: {"weights": [K] mixing weights pi, "means": [K, D], "covariances": [K, D, D]
        (full) or [K, D] (diagonal: the variances)}.
      covariance: 'full' or 'diagonal'.

    Returns:
      [batch, K] log joint densities log p(x_i, z_i = k).
    """
    means, covariances = params["means"], params["covariances"]
    diff = x[:, None, :] - means[None]  # [batch, K, D]
    dim = x.shape[-1]
    if covariance == "diagonal":
        log_det = jnp.sum(jnp.log(covariances), axis=-1)  # [K]
        mahalanobis = jnp.sum(jnp.square(diff) / covariances[None], axis=-1)
    else:
        cholesky = jnp.linalg.cholesky(covariances)  # Sigma_k = L_k L_k^T
        log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(cholesky, axis1=-2, axis2=-1)), axis=-1)
        # ||L_k^{-1} (x - mu_k)||^2 = (x - mu_k)^T Sigma_k^{-1} (x - mu_k), by one triangular
        # inverse per component rather than one solve per example.
        eye = jnp.eye(dim, dtype=x.dtype)
        inverse = jax.vmap(lambda lower: jax.scipy.linalg.solve_triangular(lower, eye, lower=True))(
            cholesky
        )
        whitened = jnp.einsum("kde,bke->bkd", inverse, diff)
        mahalanobis = jnp.sum(jnp.square(whitened), axis=-1)
    log_density = -0.5 * (dim * _LOG_2PI + log_det[None] + mahalanobis)
    return jnp.log(params["weights"])[None] + log_density


class GaussianMixture(nn.Module):
    """K Gaussians in D dimensions: mixing weights, means and (full or diagonal) covariances.

    Initial params: uniform weights, means drawn from N(0, I), unit covariances (EM usually
    replaces them from data at its first step: `unigen_jax.models.em_gmm`).

    `__call__(x [batch, ...], *, train)` -> [batch, K] log joint densities
    log pi_k + log N(flatten(x); mu_k, Sigma_k) (`mixture_log_joint`).
    """

    num_components: int
    dim: int
    covariance: str = "full"

    @nn.compact
    def __call__(self, x, *, train: bool):
        del train  # no batch statistics
        k, d = self.num_components, self.dim
        weights = self.param("weights", lambda _: jnp.full((k,), 1.0 / k, jnp.float32))
        means = self.param("means", lambda key: jax.random.normal(key, (k, d), jnp.float32))

        def unit_covariances(_):
            if self.covariance == "full":
                return jnp.broadcast_to(jnp.eye(d, dtype=jnp.float32), (k, d, d))
            return jnp.ones((k, d), jnp.float32)

        covariances = self.param("covariances", unit_covariances)
        params = {"weights": weights, "means": means, "covariances": covariances}
        x = x.reshape(x.shape[0], -1).astype(jnp.float32)
        return mixture_log_joint(x, params, self.covariance)
