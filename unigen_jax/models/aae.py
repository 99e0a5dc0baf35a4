"""AAE: the adversarial autoencoder, an autoencoder whose aggregated posterior of codes is
matched to the prior N(0, I) by a discriminator on codes.

Makhzani, Shlens, Jaitly, Goodfellow, Frey 2015, "Adversarial Autoencoders" (arXiv
1511.05644), Section 2; Su 2018, "Variational Inference: A Unified Framework of Generative
Models and Some Revelations" (arXiv 1807.05936), eqs. 27-34, which derives the AAE as the GAN
with x and z exchanged; Bajaj & Singh's survey "Deep Generative Models: VAE and GAN", Section
4.1.

Networks: an encoder E (`common.encoder_net`: the Gaussian (mean, log variance) head), a
generator (decoder) G and a code discriminator C(z) (`nets.MLPDiscriminator` on codes,
`code_hidden_sizes`), C(z) = sigmoid(logit) the probability that z is a prior sample ::

  code:  z = E(x) = mean(x)                                (default: deterministic encoder,
         z = mean(x) + exp(log_variance(x) / 2) * eps      `stochastic_encoder`: Makhzani et
                                                            al.'s Gaussian posterior, sampled
                                                            by reparameterisation)
  C:     min  E_{z ~ N(0, I)}[-log C(z)] + E_x[-log(1 - C(E(x)))]      (Su eq. 30, where
         Su's D(z) = p(y=0|z) is C: the logistic loss, prior samples "real", codes "fake")
  E, G:  min  E_x[ -log C(E(x)) + lambda * ||x - G(E(x))||^2 ]            (Su eq. 34)

Weighting: lambda (`reconstruction_weight`) multiplies the squared error summed over the data
dimensions of each example (pixels of images in [0, 1] after G's sigmoid; coordinates of
vectors), as in Su's eq. 34 and the catalogue; -log C(E(x)) has weight 1. lambda = 1/(2
sigma^2) makes the reconstruction term a Gaussian decoder's negative log-likelihood with
variance sigma^2. Each phase's loss is the mean over the batch of these per-example terms.

Makhzani et al. train in two phases per minibatch, a reconstruction phase (E and G on the
reconstruction error) and a regularisation phase (C, then E as C's generator); here, as in
Su's eq. 34, E and G take one combined step on the sum after C's step, the non-saturating
`-log C(E(x))` being E's generator loss (Su eq. 33).

The AAE has no likelihood: it declares `reconstruct_fn` (G(E(x)) with the encoder's mean), so
evaluation reports reconstruction RMSE and grids, but neither `encode_fn` nor
`log_likelihood_fn` (no test ELBO or NLL).

Hyperparameters. Makhzani et al. (MNIST, Section 3 and Appendix): encoder, decoder and code
discriminator of two 1000-unit ReLU layers each, an 8-dimensional Gaussian prior for the
likelihood experiments (2 for the visualisations), SGD with momentum 0.9. Paper scale here:
`latent_dim=8, hidden_sizes=(1000, 1000), code_hidden_sizes=(1000, 1000),
architecture=mlp`. The defaults below (Adam 2e-4 with beta1 0.5, as the library's GANs;
256-unit layers) are sized for a CPU.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax import nets as flax_nets
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models.spec import ModelSpec, Phase


@dataclasses.dataclass(frozen=True)
class AAEConfig:
    """Adversarial autoencoder hyperparameters (see the module docstring for paper scale)."""

    latent_dim: int = 8
    stochastic_encoder: bool = False
    reconstruction_weight: float = 1.0
    code_hidden_sizes: tuple[int, ...] = (256, 256)
    architecture: str = "auto"
    base_features: int = 32
    hidden_sizes: tuple[int, ...] = (256, 256)
    autoencoder_lr: float = 2e-4
    discriminator_lr: float = 2e-4
    adam_b1: float = 0.5
    adam_b2: float = 0.999

    def __post_init__(self):
        common.check_choice("architecture", self.architecture, common.ARCHITECTURES)
        for field in (
            "latent_dim",
            "base_features",
            "reconstruction_weight",
            "autoencoder_lr",
            "discriminator_lr",
        ):
            common.check_positive(field, getattr(self, field))
        check_sizes("code_hidden_sizes", self.code_hidden_sizes)
        check_sizes("hidden_sizes", self.hidden_sizes)


def check_sizes(field: str, sizes) -> None:
    """Raises a one-line UserInputError unless every layer size is a positive integer."""
    if any(int(size) < 1 for size in sizes):
        raise UserInputError(f"--config.{field} must list positive layer sizes, got {tuple(sizes)}")


def encoder_code(nets, x: jax.Array, *, stochastic: bool, tag: str) -> jax.Array:
    """z = E(x): the encoder's mean, or with `stochastic` a reparameterised sample
    mean + exp(log_variance / 2) * eps of q(z|x), eps ~ N(0, I) drawn with noise tag `tag`
    (Kingma & Welling 2014; Makhzani et al. 2015's Gaussian posterior; Dumoulin et al. 2016's
    stochastic encoder)."""
    mean, log_variance = nets("encoder", x)
    if not stochastic:
        return mean
    eps = nets.normal(tag, mean.shape[1:])
    return mean + jnp.exp(0.5 * log_variance) * eps


def squared_error(x: jax.Array, reconstruction: jax.Array) -> jax.Array:
    """||x - x_rec||^2 per example: summed over every non-batch dimension, [batch]."""
    return jnp.sum(jnp.reshape((x - reconstruction) ** 2, (x.shape[0], -1)), axis=1)


def make_aae(
    config: AAEConfig, data_info, *, axis_name: str | None = "data", name: str = "aae"
) -> ModelSpec:
    """An adversarial autoencoder for data described by `data_info`."""
    architecture = common.resolve_architecture(config.architecture, data_info.kind)

    def encode(nets, x, tag="eps"):
        return encoder_code(nets, x, stochastic=config.stochastic_encoder, tag=tag)

    def decode(nets, z):
        return common.to_data_space(nets("generator", z), data_info.kind)

    def code_discriminator_phase(nets, batch):
        """C: prior samples z ~ N(0, I) are "real", codes E(x) "fake" (Su eq. 30)."""
        prior = nets.normal("prior_z", (config.latent_dim,))
        codes = encode(nets, batch["x"])
        real_logits, _ = nets("code_discriminator", prior)
        fake_logits, _ = nets("code_discriminator", codes)
        loss = jnp.mean(losses.minimax_discriminator_loss(real_logits, fake_logits))
        return loss, common.discriminator_metrics(loss, real_logits, fake_logits)

    def autoencoder_phase(nets, batch):
        """E and G: -log C(E(x)) + lambda * ||x - G(E(x))||^2 (Su eq. 34)."""
        x = batch["x"]
        codes = encode(nets, x)
        reconstruction = squared_error(x, decode(nets, codes))
        code_logits, _ = nets("code_discriminator", codes)
        code_loss = losses.modified_generator_loss(code_logits)  # -log C(E(x))
        loss = jnp.mean(code_loss + config.reconstruction_weight * reconstruction)
        return loss, {
            "loss": loss,
            "reconstruction": jnp.mean(reconstruction),
            "code_loss": jnp.mean(code_loss),
        }

    def sample(nets, conditions):
        del conditions
        return decode(nets, nets.normal("sample_z", (config.latent_dim,)))

    def reconstruct(nets, batch):
        mean, _ = nets("encoder", batch["x"])
        return decode(nets, mean)

    shape_kwargs = dict(base_features=config.base_features, hidden_sizes=config.hidden_sizes)

    def adam(learning_rate):
        return common.adam(learning_rate, config.adam_b1, config.adam_b2)

    return ModelSpec(
        name=name,
        config=config,
        networks={
            **common.autoencoder_nets(
                architecture,
                config.latent_dim,
                data_info.shape,
                axis_name=axis_name,
                **shape_kwargs,
            ),
            "code_discriminator": flax_nets.MLPDiscriminator(
                hidden=tuple(config.code_hidden_sizes)
            ),
        },
        init_args={
            "encoder": common.data_input,
            "generator": common.latent_input(config.latent_dim),
            "code_discriminator": common.latent_input(config.latent_dim),
        },
        optimizers={
            "encoder": adam(config.autoencoder_lr),
            "generator": adam(config.autoencoder_lr),
            "code_discriminator": adam(config.discriminator_lr),
        },
        phases=(
            Phase("code_discriminator", ("code_discriminator",), code_discriminator_phase),
            Phase("autoencoder", ("encoder", "generator"), autoencoder_phase),
        ),
        sample_fn=sample,
        reconstruct_fn=reconstruct,
        code_fn=lambda nets, batch: nets("encoder", batch["x"])[0],  # the encoder's mean
    )
