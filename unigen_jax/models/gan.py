"""GAN (DCGAN by default): a discriminator phase, then a generator phase.

Goodfellow et al. (2014); Radford et al. (2016) for the DCGAN networks; Hu et al. (2017),
../shared/papers/000 §3.2: the generator's non-saturating objective `-log D(G(z))` (the
"modified" family, the default) is the reversed-KL view of the GAN update.

  D: min  E_x[l_D^real(D(x))] + E_z[l_D^fake(D(G(z)))]  (+ gp * WGAN-GP penalty)
  G: min  E_z[l_G(D(G(z)))]

with the loss family (minimax, modified, wasserstein, hinge, least_squares) from
`unigen_jax.losses`. WGAN-GP is `--config.loss=wasserstein --config.gradient_penalty=10
--config.discriminator_steps=5 --config.discriminator_norm=layer` (Gulrajani et al. 2017).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models.spec import ModelSpec, Phase

LOSS_FAMILIES = ("modified", "minimax", "wasserstein", "hinge", "least_squares")
NORMALIZATIONS = ("batch", "layer", "none")
LOGISTIC_FAMILIES = ("modified", "minimax")


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """GAN hyperparameters (DCGAN defaults: Adam 2e-4, beta1 0.5)."""

    loss: str = "modified"
    latent_dim: int = 64
    architecture: str = "auto"
    base_features: int = 64
    hidden_sizes: tuple[int, ...] = (128, 128)
    generator_lr: float = 2e-4
    discriminator_lr: float = 2e-4
    adam_b1: float = 0.5
    adam_b2: float = 0.999
    label_smoothing: float = 0.0
    discriminator_steps: int = 1
    gradient_penalty: float = 0.0
    discriminator_norm: str = "batch"

    def __post_init__(self):
        common.check_choice("loss", self.loss, LOSS_FAMILIES)
        common.check_choice("architecture", self.architecture, common.ARCHITECTURES)
        common.check_choice("discriminator_norm", self.discriminator_norm, NORMALIZATIONS)
        for field in ("latent_dim", "base_features", "generator_lr", "discriminator_lr"):
            common.check_positive(field, getattr(self, field))
        common.check_positive("discriminator_steps", self.discriminator_steps)
        common.check_positive("gradient_penalty", self.gradient_penalty, allow_zero=True)
        if not 0 <= self.label_smoothing < 1:
            raise UserInputError(
                f"--config.label_smoothing must be in [0, 1), got {self.label_smoothing}"
            )
        if self.label_smoothing and self.loss not in LOGISTIC_FAMILIES:
            raise UserInputError(
                f"--config.label_smoothing applies to the logistic losses {LOGISTIC_FAMILIES}, "
                f"not --config.loss={self.loss}"
            )


def make_gan(config: GANConfig, data_info, *, axis_name: str | None = "data") -> ModelSpec:
    """A GAN for data described by `data_info` (a `unigen_jax.data.DatasetInfo`)."""
    architecture = common.resolve_architecture(config.architecture, data_info.kind)
    generator_loss = getattr(losses, f"{config.loss}_generator_loss")
    discriminator_loss = getattr(losses, f"{config.loss}_discriminator_loss")
    smoothing = {"label_smoothing": config.label_smoothing} if config.label_smoothing else {}

    def generate(nets, tag):
        z = nets.normal(tag, (config.latent_dim,))
        return common.to_data_space(nets("generator", z), data_info.kind)

    def discriminator_phase(nets, batch):
        real = batch["x"]
        fake = generate(nets, "z")
        real_logits, _ = nets("discriminator", real)
        fake_logits, _ = nets("discriminator", fake)
        loss = jnp.mean(discriminator_loss(real_logits, fake_logits, **smoothing))
        metrics = {
            "discriminator_loss": loss,
            "real_logit": jnp.mean(real_logits),
            "fake_logit": jnp.mean(fake_logits),
        }
        if config.gradient_penalty:
            penalty = jnp.mean(
                losses.wasserstein_gradient_penalty(
                    lambda x: nets("discriminator", x)[0], real, fake, nets.key("penalty")
                )
            )
            metrics["gradient_penalty"] = penalty
            loss = loss + config.gradient_penalty * penalty
        return loss, metrics

    def generator_phase(nets, batch):
        fake_logits, _ = nets("discriminator", generate(nets, "z"))
        loss = jnp.mean(generator_loss(fake_logits))
        return loss, {"generator_loss": loss}

    shape_kwargs = dict(base_features=config.base_features, hidden_sizes=config.hidden_sizes)
    networks = {
        "generator": common.generator_net(
            architecture, data_info.shape, axis_name=axis_name, **shape_kwargs
        ),
        "discriminator": common.discriminator_net(
            architecture,
            normalization=config.discriminator_norm,
            axis_name=axis_name,
            **shape_kwargs,
        ),
    }
    return ModelSpec(
        name="gan",
        config=config,
        networks=networks,
        init_args={
            "generator": common.latent_input(config.latent_dim),
            "discriminator": common.data_input,
        },
        optimizers={
            "generator": common.adam(config.generator_lr, config.adam_b1, config.adam_b2),
            "discriminator": common.adam(config.discriminator_lr, config.adam_b1, config.adam_b2),
        },
        phases=(
            Phase(
                "discriminator",
                ("discriminator",),
                discriminator_phase,
                repeats=config.discriminator_steps,
            ),
            Phase("generator", ("generator",), generator_phase),
        ),
        sample_fn=lambda nets, n: generate(nets, "sample_z"),
    )
