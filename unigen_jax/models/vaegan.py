"""VAE/GAN (Larsen, Sønderby, Larochelle, Winther 2016, arXiv 1512.09300; the survey of Bajaj
& Singh, Section 4.1): a VAE whose pixel likelihood is replaced by a Gaussian likelihood of the
discriminator's intermediate features, trained together with a GAN on its reconstructions and
samples.

Networks: a Gaussian encoder E (q(z|x) = N(mu(x), diag sigma^2(x))), a generator G (Larsen et
al.'s "decoder") and a discriminator D whose layer l gives the features D_l. With
x~ = G(z~), z~ ~ q(z|x) reparameterised, and x_p = G(z_p), z_p ~ N(0, I)::

  L_prior  = KL(q(z|x) || N(0, I))                           (analytic)
  L_llike  = -log N(D_l(x) | D_l(x~), I)                      (their Section 2)
           = 0.5 * sum_j (D_l(x)_j - D_l(x~)_j)^2 + 0.5 * d_l * log(2 pi)
  L_GAN    = log D(x) + log(1 - D(x~)) + log(1 - D(x_p))      (their Section 2)

(Dis_l and Dec in their notation), L_llike summed over the d_l units of layer l (a
log-likelihood of the whole feature vector), every term averaged over the batch. Each network
has its own objective (their Algorithm 1)::

  E:  L_prior + L_llike
  G:  gamma * L_llike - L_GAN, in its non-saturating form
      gamma * L_llike + softplus(-logit D(x~)) + softplus(-logit D(x_p))
  D:  -L_GAN = softplus(-logit D(x)) + softplus(logit D(x~)) + softplus(logit D(x_p))

D never sees L_llike: Algorithm 1 updates it with L_GAN only. `feature_layer` picks l among
D's conv blocks (DCGAN) or hidden layers (MLP), Python-style (-1: the last one, the flattened
trunk features D already returns).

Phase: one, as Algorithm 1: one forward pass of E, G and D computes the three objectives,
and each network takes a step on the gradient of its own, the three at the same parameters
(a simultaneous update; the engine pulls each objective back to its own network: see
`unigen_jax.train.step`). `spec.sequential_phases` gives the Gauss-Seidel alternative (E,
then G seeing the updated E, then D seeing both), at three forward passes a step.

D reads x, x~ and x_p in ONE call on their concatenation (the authors' code concatenates x~
and x for the feature loss, and x with the generated images for the GAN loss), so its
BatchNorm statistics, and hence the features D_l(x) and D_l(x~) compared by L_llike, are
those of one joint batch: separate calls would normalise x and x~ by different batch means
and make L_llike blind to a shift shared by the whole batch.

gamma: the paper leaves its value out; the authors' code weights the generator's feature
reconstruction against its GAN gradient with recon_vs_gan_weight = 1e-6 (their CelebA run),
i.e. gamma = w / (1 - w) ~= 1e-6, the default here. With it, G is essentially a GAN generator
and E learns to invert it through D's features. Paper scale (CelebA 64x64): latent 128,
batch 64; here latent 32 and the project's DCGAN nets for 28x28 MNIST, Adam 2e-4 (beta1 0.5)
as the issue's other GANs.

reconstruct_fn = G(mu(x)) is declared (reconstruction grids and RMSE); neither
log_likelihood_fn (the feature likelihood is a likelihood of D_l(x), not of x) nor encode_fn
(the registry's contract reads a declared Gaussian encoder as the promise of a test ELBO and
NLL, which need a likelihood of x).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models.spec import ModelSpec, Phase
from unigen_jax.nets.dcgan import NORMALIZATIONS, num_halvings


@dataclasses.dataclass(frozen=True)
class VAEGANConfig:
    """VAE/GAN hyperparameters (see the module docstring)."""

    latent_dim: int = 32
    gamma: float = 1e-6
    feature_layer: int = -1
    architecture: str = "auto"
    base_features: int = 64
    hidden_sizes: tuple[int, ...] = (128, 128)
    discriminator_norm: str = "batch"
    learning_rate: float = 2e-4
    adam_b1: float = 0.5
    adam_b2: float = 0.999

    def __post_init__(self):
        common.check_choice("architecture", self.architecture, common.ARCHITECTURES)
        common.check_choice("discriminator_norm", self.discriminator_norm, NORMALIZATIONS)
        for field in ("latent_dim", "base_features", "learning_rate"):
            common.check_positive(field, getattr(self, field))
        common.check_positive("gamma", self.gamma, allow_zero=True)
        if isinstance(self.feature_layer, bool) or int(self.feature_layer) != self.feature_layer:
            raise UserInputError(
                f"--config.feature_layer must be a whole number (a layer index, -1 the last), "
                f"got {self.feature_layer}"
            )


def discriminator_layers(architecture: str, data_shape, hidden_sizes) -> int:
    """How many layers D's `return_layers` gives: conv blocks (DCGAN) or hidden layers (MLP)."""
    if architecture == "dcgan":
        return max(1, num_halvings(data_shape[0]))
    return len(hidden_sizes)


