"""VAE: a Gaussian encoder and a generator trained together on the negative ELBO.

Kingma & Welling (2014); Hu et al. (2017), ../shared/papers/000 §3.3 eq. 7; beta-VAE
(Higgins et al. 2017) with `--config.beta`:

  min_{E,G}  E_x[ -E_{q(z|x)}[log p(x|z)] + beta * KL(q(z|x) || N(0, I)) ]

q(z|x) = N(mean(x), diag exp(log_variance(x))), sampled by reparameterisation; the KL is
analytic. p(x|z): Bernoulli on the generator's logits (the default for images in [0, 1]),
or Gaussian / Laplace around the generator's mean with a fixed scale (the default for vectors).
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models.spec import ModelSpec, Phase

LIKELIHOODS = ("auto", "bernoulli", "gaussian", "laplace")


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """VAE hyperparameters."""

    latent_dim: int = 16
    likelihood: str = "auto"
    likelihood_scale: float = 0.1
    beta: float = 1.0
    architecture: str = "auto"
    base_features: int = 32
    hidden_sizes: tuple[int, ...] = (256, 256)
    learning_rate: float = 1e-3
    adam_b1: float = 0.9
    adam_b2: float = 0.999

    def __post_init__(self):
        common.check_choice("likelihood", self.likelihood, LIKELIHOODS)
        common.check_choice("architecture", self.architecture, common.ARCHITECTURES)
        for field in ("latent_dim", "base_features", "learning_rate", "likelihood_scale"):
            common.check_positive(field, getattr(self, field))
        common.check_positive("beta", self.beta, allow_zero=True)


def _log_likelihood_fn(likelihood: str, scale: float, data_kind: str):
    """`(generator_output, x) -> log p(x|z)` per example."""
    log_scale = math.log(scale)
    if likelihood == "bernoulli":
        return losses.bernoulli_log_likelihood
    location = {
        "gaussian": losses.gaussian_log_likelihood,
        "laplace": losses.laplace_log_likelihood,
    }[likelihood]
    return lambda output, x: location(
        common.to_data_space(output, data_kind), x, log_scale=log_scale
    )


def make_vae(config: VAEConfig, data_info, *, axis_name: str | None = "data") -> ModelSpec:
    """A VAE for data described by `data_info` (a `unigen_jax.data.DatasetInfo`)."""
    architecture = common.resolve_architecture(config.architecture, data_info.kind)
    likelihood = config.likelihood
    if likelihood == "auto":
        likelihood = "bernoulli" if data_info.kind == "image" else "gaussian"
    if likelihood == "bernoulli" and data_info.kind != "image":
        raise UserInputError(
            "--config.likelihood=bernoulli needs data in [0, 1] (images); use gaussian or laplace"
        )
    log_likelihood = _log_likelihood_fn(likelihood, config.likelihood_scale, data_info.kind)

    def vae_phase(nets, batch):
        x = batch["x"]
        mean, log_variance = nets("encoder", x)
        eps = nets.normal("eps", (config.latent_dim,))
        z = mean + jnp.exp(0.5 * log_variance) * eps  # reparameterisation
        log_px = log_likelihood(nets("generator", z), x)
        kl = losses.gaussian_kl_to_standard_normal(mean, log_variance)
        loss = -jnp.mean(losses.elbo(log_px, kl, beta=config.beta))
        return loss, {
            "loss": loss,
            "elbo": jnp.mean(losses.elbo(log_px, kl)),
            "reconstruction": -jnp.mean(log_px),
            "kl": jnp.mean(kl),
        }

    def sample(nets, n):
        z = nets.normal("sample_z", (config.latent_dim,))
        return common.to_data_space(nets("generator", z), data_info.kind)

    def reconstruct(nets, x):
        mean, _ = nets("encoder", x)
        return common.to_data_space(nets("generator", mean), data_info.kind)

    shape_kwargs = dict(base_features=config.base_features, hidden_sizes=config.hidden_sizes)
    return ModelSpec(
        name="vae",
        config=dataclasses.replace(config, likelihood=likelihood),
        networks={
            "encoder": common.encoder_net(
                architecture, config.latent_dim, axis_name=axis_name, **shape_kwargs
            ),
            "generator": common.generator_net(
                architecture, data_info.shape, axis_name=axis_name, **shape_kwargs
            ),
        },
        init_args={
            "encoder": common.data_input,
            "generator": common.latent_input(config.latent_dim),
        },
        optimizers={
            name: common.adam(config.learning_rate, config.adam_b1, config.adam_b2)
            for name in ("encoder", "generator")
        },
        phases=(Phase("vae", ("encoder", "generator"), vae_phase),),
        sample_fn=sample,
        reconstruct_fn=reconstruct,
        log_likelihood_fn=lambda nets, x, z: log_likelihood(nets("generator", z), x),
    )
