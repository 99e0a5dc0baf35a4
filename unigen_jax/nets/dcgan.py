"""DCGAN generator, discriminator and encoder (Radford, Metz, Chintala 2016).

Radford et al., "Unsupervised Representation Learning with Deep Convolutional Generative
Adversarial Networks", ICLR 2016, https://arxiv.org/abs/1511.06434: strided convolutions
instead of pooling, BatchNorm in G and D (not in D's first layer), ReLU in G, LeakyReLU(0.2) in
D, weights from N(0, 0.02). At base_features=64 on 28x28 images these nets are the
convolutional part of the TF-GAN / InfoGAN MNIST DCGAN (G: dense to 7x7x128, 4x4 stride-2
transposed convs to 64 channels then to C; D: 4x4 stride-2 convs with 64 then 128 channels),
without its 1024-unit fully connected hidden layers: G's latent goes straight to the 7x7x128
dense layer, and D's flattened 7x7x128 features feed the logit directly.

Conventions the training engine relies on:
  * Images are float32 in [0, 1], NHWC. The discriminator and encoder map them to [-1, 1]
    (2x - 1) as their first operation; MLP nets (`unigen_jax.nets.mlp`) do not, since vector
    data has no [0, 1] convention.
  * The generator returns pre-activation outputs ("logits") [batch, H, W, C]; the model applies
    a sigmoid for images or uses them as Bernoulli logits. No tanh or sigmoid inside.
  * `__call__(..., *, train)`: batch statistics and their update in training, running averages
    otherwise. With `axis_name` set (the engine uses 'data') BatchNorm averages the statistics
    across that mapped axis, so the result equals BatchNorm over the global batch.
  * Init: every conv and dense kernel from N(0, 0.02) (Radford et al. 2016, sec. 4), biases 0,
    BatchNorm scale 1 and offset 0. Layers followed by a normalization have no bias.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from unigen_jax.errors import UserInputError
from unigen_jax.nets._layers import (
    DCGAN_KERNEL_INIT,
    LEAKY_RELU_SLOPE,
    batch_norm,
    flatten,
    split_gaussian,
    to_signed,
)
from unigen_jax.nets.conv_transpose import FastConvTranspose
from unigen_jax.nets.minibatch import MinibatchDiscrimination
from unigen_jax.nets.strided_conv import FastConv

NORMALIZATIONS = ("batch", "layer", "none")


def num_halvings(size: int) -> int:
    """How many times `size` halves while it is even and above 7 (28 -> 2, 32 -> 3, 64 -> 4)."""
    count = 0
    while size % 2 == 0 and size > 7:
        size //= 2
        count += 1
    return count


def dcgan_generator_layout(output_shape: Sequence[int]) -> tuple[int, int]:
    """(start_size, num_upsamplings) of the DCGAN generator for [H, W, C] images.

    The generator starts at start_size x start_size and doubles the size with each of its
    num_upsamplings stride-2 transposed convolutions: H is halved while it is even and above 7
    (28 -> 7 with 2, 32 -> 4 with 3, 64 -> 4 with 4, 8 -> 4 with 1).

    Raises:
      UserInputError: output_shape is not [H, W, C] with H == W and H even and above 7 (so
        that at least one upsampling is possible); a ValueError.
    """
    output_shape = tuple(output_shape)
    if len(output_shape) != 3 or min(output_shape) < 1:
        raise UserInputError(
            f"DCGAN generator needs an image shape (height, width, channels), got "
            f"{output_shape}; use the MLP architecture for vector data."
        )
    height, width, _ = output_shape
    if height != width:
        raise UserInputError(
            f"DCGAN generator needs square images, got {height}x{width}; resize or crop the "
            f"data to a square size such as 28, 32 or 64."
        )
    num_upsamplings = num_halvings(height)
    if num_upsamplings == 0:
        raise UserInputError(
            f"DCGAN generator cannot reach {height}x{width}: the size must be even and above 7 "
            f"(start size times a power of two, e.g. 28, 32 or 64); use the MLP architecture "
            f"or resize the data."
        )
    return height >> num_upsamplings, num_upsamplings


class DCGANGenerator(nn.Module):
    """DCGAN generator: latent code -> image logits::

      z -> Dense(s*s*F_top) -> BN, ReLU -> [ConvT(4x4, stride 2) -> BN, ReLU] x (n-1)
        -> ConvT(4x4, stride 2) to C channels (no BN, no activation)

    with (s, n) = dcgan_generator_layout(output_shape), F_top = base_features * 2**(n-1) and
    the channels halving at each transposed conv (28x28: 7x7x128 -> 14x14x64 -> 28x28xC).
    Radford et al. (2016), Fig. 1; the TF-GAN / InfoGAN MNIST generator at base_features=64
    (without its 1024-unit hidden dense layer).

    Attributes:
      output_shape: (H, W, C) with H == W reachable by doubling (e.g. 28, 32, 64).
      base_features: channels before the last transposed conv.
      kernel_size: transposed conv kernel size.
      axis_name: mapped axis over which BatchNorm averages statistics (None: this device's).
      use_fast_conv_transpose: `FastConvTranspose` (same params, faster gradients on CPU) or
        flax's `nn.ConvTranspose`; parameters are interchangeable between the two.
    """

    output_shape: Sequence[int] = (28, 28, 1)
    base_features: int = 64
    kernel_size: int = 4
    axis_name: str | None = None
    use_fast_conv_transpose: bool = True

    @nn.compact
    def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
        """Generates image logits.

        Args:
          z: latent codes, [batch, latent_dim] (trailing axes are flattened).
          train: use and update batch statistics (True) or the running averages (False).

        Returns:
          Pre-activation outputs, [batch, H, W, C] float32; sigmoid gives the image in [0, 1].
        """
        start_size, num_upsamplings = dcgan_generator_layout(self.output_shape)
        channels = self.output_shape[-1]
        top_features = self.base_features * 2 ** (num_upsamplings - 1)
        conv_transpose_cls = FastConvTranspose if self.use_fast_conv_transpose else nn.ConvTranspose

        x = nn.Dense(
            start_size * start_size * top_features,
            use_bias=False,
            kernel_init=DCGAN_KERNEL_INIT,
            name="project",
        )(flatten(z))
        x = x.reshape((x.shape[0], start_size, start_size, top_features))
        x = nn.relu(batch_norm(train=train, axis_name=self.axis_name, name="project_bn")(x))
        return upsampling_stack(
            x,
            num_upsamplings=num_upsamplings,
            channels=channels,
            kernel_size=self.kernel_size,
            train=train,
            axis_name=self.axis_name,
            conv_transpose_cls=conv_transpose_cls,
        )


def upsampling_stack(
    x, *, num_upsamplings, channels, kernel_size, train, axis_name, conv_transpose_cls
):
    """The DCGAN generator's transposed convs, called inside a compact `__call__` (the layers
    belong to the calling module): [ConvT(k x k, stride 2) -> BN, ReLU] x (n-1), the channels
    halving from x's, -> ConvT(k x k, stride 2) to `channels` (no BN, no activation)."""
    top_features = x.shape[-1]
    for i in range(num_upsamplings):
        is_last = i == num_upsamplings - 1
        x = conv_transpose_cls(
            channels if is_last else top_features // 2 ** (i + 1),
            kernel_size=(kernel_size, kernel_size),
            strides=(2, 2),
            padding="SAME",
            use_bias=is_last,
            kernel_init=DCGAN_KERNEL_INIT,
            name=f"deconv_{i}",
        )(x)
        if not is_last:
            x = batch_norm(train=train, axis_name=axis_name, name=f"deconv_{i}_bn")(x)
            x = nn.relu(x)
    return x