def feature_nll(real_features, reconstructed_features) -> jax.Array:
    """L_llike per example: -log N(D_l(x) | D_l(x~), I) summed over the layer's units."""
    return -losses.gaussian_log_likelihood(reconstructed_features, real_features)


def make_vaegan(
    config: VAEGANConfig, data_info, *, axis_name: str | None = "data", name: str = "vaegan"
) -> ModelSpec:
    """A VAE/GAN for data described by `data_info` (a `unigen_jax.data.DatasetInfo`)."""
    architecture = common.resolve_architecture(config.architecture, data_info.kind)
    layers = discriminator_layers(architecture, data_info.shape, config.hidden_sizes)
    if not -layers <= config.feature_layer < layers:
        raise UserInputError(
            f"--config.feature_layer={config.feature_layer} is out of range: the "
            f"discriminator has {layers} feature layers (0..{layers - 1}, or -1 the last)"
        )

    def encode(nets, batch):
        return nets("encoder", batch["x"])

    def decode(nets, z):
        return common.to_data_space(nets("generator", z), data_info.kind)

    def forward(nets, batch):
        """One pass of E, G and D: the KL, D's logits on x, x~ and x_p, and L_llike."""
        x = batch["x"]
        mean, log_variance = encode(nets, batch)
        eps = nets.normal("eps", (config.latent_dim,))
        reconstruction = decode(nets, mean + jnp.exp(0.5 * log_variance) * eps)
        generated = decode(nets, nets.normal("z", (config.latent_dim,)))
        logits, _, activations = nets(
            "discriminator",
            jnp.concatenate([x, reconstruction, generated]),
            return_layers=True,
        )
        n = len(x)
        features = activations[config.feature_layer]
        return {
            "kl": losses.gaussian_kl_to_standard_normal(mean, log_variance),
            "feature_nll": feature_nll(features[:n], features[n : 2 * n]),
            "real_logits": logits[:n],
            "reconstruction_logits": logits[n : 2 * n],
            "generated_logits": logits[2 * n :],
        }

    def objectives(nets, batch):
        """E's, G's and D's losses (Algorithm 1) from one forward pass:
        E: L_prior + L_llike; G: gamma * L_llike - L_GAN, non-saturating on x~ and x_p;
        D: -L_GAN, real x against reconstructions and samples."""
        out = forward(nets, batch)
        kl, nll = jnp.mean(out["kl"]), jnp.mean(out["feature_nll"])
        real, rec, gen = out["real_logits"], out["reconstruction_logits"], out["generated_logits"]
        generator_gan = jnp.mean(
            losses.modified_generator_loss(rec) + losses.modified_generator_loss(gen)
        )
        encoder_loss = kl + nll
        generator_loss = config.gamma * nll + generator_gan
        # -log D(x) = softplus(-l); -log(1 - D(x')) = softplus(l).
        discriminator_loss = jnp.mean(
            jax.nn.softplus(-real) + jax.nn.softplus(rec) + jax.nn.softplus(gen)
        )
        own = {
            "encoder": encoder_loss,
            "generator": generator_loss,
            "discriminator": discriminator_loss,
        }
        return own, {
            "kl": kl,
            "feature_nll": nll,
            "encoder_loss": encoder_loss,
            "generator_loss": generator_loss,
            "generator_gan": generator_gan,
            **common.discriminator_metrics(discriminator_loss, real, gen),
            "reconstruction_logit": jnp.mean(rec),
        }

    def sample(nets, conditions):
        del conditions
        return decode(nets, nets.normal("sample_z", (config.latent_dim,)))

    def reconstruct(nets, batch):
        mean, _ = encode(nets, batch)
        return decode(nets, mean)

    shape_kwargs = dict(base_features=config.base_features, hidden_sizes=config.hidden_sizes)
    networks = {
        **common.autoencoder_nets(
            architecture, config.latent_dim, data_info.shape, axis_name=axis_name, **shape_kwargs
        ),
        "discriminator": common.discriminator_net(
            architecture,
            normalization=config.discriminator_norm,
            axis_name=axis_name,
            **shape_kwargs,
        ),
    }
    return ModelSpec(
        name=name,
        config=config,
        networks=networks,
        init_args={
            "encoder": common.data_input,
            "generator": common.latent_input(config.latent_dim),
            "discriminator": common.data_input,
        },
        optimizers={
            net: common.adam(config.learning_rate, config.adam_b1, config.adam_b2)
            for net in networks
        },
        phases=(
            Phase(
                "encoder_generator_discriminator",
                ("encoder", "generator", "discriminator"),
                objectives,
            ),
        ),
        sample_fn=sample,
        reconstruct_fn=reconstruct,
        code_fn=lambda nets, batch: encode(nets, batch)[0],  # the encoder's mean
    )


__all__ = ["VAEGANConfig", "discriminator_layers", "feature_nll", "make_vaegan"]
