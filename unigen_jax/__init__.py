"""unigen_jax: the deep generative models that Hu et al. (2017) unify, in JAX.

Subpackages:
  losses: pure functions on arrays (no Flax, no state), importable alone.
  nets: Flax linen modules (DCGAN and MLP families).
  models: each model family as data: its networks and its ordered update phases.
  train: the state, the step builder, data parallelism, checkpoints and the loop.
  data: sources by name and deterministic batch iterators.
"""

__version__ = "0.1.0"
