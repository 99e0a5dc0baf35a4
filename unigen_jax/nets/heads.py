"""Heads on another network's features: InfoGAN's Q on D's trunk, a classifier shaped like D."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from unigen_jax.nets._layers import LEAKY_RELU_SLOPE, dense_kernel_init, flatten


class InfoGANQHead(nn.Module):
    """Q(c|x) from D's features: [Dense -> LeakyReLU(0.2)] per hidden size -> Dense.

    Chen et al. 2016 (arXiv 1606.03657), Section 4 and Appendix C: Q shares all convolutional
    layers with D and adds one fully connected layer (128 units for MNIST) before the
    parameters of the conditional distribution. No normalization here (the head is small and
    its input is D's already normalized trunk), so `train` and `axis_name` are accepted for
    the library's uniform interface and ignored.

    Attributes:
      categorical_dim: K, the number of values of the categorical code (0: none).
      continuous_dim: C, the number of continuous codes (0: none).
      hidden: hidden layer sizes.
      axis_name: unused.
    """

    categorical_dim: int
    continuous_dim: int
    hidden: Sequence[int] = (128,)
    axis_name: str | None = None

    @nn.compact
    def __call__(
        self, features: jax.Array, *, train: bool
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Maps D's features [batch, F] to Q's distribution parameters.

        Returns:
          (categorical_logits [batch, K], continuous_mean [batch, C],
          continuous_log_std [batch, C]): a categorical over the code's values and a factored
          Gaussian over the continuous codes.
        """
        del train
        h = flatten(features)
        for i, size in enumerate(self.hidden):
            h = nn.leaky_relu(nn.Dense(size, name=f"hidden_{i}")(h), LEAKY_RELU_SLOPE)
        out = nn.Dense(self.categorical_dim + 2 * self.continuous_dim, name="output")(h)
        k, c = self.categorical_dim, self.continuous_dim
        logits, mean, log_std = out[:, :k], out[:, k : k + c], out[:, k + c :]
        return logits, mean, log_std


class DiscriminatorClassifier(nn.Module):
    """A K-way classifier with a discriminator's architecture: the discriminator's features ->
    Dense(num_classes). Hu et al. 2017 (arXiv 1706.00550), Section 5.2: "the classifier in
    SVAE shares the same architecture as the discriminators". The discriminator's own
    real/fake logit layer is computed and unused.

    Attributes:
      discriminator: any network returning (logits, features), e.g. `DCGANDiscriminator`.
      num_classes: K.
      kernel_stddev: None (LeCun normal kernel) or the class layer's kernel's normal standard
        deviation (as `MLPDiscriminator`'s).
    """

    discriminator: nn.Module
    num_classes: int
    kernel_stddev: float | None = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        """x [batch, ...] -> class logits [batch, K]."""
        _, features = self.discriminator(x, train=train)
        kernel_init = dense_kernel_init(self.kernel_stddev)
        return nn.Dense(self.num_classes, kernel_init=kernel_init, name="classes")(
            flatten(features)
        )
