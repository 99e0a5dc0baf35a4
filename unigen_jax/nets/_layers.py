"""Small pieces shared by the network families."""

from __future__ import annotations

from typing import Any

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


class ConditionedDense(nn.Module):
    """A dense layer on x's features followed by a condition's (a one-hot label), computed as
    x W_x + c W_c + b. With `condition` of r n rows for x's n rows (r consecutive conditions per
    row of x), the output is that of nn.Dense on [x repeated r times, condition], with x W_x
    computed once per row of x: how an objective that enumerates every label of an example
    (Kingma et al. 2014's M2 bound, arXiv 1406.5298, eq. 7) pays for x once, not once a label.
    Its parameters are nn.Dense's on the concatenation (`kernel` [x's + c's features,
    `features`], `bias`), drawn alike, so the two read each other's checkpoints.
    """

    features: int
    kernel_init: Any = nn.linear.default_kernel_init

    @nn.compact
    def __call__(self, x: jax.Array, condition: jax.Array | None = None) -> jax.Array:
        conditions = 0 if condition is None else condition.shape[-1]
        shape = (x.shape[-1] + conditions, self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        if condition is None:
            return x @ kernel + bias
        repeats, rest = divmod(condition.shape[0], x.shape[0])
        if rest or not repeats:
            raise ValueError(
                f"condition has {condition.shape[0]} rows for x's {x.shape[0]}: give a whole "
                "number of conditions per row of x, each row's consecutively"
            )
        # x padded with zeros where the condition goes: no copy of the kernel's x rows.
        x_part = jnp.pad(x, ((0, 0), (0, conditions))) @ kernel
        x_part = jnp.repeat(x_part, repeats, axis=0)
        return x_part + condition @ kernel[x.shape[-1] :] + bias


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
