"""GAN (DCGAN by default): a discriminator phase, then a generator phase; with options, the
class-conditional GAN, the importance weighted GAN, WGAN (clipping or gradient penalty) and an
exponential moving average of the generator.

Goodfellow et al. (2014); Radford et al. (2016) for the DCGAN networks; Hu et al. (2017,
arXiv 1706.00550, Section 3.2): the generator's non-saturating objective `-log D(G(z))` (the
"modified" family, the default) is the reversed-KL view of the GAN update.

  D: min  E_x[l_D^real(D(x, y))] + E_z[l_D^fake(D(G(z, y), y))]   (+ gp * WGAN-GP penalty)
  G: min  E_z[w(z) * l_G(D(G(z, y), y))]

- the loss family (minimax, modified, wasserstein, hinge, least_squares) from `losses`;
- y, the class label, only with `conditional` (CGAN, Mirza & Osindero 2014): one-hot, appended
  to z for G and as constant channels (features for vectors) to D's input;
- w(z) = 1, or with `importance_weighted` (IWGAN, Hu et al. 2017, eq. 15) the normalised
  importance weight softmax_i(logit_i) of each sample over the GLOBAL minibatch, held constant,
  times the global batch size (so the weights average 1 and the loss keeps the engine's
  per-example-mean convention; the gradient is sum_i w~_i grad l_G(i), eq. 15);
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
- `su_regularizer` = lambda > 0 (Su 2018, arXiv 1807.05936, eq. 26; the registered `su_gan`,
  lambda = 5 with `generator_steps=2` as in the author's code) adds to the generator's loss

      lambda * E_z[ mean_j (G(z)_j - G_old(z)_j)^2 ],

  G_old a copy of the generator (the shadow network `generator_old`, a non-gradient
  `snapshot` update) applied to the SAME z (and label) as G. The snapshot is taken at the end
  of each step, after the generator phase, and the shadow starts as a copy of the generator:
  since the discriminator phase leaves the generator's params and BatchNorm statistics alone,
  G_old is then exactly the generator as it was before this step's generator phase (a
  snapshot placed before the generator phase would copy the same values, but would be an
  update that changes nothing in the registry's contract test, which runs each phase from
  the initial state, where the copy already holds them). The square is averaged over the
  example's units j (pixels and channels: a mean squared error, as in
  the author's code) and over the batch. Images are compared on the scale of the author's
  tanh generator, [-1, 1] (2 G(z) - 1 for our outputs in [0, 1], so 4x the squared error in
  [0, 1]); vectors on their own scale. One snapshot per step, before the FIRST generator
  repeat: eq. 21 defines q^o as the generator before this iteration's update Delta theta,
  and a snapshot before every repeat would make the term and its gradient vanish (G = G_old
  where the gradient is taken). So the first repeat is the plain GAN step and each later
  repeat is pulled towards the generator the step started from: the regulariser acts only
  with generator_steps >= 2, hence the preset's 2;
- `feature_matching` (Salimans et al. 2016, arXiv 1606.03498, Section 3.1; the survey of
  Bajaj & Singh, Section 3) fixes a generator that overtrains on the current discriminator:
  l_G is replaced by matching the mean of D's intermediate features f (the trunk features D
  returns, its layer before the logit) on real and generated batches,

      G: min || E_x f(x) - E_z f(G(z)) ||_2^2   (`losses.feature_matching_generator_loss`),

  means over the GLOBAL batch, the real side constant; D reads the real and generated batch
  in ONE call on their concatenation (so its BatchNorm normalises both with the same
  statistics, which separate calls would centre apart); D's own objective is unchanged;
- `minibatch_kernels` = B > 0 (Salimans et al. 2016, Section 3.2) fixes mode collapse that a
  discriminator judging each example alone cannot see: D gets a layer of B cross-sample L1
  kernels between its features f and its logit, o(x_i)_b = sum_{j != i} exp(-||M_{i,b} -
  M_{j,b}||_1), M_i = f(x_i) T (`nets.MinibatchDiscrimination`, C = `minibatch_kernel_dim`),
  over the global batch, real and generated batches in separate calls as the paper says;
- `instance_noise` = sigma_0 > 0 (Sønderby et al. 2016, arXiv 1610.04490; Arjovsky & Bottou
  2017, arXiv 1701.04862, Section 3) fixes disjoint supports of the data and the generator,
  where D saturates and its gradient carries no signal: every input of D, real or generated,
  in both phases, becomes x + sigma_t * eps, eps ~ N(0, I) fresh per example, with
  sigma_t = sigma_0 * max(0, 1 - t / instance_noise_steps) (`losses.instance_noise_std`, t the
  step), in data units (images in [0, 1]);
- TTUR (Heusel et al. 2017, arXiv 1706.08500): the two learning rates `discriminator_lr` and
  `generator_lr`; the registered `ttur` sets them to 4e-4 and 1e-4 (D four times faster);
- `consensus` = gamma > 0 (Mescheder, Nowozin, Geiger 2017, arXiv 1705.10461, Section 3 and
  Algorithm 1; the survey's [25]) fixes the cycling of simultaneous gradient play, whose
  Jacobian has eigenvalues of large imaginary part: both players' losses get

      + gamma * R,  R = 1/2 (||grad_D L_D||^2 + ||grad_G L_G||^2)

  (`losses.consensus_regularizer`), v = (grad_D L_D, grad_G L_G) the gradient field of the
  game (the global batch's gradients), L_D and L_G each player's whole objective above, both
  evaluated at the phase's noise (the
  same z, so at one minibatch, as in their Algorithm 1). R's gradient is a second derivative
  (`Networks.with_params` differentiates inside the phase): each phase costs about four
  times the plain one. The engine's phases run one after the other, so D's step and G's step
  each see the other's latest params (Algorithm 1 steps both at once).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models.spec import ModelSpec, ParamUpdate, Phase, Shadow
from unigen_jax.nets.dcgan import NORMALIZATIONS

LOSS_FAMILIES = ("modified", "minimax", "wasserstein", "hinge", "least_squares")
LOGISTIC_FAMILIES = ("modified", "minimax")


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """GAN hyperparameters (DCGAN defaults: Adam 2e-4, beta1 0.5)."""

    loss: str = "modified"
    latent_dim: int = 64
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
    importance_weighted: bool = False
    ema_decay: float = 0.0
    generator_steps: int = 1
    su_regularizer: float = 0.0
    feature_matching: bool = False
    minibatch_kernels: int = 0
    minibatch_kernel_dim: int = 5
    instance_noise: float = 0.0
    instance_noise_steps: int = 10000
    consensus: float = 0.0

    def __post_init__(self):
        common.check_choice("loss", self.loss, LOSS_FAMILIES)
        common.check_choice("architecture", self.architecture, common.ARCHITECTURES)
        common.check_choice("discriminator_norm", self.discriminator_norm, NORMALIZATIONS)
        common.check_choice("optimizer", self.optimizer, common.OPTIMIZERS)
        for field in ("latent_dim", "base_features", "generator_lr", "discriminator_lr"):
            common.check_positive(field, getattr(self, field))
        common.check_positive("discriminator_steps", self.discriminator_steps)
        _check_whole("discriminator_steps", self.discriminator_steps)
        _check_whole("generator_steps", self.generator_steps)
        common.check_positive("su_regularizer", self.su_regularizer, allow_zero=True)
        common.check_positive("gradient_penalty", self.gradient_penalty, allow_zero=True)
        common.check_positive("weight_clip", self.weight_clip, allow_zero=True)
        common.check_positive("minibatch_kernels", self.minibatch_kernels, allow_zero=True)
        if self.minibatch_kernels:
            _check_whole("minibatch_kernels", self.minibatch_kernels)
        _check_whole("minibatch_kernel_dim", self.minibatch_kernel_dim)
        common.check_positive("instance_noise", self.instance_noise, allow_zero=True)
        _check_whole("instance_noise_steps", self.instance_noise_steps)
        common.check_positive("consensus", self.consensus, allow_zero=True)
        if self.feature_matching and self.importance_weighted:
            raise UserInputError(
                "--config.feature_matching replaces the generator loss that "
                "--config.importance_weighted weights per example; choose one"
            )
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
        for option in ("label_smoothing", "importance_weighted"):
            if getattr(self, option) and self.loss not in LOGISTIC_FAMILIES:
                raise UserInputError(
                    f"--config.{option} applies to the logistic losses {LOGISTIC_FAMILIES}, "
                    f"not --config.loss={self.loss}"
                )


def _check_whole(field: str, value) -> None:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise UserInputError(f"--config.{field} must be a whole number >= 1, got {value}")


def su_regularizer_term(generated, snapshot, data_kind: str) -> jax.Array:
    """Su (2018, arXiv 1807.05936) eq. 26's ||G(z) - G_old(z)||^2 as a mean squared error:
    [batch] means over each example's units, images on the [-1, 1] scale (see the module
    docstring); `generated` and `snapshot` in data space."""
    difference = generated - snapshot
    if data_kind == "image":
        difference = 2.0 * difference  # (2a - 1) - (2b - 1)
    return jnp.mean(jnp.square(difference).reshape(len(difference), -1), axis=1)


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

    def latent(nets, z_tag, label):
        z = nets.normal(z_tag, (config.latent_dim,))
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

    def perturb(nets, x, tag):
        """What D sees of x: x + sigma_t * eps with instance noise, else x itself."""
        if not config.instance_noise:
            return x
        std = losses.instance_noise_std(
            nets.step, initial_std=config.instance_noise, anneal_steps=config.instance_noise_steps
        )
        return x + std * nets.normal(tag, x.shape[1:])

    def fake_labels(batch):
        """Generated samples carry the real batch's labels (CGAN); unused otherwise."""
        return batch["label"] if config.conditional else None

    def discriminator_objective(nets, batch):
        label = fake_labels(batch)
        fake = perturb(nets, generate(nets, "z", label), "instance_noise_fake")
        real = perturb(nets, batch["x"], "instance_noise_real")
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
        if config.instance_noise:
            metrics["instance_noise_std"] = losses.instance_noise_std(
                nets.step,
                initial_std=config.instance_noise,
                anneal_steps=config.instance_noise_steps,
            )
        return loss, metrics

    def generator_objective(nets, batch):
        label = fake_labels(batch)
        z = latent(nets, "z", label)
        fake = generate_from(nets, "generator", z)
        seen = perturb(nets, fake, "instance_noise_fake")
        metrics = {}
        if config.feature_matching:  # Salimans et al. 2016, Section 3.1
            real = perturb(nets, batch["x"], "instance_noise_real")
            both_labels = None if label is None else jnp.concatenate([label, label])
            _, features = discriminator_outputs(nets, jnp.concatenate([real, seen]), both_labels)
            loss = losses.feature_matching_generator_loss(
                jax.lax.stop_gradient(features[: len(real)]),
                features[len(real) :],
                batch_mean=nets.batch_mean,
            )
        else:
            fake_logits = discriminate(nets, seen, label)
            weights = None
            if config.importance_weighted:  # Hu et al. 2017, eq. 15, over the global minibatch
                per_example_logits = jnp.mean(fake_logits.reshape(len(fake_logits), -1), axis=1)
                # The weights are constants of the update (theta_0 in eq. 15).
                normalised = nets.batch_softmax(jax.lax.stop_gradient(per_example_logits))
                weights = normalised * nets.global_batch_size()
                # Effective sample size 1 / sum_i w~_i^2: the batch size for equal weights.
                metrics["importance_ess"] = 1.0 / nets.batch_sum(normalised**2)
            loss = jnp.mean(generator_loss(fake_logits, weights=weights))
        metrics["generator_loss"] = loss
        if config.su_regularizer:  # Su 2018, eq. 26: G_old on the same z
            snapshot = generate_from(nets, "generator_old", z)
            regularizer = jnp.mean(su_regularizer_term(fake, snapshot, data_info.kind))
            metrics["su_regularizer"] = regularizer
            loss = loss + config.su_regularizer * regularizer
        return loss, metrics

    def with_consensus(objective):
        """`objective` + gamma * R, R = 1/2 ||v||^2 of the game's gradient field at this phase's
        noise (Mescheder et al. 2017, Algorithm 1); `objective` itself without `consensus`."""
        if not config.consensus:
            return objective

        def own_loss(player_objective, network, nets, batch):
            return lambda params: player_objective(nets.with_params({network: params}), batch)[0]

        def regularised(nets, batch):
            loss, metrics = objective(nets, batch)
            regularizer = losses.consensus_regularizer(
                (
                    own_loss(discriminator_objective, "discriminator", nets, batch),
                    own_loss(generator_objective, "generator", nets, batch),
                ),
                (nets.params("discriminator"), nets.params("generator")),
                reduce_gradients=nets.device_mean,
            )
            metrics = {**metrics, "consensus_regularizer": regularizer}
            return loss + config.consensus * regularizer, metrics

        # One name a phase: the phases' functions share this code, and tools that count
        # traces (chex.assert_max_traces in the contract test) tell functions by their name.
        regularised.__name__ = regularised.__qualname__ = f"{objective.__name__}_with_consensus"
        return regularised

    discriminator_phase = with_consensus(discriminator_objective)
    generator_phase = with_consensus(generator_objective)

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
    if config.su_regularizer:
        # G_old <- G after the generator phase: the snapshot the NEXT step's generator phase
        # reads is the generator before that step's G update (see the module docstring).
        shadows["generator_old"] = Shadow(of="generator")
        phases.append(
            ParamUpdate(
                "snapshot",
                ("generator_old",),
                lambda nets, batch: ({"generator_old": nets.params("generator")}, {}),
            )
        )
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
