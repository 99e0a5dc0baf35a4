"""VAE: a Gaussian encoder and a generator trained together on the negative ELBO; with
options, the class-conditional VAE and the adversary activated VAE.

Kingma & Welling (2014); Hu et al. (2017, arXiv 1706.00550, Section 3.3, eq. 7); beta-VAE
(Higgins et al. 2017) with `--config.beta`::

  min_{E,G}  E_x[ -E_{q(z|x,y)}[log p(x|z,y)] + beta * KL(q(z|x,y) || N(0, I)) ]

q(z|x) = N(mean(x), diag exp(log_variance(x))), sampled by reparameterisation; the KL is
analytic. p(x|z): Bernoulli on the generator's logits (the default for images in [0, 1]),
or Gaussian / Laplace around the generator's mean with a fixed scale (the default for vectors).

- y, the class label, only with `conditional` (CVAE, Sohn et al. 2015): one-hot, appended to z
  for the generator and as constant channels to the encoder's input.
- `adversary_activated` (AA-VAE / AA-CVAE, Hu et al. 2017, eqs. 16-18) adds a discriminator D.
  D phase (eq. 18): the logistic loss of real x against as many generated x' = G(z'),
  z' ~ N(0, I) (y' uniform for the conditional model). VAE phase (eq. 16): the ELBO of every
  example of the mixture p_theta0(x) = (p_data + p_G)/2, real and generated alike, weighted by
  the inverted discriminator w(x) = sigmoid(logit_D(x) / tau) (`temperature`; the paper
  selects tau in {1, 1.5, 3, 5}). x' and the weights are constants (theta_0, phi_0). x' is
  a draw from p(x|z') on binary data (`generated_examples`, `resolve_generated_examples`):
  the generator's grey mean would let D tell it from binary digits by its grey levels alone.
  `example_weights=equal` is the control that takes D's judgement out: every example of the
  mixture weighs 1/2 (the limit tau -> infinity), and no D is built or trained; it measures
  what training on the model's own draws gives without D's weights (`mixture_weights`).
  Normalisation: loss = -(1 / 2B) sum over the B real and B generated examples of
  w_i * ELBO_i, the expectation of eq. 16 under the mixture; with a perfect discriminator
  (w = 1 on real, 0 on generated) it is half the VAE's loss, the same Adam update.
- `divergence=mmd` (InfoVAE, Zhao, Song, Ermon 2017, arXiv 1706.02262, Section 4; the
  `infovae` preset) fixes the per-example KL's pull of every q(z|x) towards the prior, which
  lets a flexible decoder ignore z and leaves holes in q(z): it matches the aggregated
  posterior q(z) = E_x q(z|x) to the prior instead. Their objective, to maximise::

      E_x E_q(z|x)[log p(x|z)] - (1 - alpha) E_x KL(q(z|x) || p(z))
                               - (alpha + lambda - 1) D(q(z) || p(z))

  with D the MMD: our loss is::

      -(1/B) sum_i log p(x_i|z_i) + beta (1/B) sum_i KL_i + mmd_weight * MMD_u^2({z_i}, {z'_i})

  i.e. 1 - alpha = beta and alpha + lambda - 1 = mmd_weight; z_i ~ q(z|x_i) over the GLOBAL
  batch, as many z'_i ~ N(0, I), MMD_u^2 the unbiased estimate (`losses.
  maximum_mean_discrepancy`, kernel `mmd_kernel`, scale `mmd_scale`, 0: 2 * latent_dim).
  Their MMD-VAE is alpha = 1: `infovae` sets beta = 0 (no per-example KL). mmd_weight 1000 is
  our default, not the paper's: the reconstruction is a sum over pixels (about 100 nats on
  MNIST) while the MMD of bounded kernels is below 2 (Zhao et al.'s own code weights it 1
  against a per-pixel mean squared error, a ratio of the same order on 784 pixels).
- `flow_length` K > 0 (`vae_flow`: Rezende & Mohamed 2015, arXiv 1505.05770, eqs. 10-15) follows
  the Gaussian with a planar flow (the network "flow", `nets.PlanarFlow`), z_K = f_K o ... o
  f_1(z_0), and the KL becomes the one-sample estimate log q_K(z_K|x) - log p(z_K) with
  log q_K(z_K|x) = log q_0(z_0|x) - sum_k log|det df_k/dz| (eq. 13; the free energy of
  eq. 15); evaluation then weighs samples by `log_importance_weight_fn` instead of `encode_fn`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax import nets as flax_nets
from unigen_jax.errors import UserInputError
from unigen_jax.models import common, posterior
from unigen_jax.models.spec import ModelSpec, Phase

LIKELIHOODS = ("auto", "bernoulli", "gaussian", "laplace")
DIVERGENCES = ("kl", "mmd")
GENERATED_EXAMPLES = ("auto", "mean", "draw")
# How an adversary activated model weighs the examples of its mixture: by D's tempered belief
# (Hu et al. eq. 16), or 1/2 each, the control without D (`mixture_weights`).
EXAMPLE_WEIGHTS = ("discriminator", "equal")


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
    conditional: bool = False
    adversary_activated: bool = False
    temperature: float = 1.0
    generated_examples: str = "auto"
    example_weights: str = "discriminator"
    divergence: str = "kl"
    mmd_kernel: str = "rbf"
    mmd_weight: float = 1000.0
    mmd_scale: float = 0.0
    flow_length: int = 0

    # A run stored before `generated_examples` existed showed D the generator's means.
    FORMERLY: ClassVar[dict] = {"generated_examples": "mean"}

    def __post_init__(self):
        common.check_choice("likelihood", self.likelihood, LIKELIHOODS)
        common.check_choice("divergence", self.divergence, DIVERGENCES)
        common.check_choice("generated_examples", self.generated_examples, GENERATED_EXAMPLES)
        check_example_weights(self)
        common.check_choice("mmd_kernel", self.mmd_kernel, losses.MMD_KERNELS)
        common.check_positive("mmd_weight", self.mmd_weight, allow_zero=True)
        common.check_positive("mmd_scale", self.mmd_scale, allow_zero=True)
        if self.divergence == "mmd" and self.adversary_activated:
            raise UserInputError(
                "--config.divergence=mmd is for the VAE's own phase; the adversary activated "
                "VAE's ELBO weighting does not take it (set one of them)"
            )
        common.check_choice("architecture", self.architecture, common.ARCHITECTURES)
        for field in ("latent_dim", "base_features", "learning_rate", "likelihood_scale"):
            common.check_positive(field, getattr(self, field))
        common.check_positive("beta", self.beta, allow_zero=True)
        common.check_positive("temperature", self.temperature)
        common.check_positive("flow_length", self.flow_length, allow_zero=True)


def resolve_likelihood(likelihood: str, data_kind: str) -> str:
    """'auto' is Bernoulli for images in [0, 1] and Gaussian for vectors."""
    if likelihood == "auto":
        likelihood = "bernoulli" if data_kind == "image" else "gaussian"
    if likelihood == "bernoulli" and data_kind != "image":
        raise UserInputError(
            "--config.likelihood=bernoulli needs data in [0, 1] (images); use gaussian or laplace"
        )
    return likelihood


def resolve_generated_examples(
    choice: str, likelihood: str, data_info, adversary_activated: bool = True
) -> str:
    """What an adversary activated model's discriminator, and its weighted bound, see as a
    generated example: "mean", the generator's mean E[x|z], or "draw", x' ~ p(x|z), a sample of
    the model's own p(x) (pixels drawn from their Bernoulli means). "auto" draws on binary data
    with a Bernoulli likelihood (`DatasetInfo.binary`): there a mean's grey pixels tell every
    generated digit from a real one by its grey levels alone, so D wins at once and gives every
    generated example a weight near 0. Elsewhere it is the mean (grey-level data, Gaussian and
    Laplace likelihoods, and a model without an adversary, which generates no examples)."""
    if choice == "auto":
        binary_bernoulli = likelihood == "bernoulli" and data_info.binary
        return "draw" if adversary_activated and binary_bernoulli else "mean"
    if choice == "draw" and likelihood != "bernoulli":
        raise UserInputError(
            f"--config.generated_examples=draw draws Bernoulli pixels, but the likelihood is "
            f"{likelihood}; use --config.likelihood=bernoulli or generated_examples=mean"
        )
    return choice


def check_example_weights(config) -> None:
    """One-line errors for `example_weights` (EXAMPLE_WEIGHTS) where it cannot apply: it weighs
    the adversary activated model's mixture, and equal weights leave no D for tau to temper."""
    common.check_choice("example_weights", config.example_weights, EXAMPLE_WEIGHTS)
    if config.example_weights == "equal" and not config.adversary_activated:
        raise UserInputError(
            "--config.example_weights=equal weighs the examples of an adversary activated "
            "model's mixture: add --config.adversary_activated=true (or use --model=aavae, "
            "--model=aasvae)"
        )
    if config.example_weights == "equal" and config.temperature != 1.0:
        raise UserInputError(
            "--config.temperature tempers D's weights, and --config.example_weights=equal has "
            "no D: leave the temperature at 1"
        )


