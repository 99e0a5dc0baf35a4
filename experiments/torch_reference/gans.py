"""PyTorch references of the GAN family (`gan` with the DCGAN or MLP nets, `wgan_gp`) and of
InfoGAN: the phases of `unigen_jax.models.gan` and `unigen_jax.models.infogan`, in order."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from experiments.torch_reference import _common as c
from experiments.torch_reference import nets

GP_EPSILON = 1e-12  # unigen_jax.losses._penalty._SQUARED_NORM_EPSILON


def build_gan(config, data_shape) -> dict:
    if len(data_shape) == 1:  # vectors: the MLP nets
        return {
            "generator": nets.MLPGenerator(config.latent_dim, data_shape, config.hidden_sizes),
            "discriminator": nets.MLPDiscriminator(data_shape[0], config.hidden_sizes),
        }
    return {
        "generator": nets.DCGANGenerator(config.latent_dim, data_shape, config.base_features),
        "discriminator": nets.DCGANDiscriminator(
            data_shape, config.base_features, config.discriminator_norm
        ),
    }


def gradient_penalty(discriminator, real, fake, interpolation) -> torch.Tensor:
    """[B] (||grad_x D(x_hat)|| - 1)^2, x_hat = eps real + (1 - eps) fake (Gulrajani et al.
    2017, arXiv 1704.00028, eq. 3), differentiable in D's params (double backprop)."""
    eps = interpolation.view(-1, *([1] * (real.dim() - 1)))
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = discriminator(x_hat)[0]
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = torch.sqrt(grad.square().flatten(1).sum(1) + GP_EPSILON)
    return (norms - 1.0).square()


def gan_discriminator_loss(config, nets_, real, z, interpolation=None) -> torch.Tensor:
    """The discriminator phase's loss (`unigen_jax.models.gan`), G held constant."""
    generator, discriminator = nets_["generator"], nets_["discriminator"]
    with torch.no_grad():
        fake = c.to_data_space(generator(z), real.dim() > 2)
    real_logits, fake_logits = discriminator(real)[0], discriminator(fake)[0]
    if config.loss == "wasserstein":
        loss = (fake_logits - real_logits).mean()
    else:
        loss = (F.softplus(-real_logits) + F.softplus(fake_logits)).mean()
    if config.gradient_penalty:
        penalty = gradient_penalty(discriminator, real, fake, interpolation).mean()
        loss = loss + config.gradient_penalty * penalty
    return loss


def gan_generator_loss(config, nets_, z, images: bool) -> torch.Tensor:
    fake_logits = nets_["discriminator"](c.to_data_space(nets_["generator"](z), images))[0]
    if config.loss == "wasserstein":
        return (-fake_logits).mean()
    return F.softplus(-fake_logits).mean()


def gan_step(config, nets_, batch_size, data_shape):
    """D for `discriminator_steps` repeats (each on a fresh real batch), then G."""
    supported = ("modified", "wasserstein")
    assert config.loss in supported and not config.conditional, "reference: plain GAN/WGAN-GP"
    repeats = config.discriminator_steps
    images = len(data_shape) == 3
    if images:
        height, width, channels = data_shape
        batch = torch.rand(repeats, batch_size, channels, height, width)
    else:
        batch = torch.randn(repeats, batch_size, *data_shape)
    opt_d = c.adam(
        [nets_["discriminator"]], config.discriminator_lr, config.adam_b1, config.adam_b2
    )
    opt_g = c.adam([nets_["generator"]], config.generator_lr, config.adam_b1, config.adam_b2)
    penalised = bool(config.gradient_penalty)

    def step_fn() -> torch.Tensor:
        for r in range(repeats):
            z = torch.randn(batch_size, config.latent_dim)
            interpolation = torch.rand(batch_size) if penalised else None
            d_loss = gan_discriminator_loss(config, nets_, batch[r], z, interpolation)
            c.update(d_loss, opt_d, [nets_["discriminator"]])
        g_loss = gan_generator_loss(
            config, nets_, torch.randn(batch_size, config.latent_dim), images
        )
        c.update(g_loss, opt_g, [nets_["generator"]])
        return g_loss.detach()

    return step_fn, batch


def build_infogan(config, image_shape) -> dict:
    discriminator = nets.DCGANDiscriminator(
        image_shape, config.base_features, config.discriminator_norm
    )
    code = config.latent_dim + config.categorical_dim + config.continuous_dim
    return {
        "generator": nets.DCGANGenerator(code, image_shape, config.base_features),
        "discriminator": discriminator,
        "q_head": nets.InfoGANQHead(
            discriminator.trunk.num_features,
            config.categorical_dim,
            config.continuous_dim,
            config.q_hidden_sizes,
        ),
    }


def infogan_step(config, nets_, batch_size, image_shape):
    """Chen et al. 2016 (arXiv 1606.03657) as `unigen_jax.models.infogan`: D and Q on the GAN
    loss plus -L_I, then G and Q on the non-saturating loss plus -L_I, fresh (z, c) each."""
    assert config.categorical_dim and config.continuous_dim and not config.learn_continuous_std
    generator, discriminator, q_head = (nets_[n] for n in ("generator", "discriminator", "q_head"))
    height, width, channels = image_shape
    batch = torch.rand(batch_size, channels, height, width)
    opt_d = c.adam([discriminator], config.discriminator_lr, config.adam_b1, config.adam_b2)
    opt_q = c.adam([q_head], config.discriminator_lr, config.adam_b1, config.adam_b2)
    opt_g = c.adam([generator], config.generator_lr, config.adam_b1, config.adam_b2)
    k, num_continuous = config.categorical_dim, config.continuous_dim

    def codes():
        value = torch.randint(0, k, (batch_size,))
        continuous = 2.0 * torch.rand(batch_size, num_continuous) - 1.0
        z = torch.randn(batch_size, config.latent_dim)
        return value, continuous, torch.cat([z, c.one_hot(value, k), continuous], -1)

    def information_penalty(features, value, continuous) -> torch.Tensor:
        logits, mean, _ = q_head(features)  # unit standard deviation: log_std = 0
        categorical = F.cross_entropy(logits, value, reduction="none")
        gaussian = (0.5 * c.LOG_2PI + 0.5 * (continuous - mean).square()).sum(-1)
        return (
            config.categorical_weight * categorical + config.continuous_weight * gaussian
        ).mean()

    def step_fn() -> torch.Tensor:
        value, continuous, code = codes()
        with torch.no_grad():
            fake = torch.sigmoid(generator(code))
        real_logits, _ = discriminator(batch)
        fake_logits, fake_features = discriminator(fake)
        d_loss = (F.softplus(-real_logits) + F.softplus(fake_logits)).mean()
        d_loss = d_loss + information_penalty(fake_features, value, continuous)
        d_grads = c.gradients(d_loss, [discriminator, q_head])
        c.step(opt_d, d_grads[: len(list(discriminator.parameters()))])
        c.step(opt_q, d_grads[len(list(discriminator.parameters())) :])

        value, continuous, code = codes()
        fake_logits, fake_features = discriminator(torch.sigmoid(generator(code)))
        g_loss = F.softplus(-fake_logits).mean() + information_penalty(
            fake_features, value, continuous
        )
        g_grads = c.gradients(g_loss, [generator, q_head])
        c.step(opt_g, g_grads[: len(list(generator.parameters()))])
        c.step(opt_q, g_grads[len(list(generator.parameters())) :])
        return g_loss.detach()

    return step_fn, batch
