"""Flax linen networks: the DCGAN and MLP families, Chen et al.'s InfoGAN MNIST nets, feature
extractors and classifiers (domain adaptation), joint discriminators on (x, z), a planar
normalising flow, and fast strided / transposed convolutions.

Conventions (relied on by the training engine): images are float32 in [0, 1], NHWC; DCGAN
discriminators and encoders map them to [-1, 1] first; generators return pre-activation
outputs `[batch, *output_shape]`; discriminators return (logits [batch], features [batch, F]);
encoders return (mean, log_variance), each [batch, latent_dim]; every `__call__` takes a
keyword-only `train`; BatchNorm statistics are averaged over `axis_name` when it is set.
"""

from unigen_jax.nets._layers import ACTIVATIONS
from unigen_jax.nets.classifier import ConvFeatures, MLPClassifier, MLPFeatures
from unigen_jax.nets.conv_transpose import FastConvTranspose, conv_transpose
from unigen_jax.nets.dcgan import (
    DCGANDiscriminator,
    DCGANEncoder,
    DCGANGenerator,
    DCGANTrunk,
    dcgan_generator_layout,
)
from unigen_jax.nets.flows import PlanarFlow
from unigen_jax.nets.heads import DiscriminatorClassifier, InfoGANQHead
from unigen_jax.nets.infogan_mnist import (
    InfoGANMNISTDiscriminator,
    InfoGANMNISTGenerator,
    InfoGANMNISTQHead,
)
from unigen_jax.nets.joint import JointDiscriminator
from unigen_jax.nets.minibatch import MinibatchDiscrimination, minibatch_features
from unigen_jax.nets.mixture import GaussianMixture
from unigen_jax.nets.mlp import MLPDiscriminator, MLPEncoder, MLPGenerator
from unigen_jax.nets.sbn import SigmoidBeliefNet
from unigen_jax.nets.strided_conv import FastConv, strided_conv

__all__ = [
    "ACTIVATIONS",
    "ConvFeatures",
    "DCGANDiscriminator",
    "DCGANEncoder",
    "DCGANGenerator",
    "DCGANTrunk",
    "DiscriminatorClassifier",
    "FastConv",
    "FastConvTranspose",
    "GaussianMixture",
    "InfoGANMNISTDiscriminator",
    "InfoGANMNISTGenerator",
    "InfoGANMNISTQHead",
    "InfoGANQHead",
    "MLPClassifier",
    "MinibatchDiscrimination",
    "JointDiscriminator",
    "MLPDiscriminator",
    "MLPEncoder",
    "MLPFeatures",
    "MLPGenerator",
    "PlanarFlow",
    "SigmoidBeliefNet",
    "conv_transpose",
    "dcgan_generator_layout",
    "minibatch_features",
    "strided_conv",
]
