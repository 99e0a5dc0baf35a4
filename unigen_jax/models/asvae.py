"""AS-VAE: the adversarial symmetric VAE. Two joints of data and codes, the encoder's
q_phi(x, z) = q(x) q_phi(z|x) (q(x) the data) and the decoder's p_theta(x, z) = p(z) p_theta(x|z);
both expected log-likelihoods are maximised while the symmetric KL between the joints is
minimised, the log density ratios it needs estimated by two discriminators on (x, z) pairs.

Pu, Wang, Henao, Chen, Gan, Li, Carin 2017, "Adversarial Symmetric Variational Autoencoder"
(arXiv 1711.04915), Section 3. Lemma 1 and Corollary 1.1 (eqs. 4-7): a logistic classifier of
pairs from two joints converges to their log density ratio. The two ratio estimators::

  f_psi  (eq. 5):  max  E_{q_phi(x, z)}[log sigma(f(x, z))] + E_{p_theta(x) p(z)}[log(1 - sigma(f))]
  h_psi' (eq. 6):  max  E_{p_theta(x, z)}[log sigma(h(x, z))] + E_{q(x) q_phi(z)}[log(1 - sigma(h))]
  at the optimum (eq. 7):  f* = log q_phi(x, z) - log p_theta(x) p(z),
                           h* = log p_theta(x, z) - log q(x) q_phi(z).

Pairs of the product of marginals pair one example with another example's partner: p_theta(x)
p(z) as (x_theta(z_j), z_i) and q(x) q_phi(z) as (x_i, z_j), z_j ~ q_phi(z|x_j), j the example
before i in the global batch (`Networks.batch_roll`).

The bounds (eqs. 8-9), rewritten with the ratios (the step before eq. 10)::

  L_x = E_{q(x)}[log p_theta(x)] - KL(q_phi(x, z) || p_theta(x, z))
      = E_{q_phi(x, z)}[log p_theta(x|z) - f*(x, z)]                                  (eq. 8)
  L_z = E_{p(z)}[log q_phi(z)] - KL(p_theta(x, z) || q_phi(x, z))
      = E_{p_theta(x, z)}[log q_phi(z|x) - h*(x, z)]                                  (eq. 9)

and the encoder and decoder maximise their sum (eqs. 10-12) with both expectations
reparameterised (eq. 11): z = z_phi(x, eps), eps ~ N(0, I), on the x side; x = x_theta(z, xi),
z ~ p(z), on the z side::

  max_{theta, phi}  E_{x, eps}[log p_theta(x|z_phi(x, eps)) - f(x, z_phi(x, eps))]
                  + E_{z, xi}[log q_phi(z|x_theta(z, xi)) - h(x_theta(z, xi), z)]      (eq. 11)

with f and h held at their latest update (eq. 12). x_theta(z, xi): the Gaussian (Laplace)
decoder's mean plus its scale times Gaussian (Laplace) noise; the Bernoulli decoder of images,
which has no reparameterisation, gives its mean, the pixel probabilities (Pu et al., Section
5.1, treat [0, 1] images as the probabilities of binary pixels).

`bound` chooses the model (Section 5): "xz" the full objective (AS-VAE, eq. 12); "x" its first
half only, L_x of eq. 8 (AS-VAE-r, "focuses on reconstruction"); "z" its second half, L_z of
eq. 9 (AS-VAE-g, "designed for generation"). A half not used needs no ratio estimator.

q_phi(z|x): the Gaussian, or with `flow_length` K > 0 the Gaussian followed by a planar flow
(`models.posterior`; Rezende & Mohamed 2015, arXiv 1505.05770, eqs. 10-13; K = 80 on MNIST in
Pu et al. Section 5). log q_phi(z|x) at the prior's z goes through the flow's inverse.

Phases, in order, each on fresh noise: "ratio_estimators" (f and h, eqs. 5-6), then
"encoder_decoder" (eq. 11). Evaluation: the importance-weighted NLL and the ELBO of q_phi(z|x)
as proposal (the Gaussian path, or the flow's log weights), reconstruction RMSE of
G(point code) and sample metrics of G(z), z ~ N(0, I) (the decoder's mean).

Hyperparameters. Pu et al.: Adam with learning rate 1e-4 for every network, Xavier
initialisation, dropout and early stopping on validation reconstruction (not here). The
defaults here: the VAE's latent size and networks, Adam 1e-4.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax import nets as flax_nets
from unigen_jax.models import common, posterior, vae
from unigen_jax.models.aae import check_sizes
from unigen_jax.models.ali import joint_discriminator_net
from unigen_jax.models.spec import ModelSpec, Phase
from unigen_jax.nets.dcgan import NORMALIZATIONS

BOUNDS = ("xz", "x", "z")


@dataclasses.dataclass(frozen=True)
class ASVAEConfig:
    """AS-VAE hyperparameters (see the module docstring for the paper's settings)."""

    latent_dim: int = 16
    bound: str = "xz"
    flow_length: int = 0
    likelihood: str = "auto"
    likelihood_scale: float = 0.1
    architecture: str = "auto"
    base_features: int = 32
    hidden_sizes: tuple[int, ...] = (256, 256)
    z_hidden_sizes: tuple[int, ...] = (512, 512)
    joint_hidden_sizes: tuple[int, ...] = (1024, 1024)
    discriminator_norm: str = "batch"
    learning_rate: float = 1e-4
    ratio_lr: float = 1e-4
    adam_b1: float = 0.9
    adam_b2: float = 0.999

    def __post_init__(self):
        common.check_choice("bound", self.bound, BOUNDS)
        common.check_choice("likelihood", self.likelihood, vae.LIKELIHOODS)
        common.check_choice("architecture", self.architecture, common.ARCHITECTURES)
        common.check_choice("discriminator_norm", self.discriminator_norm, NORMALIZATIONS)
        for field in ("latent_dim", "base_features", "learning_rate", "ratio_lr"):
            common.check_positive(field, getattr(self, field))
        common.check_positive("likelihood_scale", self.likelihood_scale)
        common.check_positive("flow_length", self.flow_length, allow_zero=True)
        for field in ("hidden_sizes", "z_hidden_sizes", "joint_hidden_sizes"):
            check_sizes(field, getattr(self, field))


def decoder_sample(nets, output, likelihood: str, scale: float, data_kind: str, tag: str):
    """x_theta(z, xi) of eq. 11 from the generator's output: mean + scale * noise (Gaussian
    noise, or Laplace noise by the inverse CDF), or the Bernoulli decoder's mean."""
    mean = common.to_data_space(output, data_kind)
    if likelihood == "gaussian":
        return mean + scale * nets.normal(tag, mean.shape[1:])
    if likelihood == "laplace":
        centred = nets.uniform(tag, mean.shape[1:]) - 0.5
        # Inverse CDF of Laplace(0, 1); 1 - 2|u - 1/2| > 0 for u in [0, 1) except u = 0 itself.
        tail = jnp.maximum(1.0 - 2.0 * jnp.abs(centred), jnp.finfo(mean.dtype).tiny)
        return mean - scale * jnp.sign(centred) * jnp.log(tail)
    return mean


def make_asvae(
    config: ASVAEConfig, data_info, *, axis_name: str | None = "data", name: str = "asvae"
) -> ModelSpec:
    """AS-VAE (bound "xz"), AS-VAE-r ("x") or AS-VAE-g ("z") for data described by
    `data_info`."""
    architecture = common.resolve_architecture(config.architecture, data_info.kind)
    likelihood = vae.resolve_likelihood(config.likelihood, data_info.kind)
    log_likelihood = vae.decoder_log_likelihood(likelihood, config.likelihood_scale, data_info.kind)
    flow = config.flow_length > 0
    x_half, z_half = config.bound in ("xz", "x"), config.bound in ("xz", "z")

    def encode(nets, batch):
        return nets("encoder", batch["x"])

    def batch_log_likelihood(nets, batch, z):
        return log_likelihood(nets("generator", z), batch["x"])

    def encoder_code(nets, x, tag):
        """z = z_phi(x, eps) ~ q_phi(z|x), log q_phi(z|x) and the Gaussian's log variances
        (before the flow)."""
        mean, log_variance = nets("encoder", x)
        eps = nets.normal(tag, (config.latent_dim,))
        z, log_q = posterior.sample(nets, mean, log_variance, eps, flow=flow)
        return z, log_q, log_variance

    def decoder_data(nets, z, tag):
        """x = x_theta(z, xi) ~ p_theta(x|z) (eq. 11)."""
        return decoder_sample(
            nets, nets("generator", z), likelihood, config.likelihood_scale, data_info.kind, tag
        )

    def ratio_phase(nets, batch):
        """Eqs. 5-6: f tells q_phi(x, z) from p_theta(x) p(z); h tells p_theta(x, z) from
        q(x) q_phi(z); logistic losses (Lemma 1)."""
        x = batch["x"]
        z_q, _, _ = encoder_code(nets, x, "eps")  # (x, z_q) ~ q_phi(x, z)
        z_p = nets.normal("z", (config.latent_dim,))
        x_p = decoder_data(nets, z_p, "xi")  # (x_p, z_p) ~ p_theta(x, z)
        loss, metrics = 0.0, {}
        if x_half:  # eq. 5
            real, _ = nets("f_ratio", x, z_q)
            fake, _ = nets("f_ratio", nets.batch_roll(x_p), z_p)  # p_theta(x) p(z)
            f_loss = jnp.mean(losses.minimax_discriminator_loss(real, fake))
            loss += f_loss
            metrics.update(f_loss=f_loss, f_real_logit=jnp.mean(real), f_fake_logit=jnp.mean(fake))
        if z_half:  # eq. 6
            real, _ = nets("h_ratio", x_p, z_p)
            fake, _ = nets("h_ratio", x, nets.batch_roll(z_q))  # q(x) q_phi(z)
            h_loss = jnp.mean(losses.minimax_discriminator_loss(real, fake))
            loss += h_loss
            metrics.update(h_loss=h_loss, h_real_logit=jnp.mean(real), h_fake_logit=jnp.mean(fake))
        return loss, {"discriminator_loss": loss, **metrics}

    def encoder_decoder_phase(nets, batch):
        """Eq. 11 (with f, h from eq. 12): maximise the x half, E_q[log p_theta(x|z) - f],
        and/or the z half, E_p[log q_phi(z|x) - h]."""
        x = batch["x"]
        bound, metrics = 0.0, {}
        # The z half first: with a DCGAN encoder, BatchNorm then keeps the statistics of the
        # x half's call, on real data.
        if z_half:  # eq. 9
            z_p = nets.normal("z", (config.latent_dim,))
            x_p = decoder_data(nets, z_p, "xi")
            mean, log_variance = nets("encoder", x_p)
            log_qz = posterior.log_density(nets, z_p, mean, log_variance, flow=flow)
            h, _ = nets("h_ratio", x_p, z_p)
            z_bound = jnp.mean(log_qz - h)
            bound += z_bound
            metrics.update(z_bound=z_bound, log_q_z=jnp.mean(log_qz), h_logit=jnp.mean(h))
        if x_half:  # eq. 8
            z_q, log_q, log_variance = encoder_code(nets, x, "eps")
            log_px = log_likelihood(nets("generator", z_q), x)
            f, _ = nets("f_ratio", x, z_q)
            x_bound = jnp.mean(log_px - f)
            bound += x_bound
            metrics.update(x_bound=x_bound, reconstruction=-jnp.mean(log_px), f_logit=jnp.mean(f))
            # What f should hold the codes to, watched: KL(q_phi(z|x) || p(z)) estimated by
            # log q - log p at the phase's z (f*'s code-dependent part, eq. 7), and the
            # Gaussian's mean log variance, whose collapse the estimate alone would hide.
            metrics.update(
                posterior_kl=jnp.mean(log_q - posterior.prior_log_density(z_q)),
                posterior_log_variance=jnp.mean(log_variance),
            )
        loss = -bound
        return loss, {"loss": loss, **metrics}

    def sample(nets, conditions):
        del conditions
        z = nets.normal("sample_z", (config.latent_dim,))
        return common.to_data_space(nets("generator", z), data_info.kind)

    def reconstruct(nets, batch):
        mean, _ = encode(nets, batch)
        z = posterior.point_estimate(nets, mean, flow=flow)
        return common.to_data_space(nets("generator", z), data_info.kind)

    def log_importance_weight(nets, batch):
        """log p(x|z) + log p(z) - log q_phi(z|x) at one z ~ q_phi(z|x) (the flow's)."""
        z, log_q, _ = encoder_code(nets, batch["x"], "eps")
        return batch_log_likelihood(nets, batch, z) + posterior.prior_log_density(z) - log_q

    shape_kwargs = dict(base_features=config.base_features, hidden_sizes=config.hidden_sizes)
    networks = common.autoencoder_nets(
        architecture, config.latent_dim, data_info.shape, axis_name=axis_name, **shape_kwargs
    )
    init_args = {"encoder": common.data_input, "generator": common.latent_input(config.latent_dim)}
    autoencoder = ("encoder", "generator")
    if flow:
        networks["flow"] = flax_nets.PlanarFlow(length=config.flow_length)
        init_args["flow"] = common.latent_input(config.latent_dim)
        autoencoder += ("flow",)
    ratios = (("f_ratio",) if x_half else ()) + (("h_ratio",) if z_half else ())
    for ratio in ratios:
        networks[ratio] = joint_discriminator_net(architecture, config, axis_name=axis_name)
        init_args[ratio] = lambda batch: (
            batch["x"],
            jnp.zeros((batch["x"].shape[0], config.latent_dim), jnp.float32),
        )
    optimizers = {
        **{
            net: common.adam(config.learning_rate, config.adam_b1, config.adam_b2)
            for net in autoencoder
        },
        **{net: common.adam(config.ratio_lr, config.adam_b1, config.adam_b2) for net in ratios},
    }
    return ModelSpec(
        name=name,
        config=dataclasses.replace(config, likelihood=likelihood),
        networks=networks,
        init_args=init_args,
        optimizers=optimizers,
        phases=(
            Phase("ratio_estimators", ratios, ratio_phase),
            Phase("encoder_decoder", autoencoder, encoder_decoder_phase),
        ),
        sample_fn=sample,
        reconstruct_fn=reconstruct,
        encode_fn=None if flow else encode,
        log_likelihood_fn=batch_log_likelihood,
        log_importance_weight_fn=log_importance_weight if flow else None,
    )
