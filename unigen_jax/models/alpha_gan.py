"""alpha-GAN: an auto-encoder whose reconstructions and samples face a data discriminator D
and whose codes face a code discriminator C.

Rosca, Lakshminarayanan, Warde-Farley, Mohamed 2017, "Variational Approaches for
Auto-Encoding Generative Adversarial Networks" (arXiv 1706.04987), Section 3, eq. 8 and
Algorithm 1, in the non-saturating form. Prior p(z) = N(0, I); deterministic encoder E;
x_rec = G(E(x)), x_gen = G(z), z ~ p(z); D(x) = sigmoid(D's logit), C likewise::

  E: lambda * |x - x_rec|_1 - log C(E(x))
  G: lambda * |x - x_rec|_1 - log D(x_rec) - log D(x_gen)
  D: -log D(x) - log(1 - D(x_rec)) - log(1 - D(x_gen))
  C: -log C(z) - log(1 - C(E(x))),   prior samples z are C's "real" class

`|.|_1` is the mean absolute error over the data's elements (the L1 norm divided by the number
of pixels, so that lambda keeps its meaning across image sizes), averaged over the batch; all
expectations are batch means. Every log-sigmoid is a softplus of the logit (`unigen_jax.losses`).

Phases per step (Algorithm 1): `encoder_generator`, repeated `encoder_generator_steps` = 2
times with fresh z (Rosca et al. Appendix H: "we update the encoder ... and the generator
twice for each discriminator and code discriminator update"), then `discriminators` once (D
and C, whose losses share no parameters). E and G have different losses yet are updated
together from one forward pass: the phase minimises ::

  lambda * |x - G(E(x))|_1 - log C(E(x)) - log D(G(stop_gradient(E(x)))) - log D(G(z))

whose gradient with respect to E's params is exactly that of E's loss (the D terms do not
reach E) and with respect to G's params exactly that of G's loss (C's term does not depend
on G); C and D are constants in this phase. The reconstruction is therefore generated twice,
once on a path into E and G and once on a path into G only.

Hyperparameters (Rosca et al. Appendix H): lambda swept over {1, 5, 10, 50} for both E and G
(default 10 here); adversarial weights 1; C a 3-layer MLP of 750 units with leaky ReLUs and
no batch norm (`code_discriminator_hidden`); Adam with beta1 0.5, batch 64; batch norm in G,
D and E. Their encoder is the transposed generator; here it is the DCGAN encoder
(`unigen_jax.nets.DCGANEncoder`, its mean head; the log-variance head is unused), with the
other networks in DCGAN shapes on images and MLPs on vectors. Paper scale: 100,000 steps on
ColorMNIST, 200,000 on CelebA and CIFAR-10; cpu scale (this repository's studies): a few
thousand steps of batch 64 on `mnist5k`.

Ablation (Rosca et al. Appendix D, eq. 18): `code_critic="empirical_kl"` replaces C by the
empirical KL of the minibatch codes' per-dimension mean and variance to N(0, 1) divided by
the latent size (`losses.empirical_gaussian_kl`, moments of the GLOBAL batch); E's loss is
then `lambda * |x - x_rec|_1 + KL_emp(E(x))` and there is no C network.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax import nets as flax_nets
from unigen_jax.models import common
from unigen_jax.models.spec import ModelSpec, Phase
from unigen_jax.nets.dcgan import NORMALIZATIONS

CODE_CRITICS = ("discriminator", "empirical_kl")


@dataclasses.dataclass(frozen=True)
class AlphaGANConfig:
    """alpha-GAN hyperparameters (Rosca et al. 2017, Appendix H)."""

    latent_dim: int = 64
    reconstruction_weight: float = 10.0
    code_critic: str = "discriminator"
    code_discriminator_hidden: tuple[int, ...] = (750, 750, 750)
    encoder_generator_steps: int = 2
    architecture: str = "auto"
    base_features: int = 64
    hidden_sizes: tuple[int, ...] = (128, 128)
    generator_lr: float = 2e-4
    discriminator_lr: float = 2e-4
    adam_b1: float = 0.5
    adam_b2: float = 0.999
    discriminator_norm: str = "batch"

    def __post_init__(self):
        common.check_choice("code_critic", self.code_critic, CODE_CRITICS)
        common.check_choice("architecture", self.architecture, common.ARCHITECTURES)
        common.check_choice("discriminator_norm", self.discriminator_norm, NORMALIZATIONS)
        for field in ("latent_dim", "base_features", "generator_lr", "discriminator_lr"):
            common.check_positive(field, getattr(self, field))
        common.check_positive("encoder_generator_steps", self.encoder_generator_steps)
        common.check_positive("reconstruction_weight", self.reconstruction_weight, allow_zero=True)
        for size in self.code_discriminator_hidden:
            common.check_positive("code_discriminator_hidden", size)


def l1_reconstruction(x: jax.Array, x_rec: jax.Array) -> jax.Array:
    """Batch mean of `|x - x_rec|` averaged over each example's elements."""
    return jnp.mean(jnp.abs(x - x_rec))


# The four losses of Rosca et al. 2017 (Section 3, Algorithm 1), batch means, from logits.


def encoder_loss(reconstruction, code_logits, reconstruction_weight):
    """E: `lambda * |x - x_rec|_1 - log C(E(x))`; `code_logits` are C's logits on E(x)."""
    return reconstruction_weight * reconstruction + jnp.mean(
        losses.modified_generator_loss(code_logits)
    )