class DCGANTrunk(nn.Module):
    """Shared convolutional trunk of the DCGAN discriminator and encoder.

    x in [0, 1] -> 2x - 1 -> [Conv(4x4, stride 2) -> norm -> LeakyReLU(0.2)] x n -> flatten,
    channels base_features * 2**i, no normalization after the first conv (Radford et al. 2016,
    sec. 3). n halves H while it is even and above 7 (28 -> 7x7, 32 -> 4x4, 64 -> 4x4), at least
    once; SAME padding rounds odd sizes up. The convs are `FastConv`s: `nn.Conv`'s parameters
    and values, with a faster input gradient on CPU.

    Attributes:
      base_features: channels of the first conv.
      kernel_size: conv kernel size.
      normalization: 'batch' (BatchNorm, synced over axis_name), 'layer' (per-example
        LayerNorm over H, W, C with per-channel scale and offset) or 'none'. 'layer' and 'none'
        keep examples independent, as WGAN-GP's per-example gradient penalty needs.
      axis_name: mapped axis over which BatchNorm averages statistics.
      negative_slope: the LeakyReLUs' slope below 0 (Chen et al.'s InfoGAN code: 0.01).
      signed_input: map the images to [-1, 1] first (False: the convs read [0, 1], as in
        Chen et al.'s InfoGAN code).
    """

    base_features: int = 64
    kernel_size: int = 4
    normalization: str = "batch"
    axis_name: str | None = None
    negative_slope: float = LEAKY_RELU_SLOPE
    signed_input: bool = True

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool, return_layers: bool = False):
        """Images [batch, H, W, C] in [0, 1] -> features [batch, F]; with `return_layers`,
        (features, [each conv block's activation [batch, h, w, c] after its LeakyReLU])."""
        if images.ndim != 4:
            raise ValueError(
                f"DCGAN discriminator/encoder expects images [batch, H, W, C], got shape "
                f"{images.shape}."
            )
        if self.normalization not in NORMALIZATIONS:
            raise UserInputError(
                f"Unknown normalization {self.normalization!r}; choose one of {NORMALIZATIONS}."
            )
        num_downsamplings = max(1, num_halvings(images.shape[1]))
        x = to_signed(images) if self.signed_input else images
        layers = []
        for i in range(num_downsamplings):
            normalize = i > 0 and self.normalization != "none"
            x = FastConv(
                self.base_features * 2**i,
                kernel_size=(self.kernel_size, self.kernel_size),
                strides=(2, 2),
                padding="SAME",
                use_bias=not normalize,
                kernel_init=DCGAN_KERNEL_INIT,
                name=f"conv_{i}",
            )(x)
            if normalize and self.normalization == "batch":
                x = batch_norm(train=train, axis_name=self.axis_name, name=f"conv_{i}_bn")(x)
            elif normalize:
                x = nn.LayerNorm(reduction_axes=(-3, -2, -1), name=f"conv_{i}_ln")(x)
            x = nn.leaky_relu(x, self.negative_slope)
            layers.append(x)
        return (flatten(x), layers) if return_layers else flatten(x)


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: images -> (real/fake logit, trunk features).

    `DCGANTrunk` (2x - 1, stride-2 convs, LeakyReLU(0.2), flatten) -> Dense(1). Radford et al.
    (2016); the TF-GAN / InfoGAN MNIST discriminator's conv layers at base_features=64.

    Attributes:
      base_features: as in `DCGANTrunk`.
      kernel_size: as in `DCGANTrunk`.
      normalization: as in `DCGANTrunk`.
      axis_name: as in `DCGANTrunk`.
      minibatch_kernels: B > 0 puts a `MinibatchDiscrimination` layer (B kernels of
        `minibatch_kernel_dim`) between the flattened trunk features and the logit (Salimans
        et al. 2016, arXiv 1606.03498, Section 3.2), its similarities over the global batch
        (`axis_name`); 0: none.
      minibatch_kernel_dim: C, each kernel's size.
    """

    base_features: int = 64
    kernel_size: int = 4
    normalization: str = "batch"
    axis_name: str | None = None
    minibatch_kernels: int = 0
    minibatch_kernel_dim: int = 5

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool, return_layers: bool = False):
        """Scores images.

        Args:
          images: [batch, H, W, C] in [0, 1].
          train: use and update batch statistics (True) or the running averages (False).
          return_layers: also return every conv block's activation (VAE/GAN's feature
            reconstruction at a chosen layer, Larsen et al. 2016, arXiv 1512.09300, eq. 8).

        Returns:
          (logits [batch], features [batch, F]): logit of "real"; the flattened trunk output
          (for InfoGAN's Q head, feature matching, VAE/GAN; before any minibatch layer).
          With `return_layers`, a third element: the list of conv block activations
          [batch, h, w, c], first to last (the last one flattened is `features`).
        """
        trunk = DCGANTrunk(
            self.base_features, self.kernel_size, self.normalization, self.axis_name, name="trunk"
        )
        if return_layers:
            features, layers = trunk(images, train=train, return_layers=True)
        else:
            features = trunk(images, train=train)
        logit_input = features
        if self.minibatch_kernels:
            logit_input = MinibatchDiscrimination(
                self.minibatch_kernels, self.minibatch_kernel_dim, self.axis_name, name="minibatch"
            )(features)
        logits = nn.Dense(1, kernel_init=DCGAN_KERNEL_INIT, name="logit")(logit_input)
        return (logits[:, 0], features, layers) if return_layers else (logits[:, 0], features)


class DCGANEncoder(nn.Module):
    """DCGAN encoder: images -> diagonal Gaussian q(z|x).

    `DCGANTrunk` (as the discriminator's) -> Dense(2 * latent_dim) split into mean and log
    variance (Kingma & Welling 2014; the encoder of Larsen et al. 2016's VAE/GAN mirrors D).

    Attributes:
      latent_dim: size of z.
      base_features: as in `DCGANTrunk`.
      kernel_size: as in `DCGANTrunk`.
      normalization: as in `DCGANTrunk`.
      axis_name: as in `DCGANTrunk`.
    """

    latent_dim: int
    base_features: int = 64
    kernel_size: int = 4
    normalization: str = "batch"
    axis_name: str | None = None

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool) -> tuple[jax.Array, jax.Array]:
        """Encodes images.

        Args:
          images: [batch, H, W, C] in [0, 1].
          train: use and update batch statistics (True) or the running averages (False).

        Returns:
          (mean, log_variance), each [batch, latent_dim].
        """
        features = DCGANTrunk(
            self.base_features, self.kernel_size, self.normalization, self.axis_name, name="trunk"
        )(images, train=train)
        gaussian = nn.Dense(2 * self.latent_dim, kernel_init=DCGAN_KERNEL_INIT, name="gaussian")
        return split_gaussian(gaussian(features))