def has_discriminator(config) -> bool:
    """Whether the model builds and trains D: adversary activated, weighing by D's belief."""
    return config.adversary_activated and config.example_weights == "discriminator"


def mixture_weights(config, logits_fn, inputs) -> jax.Array:
    """The weight w(x) of each example of an adversary activated model's mixture (Hu et al.
    2017, eq. 16): D's tempered belief that it is real, sigmoid(logits_fn(inputs) / tau), or,
    with `config.example_weights` "equal", 1/2 for every example without calling D. `inputs`:
    what `logits_fn` takes, examples x [batch, ...] or a batch {"x": x, ...}. [batch]."""
    if not has_discriminator(config):
        x = inputs["x"] if isinstance(inputs, dict) else inputs
        return jnp.full(x.shape[:1], 0.5)
    return losses.adversary_activation_weights(logits_fn(inputs), temperature=config.temperature)


def generated_example(nets, tag: str, mean: jax.Array, generated_examples: str) -> jax.Array:
    """A generated example from the generator's mean in data space: the mean itself, or
    (generated_examples "draw") each pixel 1 with probability its mean, from the uniform noise
    `tag`. No gradient flows through a draw; the models that draw hold x' constant."""
    if generated_examples == "mean":
        return mean
    return (nets.uniform(tag, mean.shape[1:]) < mean).astype(mean.dtype)


