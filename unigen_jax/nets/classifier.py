"""Discriminative networks: feature extractors and a class predictor (domain adaptation).

Ganin et al. 2016 (arXiv 1505.07818), Section 5.2 / Figure 4, MNIST architecture: the
feature extractor is conv(5x5, 32) -> ReLU -> max-pool(2x2, stride 2) -> conv(5x5, 48) ->
ReLU -> max-pool(2x2, stride 2); the label predictor fully connected 100 -> 100 -> 10. Here
the convs pad SAME (so that images of any size down to 4x4 fit) and a Dense -> ReLU maps the
flattened maps to `features` units. No normalization, so `train` and `axis_name` are accepted
for the library's uniform interface and ignored; flax default init (LeCun normal, zero bias).
Images are read in [0, 1] as they come (no 2x - 1 mapping).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from unigen_jax.nets._layers import flatten


def _relu_layers(x: jax.Array, hidden: Sequence[int]) -> jax.Array:
    """flatten -> [Dense -> ReLU] per hidden size, as layers `hidden_i` of the calling module
    (call it from an `nn.compact` method)."""
    h = flatten(x)
    for i, size in enumerate(hidden):
        h = nn.relu(nn.Dense(size, name=f"hidden_{i}")(h))
    return h


class ConvFeatures(nn.Module):
    """Images [batch, H, W, C] -> [Conv(5x5) -> ReLU -> MaxPool(2x2, /2)] per channel count ->
    flatten -> Dense(features) -> ReLU: features [batch, features].

    Attributes:
      features: size of the feature vector.
      channels: channels of each conv (Ganin et al.'s MNIST extractor: 32, 48).
      axis_name: unused (no normalization).
    """

    features: int
    channels: Sequence[int] = (32, 48)
    axis_name: str | None = None

    @nn.compact
    def __call__(self, images: jax.Array, *, train: bool) -> jax.Array:
        del train
        if images.ndim != 4:
            raise ValueError(f"ConvFeatures expects images [batch, H, W, C], got {images.shape}")
        x = images
        for i, channels in enumerate(self.channels):
            x = nn.relu(nn.Conv(channels, (5, 5), padding="SAME", name=f"conv_{i}")(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
        return nn.relu(nn.Dense(self.features, name="features")(flatten(x)))


class MLPFeatures(nn.Module):
    """x [batch, ...] -> flatten -> [Dense -> ReLU] per hidden size -> Dense(features) -> ReLU.

    Attributes:
      features: size of the feature vector.
      hidden: hidden layer sizes.
      axis_name: unused (no normalization).
    """

    features: int
    hidden: Sequence[int] = (256, 256)
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        del train
        return nn.relu(nn.Dense(self.features, name="features")(_relu_layers(x, self.hidden)))


class MLPClassifier(nn.Module):
    """x [batch, ...] -> flatten -> [Dense -> ReLU] per hidden size -> Dense(num_classes):
    class logits [batch, num_classes].

    Attributes:
      num_classes: the number of classes.
      hidden: hidden layer sizes (Ganin et al.'s MNIST label predictor: 100, 100).
      axis_name: unused (no normalization).
    """

    num_classes: int
    hidden: Sequence[int] = (100, 100)
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        del train
        return nn.Dense(self.num_classes, name="logits")(_relu_layers(x, self.hidden))
