"""Minibatch discrimination (Salimans et al. 2016, arXiv 1606.03498, Section 3.2): a layer of
the discriminator that lets it compare each example with the rest of its minibatch, so that a
generator collapsed onto few outputs (whose samples are all alike) is easy to reject.

With f(x_i) in R^A the features of example i and a learned tensor T in R^{A x B x C}:

  M_i = f(x_i) T                                   in R^{B x C}
  c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1)    (L1 over the C entries of row b)
  o(x_i)_b = sum_{j != i} c_b(x_i, x_j) + bias_b   in R^B

and the layer returns [f(x_i), o(x_i)] for the next layer. The paper's sum runs over every j;
the authors' code (improved-gan, `MinibatchLayer`) leaves out j = i, whose term is the constant
exp(0) = 1 that the bias absorbs, and adds a learned bias per kernel; this layer does as the
code does, with T ~ N(0, 0.05^2) as there. The minibatch is the GLOBAL batch: inside a data-
parallel step (`axis_name` set) each device's M is gathered from every device, so the features
do not depend on the device count. The generator's and the data's batches are scored in
separate calls, as the paper prescribes ("computed separately for samples from the generator
and from the training data").
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def minibatch_features(local: jax.Array, batch: jax.Array, local_indices: jax.Array) -> jax.Array:
    """o_{i,b} = sum_{j != i} exp(-||M_{i,b} - M_{j,b}||_1) of Salimans et al. (2016), Sec. 3.2.

    Args:
      local: M_i of the examples to score, [n, B, C].
      batch: M_j of every example of the minibatch, [N, B, C] (`local` among them).
      local_indices: int [n], the position of each local example in `batch` (its own term,
        j = i, is left out).

    Returns:
      [n, B] the summed kernel similarities to the other examples, in (0, N - 1].
    """
    # ||M_{i,b} - M_{j,b}||_1 as [n, N, B], summed one of the C entries at a time with B the
    # innermost axis: on XLA:CPU twice as fast as reducing a trailing axis of size C.
    distances = sum(
        jnp.abs(local[:, None, :, c] - batch[None, :, :, c]) for c in range(local.shape[-1])
    )
    others = jnp.arange(batch.shape[0])[None, :] != local_indices[:, None]  # [n, N]
    similarities = jnp.where(others[..., None], jnp.exp(-distances), 0.0)
    return jnp.sum(similarities, axis=1)


class MinibatchDiscrimination(nn.Module):
    """f [batch, A] -> [f, o(f)] [batch, A + B] (see the module docstring).

    Attributes:
      num_kernels: B, the number of similarity kernels (100 in the authors' code).
      kernel_dim: C, the size of each kernel's projection (5 in the authors' code).
      axis_name: the mapped axis the batch is sharded over; the similarities then run over
        the global batch (None: this call's batch).
    """

    num_kernels: int
    kernel_dim: int = 5
    axis_name: str | None = None

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        tensor = self.param(
            "tensor",
            nn.initializers.normal(stddev=0.05),
            (features.shape[-1], self.num_kernels, self.kernel_dim),
        )
        bias = self.param("bias", nn.initializers.zeros, (self.num_kernels,))
        projected = jnp.einsum("na,abc->nbc", features, tensor.astype(features.dtype))
        local_indices = jnp.arange(features.shape[0])
        batch = projected
        # Outside a mapped axis (initialisation, a single-device handle) the batch is local.
        if self.axis_name is not None and not self.is_initializing():
            batch = lax.all_gather(projected, self.axis_name, tiled=True)
            local_indices = local_indices + lax.axis_index(self.axis_name) * features.shape[0]
        similarities = minibatch_features(projected, batch, local_indices) + bias
        return jnp.concatenate([features, similarities.astype(features.dtype)], axis=-1)
