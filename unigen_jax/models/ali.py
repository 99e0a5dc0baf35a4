"""ALI / BiGAN: a GAN on (x, z) pairs. A joint discriminator D(x, z) tells the encoder's pairs
(x, E(x)), x from the data, from the generator's pairs (G(z), z), z ~ N(0, I); the encoder and
the generator learn to fool it, which matches the two joint distributions and makes E invert G.

Dumoulin et al. 2016, "Adversarially Learned Inference" (arXiv 1606.00704), eq. 1 and
Algorithm 1; Donahue, Kraehenbuehl, Darrell 2016, "Adversarial Feature Learning" (BiGAN, arXiv
1605.09782), eq. 1; Su 2018 (arXiv 1807.05936), eqs. 35-43; Pu et al. 2017 (arXiv 1711.04915),
eq. 3 (the ALI objective, their baseline). D(x, z) = sigmoid(logit(x, z)) is the probability
that a pair comes from the encoder's joint q(x, z) = p_data(x) q(z|x) ::

  D:     min  E_x[-log D(x, E(x))] + E_z[-log(1 - D(G(z), z))]                    (Su eq. 38)
  E, G:  `ali_objective`, with  a = logit(x, E(x)), b = logit(G(z), z):
    non_saturating (default; Su eq. 43, the labels flipped, Goodfellow et al.'s trick):
             min  E_x[-log(1 - D(x, E(x)))] + E_z[-log D(G(z), z)]
                  = E[softplus(a)] + E[softplus(-b)]
    minimax (Su eq. 42; Dumoulin et al. eq. 1 / Pu et al. eq. 3 as a min-max problem):
             min  E_x[log D(x, E(x))] + E_z[log(1 - D(G(z), z))]
                  = E[-softplus(-a)] + E[-softplus(b)]
    su (Su eq. 41, from KL(q(x, z, y) || p(x, z, y)) with D at its optimum, eq. 39):
             min  -E_{x, z ~ p(z|x)}[log D(x, z)] - E_{z ~ q(z), x ~ q(x|z)}[log D(x, z)]
                  = E[softplus(-a)] + E[softplus(-b)]
       Both kinds of pairs are pushed towards D's "encoder" side: G moves its pairs there and E
       follows D's own gradient; Su reports it performs like eqs. 42 and 43.

E(x) is the encoder's mean by default (`stochastic_encoder=False`: BiGAN's deterministic
encoder, Donahue et al. Section 3), or a reparameterised sample of its Gaussian q(z|x)
(`stochastic_encoder=True`: ALI, Dumoulin et al. Section 2.2 and Appendix A). G is
deterministic, x = G(z) (images through a sigmoid, vectors as they are). A deterministic encoder
maps the data onto a set of the data's own dimension, which D can tell from N(0, I) by z alone
when latent_dim exceeds it (2-D mixtures with the default 64): use a latent_dim near the data's
dimension there, or the stochastic encoder. Both E+G terms are the
means over the batch; E and G take one step together on their sum (each term depends on one
of them).

Schedule (`schedule`): "sequential" (the default): D's step, then E and G's step on a
forward pass of their own that sees the updated D, each phase drawing its own noise.
"single_pass": Dumoulin et al.'s Algorithm 1: one forward pass (one x, z, E(x) and G(z))
gives D's loss and the E+G loss, and D, E and G step at once from the same parameters, each
on the gradient of its own loss (`spec.Phase` with one loss a network): one forward pass a
step instead of two.

The joint discriminator (`nets.JointDiscriminator`): for images (DCGAN architecture) a DCGAN
trunk on x, an MLP of `z_hidden_sizes` on z, then an MLP of `joint_hidden_sizes` on the
concatenation (Dumoulin et al. Appendix A: D(z) two layers of 512, D(x, z) two of 1024); for
vectors (MLP architecture) an MLP of `hidden_sizes` on the concatenation [x, z].

`reconstruct_fn` is G(E(x)) with the encoder's mean (Dumoulin et al. Section 4.2;
reconstruction RMSE as in Pu et al. Table 4). ALI has no likelihood: no `encode_fn` or
`log_likelihood_fn`.

Hyperparameters. Dumoulin et al. (SVHN, CelebA): latent 64 (256 on CIFAR-10), Adam with
learning rate 1e-4 and beta1 0.5, batch 100, dropout 0.2 in D (left out here, see
`nets.joint`). Donahue et al. (MNIST, fully connected): latent 50, Adam 2e-4, beta1 0.5,
weight decay 2.5e-5. The defaults: latent 64, Adam 2e-4 with beta1 0.5 for all networks (the
library's GAN settings), the paper's joint layer sizes.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax import nets as flax_nets
from unigen_jax.models import common
from unigen_jax.models.aae import check_sizes, encoder_code
from unigen_jax.models.spec import ModelSpec, Phase
from unigen_jax.nets.dcgan import NORMALIZATIONS

ALI_OBJECTIVES = ("non_saturating", "minimax", "su")
SCHEDULES = ("sequential", "single_pass")


def encoder_generator_losses(objective: str, encoder_logits, generator_logits):
    """Per-example losses (E's [batch], G's [batch]) of `objective` (one of ALI_OBJECTIVES)
    from the joint discriminator's logits on (x, E(x)) and on (G(z), z); see the module
    docstring for the formulas (Su 2018, arXiv 1807.05936, eqs. 41-43)."""
    if objective == "non_saturating":  # eq. 43: -log(1 - D(x, E(x))), -log D(G(z), z)
        return (
            losses.modified_generator_loss(-encoder_logits),
            losses.modified_generator_loss(generator_logits),
        )
    if objective == "minimax":  # eq. 42: log D(x, E(x)), log(1 - D(G(z), z))
        return (
            losses.minimax_generator_loss(-encoder_logits),
            losses.minimax_generator_loss(generator_logits),
        )
    if objective == "su":  # eq. 41: -log D(x, E(x)), -log D(G(z), z)
        return (
            losses.modified_generator_loss(encoder_logits),
            losses.modified_generator_loss(generator_logits),
        )
    raise ValueError(f"unknown ALI objective {objective!r}; choose one of {ALI_OBJECTIVES}")


@dataclasses.dataclass(frozen=True)
class ALIConfig:
    """ALI / BiGAN hyperparameters (see the module docstring for the papers' settings)."""

    latent_dim: int = 64
    ali_objective: str = "non_saturating"
    stochastic_encoder: bool = False
    architecture: str = "auto"
    base_features: int = 64
    hidden_sizes: tuple[int, ...] = (128, 128)
    z_hidden_sizes: tuple[int, ...] = (512, 512)
    joint_hidden_sizes: tuple[int, ...] = (1024, 1024)
    discriminator_norm: str = "batch"
    generator_lr: float = 2e-4
    discriminator_lr: float = 2e-4
    adam_b1: float = 0.5
    adam_b2: float = 0.999
    schedule: str = "sequential"

    def __post_init__(self):
        common.check_choice("ali_objective", self.ali_objective, ALI_OBJECTIVES)
        common.check_choice("schedule", self.schedule, SCHEDULES)
        common.check_choice("architecture", self.architecture, common.ARCHITECTURES)
        common.check_choice("discriminator_norm", self.discriminator_norm, NORMALIZATIONS)
        for field in ("latent_dim", "base_features", "generator_lr", "discriminator_lr"):
            common.check_positive(field, getattr(self, field))
        for field in ("hidden_sizes", "z_hidden_sizes", "joint_hidden_sizes"):
            check_sizes(field, getattr(self, field))


def joint_discriminator_net(architecture: str, config: ALIConfig, *, axis_name):
    """D(x, z): DCGAN trunk + MLP on z + joint MLP for images, an MLP on [x, z] for vectors."""
    if architecture == "dcgan":
        return flax_nets.JointDiscriminator(
            trunk="dcgan",
            z_hidden=tuple(config.z_hidden_sizes),
            joint_hidden=tuple(config.joint_hidden_sizes),
            base_features=config.base_features,
            normalization=config.discriminator_norm,
            axis_name=axis_name,
        )
    return flax_nets.JointDiscriminator(
        trunk="none", z_hidden=(), joint_hidden=tuple(config.hidden_sizes)
    )


def make_ali(
    config: ALIConfig, data_info, *, axis_name: str | None = "data", name: str = "ali"
) -> ModelSpec:
    """ALI / BiGAN for data described by `data_info`."""
    architecture = common.resolve_architecture(config.architecture, data_info.kind)

    def generate(nets, z):
        return common.to_data_space(nets("generator", z), data_info.kind)

    def joint_logits(nets, x):
        """D's logits on the encoder's pairs (x, E(x)) and on the generator's (G(z), z)."""
        z_hat = encoder_code(nets, x, stochastic=config.stochastic_encoder, tag="eps")
        z = nets.normal("z", (config.latent_dim,))
        encoder_logits, _ = nets("discriminator", x, z_hat)
        generator_logits, _ = nets("discriminator", generate(nets, z), z)
        return encoder_logits, generator_logits

    def discriminator_objective(encoder_logits, generator_logits):
        """D: (x, E(x)) "real", (G(z), z) "fake", logistic loss (Su eq. 38)."""
        loss = jnp.mean(losses.minimax_discriminator_loss(encoder_logits, generator_logits))
        return loss, common.discriminator_metrics(loss, encoder_logits, generator_logits)

    def encoder_generator_objective(encoder_logits, generator_logits):
        """E and G: `ali_objective` (Su eqs. 41-43)."""
        encoder_loss, generator_loss = encoder_generator_losses(
            config.ali_objective, encoder_logits, generator_logits
        )
        encoder_loss, generator_loss = jnp.mean(encoder_loss), jnp.mean(generator_loss)
        loss = encoder_loss + generator_loss
        return loss, {
            "loss": loss,
            "encoder_loss": encoder_loss,
            "generator_loss": generator_loss,
        }

    def discriminator_phase(nets, batch):
        return discriminator_objective(*joint_logits(nets, batch["x"]))

    def encoder_generator_phase(nets, batch):
        return encoder_generator_objective(*joint_logits(nets, batch["x"]))

    def single_pass(nets, batch):
        """D's loss and the E+G loss from one forward pass (Dumoulin et al., Algorithm 1)."""
        logits = joint_logits(nets, batch["x"])
        d_loss, d_metrics = discriminator_objective(*logits)
        eg_loss, eg_metrics = encoder_generator_objective(*logits)
        own = {"discriminator": d_loss, "encoder": eg_loss, "generator": eg_loss}
        return own, {**d_metrics, **eg_metrics}

    if config.schedule == "single_pass":
        phases = (
            Phase(
                "discriminator_encoder_generator",
                ("discriminator", "encoder", "generator"),
                single_pass,
            ),
        )
    else:
        phases = (
            Phase("discriminator", ("discriminator",), discriminator_phase),
            Phase("encoder_generator", ("encoder", "generator"), encoder_generator_phase),
        )

    def sample(nets, conditions):
        del conditions
        return generate(nets, nets.normal("sample_z", (config.latent_dim,)))

    def reconstruct(nets, batch):
        mean, _ = nets("encoder", batch["x"])
        return generate(nets, mean)

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
            "discriminator": joint_discriminator_net(architecture, config, axis_name=axis_name),
        },
        init_args={
            "encoder": common.data_input,
            "generator": common.latent_input(config.latent_dim),
            "discriminator": lambda batch: (
                batch["x"],
                jnp.zeros((batch["x"].shape[0], config.latent_dim), jnp.float32),
            ),
        },
        optimizers={
            "encoder": adam(config.generator_lr),
            "generator": adam(config.generator_lr),
            "discriminator": adam(config.discriminator_lr),
        },
        phases=phases,
        sample_fn=sample,
        reconstruct_fn=reconstruct,
        code_fn=lambda nets, batch: nets("encoder", batch["x"])[0],  # the encoder's mean
    )
