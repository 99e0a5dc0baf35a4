"""Chen et al.'s InfoGAN MNIST networks: the DCGAN convolutions with a fully connected
BatchNorm layer of 1024 units between them and the code (G) or the logit (D), and a Q head
with BatchNorm.

Chen et al. 2016, "InfoGAN" (arXiv 1606.03657), Appendix C, Table 1 (MNIST), as their
released code builds it (`network_type="mnist"`)::

  G: code -> FC 1024, BN, ReLU -> FC 7x7x128, BN, ReLU -> reshape
     -> 4x4 stride-2 transposed conv to 64 channels, BN, ReLU
     -> 4x4 stride-2 transposed conv to 1 channel (logits; the model applies the sigmoid).
  D: x in [0, 1] -> 4x4 stride-2 conv 64, LeakyReLU -> 4x4 stride-2 conv 128, BN, LeakyReLU
     -> FC 1024, BN, LeakyReLU (the features D and Q share) -> FC 1 (D's logit).
  Q: D's features -> FC 128, BN, LeakyReLU -> FC (the code's distribution parameters).

  LeakyReLU slope 0.01 (their `leaky_rectify`), BatchNorm with batch statistics in training,
  epsilon 1e-5, running averages with decay 0.9; the FC layers' BatchNorm normalizes each unit
  (the 7x7x128 layer: 6,272 units, before the reshape), the convolutions' each channel.

Where these nets differ from the released code, nothing the training computes changes but the
initial draw: the layers followed by BatchNorm have no bias (BN subtracts it); every kernel is
drawn from N(0, 0.02) (the code truncates its conv kernels at two standard deviations) except
the last layer of Q (`InfoGANQHead`'s output layer, flax's LeCun normal; theirs N(0, 0.02));
BatchNorm scales start at 1 (theirs from N(1, 0.02)). Image sizes other than 28 follow the
DCGAN layout (`dcgan_generator_layout`).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from unigen_jax.nets._layers import DCGAN_KERNEL_INIT, batch_norm, flatten
from unigen_jax.nets.conv_transpose import FastConvTranspose
from unigen_jax.nets.dcgan import DCGANTrunk, dcgan_generator_layout, upsampling_stack
from unigen_jax.nets.heads import InfoGANQHead

# Chen et al.'s released code, `leaky_rectify(x, leakiness=0.01)`.
CHEN_LEAKY_RELU_SLOPE = 0.01
HIDDEN_FEATURES = 1024


def _dense_batch_norm(x, features, *, train, axis_name, name):
    """Dense (no bias) -> BatchNorm over the batch, unit by unit."""
    x = nn.Dense(features, use_bias=False, kernel_init=DCGAN_KERNEL_INIT, name=name)(flatten(x))
    return batch_norm(train=train, axis_name=axis_name, name=f"{name}_bn")(x)


class InfoGANMNISTGenerator(nn.Module):
    """Chen et al.'s MNIST generator: code -> FC 1024 -> FC s*s*F -> transposed convs.

    Attributes:
      output_shape: (H, W, C), a size the DCGAN layout reaches (28 -> s = 7, two upsamplings).
      hidden_features: the first FC layer's units (1024).
      base_features: channels before the last transposed conv (64; F = 128 at 28x28).
      kernel_size: the transposed convs' kernel size.
      axis_name: mapped axis over which BatchNorm averages statistics.
    """

    output_shape: Sequence[int] = (28, 28, 1)
    hidden_features: int = HIDDEN_FEATURES
    base_features: int = 64
    kernel_size: int = 4
    axis_name: str | None = None

    @nn.compact
    def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
        """Codes [batch, code] -> image logits [batch, H, W, C]."""
        start_size, num_upsamplings = dcgan_generator_layout(self.output_shape)
        top_features = self.base_features * 2 ** (num_upsamplings - 1)
        norm = dict(train=train, axis_name=self.axis_name)
        h = nn.relu(_dense_batch_norm(z, self.hidden_features, name="hidden", **norm))
        h = _dense_batch_norm(h, start_size * start_size * top_features, name="project", **norm)
        x = nn.relu(h).reshape((h.shape[0], start_size, start_size, top_features))
        return upsampling_stack(
            x,
            num_upsamplings=num_upsamplings,
            channels=self.output_shape[-1],
            kernel_size=self.kernel_size,
            conv_transpose_cls=FastConvTranspose,
            **norm,
        )


class InfoGANMNISTDiscriminator(nn.Module):
    """Chen et al.'s MNIST discriminator: images -> (real/fake logit, the 1024 shared features).

    `DCGANTrunk` on [0, 1] images with LeakyReLU(0.01) -> FC 1024, BN, LeakyReLU(0.01) ->
    FC 1.

    Attributes:
      base_features: channels of the first conv (64).
      hidden_features: the FC layer's units (1024).
      kernel_size: the convs' kernel size.
      axis_name: mapped axis over which BatchNorm averages statistics.
    """

    base_features: int = 64
    hidden_features: int = HIDDEN_FEATURES
    kernel_size: int = 4
    axis_name: str | None = None

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool) -> tuple[jax.Array, jax.Array]:
        """Images [batch, H, W, C] in [0, 1] -> (logits [batch], features [batch, 1024])."""
        x = DCGANTrunk(
            self.base_features,
            self.kernel_size,
            "batch",
            self.axis_name,
            negative_slope=CHEN_LEAKY_RELU_SLOPE,
            signed_input=False,
            name="trunk",
        )(images, train=train)
        h = _dense_batch_norm(
            x, self.hidden_features, train=train, axis_name=self.axis_name, name="hidden"
        )
        features = nn.leaky_relu(h, CHEN_LEAKY_RELU_SLOPE)
        logits = nn.Dense(1, kernel_init=DCGAN_KERNEL_INIT, name="logit")(features)
        return logits[:, 0], features


class InfoGANMNISTQHead(nn.Module):
    """Chen et al.'s MNIST Q: D's features -> [FC, BN, LeakyReLU(0.01)] per hidden size ->
    `InfoGANQHead`'s output layer (categorical logits, continuous means and log std).

    Attributes:
      categorical_dim: K, the number of values of the categorical code (0: none).
      continuous_dim: C, the number of continuous codes (0: none).
      hidden: hidden layer sizes ((128,)).
      axis_name: mapped axis over which BatchNorm averages statistics.
    """

    categorical_dim: int
    continuous_dim: int
    hidden: Sequence[int] = (128,)
    axis_name: str | None = None

    @nn.compact
    def __call__(
        self, features: jax.Array, *, train: bool
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """D's features [batch, F] -> (categorical_logits [batch, K], continuous_mean
        [batch, C], continuous_log_std [batch, C])."""
        h = features
        for i, size in enumerate(self.hidden):
            h = _dense_batch_norm(
                h, size, train=train, axis_name=self.axis_name, name=f"hidden_{i}"
            )
            h = nn.leaky_relu(h, CHEN_LEAKY_RELU_SLOPE)
        return InfoGANQHead(self.categorical_dim, self.continuous_dim, hidden=(), name="head")(
            h, train=train
        )
