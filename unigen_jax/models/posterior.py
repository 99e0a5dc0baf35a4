"""The encoder's posterior q(z|x): a diagonal Gaussian N(mean(x), diag exp(log_variance(x))),
optionally followed by a planar normalising flow (the network "flow", `nets.PlanarFlow`).

Rezende & Mohamed 2015 (arXiv 1505.05770), eq. 13: z_0 ~ q_0(z|x) = N(mean, sigma^2),
z_K = f_K o ... o f_1(z_0), and

  log q_K(z_K|x) = log q_0(z_0|x) - sum_k log|det df_k/dz_{k-1}|.

Shared by the VAE with a flow posterior (`vae_flow`) and AS-VAE (Pu et al. 2017, arXiv
1711.04915, Section 5: a flow of length 80 on MNIST), which also needs log q(z|x) at codes
drawn from the prior (its eq. 11), through the flow's inverse.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from unigen_jax import losses


def prior_log_density(z: jax.Array) -> jax.Array:
    """log N(z; 0, I) per example [batch] (the prior p(z))."""
    return losses.diagonal_gaussian_log_density(z, jnp.zeros_like(z), 0.0)


def sample(nets, mean, log_variance, eps, *, flow: bool):
    """A reparameterised z ~ q(z|x) and its log density.

    Objective: z_0 = mean + exp(log_variance / 2) * eps; z = z_K (the flow's image of z_0) or
    z_0 without a flow; log q(z|x) = log N(eps; 0, I) - sum_j log_variance_j / 2 - log_det
    (eq. 13; the Gaussian's log density from eps itself, exact where (z - mean) / sigma would
    round).

    Args:
      nets: the phase's `Networks` handle (applies "flow" when `flow`).
      mean, log_variance: [batch, d] the Gaussian's.
      eps: [batch, d] standard normal noise.
      flow: whether the posterior has the planar flow.

    Returns:
      (z [batch, d], log q(z|x) [batch]).
    """
    z = mean + jnp.exp(0.5 * log_variance) * eps  # reparameterisation
    log_q = prior_log_density(eps) - 0.5 * jnp.sum(log_variance, axis=-1)
    if not flow:
        return z, log_q
    z, log_det = nets("flow", z)
    return z, log_q - log_det


def log_density(nets, z, mean, log_variance, *, flow: bool) -> jax.Array:
    """log q(z|x) [batch] at given codes z [batch, d] (not necessarily drawn from q).

    Objective: z_0 = the flow's inverse at z (z itself without a flow);
    log q(z|x) = log N(z_0; mean, diag exp(log_variance)) - log_det (eq. 13).
    """
    log_det = 0.0
    if flow:
        z, log_det = nets("flow", z, inverse=True)
    return losses.diagonal_gaussian_log_density(z, mean, log_variance) - log_det


def point_estimate(nets, mean, *, flow: bool) -> jax.Array:
    """The code reconstructions use: the Gaussian's mean, through the flow when there is one."""
    return nets("flow", mean)[0] if flow else mean
