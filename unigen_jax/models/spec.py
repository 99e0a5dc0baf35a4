"""A model is data: its networks, their optimizers, and an ordered list of update phases.

The training engine (`unigen_jax.train.step`) compiles the phases of a `ModelSpec` into one
step. Adding a model family means writing a new `ModelSpec` factory, never a new engine:

  GAN:        Phase('discriminator', trains=('discriminator',)), Phase('generator', ...)
  VAE:        Phase('vae', trains=('encoder', 'generator'))
  alpha-GAN:  Phase('encoder_generator', ..., repeats=2), Phase('discriminators', ...)
  WGAN-GP:    Phase('critic', ..., repeats=5), Phase('generator', ...)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import flax.linen as nn
import jax
import optax

if TYPE_CHECKING:
    from unigen_jax.train.networks import Networks

# loss_fn(nets, batch) -> (scalar loss to minimise, {metric name: scalar}).
LossFn = Callable[["Networks", Mapping[str, jax.Array]], tuple[jax.Array, dict[str, jax.Array]]]
# sample_fn(nets, num_samples) -> samples in data space (images in [0, 1]).
SampleFn = Callable[["Networks", int], jax.Array]
# reconstruct_fn(nets, x) -> reconstructions of x in data space.
ReconstructFn = Callable[["Networks", jax.Array], jax.Array]
# log_likelihood_fn(nets, x, z) -> log p(x|z) per example [batch].
LogLikelihoodFn = Callable[["Networks", jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class Phase:
    """One gradient update of some networks on one loss.

    Attributes:
      name: used in error messages and metric names.
      trains: the networks whose params this phase differentiates and updates. Every other
        network is called with its params held constant (stop-gradient) in this phase.
      loss_fn: `(nets, batch) -> (loss, metrics)`; `loss` is the mean over this device's
        examples, the engine averages gradients across devices.
      repeats: how many consecutive updates this phase makes per step (each with fresh noise).
    """

    name: str
    trains: tuple[str, ...]
    loss_fn: LossFn
    repeats: int = 1

    def __post_init__(self):
        if not self.trains:
            raise ValueError(f"phase {self.name!r} trains no network")
        if self.repeats < 1:
            raise ValueError(f"phase {self.name!r} has repeats={self.repeats}; it must be >= 1")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything the engine needs to train a model.

    Attributes:
      name: the registry name (`gan`, `vae`, ...).
      config: the resolved hyperparameters (a frozen dataclass), recorded in config.json.
      networks: Flax modules by name. They take a keyword-only `train` argument.
      init_args: for each network, `example_batch -> positional args` used to initialise it.
      optimizers: one optax transformation per trained network.
      phases: the update phases, in order.
      sample_fn: draws samples for the sample grids (and later for evaluation).
      reconstruct_fn: for models with an encoder, reconstructs data; None otherwise.
      log_likelihood_fn: for models with a Gaussian encoder network named "encoder" (returning
        mean and log variance) and an explicit likelihood, log p(x|z); with the prior N(0, I)
        it defines the test ELBO and the importance-weighted NLL. None otherwise.
    """

    name: str
    config: Any
    networks: Mapping[str, nn.Module]
    init_args: Mapping[str, Callable[[Mapping[str, jax.Array]], tuple]]
    optimizers: Mapping[str, optax.GradientTransformation]
    phases: tuple[Phase, ...]
    sample_fn: SampleFn
    reconstruct_fn: ReconstructFn | None = None
    log_likelihood_fn: LogLikelihoodFn | None = None

    def __post_init__(self):
        for phase in self.phases:
            for net in phase.trains:
                if net not in self.networks:
                    raise ValueError(f"phase {phase.name!r} trains unknown network {net!r}")
                if net not in self.optimizers:
                    raise ValueError(f"network {net!r} is trained but has no optimizer")
        missing = set(self.networks) - set(self.init_args)
        if missing:
            raise ValueError(f"networks without init_args: {sorted(missing)}")
