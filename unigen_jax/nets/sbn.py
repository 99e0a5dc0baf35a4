"""Sigmoid belief network layers: the logits of a stack of conditional Bernoulli layers.

A sigmoid belief network (Neal 1992) over binary layers s_0, s_1, ..., s_L is a product of
factorial Bernoullis, p(s_i | s_{i-1}) = Bernoulli(sigmoid(W_i s_{i-1} + b_i)); the Helmholtz
machine (Dayan, Hinton, Neal, Zemel 1995) has two of them, a generative one top-down and a
recognition one bottom-up. `SigmoidBeliefNet` returns the logits W_i s_{i-1} + b_i of every
layer (teacher forcing: the states below are given) or of one layer (`layer=i`, for ancestral
sampling one layer at a time). With `prior=True`, layer 0 has no parent: its logits are a
learnt bias b_0 (a factorial Bernoulli prior), broadcast to the batch of its input.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from unigen_jax.nets._layers import flatten


class SigmoidBeliefNet(nn.Module):
    """Logits of binary layers, each an affine function of the (flattened) layer before.

    Attributes:
      sizes: units of each layer, in sampling order (layer 0 first).
      prior: layer 0 is a bias-only factorial prior (its input only gives the batch size);
        otherwise layer i reads inputs[i].

    Call: `net(states, train=...)` returns a tuple of logits [batch, sizes[i]], one a layer,
    given `states`, the parent of every layer in order: without a prior, states[i] is layer
    i's parent (len(sizes) states); with a prior, states[i - 1] is layer i's parent for
    i >= 1 and layer 0 reads states[0] only for its batch size (len(sizes) - 1 states).
    `net(parent, train=..., layer=i)` returns layer i's logits alone.
    """

    sizes: Sequence[int]
    prior: bool = False

    def _logits(self, i: int, parent: jax.Array) -> jax.Array:
        if self.prior and i == 0:
            bias = self.param("prior_bias", nn.initializers.zeros, (self.sizes[0],))
            return jnp.broadcast_to(bias, (parent.shape[0], self.sizes[0]))
        return nn.Dense(self.sizes[i], name=f"layer_{i}")(flatten(parent))

    @nn.compact
    def __call__(self, states, *, train: bool, layer: int | None = None):
        del train  # no normalization
        if layer is not None:
            return self._logits(layer, states)
        offset = 1 if self.prior else 0
        if len(states) != len(self.sizes) - offset:
            raise ValueError(
                f"expected {len(self.sizes) - offset} parent states, got {len(states)}"
            )
        return tuple(self._logits(i, states[max(i - offset, 0)]) for i in range(len(self.sizes)))
