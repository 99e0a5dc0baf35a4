"""Pieces the model families share: hyperparameter checks, network choice, data mapping."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax

from unigen_jax import nets as flax_nets
from unigen_jax.errors import UserInputError

ARCHITECTURES = ("auto", "dcgan", "mlp")
# Chen et al.'s released InfoGAN MNIST networks (`nets.InfoGANMNISTGenerator`,
# `nets.InfoGANMNISTDiscriminator`; arXiv 1606.03657, Appendix C): the DCGAN convolutions with a
# fully connected 1024-unit BatchNorm layer in G and in D, and LeakyReLU 0.01 in D. A generator
# and a discriminator, no encoder: for the families made of those two (`GAN_ARCHITECTURES`).
CHEN_MNIST = "chen_mnist"
GAN_ARCHITECTURES = (*ARCHITECTURES, CHEN_MNIST)


def check_choice(field: str, value: str, choices: Sequence[str]) -> None:
    """Raises a one-line UserInputError if `value` is not one of `choices`."""
    if value not in choices:
        raise UserInputError(f"unknown {field} {value!r}; choose one of: {', '.join(choices)}")


def check_positive(field: str, value: float, *, allow_zero: bool = False) -> None:
    """Raises a one-line UserInputError if `value` is not positive (or non-negative)."""
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise UserInputError(f"--config.{field} must be {bound}, got {value}")


# The distributions of a generator's noise z: N(0, I), or Uniform[-1, 1] in each variable
# (DCGAN: Radford et al. 2016, arXiv 1511.06434, Figure 1; InfoGAN's released MNIST code).
NOISES = ("normal", "uniform")


def draw_noise(nets, tag: str, dim: int, distribution: str) -> jax.Array:
    """z [batch, dim] from `distribution`, one of NOISES, under the draw `tag` of `nets`."""
    if distribution == "uniform":
        return 2.0 * nets.uniform(tag, (dim,)) - 1.0
    return nets.normal(tag, (dim,))


def resolve_architecture(architecture: str, data_kind: str) -> str:
    """'auto' picks the DCGAN family for images and MLPs for vectors (2-D mixtures)."""
    if architecture == "auto":
        return "dcgan" if data_kind == "image" else "mlp"
    if architecture in ("dcgan", CHEN_MNIST) and data_kind != "image":
        raise UserInputError(
            f"--config.architecture={architecture} needs image data; use mlp for vector data"
        )
    return architecture


def flag_value(value) -> str:
    """A config value as its `--config.NAME=` text: true/false, a comma-separated list, else
    str(value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def to_data_space(generator_output: jax.Array, data_kind: str) -> jax.Array:
    """Maps a generator's pre-activation output to data space.

    Images live in [0, 1]: sigmoid (DCGAN's tanh on [-1, 1] data, rescaled:
    tanh(a) = 2 sigmoid(2a) - 1). Vectors are unbounded: identity.
    """
    return jax.nn.sigmoid(generator_output) if data_kind == "image" else generator_output


def adam(learning_rate: float, b1: float, b2: float) -> optax.GradientTransformation:
    return optax.adam(learning_rate, b1=b1, b2=b2)


OPTIMIZERS = ("adam", "rmsprop")


def optimizer(name: str, learning_rate: float, b1: float, b2: float):
    """Adam(b1, b2), or RMSProp (WGAN with clipping: Arjovsky et al. 2017, Algorithm 1, decay
    0.9 as in their code; b1 and b2 unused)."""
    if name == "rmsprop":
        return optax.rmsprop(learning_rate, decay=0.9, eps=1e-8)
    return adam(learning_rate, b1, b2)


def clip_params(bound: float):
    """Projection of params onto the box [-bound, bound] (WGAN's weight clipping)."""
    return lambda params: jax.tree.map(lambda p: jnp.clip(p, -bound, bound), params)


def exponential_moving_average(decay: float):
    """`(average, current) -> decay * average + (1 - decay) * current`, leaf by leaf."""
    return lambda average, current: jax.tree.map(
        lambda a, c: decay * a + (1.0 - decay) * c, average, current
    )


def discriminator_metrics(loss, real_logits, fake_logits) -> dict:
    """What every discriminator phase logs: its loss and D's mean logit on each side."""
    return {
        "discriminator_loss": loss,
        "real_logit": jnp.mean(real_logits),
        "fake_logit": jnp.mean(fake_logits),
    }


def one_hot(label: jax.Array, num_classes: int) -> jax.Array:
    return jax.nn.one_hot(label, num_classes, dtype=jnp.float32)


def with_condition(x: jax.Array, label: jax.Array, num_classes: int) -> jax.Array:
    """x with the one-hot label appended as features (vectors) or constant channels (images):
    how a class-conditional discriminator or encoder reads its condition (Mirza & Osindero
    2014; the channel concatenation of common DCGAN CGANs)."""
    code = one_hot(label, num_classes)
    if x.ndim > 2:
        code = jnp.broadcast_to(code[:, None, None, :], (*x.shape[:-1], num_classes))
    return jnp.concatenate([x, code.astype(x.dtype)], axis=-1)


def conditioned_data_input(num_classes: int):
    """init_args for a conditional network that reads data: x with its label channels."""
    return lambda batch: (with_condition(batch["x"], batch["label"], num_classes),)


def sampling_labels(nets, conditions, num_classes: int):
    """The labels to sample for: the given ones, else uniform draws; None if unconditional
    (num_classes = 0)."""
    if not num_classes:
        return None
    label = conditions.get("label")
    return nets.categorical("sample_label", num_classes) if label is None else label


def check_conditional(data_info) -> None:
    """A class-conditional model needs labelled data."""
    if data_info.num_classes < 2:
        raise UserInputError(
            f"a conditional model needs labelled data; {data_info.name} has no classes "
            "(choose a labelled dataset such as mnist5k)"
        )


def mlp_options(architecture, *, activation=None, kernel_stddev=None) -> dict:
    """The MLP nets' `activation` and `kernel_stddev` where set (None: the net's default);
    a one-line UserInputError if one is set for the DCGAN nets, which have neither."""
    options = {
        name: value
        for name, value in (("activation", activation), ("kernel_stddev", kernel_stddev))
        if value is not None
    }
    if options and architecture != "mlp":
        raise UserInputError(
            f"{', '.join(options)} set the MLP nets' layers; use --config.architecture=mlp "
            f"or leave them unset for {architecture}"
        )
    return options


def generator_net(
    architecture, output_shape, *, base_features, hidden_sizes, axis_name, **mlp_kwargs
):
    """The DCGAN, Chen et al.'s MNIST or the MLP generator; `mlp_kwargs` from `mlp_options`."""
    if architecture == CHEN_MNIST:
        return flax_nets.InfoGANMNISTGenerator(
            output_shape=tuple(output_shape), base_features=base_features, axis_name=axis_name
        )
    if architecture == "dcgan":
        return flax_nets.DCGANGenerator(
            output_shape=tuple(output_shape), base_features=base_features, axis_name=axis_name
        )
    return flax_nets.MLPGenerator(
        output_shape=tuple(output_shape), hidden=tuple(hidden_sizes), **mlp_kwargs
    )


def discriminator_net(
    architecture,
    *,
    base_features,
    hidden_sizes,
    normalization,
    axis_name,
    minibatch_kernels: int = 0,
    minibatch_kernel_dim: int = 5,
    **mlp_kwargs,
):
    """The DCGAN, Chen et al.'s MNIST or the MLP discriminator; `minibatch_kernels` > 0 adds
    minibatch discrimination before its logit (`nets.MinibatchDiscrimination`); `mlp_kwargs`
    from `mlp_options`. Chen et al.'s has BatchNorm and no minibatch layer."""
    minibatch = dict(minibatch_kernels=minibatch_kernels, minibatch_kernel_dim=minibatch_kernel_dim)
    if architecture == CHEN_MNIST:
        if normalization != "batch" or minibatch_kernels:
            raise UserInputError(
                f"--config.architecture={CHEN_MNIST}'s discriminator has BatchNorm and no "
                "minibatch layer: leave --config.discriminator_norm=batch and "
                "--config.minibatch_kernels=0, or use --config.architecture=dcgan"
            )
        return flax_nets.InfoGANMNISTDiscriminator(base_features=base_features, axis_name=axis_name)
    if architecture == "dcgan":
        return flax_nets.DCGANDiscriminator(
            base_features=base_features,
            normalization=normalization,
            axis_name=axis_name,
            **minibatch,
        )
    return flax_nets.MLPDiscriminator(
        hidden=tuple(hidden_sizes), axis_name=axis_name, **minibatch, **mlp_kwargs
    )


def encoder_net(architecture, latent_dim, *, base_features, hidden_sizes, axis_name, **mlp_kwargs):
    """The DCGAN or MLP encoder; `mlp_kwargs` from `mlp_options`."""
    if architecture == "dcgan":
        return flax_nets.DCGANEncoder(
            latent_dim=latent_dim, base_features=base_features, axis_name=axis_name
        )
    return flax_nets.MLPEncoder(latent_dim=latent_dim, hidden=tuple(hidden_sizes), **mlp_kwargs)


def autoencoder_nets(architecture, latent_dim, data_shape, *, axis_name, **shape_kwargs):
    """{"encoder": q(z|x) to `latent_dim`, "generator": z to data of `data_shape`}: the pair of
    every model with an encoder (VAEs, AAE, ALI, alpha-GAN, AGE, VAE/GAN, SVAE)."""
    return {
        "encoder": encoder_net(architecture, latent_dim, axis_name=axis_name, **shape_kwargs),
        "generator": generator_net(architecture, data_shape, axis_name=axis_name, **shape_kwargs),
    }


def latent_input(latent_dim: int):
    """init_args for a generator: a zero code per example of the example batch (for a
    class-conditional generator, latent_dim includes the one-hot label's size)."""
    return lambda batch: (jnp.zeros((batch["x"].shape[0], latent_dim), jnp.float32),)


def data_input(batch):
    """init_args for a network that reads data: the example batch's x."""
    return (batch["x"],)
