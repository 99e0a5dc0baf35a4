"""A planar normalising flow: K invertible maps of the latent space that turn a simple density
q_0 (a diagonal Gaussian) into a richer one, with the log-determinant of each Jacobian in closed
form.

Rezende & Mohamed 2015, "Variational Inference with Normalizing Flows" (arXiv 1505.05770)::

  f_k(z) = z + u_k h(w_k^T z + b_k),  h = tanh                                  (eq. 10)
  psi_k(z) = h'(w_k^T z + b_k) w_k                                               (eq. 11)
  |det df_k/dz| = |1 + u_k^T psi_k(z)| = |1 + h'(w_k^T z + b_k) w_k^T u_k|        (eq. 12)
  z_K = f_K o ... o f_1(z_0),  log q_K(z_K) = log q_0(z_0) - sum_k log|1 + u_k^T psi_k(z_{k-1})|
                                                                                 (eq. 13)

Invertibility (their Appendix A.1): f_k is invertible when w_k^T u_k >= -1; the free
parameter u is mapped to u_hat = u + [m(w^T u) - w^T u] w / ||w||^2 with
m(a) = -1 + softplus(a), so that w^T u_hat = m(w^T u) > -1 (`constrained_u`).

The inverse (needed to evaluate log q_K at a point that was not drawn from it, as AS-VAE's
log q(z|x) at prior samples, Pu et al. 2017, arXiv 1711.04915, eq. 11) has no closed form:
for y = f(z), alpha = w^T z solves the scalar equation alpha + (w^T u_hat) h(alpha + b) = w^T y,
whose left side increases strictly in alpha (its slope 1 + (w^T u_hat) h' > 0 because
w^T u_hat > -1 and 0 < h' <= 1), and alpha lies within `|w^T u_hat|` of w^T y (`|h| <= 1`). It is
found by bisection on that bracket, then z = y - u_hat h(alpha + b). Gradients: the bisection
runs on constants (stop_gradient) and one Newton step from its root, taken on the live
parameters, carries the implicit-function gradient d alpha = -dF / F'(alpha) exactly at the
root (F the equation's residual).

The flow's parameters are learned and shared by every x (not computed from x by the
inference network as in Rezende & Mohamed's Section 4): the posterior's dependence on x enters
through q_0 = N(mean(x), diag sigma^2(x)).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

# Bisection halves the bracket [c - |wu|, c + |wu|] (|wu| grows with training, rarely past
# 1e3): 60 halvings reach float32 resolution for any bracket up to ~1e10 wide.
_BISECTION_STEPS = 60


def constrained_u(u: jax.Array, w: jax.Array) -> jax.Array:
    """u_hat with w^T u_hat = -1 + softplus(w^T u) > -1, for one layer or a stack of layers.

    Objective: u_hat = u + [m(w^T u) - w^T u] w / ||w||^2, m(a) = -1 + softplus(a)
    (Rezende & Mohamed 2015, arXiv 1505.05770, Appendix A.1).

    Args:
      u, w: [..., d] free parameters (one row a layer).

    Returns:
      u_hat [..., d].
    """
    wu = jnp.sum(w * u, axis=-1, keepdims=True)
    m = -1.0 + jax.nn.softplus(wu)
    # A layer with w = 0 is the identity whatever u is: guard the division there.
    norm2 = jnp.maximum(jnp.sum(jnp.square(w), axis=-1, keepdims=True), 1e-12)
    return u + (m - wu) * w / norm2


def planar_forward(z0: jax.Array, u_hat: jax.Array, w: jax.Array, b: jax.Array):
    """z_K = f_K o ... o f_1(z_0) and sum_k log|det df_k/dz| (eqs. 10-13).

    Args:
      z0: [batch, d] points.
      u_hat: [K, d] constrained u (`constrained_u`); w: [K, d]; b: [K].

    Returns:
      (z_K [batch, d], log_det [batch]): the flow's image of z0 and the sum over layers of
      log|1 + h'(w_k^T z_{k-1} + b_k) w_k^T u_hat_k|.
    """

    def layer(z, params):
        u, w_k, b_k = params
        h = jnp.tanh(z @ w_k + b_k)
        log_det = jnp.log(jnp.abs(1.0 + (1.0 - jnp.square(h)) * jnp.dot(w_k, u)))  # eq. 12
        return z + h[:, None] * u, log_det

    zK, log_dets = lax.scan(layer, z0, (u_hat, w, b))
    return zK, jnp.sum(log_dets, axis=0)


def _solve_alpha(c, wu, b):
    """alpha with alpha + wu tanh(alpha + b) = c, by bisection (constants: no gradient)."""
    lower, upper = c - jnp.abs(wu), c + jnp.abs(wu)

    def halve(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        above = mid + wu * jnp.tanh(mid + b) > c
        return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

    lo, hi = lax.fori_loop(0, _BISECTION_STEPS, halve, (lower, upper))
    return 0.5 * (lo + hi)


def planar_inverse(zK: jax.Array, u_hat: jax.Array, w: jax.Array, b: jax.Array):
    """z_0 = f_1^{-1} o ... o f_K^{-1}(z_K) and the forward flow's sum_k log|det df_k/dz|
    at the recovered points (so log q_K(z_K) = log q_0(z_0) - log_det, eq. 13).

    Args:
      zK: [batch, d] points; u_hat [K, d], w [K, d], b [K] as for `planar_forward`.

    Returns:
      (z_0 [batch, d], log_det [batch]).
    """

    def layer(y, params):
        u, w_k, b_k = params
        wu = jnp.dot(w_k, u)
        c = y @ w_k
        alpha = _solve_alpha(*(lax.stop_gradient(a) for a in (c, wu, b_k)))
        # One Newton step on the live parameters: the same root, the implicit gradient.
        slope = 1.0 + wu * (1.0 - jnp.square(jnp.tanh(alpha + b_k)))
        alpha = alpha - (alpha + wu * jnp.tanh(alpha + b_k) - c) / slope
        h = jnp.tanh(alpha + b_k)
        log_det = jnp.log(jnp.abs(1.0 + (1.0 - jnp.square(h)) * wu))
        return y - h[:, None] * u, log_det

    z0, log_dets = lax.scan(layer, zK, (u_hat, w, b), reverse=True)
    return z0, jnp.sum(log_dets, axis=0)


class PlanarFlow(nn.Module):
    """K planar layers on codes [batch, d] (Rezende & Mohamed 2015, eqs. 10-13).

    Attributes:
      length: K, the number of layers (80 on MNIST in Pu et al. 2017, Section 5).

    Params: u [K, d], w [K, d], b [K]; u and w start uniform in +-1/sqrt(d) (the usual
    initialisation of a Dense layer's scale), b at 0.
    """

    length: int

    @nn.compact
    def __call__(self, z: jax.Array, *, train: bool, inverse: bool = False):
        """The flow (or its inverse) and the forward flow's log|det| per example.

        Args:
          z: [batch, d]: z_0 (forward) or z_K (`inverse=True`).
          train: unused (no normalization); accepted like the other networks'.
          inverse: map z_K back to z_0 instead.

        Returns:
          (z_K or z_0 [batch, d], log_det [batch]) with log_det = sum_k log|det df_k/dz| of the
          forward flow along the path, so log q_K(z_K) = log q_0(z_0) - log_det either way.
        """
        del train
        if self.length < 1:
            raise ValueError(f"a planar flow needs length >= 1, got {self.length}")
        d = z.shape[-1]
        scale = 1.0 / jnp.sqrt(d)

        def uniform(key, shape):
            return jax.random.uniform(key, shape, jnp.float32, -scale, scale)

        u = self.param("u", uniform, (self.length, d))
        w = self.param("w", uniform, (self.length, d))
        b = self.param("b", nn.initializers.zeros, (self.length,))
        u_hat = constrained_u(u, w)
        z = z.astype(jnp.float32)
        if inverse:
            return planar_inverse(z, u_hat, w, b)
        return planar_forward(z, u_hat, w, b)
