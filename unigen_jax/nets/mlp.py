"""Fully connected generator, discriminator and encoder for vectors (and flattened images).

Same call conventions as the DCGAN nets (keyword-only `train`, generator logits, the
discriminator's `(logits, features)`, the encoder's `(mean, log_variance)`), with two
differences: inputs are used as they are (no 2x - 1 mapping, since vector data such as 2-D
Gaussian mixtures has no [0, 1] convention), and there is no normalization, so `train` and
`axis_name` are accepted for a uniform interface and ignored. Init: flax defaults (LeCun
normal kernels, zero biases). ReLU in the generator and encoder, LeakyReLU(0.2) in the
discriminator (Radford et al. 2016's choice, also used by the 2-D mixture experiments of
mode-collapse papers).

Every net takes `activation` (a name of `_layers.ACTIVATIONS`: relu, leaky_relu, softplus)
for its hidden layers and `kernel_stddev` (None: LeCun normal kernels; a number s: every
Dense kernel drawn from N(0, s^2)), e.g. Kingma et al. 2014's M2 MLPs (arXiv 1406.5298,
Section 4): softplus, and weights from N(0, 0.001^2) in their released code.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import flax.linen as nn
import jax

from unigen_jax.nets._layers import (
    ConditionedDense,
    activation,
    dense_kernel_init,
    flatten,
    split_gaussian,
)
from unigen_jax.nets.minibatch import MinibatchDiscrimination


class MLPGenerator(nn.Module):
    """z [batch, latent] -> [Dense -> ReLU] per hidden size -> Dense -> `[batch, *output_shape]`.

    Attributes:
      output_shape: shape of one example, e.g. (2,) or (28, 28, 1).
      hidden: hidden layer sizes.
      activation: the hidden layers' nonlinearity (module docstring).
      kernel_stddev: None (LeCun normal kernels) or the kernels' normal standard deviation.
      axis_name: unused (no normalization); accepted like the DCGAN nets'.
    """

    output_shape: Sequence[int]
    hidden: Sequence[int] = (128, 128)
    activation: str = "relu"
    kernel_stddev: float | None = None
    axis_name: str | None = None

    @nn.compact
    def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
        """Returns pre-activation outputs `[batch, *output_shape]` (no final nonlinearity)."""
        del train
        dense = functools.partial(nn.Dense, kernel_init=dense_kernel_init(self.kernel_stddev))
        nonlinearity = activation(self.activation)
        x = flatten(z)
        for i, size in enumerate(self.hidden):
            x = nonlinearity(dense(size, name=f"hidden_{i}")(x))
        x = dense(math.prod(self.output_shape), name="output")(x)
        return x.reshape((x.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
    """x [batch, ...] -> flatten -> [Dense -> LeakyReLU(0.2)] per hidden size -> Dense(1).

    Attributes:
      hidden: hidden layer sizes; the last hidden activation is the feature vector.
      activation: the hidden layers' nonlinearity (module docstring; LeakyReLU(0.2) by default).
      kernel_stddev: None (LeCun normal kernels) or the kernels' normal standard deviation.
      minibatch_kernels: B > 0 puts a `MinibatchDiscrimination` layer (B kernels of
        `minibatch_kernel_dim`) between the features and the logit (Salimans et al. 2016,
        arXiv 1606.03498, Section 3.2); 0: none.
      minibatch_kernel_dim: C, each kernel's size.
      axis_name: the batch's mapped axis, read only by minibatch discrimination (which
        compares examples across the global batch); there is no normalization.
    """

    hidden: Sequence[int] = (128, 128)
    activation: str = "leaky_relu"
    kernel_stddev: float | None = None
    minibatch_kernels: int = 0
    minibatch_kernel_dim: int = 5
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, return_layers: bool = False):
        """Returns (logits [batch], features [batch, F]), F = hidden[-1] (the input size if
        there are no hidden layers; taken before any minibatch layer); with `return_layers`,
        a third element: the list of hidden activations [batch, hidden[i]], first to last."""
        del train
        dense = functools.partial(nn.Dense, kernel_init=dense_kernel_init(self.kernel_stddev))
        nonlinearity = activation(self.activation)
        features = flatten(x)
        layers = []
        for i, size in enumerate(self.hidden):
            features = nonlinearity(dense(size, name=f"hidden_{i}")(features))
            layers.append(features)
        logit_input = features
        if self.minibatch_kernels:
            logit_input = MinibatchDiscrimination(
                self.minibatch_kernels, self.minibatch_kernel_dim, self.axis_name, name="minibatch"
            )(features)
        logits = dense(1, name="logit")(logit_input)
        return (logits[:, 0], features, layers) if return_layers else (logits[:, 0], features)


class MLPEncoder(nn.Module):
    """x [batch, ...] -> flatten -> [Dense -> ReLU] per hidden size -> Dense(2 * latent_dim).

    Attributes:
      latent_dim: size of z.
      hidden: hidden layer sizes.
      activation: the hidden layers' nonlinearity (module docstring).
      kernel_stddev: None (LeCun normal kernels) or the kernels' normal standard deviation.
      axis_name: unused (no normalization); accepted like the DCGAN nets'.
    """

    latent_dim: int
    hidden: Sequence[int] = (128, 128)
    activation: str = "relu"
    kernel_stddev: float | None = None
    axis_name: str | None = None

    @nn.compact
    def __call__(
        self, x: jax.Array, *, train: bool, condition: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Returns (mean, log_variance) of q(z|x), each [batch, latent_dim].

        `condition` (optional, [r n, C] for x's n rows): features read beside x, r consecutive
        rows per row of x, e.g. every one-hot label of each example: the same output (and
        parameters) as the encoder of [x's rows each repeated r times, condition], with the
        first layer's product with x computed once per example (`ConditionedDense`)."""
        del train
        kernel_init = dense_kernel_init(self.kernel_stddev)
        dense = functools.partial(nn.Dense, kernel_init=kernel_init)
        nonlinearity = activation(self.activation)
        sizes = (*self.hidden, 2 * self.latent_dim)
        names = (*(f"hidden_{i}" for i in range(len(self.hidden))), "gaussian")
        h = ConditionedDense(sizes[0], kernel_init, name=names[0])(flatten(x), condition)
        for size, name in zip(sizes[1:], names[1:], strict=True):
            h = dense(size, name=name)(nonlinearity(h))
        return split_gaussian(h)
