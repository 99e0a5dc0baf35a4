"""PyTorch eager reference implementations of unigen_jax's models (benchmark only).

This package re-implements, in PyTorch eager mode (no ``torch.compile``), the architectures,
losses and per-step update schedule of unigen_jax models, so that `experiments.benchmark` can
compare training steps per second side by side. It is not used by the library and is not a
supported training path. PyTorch is an optional extra::

    pip install torch==2.13.0

Each reference reads its hyperparameters (latent size, widths, learning rates, Adam betas, the
number of repeats of each phase) from the JAX registry's defaults (`unigen_jax.models`), with
the benchmark's overrides, and asserts the options it implements; `num_parameters` equals the
JAX model's trainable parameter count (tests/test_benchmark.py checks it for every reference).

References (`unigen_jax.models` names in brackets):

* ``dcgan`` [gan]: non-saturating GAN, DCGAN nets; D on real and a fresh fake batch, then G.
* ``mlp_gan`` [gan]: the same on 2-D vectors with the MLP nets (hidden (128, 128)).
* ``wgan_gp`` [wgan_gp]: 5 critic steps (each on a fresh real batch) with the gradient penalty
  (double backprop), layer norm in the critic, then G; Adam(1e-4, 0, 0.9).
* ``infogan`` [infogan]: D and Q on the GAN loss plus the mutual-information penalty, then G
  and Q (Chen et al. 2016's MNIST settings).
* ``vae`` [vae]: one joint encoder + generator update on the negative ELBO (Bernoulli).
* ``svae`` [svae]: Kingma et al. 2014's M2, an unlabelled batch (the sum over the 10 labels
  exact) and a labelled batch of the same size, one update of classifier, encoder, decoder.
* ``asvae`` [asvae, flow_length 80]: the ratio estimators, then encoder, decoder and the
  planar flow (its inverse by bisection and one Newton step, as the JAX flow).
* ``vaegan`` [vaegan]: Larsen et al. 2016's Algorithm 1: ONE forward pass of E, G and D, each
  network's gradient of its own loss, three Adam steps at once (the JAX model may run this
  as three phases, one forward pass each; both compute the same three objectives).
* ``alpha_gan`` [alpha_gan]: E and G twice (one forward pass, each its own gradient), then D
  and C (Rosca et al. 2017).
* ``ali`` [ali]: the joint discriminator, then E and G (BiGAN's deterministic encoder).

Every update differentiates only the networks it trains (`torch.autograd.grad` on their
parameters), as the JAX engine does; networks held constant in a phase run in training mode
(BatchNorm on batch statistics) like the JAX phases'.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from experiments.torch_reference import autoencoders, gans, hybrids


@dataclasses.dataclass(frozen=True)
class Reference:
    """A reference: the JAX registry model it mirrors (with the benchmark's overrides), its
    networks and its training step."""

    model: str
    build: Callable[[Any, tuple], dict]
    step: Callable[..., tuple]
    batch_size: int = 64
    data_shape: tuple = (28, 28, 1)
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)


REFERENCES = {
    "dcgan": Reference("gan", gans.build_gan, gans.gan_step),
    "vae": Reference("vae", autoencoders.build_vae, autoencoders.vae_step),
    "mlp_gan": Reference(
        "gan", gans.build_gan, gans.gan_step, 512, (2,), {"hidden_sizes": (128, 128)}
    ),
    "wgan_gp": Reference("wgan_gp", gans.build_gan, gans.gan_step),
    "infogan": Reference("infogan", gans.build_infogan, gans.infogan_step),
    "vaegan": Reference("vaegan", hybrids.build_vaegan, hybrids.vaegan_step),
    "alpha_gan": Reference("alpha_gan", hybrids.build_alpha_gan, hybrids.alpha_gan_step),
    "ali": Reference("ali", hybrids.build_ali, hybrids.ali_step),
    "svae": Reference("svae", autoencoders.build_svae, autoencoders.svae_step),
    # Pu et al. 2017, Section 5 (and the AS-VAE study): a planar flow of length 80.
    "asvae": Reference(
        "asvae", autoencoders.build_asvae, autoencoders.asvae_step, overrides={"flow_length": 80}
    ),
}
MODELS = tuple(REFERENCES)


def _reference(model: str) -> Reference:
    if model not in REFERENCES:
        raise ValueError(f"unknown model {model!r}; choose one of {MODELS}")
    return REFERENCES[model]


def model_config(model: str, **overrides):
    """The JAX registry's hyperparameters that reference `model` mirrors."""
    from unigen_jax import models

    reference = _reference(model)
    return models.make_config(reference.model, **{**reference.overrides, **overrides})


def build_networks(model: str, *, image_shape=None, **overrides) -> dict:
    """The torch networks of `model`, keyed like the JAX ModelSpec's networks."""
    reference = _reference(model)
    shape = tuple(image_shape or reference.data_shape)
    return reference.build(model_config(model, **overrides), shape)


def num_parameters(model: str, **kwargs) -> int:
    """Trainable parameter count of `model` (BatchNorm scale/offset included, running stats not)."""
    nets = build_networks(model, **kwargs)
    return sum(p.numel() for net in nets.values() for p in net.parameters())


def _set_threads() -> None:
    if torch.get_num_threads() != (os.cpu_count() or 1):
        torch.set_num_threads(os.cpu_count() or 1)


def make_torch_step(
    model: str, *, image_shape=None, batch_size: int | None = None, seed: int = 0, **overrides
):
    """(step_fn, batch, networks): `step_fn()` runs one full training step and returns a loss.

    `batch` is the fixed real data created once (uniform [0, 1] images [B, C, H, W], standard
    normal 2-D points for 'mlp_gan'; with a leading axis of critic repeats for 'wgan_gp').
    """
    _set_threads()
    reference = _reference(model)
    shape = tuple(image_shape or reference.data_shape)
    config = model_config(model, **overrides)
    torch.manual_seed(seed)
    nets = reference.build(config, shape)
    for net in nets.values():
        net.train()
    step_fn, batch = reference.step(config, nets, batch_size or reference.batch_size, shape)
    return step_fn, batch, nets


def benchmark_torch(
    model: str,
    *,
    steps: int | None = None,
    round_seconds: float = 1.0,
    warmup: int = 3,
    rounds: int = 1,
    **kwargs,
) -> dict:
    """Times `rounds` rounds of `steps` training steps after `warmup` ones.

    steps_per_sec is the best round's mean rate, as for the JAX steps in experiments.benchmark.
    With steps=None, a round is as many steps as last at least `round_seconds` at the warm-up's
    rate (at least `warmup`). Also returns the parameter count.
    """
    step_fn, _, nets = make_torch_step(model, **kwargs)
    start = time.perf_counter()
    for _ in range(warmup):
        step_fn()
    if steps is None:
        warm_rate = warmup / (time.perf_counter() - start)
        steps = max(warmup, math.ceil(warm_rate * round_seconds))
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step_fn()
        best = max(best, steps / (time.perf_counter() - start))
    return {
        "steps_per_sec": best,
        "steps_per_round": steps,
        "threads": torch.get_num_threads(),
        "num_params": sum(p.numel() for net in nets.values() for p in net.parameters()),
    }


if __name__ == "__main__":
    for name in MODELS:
        result = benchmark_torch(name, steps=3, warmup=1)
        print(
            f"{name:10s} params={result['num_params']:>10,d} "
            f"steps/s={result['steps_per_sec']:8.2f} threads={result['threads']}"
        )
