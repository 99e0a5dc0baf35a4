"""GAN (DCGAN by default): a discriminator phase, then a generator phase; with options, the
class-conditional GAN, the importance weighted GAN, WGAN (clipping or gradient penalty) and an
exponential moving average of the generator. The stabilisers (importance weighting, feature
matching, instance noise, Su's regulariser, consensus) are transforms of these objectives in
`gan_stabilisers`, with their equations.

Goodfellow et al. (2014); Radford et al. (2016) for the DCGAN networks; Hu et al. (2017,
arXiv 1706.00550, Section 3.2): the generator's non-saturating objective `-log D(G(z))` (the
"modified" family, the default) is the reversed-KL view of the GAN update.

  D: min  E_x[l_D^real(D(x, y))] + E_z[l_D^fake(D(G(z, y), y))]   (+ gp * WGAN-GP penalty)
  G: min  E_z[w(z) * l_G(D(G(z, y), y))]

- the loss family (minimax, modified, wasserstein, hinge, least_squares) from `losses`;
- z ~ N(0, I), or with `noise="uniform"` Uniform[-1, 1] in each variable (DCGAN's own
  choice, Radford et al. 2016, arXiv 1511.06434, Figure 1);
- y, the class label, only with `conditional` (CGAN, Mirza & Osindero 2014): one-hot, appended
  to z for G and as constant channels (features for vectors) to D's input;
- w(z) = 1, or with `importance_weighted` (IWGAN, Hu et al. 2017, eq. 15) the normalised
  importance weight of each sample over the global minibatch (`gan_stabilisers`);
- WGAN (Arjovsky et al. 2017): `loss=wasserstein, weight_clip=0.01, optimizer=rmsprop,
  lr 5e-5, discriminator_steps=5` (the registered `wgan`); WGAN-GP (Gulrajani et al. 2017):
  `gradient_penalty=10, discriminator_steps=5, discriminator_norm=layer, Adam(1e-4, 0, 0.9)`
  (the registered `wgan_gp`). Each critic step reads a fresh real batch (both papers'
  Algorithm 1) unless `fresh_discriminator_batches=False`;
- `ema_decay` > 0 keeps G_ema <- decay * G_ema + (1 - decay) * G after every generator update
  (as in BigGAN and StudioGAN); samples and evaluation then use G_ema;
- `generator_steps` = N repeats the generator phase N times per step, each with fresh noise
  (Rosca et al. 2017, arXiv 1706.04987, appendix on the training details, update their DCGAN
  baseline's generator twice for each discriminator update);
- `minibatch_kernels` = B > 0 (Salimans et al. 2016, arXiv 1606.03498, Section 3.2) fixes mode
  collapse that a discriminator judging each example alone cannot see: D gets a layer of B
  cross-sample L1 kernels between its features f and its logit, o(x_i)_b = sum_{j != i}
  exp(-||M_{i,b} - M_{j,b}||_1), M_i = f(x_i) T (`nets.MinibatchDiscrimination`, C =
  `minibatch_kernel_dim`), over the global batch, real and generated batches in separate calls
  as the paper says;
- TTUR (Heusel et al. 2017, arXiv 1706.08500) makes the discriminator the fast player so that
  it tracks the slowly moving generator (their convergence proof to a local Nash
  equilibrium): the two learning rates `discriminator_lr` and `generator_lr`; the registered
  `ttur` sets them to 4e-4 and 1e-4, the TTUR pair that SAGAN (Zhang et al. 2018, arXiv
  1805.08318, Section 5) adopted (Heusel et al. tune the pair per dataset and model).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models import gan_stabilisers as stabilisers
from unigen_jax.models.gan_stabilisers import LOGISTIC_FAMILIES, Generated, check_whole
from unigen_jax.models.spec import ModelSpec, ParamUpdate, Phase, Shadow
from unigen_jax.nets.dcgan import NORMALIZATIONS

LOSS_FAMILIES = ("modified", "minimax", "wasserstein", "hinge", "least_squares")


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """GAN hyperparameters (DCGAN defaults: Adam 2e-4, beta1 0.5).

    The stabilisers' fields (`importance_weighted`, `su_regularizer`, `feature_matching`,
    `instance_noise`, `instance_noise_steps`, `consensus`) belong to the transforms of
    `gan_stabilisers` (each lists its `FIELDS` and checks them); they stand here, flat, in the
    order users know them from `--config.FIELD=VALUE` and the README's table.
    """

    loss: str = "modified"
    latent_dim: int = 64
    noise: str = "normal"
    architecture: str = "auto"
    base_features: int = 64
    hidden_sizes: tuple[int, ...] = (128, 128)
    optimizer: str = "adam"
    generator_lr: float = 2e-4
    discriminator_lr: float = 2e-4
    adam_b1: float = 0.5
    adam_b2: float = 0.999
    label_smoothing: float = 0.0
    discriminator_steps: int = 1
    fresh_discriminator_batches: bool = True
    gradient_penalty: float = 0.0
    weight_clip: float = 0.0
    discriminator_norm: str = "batch"
    conditional: bool = False
    importance_weighted: bool = False  # stabilisers.ImportanceWeighting
    ema_decay: float = 0.0
    generator_steps: int = 1
    su_regularizer: float = 0.0  # stabilisers.SuRegularizer
    feature_matching: bool = False  # stabilisers.FeatureMatching
    minibatch_kernels: int = 0
    minibatch_kernel_dim: int = 5
    instance_noise: float = 0.0  # stabilisers.InstanceNoise
    instance_noise_steps: int = 10000  # stabilisers.InstanceNoise
    consensus: float = 0.0  # stabilisers.Consensus

    def __post_init__(self):
        common.check_choice("loss", self.loss, LOSS_FAMILIES)
        common.check_choice("noise", self.noise, common.NOISES)
        common.check_choice("architecture", self.architecture, common.GAN_ARCHITECTURES)
        common.check_choice("discriminator_norm", self.discriminator_norm, NORMALIZATIONS)
        common.check_choice("optimizer", self.optimizer, common.OPTIMIZERS)
        for field in ("latent_dim", "base_features", "generator_lr", "discriminator_lr"):
            common.check_positive(field, getattr(self, field))
        common.check_positive("discriminator_steps", self.discriminator_steps)
        check_whole("discriminator_steps", self.discriminator_steps)
        check_whole("generator_steps", self.generator_steps)
        common.check_positive("gradient_penalty", self.gradient_penalty, allow_zero=True)
        common.check_positive("weight_clip", self.weight_clip, allow_zero=True)
        common.check_positive("minibatch_kernels", self.minibatch_kernels, allow_zero=True)
        if self.minibatch_kernels:
            check_whole("minibatch_kernels", self.minibatch_kernels)
        check_whole("minibatch_kernel_dim", self.minibatch_kernel_dim)
        for stabiliser in stabilisers.STABILISERS:
            stabiliser.check(self)
        if self.minibatch_kernels and self.gradient_penalty:
            raise UserInputError(
                "--config.gradient_penalty needs a critic that scores examples independently; "
                "--config.minibatch_kernels compares them across the batch: choose one"
            )
        if not 0 <= self.label_smoothing < 1:
            raise UserInputError(
                f"--config.label_smoothing must be in [0, 1), got {self.label_smoothing}"
            )
        if not 0 <= self.ema_decay < 1:
            raise UserInputError(
                f"--config.ema_decay must be in [0, 1) (0: no EMA), got {self.ema_decay}"
            )
        if self.label_smoothing and self.loss not in LOGISTIC_FAMILIES:
            raise UserInputError(
                f"--config.label_smoothing applies to the logistic losses {LOGISTIC_FAMILIES}, "
                f"not --config.loss={self.loss}"
            )


def make_gan(
    config: GANConfig, data_info, *, axis_name: str | None = "data", name: str = "gan"
) -> ModelSpec:
    """A GAN for data described by `data_info` (a `unigen_jax.data.DatasetInfo`)."""
    architecture = common.resolve_architecture(config.architecture, data_info.kind)
    generator_loss = getattr(losses, f"{config.loss}_generator_loss")
    discriminator_loss = getattr(losses, f"{config.loss}_discriminator_loss")
    smoothing = {"label_smoothing": config.label_smoothing} if config.label_smoothing else {}
    num_classes = data_info.num_classes if config.conditional else 0
    if config.conditional:
        common.check_conditional(data_info)
    noise = stabilisers.InstanceNoise.of(config)
    view = stabilisers.discriminator_view(noise)  # what D sees of an input
    importance = stabilisers.ImportanceWeighting.of(config)
    su_regularizer = stabilisers.SuRegularizer.of(config)

    def latent(nets, z_tag, label):
        z = common.draw_noise(nets, z_tag, config.latent_dim, config.noise)
        if config.conditional:
            z = jnp.concatenate([z, common.one_hot(label, num_classes)], axis=-1)
        return z

    def generate_from(nets, generator, z):
        return common.to_data_space(nets(generator, z), data_info.kind)

    def generate(nets, z_tag, label):
        return generate_from(nets, "generator", latent(nets, z_tag, label))

    def discriminator_outputs(nets, x, label):
        if config.conditional:
            x = common.with_condition(x, label, num_classes)
        return nets("discriminator", x)

    def discriminate(nets, x, label):
        return discriminator_outputs(nets, x, label)[0]

    def fake_labels(batch):
        """Generated samples carry the real batch's labels (CGAN); unused otherwise."""
        return batch["label"] if config.conditional else None

    def discriminator_objective(nets, batch):
        label = fake_labels(batch)
        fake = view(nets, generate(nets, "z", label), "instance_noise_fake")
        real = view(nets, batch["x"], "instance_noise_real")
        real_logits = discriminate(nets, real, label)
        fake_logits = discriminate(nets, fake, label)
        loss = jnp.mean(discriminator_loss(real_logits, fake_logits, **smoothing))
        metrics = common.discriminator_metrics(loss, real_logits, fake_logits)
        if config.gradient_penalty:
            penalty = jnp.mean(
                losses.wasserstein_gradient_penalty(
                    lambda x: discriminate(nets, x, label),
                    real,
                    fake,
                    interpolation=nets.uniform("penalty", ()),
                )
            )
            metrics["gradient_penalty"] = penalty
            loss = loss + config.gradient_penalty * penalty
        return loss, metrics

    def adversarial_loss(nets, batch, generated):
        """l_G of D's logits on the generated batch, per sample weighted by IWGAN's w(z)."""
        fake_logits = discriminate(
            nets, view(nets, generated.x, "instance_noise_fake"), generated.label
        )
        weights, metrics = None, {}
        if importance is not None:
            weights, metrics = importance.weights(nets, fake_logits)
        return jnp.mean(generator_loss(fake_logits, weights=weights)), metrics

    if stabilisers.FeatureMatching.of(config) is not None:  # replaces l_G
        generator_term = stabilisers.FeatureMatching.objective(discriminator_outputs, view)
    else:
        generator_term = adversarial_loss

    def scored(nets, batch, generated):  # l_G (or its replacement), reported
        loss, metrics = generator_term(nets, batch, generated)
        return loss, {**metrics, "generator_loss": loss}

    regularised = scored
    if su_regularizer is not None:
        regularised = su_regularizer.wrap(scored, generate_from, data_info.kind)

    def generator_objective(nets, batch):
        label = fake_labels(batch)
        z = latent(nets, "z", label)
        return regularised(nets, batch, Generated(z, generate_from(nets, "generator", z), label))

    discriminator_objective = stabilisers.with_instance_noise_std(discriminator_objective, noise)
    consensus = stabilisers.Consensus.of(config)
    players = ((discriminator_objective, "discriminator"), (generator_objective, "generator"))
    discriminator_phase = stabilisers.with_consensus(discriminator_objective, consensus, players)
    generator_phase = stabilisers.with_consensus(generator_objective, consensus, players)

    shape_kwargs = dict(base_features=config.base_features, hidden_sizes=config.hidden_sizes)
    networks = {
        "generator": common.generator_net(
            architecture, data_info.shape, axis_name=axis_name, **shape_kwargs
        ),
        "discriminator": common.discriminator_net(
            architecture,
            normalization=config.discriminator_norm,
            axis_name=axis_name,
            minibatch_kernels=config.minibatch_kernels,
            minibatch_kernel_dim=config.minibatch_kernel_dim,
            **shape_kwargs,
        ),
    }
    phases = [
        Phase(
            "discriminator",
            ("discriminator",),
            discriminator_phase,
            repeats=config.discriminator_steps,
            fresh_batches=config.fresh_discriminator_batches and config.discriminator_steps > 1,
            project=common.clip_params(config.weight_clip) if config.weight_clip else None,
        ),
        Phase("generator", ("generator",), generator_phase, repeats=config.generator_steps),
    ]
    shadows = {}
    if su_regularizer is not None:
        shadows.update(su_regularizer.shadows())
        phases.append(su_regularizer.snapshot())
    sampler = "generator"
    if config.ema_decay:
        shadows["generator_ema"] = Shadow(of="generator", replaces_in_sampling=True)
        average = common.exponential_moving_average(config.ema_decay)
        phases.append(
            ParamUpdate(
                "generator_ema",
                ("generator_ema",),
                lambda nets, batch: (
                    {"generator_ema": average(nets.params("generator_ema"), nets.params(sampler))},
                    {},
                ),
            )
        )

    def sample(nets, conditions):
        label = common.sampling_labels(nets, conditions, num_classes)
        return generate(nets, "sample_z", label)

    return ModelSpec(
        name=name,
        config=config,
        networks=networks,
        init_args={
            "generator": common.latent_input(config.latent_dim + num_classes),
            "discriminator": common.conditioned_data_input(num_classes)
            if config.conditional
            else common.data_input,
        },
        optimizers={
            role: common.optimizer(config.optimizer, lr, config.adam_b1, config.adam_b2)
            for role, lr in (
                ("generator", config.generator_lr),
                ("discriminator", config.discriminator_lr),
            )
        },
        phases=tuple(phases),
        sample_fn=sample,
        shadows=shadows,
        conditions=("label",) if config.conditional else (),
    )