def generator_loss(reconstruction, rec_logits, gen_logits, reconstruction_weight):
    """G: `lambda * |x - x_rec|_1 - log D(x_rec) - log D(x_gen)`."""
    adversarial = losses.modified_generator_loss(rec_logits) + losses.modified_generator_loss(
        gen_logits
    )
    return reconstruction_weight * reconstruction + jnp.mean(adversarial)


def discriminator_loss(real_logits, rec_logits, gen_logits):
    """D: -log D(x) - log(1 - D(x_rec)) - log(1 - D(x_gen)) (log(1 - D) is the minimax
    generator loss)."""
    return jnp.mean(
        losses.minimax_discriminator_loss(real_logits, rec_logits)
        - losses.minimax_generator_loss(gen_logits)
    )


def code_discriminator_loss(prior_logits, code_logits):
    """C: -log C(z) - log(1 - C(E(x))), z ~ p(z) the "real" class."""
    return jnp.mean(losses.minimax_discriminator_loss(prior_logits, code_logits))


def make_alpha_gan(
    config: AlphaGANConfig, data_info, *, axis_name: str | None = "data", name: str = "alpha_gan"
) -> ModelSpec:
    """An alpha-GAN for data described by `data_info` (a `unigen_jax.data.DatasetInfo`)."""
    architecture = common.resolve_architecture(config.architecture, data_info.kind)
    with_critic = config.code_critic == "discriminator"
    lam = config.reconstruction_weight

    def encode(nets, x):
        """E(x): the deterministic code (the encoder's mean head)."""
        return nets("encoder", x)[0]

    def decode(nets, z):
        return common.to_data_space(nets("generator", z), data_info.kind)

    def discriminate(nets, x):
        return nets("discriminator", x)[0]

    def encoder_generator_phase(nets, batch):
        """E and G on their own losses, from one forward pass (see the module docstring)."""
        x = batch["x"]
        codes = encode(nets, x)
        reconstruction = l1_reconstruction(x, decode(nets, codes))  # into E and G
        if with_critic:  # into E only (C constant)
            e_loss = encoder_loss(reconstruction, nets("code_discriminator", codes)[0], lam)
        else:
            kl = losses.empirical_gaussian_kl(codes, batch_mean=nets.batch_mean)
            e_loss = lam * reconstruction + kl
        rec_logits = discriminate(nets, decode(nets, jax.lax.stop_gradient(codes)))  # G only
        gen_logits = discriminate(nets, decode(nets, nets.normal("z", (config.latent_dim,))))
        g_loss = generator_loss(reconstruction, rec_logits, gen_logits, lam)
        # The reconstruction term is in both losses but counted once: its gradient reaches E
        # and G each once, as in their own losses.
        loss = e_loss + g_loss - lam * reconstruction
        return loss, {
            "encoder_loss": e_loss,
            "generator_loss": g_loss,
            "reconstruction_l1": reconstruction,
            "code_prior_term": e_loss - lam * reconstruction,
        }

    def discriminators_phase(nets, batch):
        """D on real vs reconstructed and generated data; C on prior samples vs codes."""
        x = batch["x"]
        codes = encode(nets, x)
        real_logits = discriminate(nets, x)
        rec_logits = discriminate(nets, decode(nets, codes))
        gen_logits = discriminate(nets, decode(nets, nets.normal("z", (config.latent_dim,))))
        d_loss = discriminator_loss(real_logits, rec_logits, gen_logits)
        metrics = {
            **common.discriminator_metrics(d_loss, real_logits, gen_logits),
            "reconstruction_logit": jnp.mean(rec_logits),
        }
        if not with_critic:
            return d_loss, metrics
        prior_logits = nets("code_discriminator", nets.normal("prior_z", (config.latent_dim,)))[0]
        code_logits = nets("code_discriminator", codes)[0]
        c_loss = code_discriminator_loss(prior_logits, code_logits)
        return d_loss + c_loss, {
            **metrics,
            "code_discriminator_loss": c_loss,
            "prior_code_logit": jnp.mean(prior_logits),
            "encoded_code_logit": jnp.mean(code_logits),
        }

    def sample(nets, conditions):
        del conditions
        return decode(nets, nets.normal("sample_z", (config.latent_dim,)))

    def reconstruct(nets, batch):
        return decode(nets, encode(nets, batch["x"]))

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
    init_args = {
        "encoder": common.data_input,
        "generator": common.latent_input(config.latent_dim),
        "discriminator": common.data_input,
    }
    adam = {
        "generator": common.adam(config.generator_lr, config.adam_b1, config.adam_b2),
        "discriminator": common.adam(config.discriminator_lr, config.adam_b1, config.adam_b2),
    }
    optimizers = {
        "encoder": adam["generator"],
        "generator": adam["generator"],
        "discriminator": adam["discriminator"],
    }
    critics = ("discriminator",)
    if with_critic:
        networks["code_discriminator"] = flax_nets.MLPDiscriminator(
            hidden=tuple(config.code_discriminator_hidden)
        )
        init_args["code_discriminator"] = common.latent_input(config.latent_dim)
        optimizers["code_discriminator"] = adam["discriminator"]
        critics += ("code_discriminator",)
    return ModelSpec(
        name=name,
        config=config,
        networks=networks,
        init_args=init_args,
        optimizers=optimizers,
        phases=(
            Phase(
                "encoder_generator",
                ("encoder", "generator"),
                encoder_generator_phase,
                repeats=config.encoder_generator_steps,
            ),
            Phase("discriminators", critics, discriminators_phase),
        ),
        sample_fn=sample,
        reconstruct_fn=reconstruct,
        code_fn=lambda nets, batch: encode(nets, batch["x"]),
    )