def decoder_log_likelihood(likelihood: str, scale: float, data_kind: str):
    """`(generator_output, x) -> log p(x|z)` per example, for a likelihood of LIKELIHOODS
    (not 'auto')."""
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


def make_vae(
    config: VAEConfig, data_info, *, axis_name: str | None = "data", name: str = "vae"
) -> ModelSpec:
    """A VAE for data described by `data_info` (a `unigen_jax.data.DatasetInfo`)."""
    architecture = common.resolve_architecture(config.architecture, data_info.kind)
    likelihood = resolve_likelihood(config.likelihood, data_info.kind)
    log_likelihood = decoder_log_likelihood(likelihood, config.likelihood_scale, data_info.kind)
    num_classes = data_info.num_classes if config.conditional else 0
    if config.conditional:
        common.check_conditional(data_info)
    flow = config.flow_length > 0
    generated_examples = resolve_generated_examples(
        config.generated_examples, likelihood, data_info, config.adversary_activated
    )

    def encode(nets, batch):
        """q(z|x, y): mean and log variance (y only for the conditional model)."""
        x = batch["x"]
        if config.conditional:
            x = common.with_condition(x, batch["label"], num_classes)
        return nets("encoder", x)

    def decode(nets, z, label):
        """The generator's output (pre-activation) for codes z (and labels y)."""
        if config.conditional:
            z = jnp.concatenate([z, common.one_hot(label, num_classes)], axis=-1)
        return nets("generator", z)

    def batch_log_likelihood(nets, batch, z):
        return log_likelihood(decode(nets, z, batch.get("label")), batch["x"])

    def elbo_terms(nets, batch, eps_tag):
        """Per example: log p(x|z, y) at one reparameterised z ~ q(z|x, y), the KL, and z."""
        mean, log_variance = encode(nets, batch)
        eps = nets.normal(eps_tag, (config.latent_dim,))
        if flow:  # Rezende & Mohamed 2015, eq. 15: the KL as log q_K(z_K|x) - log p(z_K)
            z, log_q = posterior.sample(nets, mean, log_variance, eps, flow=True)
            log_px = batch_log_likelihood(nets, batch, z)
            return log_px, log_q - posterior.prior_log_density(z), z
        z = mean + jnp.exp(0.5 * log_variance) * eps  # reparameterisation
        log_px = batch_log_likelihood(nets, batch, z)
        return log_px, losses.gaussian_kl_to_standard_normal(mean, log_variance), z

    def elbo_metrics(log_px, kl):
        return {
            "elbo": jnp.mean(losses.elbo(log_px, kl)),
            "reconstruction": -jnp.mean(log_px),
            "kl": jnp.mean(kl),
        }

    def vae_phase(nets, batch):
        log_px, kl, z = elbo_terms(nets, batch, "eps")
        loss = -jnp.mean(losses.elbo(log_px, kl, beta=config.beta))
        metrics = elbo_metrics(log_px, kl)
        if config.divergence == "mmd":  # InfoVAE (see the module docstring)
            prior_z = nets.normal("prior_z", (config.latent_dim,))
            metrics["mmd"] = losses.maximum_mean_discrepancy(
                nets.batch_gather(z),
                nets.batch_gather(prior_z),
                kernel=config.mmd_kernel,
                scale=config.mmd_scale or None,
            )
            loss = loss + config.mmd_weight * metrics["mmd"]
        return loss, {"loss": loss, **metrics}

    def generated_batch(nets, tag):
        """One generated example per real one: z ~ N(0, I), y uniform (conditional), x = G(z)
        or a draw from it (`generated_examples`)."""
        label = nets.categorical(f"{tag}_label", num_classes) if config.conditional else None
        z = nets.normal(f"{tag}_z", (config.latent_dim,))
        mean = common.to_data_space(decode(nets, z, label), data_info.kind)
        x = generated_example(nets, f"{tag}_pixels", mean, generated_examples)
        return {"x": x} if label is None else {"x": x, "label": label}

    def discriminate(nets, batch):
        x = batch["x"]
        if config.conditional:
            x = common.with_condition(x, batch["label"], num_classes)
        return nets("discriminator", x)[0]

    def discriminator_phase(nets, batch):
        """Eq. 18: D learns to tell real data from the generator's samples."""
        real_logits = discriminate(nets, batch)
        fake_logits = discriminate(nets, generated_batch(nets, "fake"))
        loss = jnp.mean(losses.minimax_discriminator_loss(real_logits, fake_logits))
        return loss, common.discriminator_metrics(loss, real_logits, fake_logits)

    def adversary_activated_phase(nets, batch):
        """Eq. 16: every example's ELBO, real and generated, weighted by D's tempered belief
        that it is real (or 1/2 each, `example_weights=equal`); generated samples and weights
        are constants (theta_0, phi_0)."""
        fake = jax.tree.map(jax.lax.stop_gradient, generated_batch(nets, "fake"))
        weight = functools.partial(mixture_weights, config, functools.partial(discriminate, nets))
        real_weights = weight(batch)
        fake_weights = weight(fake)
        real_log_px, real_kl, _ = elbo_terms(nets, batch, "eps")
        fake_log_px, fake_kl, _ = elbo_terms(nets, fake, "fake_eps")
        weighted = jnp.concatenate(
            [
                real_weights * losses.elbo(real_log_px, real_kl, beta=config.beta),
                fake_weights * losses.elbo(fake_log_px, fake_kl, beta=config.beta),
            ]
        )
        loss = -jnp.mean(weighted)  # over the 2B examples of the mixture (see the docstring)
        return loss, {
            "loss": loss,
            **elbo_metrics(real_log_px, real_kl),
            "real_weight": jnp.mean(real_weights),
            "fake_weight": jnp.mean(fake_weights),
        }

    def sample(nets, conditions):
        label = common.sampling_labels(nets, conditions, num_classes)
        z = nets.normal("sample_z", (config.latent_dim,))
        return common.to_data_space(decode(nets, z, label), data_info.kind)

    def reconstruct(nets, batch):
        mean, _ = encode(nets, batch)
        z = posterior.point_estimate(nets, mean, flow=flow)
        return common.to_data_space(decode(nets, z, batch.get("label")), data_info.kind)

    def log_importance_weight(nets, batch):
        """log p(x|z, y) + log p(z) - log q(z|x, y) at one z ~ q (the flow posterior's)."""
        log_px, kl, _ = elbo_terms(nets, batch, "eps")
        return log_px - kl

    shape_kwargs = dict(base_features=config.base_features, hidden_sizes=config.hidden_sizes)
    data_input = (
        common.conditioned_data_input(num_classes) if config.conditional else common.data_input
    )
    networks = {
        **common.autoencoder_nets(
            architecture, config.latent_dim, data_info.shape, axis_name=axis_name, **shape_kwargs
        ),
    }
    init_args = {
        "encoder": data_input,
        "generator": common.latent_input(config.latent_dim + num_classes),
    }
    trained = ("encoder", "generator")
    if flow:
        networks["flow"] = flax_nets.PlanarFlow(length=config.flow_length)
        init_args["flow"] = common.latent_input(config.latent_dim)
        trained += ("flow",)
    autoencoder = trained
    phases = (Phase("vae", trained, vae_phase),)
    if config.adversary_activated:
        phases = (Phase("vae", autoencoder, adversary_activated_phase),)
    if has_discriminator(config):
        # The paper's discriminators share the GAN experiments' architecture (Section 5.2).
        networks["discriminator"] = common.discriminator_net(
            architecture, normalization="batch", axis_name=axis_name, **shape_kwargs
        )
        init_args["discriminator"] = data_input
        trained += ("discriminator",)
        phases = (Phase("discriminator", ("discriminator",), discriminator_phase), *phases)
    return ModelSpec(
        name=name,
        config=dataclasses.replace(
            config, likelihood=likelihood, generated_examples=generated_examples
        ),
        networks=networks,
        init_args=init_args,
        optimizers={
            net: common.adam(config.learning_rate, config.adam_b1, config.adam_b2)
            for net in trained
        },
        phases=phases,
        sample_fn=sample,
        conditions=("label",) if config.conditional else (),
        reconstruct_fn=reconstruct,
        encode_fn=None if flow else encode,
        log_likelihood_fn=batch_log_likelihood,
        log_importance_weight_fn=log_importance_weight if flow else None,
    )
