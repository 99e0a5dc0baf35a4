"""A joint discriminator D(x, z) on (data, code) pairs: ALI / BiGAN's discriminator, and the
log density ratio estimators of AS-VAE.

Dumoulin et al. 2016, "Adversarially Learned Inference" (arXiv 1606.00704), Section 4 and
Appendix A: D(x, z) = D_xz(D_x(x), D_z(z)), a convolutional network D_x on the image, a
network D_z on the code (two 1x1 convolutions of 512 units, that is Dense layers on a
vector), the two feature vectors concatenated and followed by D_xz (two 1x1 convolutions of
1024 units, Dense layers again) and one output unit. Donahue et al. 2016, "Adversarial Feature
Learning" (BiGAN, arXiv 1605.09782), use the same idea with fully connected layers on MNIST.
Pu et al. 2017 (arXiv 1711.04915), Section 3, estimate the log density ratios of AS-VAE with
discriminators of the same kind.

Two forms, chosen by `trunk`:
  - 'dcgan' (images): D_x = `DCGANTrunk` (2x - 1, stride-2 convolutions, normalization,
    LeakyReLU(0.2), flatten);
  - 'none' (vectors, or flattened images): D_x = flatten, so that with `z_hidden=()` the
    network is an MLP on the concatenation [x, z].

D_z and D_xz are [Dense -> LeakyReLU(0.2)] per hidden size (no normalization; Dumoulin et
al.'s dropout of 0.2 is left out: the library's networks take no dropout key).

Same conventions as the other discriminators: keyword-only `train`, and the output
`(logits [batch], features [batch, F])`, F the last joint hidden size (the concatenated
features if `joint_hidden` is empty).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from unigen_jax.nets._layers import LEAKY_RELU_SLOPE, flatten
from unigen_jax.nets.dcgan import DCGANTrunk

TRUNKS = ("dcgan", "none")


class JointDiscriminator(nn.Module):
    """D(x, z): [D_x(x), D_z(z)] -> D_xz -> Dense(1) (Dumoulin et al. 2016, Appendix A).

    Attributes:
      trunk: 'dcgan' (a `DCGANTrunk` on images [batch, H, W, C] in [0, 1]) or 'none'
        (x flattened as it is).
      z_hidden: hidden sizes of D_z, the MLP on the code (() : z as it is).
      joint_hidden: hidden sizes of D_xz, the MLP on the concatenated features.
      base_features: the DCGAN trunk's (`DCGANTrunk`); unused with trunk='none'.
      kernel_size: the DCGAN trunk's; unused with trunk='none'.
      normalization: the DCGAN trunk's; unused with trunk='none'.
      axis_name: the DCGAN trunk's; unused with trunk='none'.
    """

    trunk: str = "none"
    z_hidden: Sequence[int] = ()
    joint_hidden: Sequence[int] = (128, 128)
    base_features: int = 64
    kernel_size: int = 4
    normalization: str = "batch"
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, z: jax.Array, *, train: bool) -> tuple[jax.Array, jax.Array]:
        """Scores (x, z) pairs.

        Args:
          x: data [batch, ...] (images [batch, H, W, C] in [0, 1] for trunk='dcgan').
          z: codes [batch, latent_dim].
          train: BatchNorm mode of the DCGAN trunk.

        Returns:
          (logits [batch], features [batch, F]): the logit of "a pair of the encoder's joint
          q(x, z) = q(x) q(z|x)" (real) against "a pair of the decoder's p(x, z) = p(z) p(x|z)"
          (generated), and the last hidden activation.
        """
        if self.trunk not in TRUNKS:
            raise ValueError(f"unknown trunk {self.trunk!r}; choose one of {TRUNKS}")
        if x.shape[0] != z.shape[0]:
            raise ValueError(f"x and z need one row per pair, got {x.shape} and {z.shape}")
        if self.trunk == "dcgan":
            x_features = DCGANTrunk(
                self.base_features,
                self.kernel_size,
                self.normalization,
                self.axis_name,
                name="x_trunk",
            )(x, train=train)
        else:
            x_features = flatten(x)
        z_features = flatten(z)
        for i, size in enumerate(self.z_hidden):
            z_features = nn.leaky_relu(
                nn.Dense(size, name=f"z_hidden_{i}")(z_features), LEAKY_RELU_SLOPE
            )
        features = jnp.concatenate([x_features, z_features.astype(x_features.dtype)], axis=-1)
        for i, size in enumerate(self.joint_hidden):
            features = nn.leaky_relu(
                nn.Dense(size, name=f"joint_hidden_{i}")(features), LEAKY_RELU_SLOPE
            )
        logits = nn.Dense(1, name="logit")(features)
        return logits[:, 0], features
