"""Small pieces shared by the network families."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

# Radford et al. (2016), sec. 4: "All weights were initialized from a zero-centered Normal
# distribution with standard deviation 0.02." Used for every DCGAN conv and dense kernel;
# biases start at zero and BatchNorm at scale 1, offset 0 (flax defaults).
DCGAN_KERNEL_INIT = nn.initializers.normal(stddev=0.02)

LEAKY_RELU_SLOPE = 0.2
BATCH_NORM_MOMENTUM = 0.9

# Hidden-layer nonlinearities of the MLP nets, by name: ReLU, LeakyReLU(0.2) and softplus
# log(1 + e^x) (Kingma et al. 2014's M2 MLPs, arXiv 1406.5298, Section 4).
ACTIVATIONS = {
    "relu": nn.relu,
    "leaky_relu": lambda x: nn.leaky_relu(x, LEAKY_RELU_SLOPE),
    "softplus": nn.softplus,
}


def activation(name: str):
    """The nonlinearity called `name` (a key of ACTIVATIONS)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def dense_kernel_init(stddev: float | None):
    """Dense kernels: flax's default (LeCun normal) for None, else N(0, stddev^2)."""
    if stddev is None:
        return nn.linear.default_kernel_init
    return nn.initializers.normal(stddev=stddev)


def to_signed(images: jax.Array) -> jax.Array:
    """Maps images from the library's [0, 1] convention to [-1, 1] (2x - 1)."""
    return 2.0 * images - 1.0


def flatten(x: jax.Array) -> jax.Array:
    """[batch, ...] -> [batch, prod(...)]."""
    return jnp.reshape(x, (x.shape[0], -1))


def batch_norm(*, train: bool, axis_name: str | None, name: str | None = None) -> nn.BatchNorm:
    """The library's BatchNorm: batch statistics in training, running averages otherwise.

    With `axis_name` set and the call inside a shard_map / pmap over that axis, flax averages
    the per-device mean and mean square across devices (`lax.pmean`), so training uses the
    statistics of the global batch whatever the device count.
    """
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=BATCH_NORM_MOMENTUM,
        axis_name=axis_name,
        name=name,
    )


def split_gaussian(params: jax.Array) -> tuple[jax.Array, jax.Array]:
    """[batch, 2 * latent] -> (mean [batch, latent], log_variance [batch, latent])."""
    mean, log_variance = jnp.split(params, 2, axis=-1)
    return mean, log_variance
