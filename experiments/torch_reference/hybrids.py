"""PyTorch references of the auto-encoding GANs: VAE/GAN (Larsen et al. 2016's Algorithm 1,
one forward pass and three losses), alpha-GAN and ALI (the phases of `unigen_jax.models`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from experiments.torch_reference import _common as c
from experiments.torch_reference import nets


def _autoencoder(config, image_shape) -> dict:
    return {
        "encoder": nets.DCGANEncoder(config.latent_dim, image_shape, config.base_features),
        "generator": nets.DCGANGenerator(config.latent_dim, image_shape, config.base_features),
    }


def build_vaegan(config, image_shape) -> dict:
    return {
        **_autoencoder(config, image_shape),
        "discriminator": nets.DCGANDiscriminator(
            image_shape, config.base_features, config.discriminator_norm
        ),
    }


def vaegan_losses(config, nets_, x, eps, z):
    """(E's, G's, D's loss) from ONE forward pass of E, G and D (Larsen, Sønderby, Larochelle,
    Winther 2016, arXiv 1512.09300, Algorithm 1; the objectives of `unigen_jax.models.vaegan`):
    D reads x, x~ and x_p in one call on their concatenation."""
    mean, log_variance = nets_["encoder"](x)
    reconstruction = torch.sigmoid(nets_["generator"](c.reparameterise(mean, log_variance, eps)))
    generated = torch.sigmoid(nets_["generator"](z))
    logits, _, layers = nets_["discriminator"](
        torch.cat([x, reconstruction, generated]), return_layers=True
    )
    n = len(x)
    features = layers[config.feature_layer]
    # -log N(D_l(x) | D_l(x~), I), summed over the layer's units.
    nll = (0.5 * (features[:n] - features[n : 2 * n]).square() + 0.5 * c.LOG_2PI).flatten(1)
    nll = nll.sum(1).mean()
    real, rec, gen = logits[:n], logits[n : 2 * n], logits[2 * n :]
    encoder_loss = c.gaussian_kl(mean, log_variance).mean() + nll
    generator_loss = config.gamma * nll + (F.softplus(-rec) + F.softplus(-gen)).mean()
    discriminator_loss = (F.softplus(-real) + F.softplus(rec) + F.softplus(gen)).mean()
    return encoder_loss, generator_loss, discriminator_loss


def vaegan_step(config, nets_, batch_size, image_shape):
    """Algorithm 1: one forward pass, each network's gradient of its own loss, three Adam
    steps at once."""
    height, width, channels = image_shape
    batch = torch.rand(batch_size, channels, height, width)
    order = ("encoder", "generator", "discriminator")
    optimizers = [
        c.adam([nets_[n]], config.learning_rate, config.adam_b1, config.adam_b2) for n in order
    ]

    def step_fn() -> torch.Tensor:
        eps = torch.randn(batch_size, config.latent_dim)
        z = torch.randn(batch_size, config.latent_dim)
        losses = vaegan_losses(config, nets_, batch, eps, z)
        grads = [
            c.gradients(loss, [nets_[n]], retain_graph=i < 2)
            for i, (loss, n) in enumerate(zip(losses, order, strict=True))
        ]
        for optimizer, g in zip(optimizers, grads, strict=True):
            c.step(optimizer, g)
        return losses[1].detach()

    return step_fn, batch


def build_alpha_gan(config, image_shape) -> dict:
    assert config.code_critic == "discriminator", "reference: alpha-GAN with a code critic"
    return {
        **build_vaegan(config, image_shape),
        "code_discriminator": nets.MLPDiscriminator(
            config.latent_dim, config.code_discriminator_hidden
        ),
    }


def alpha_gan_step(config, nets_, batch_size, image_shape):
    """Rosca et al. 2017 (arXiv 1706.04987), eq. 8 and Algorithm 1, as
    `unigen_jax.models.alpha_gan`: E and G `encoder_generator_steps` times on their own losses
    (one forward pass, each its own gradient), then D and C."""
    encoder, generator, discriminator, critic = (
        nets_[n] for n in ("encoder", "generator", "discriminator", "code_discriminator")
    )
    height, width, channels = image_shape
    x = torch.rand(batch_size, channels, height, width)
    lam = config.reconstruction_weight
    opt_eg = c.adam([encoder, generator], config.generator_lr, config.adam_b1, config.adam_b2)
    opt_dc = c.adam(
        [discriminator, critic], config.discriminator_lr, config.adam_b1, config.adam_b2
    )

    def latent():
        return torch.randn(batch_size, config.latent_dim)

    def step_fn() -> torch.Tensor:
        for _ in range(config.encoder_generator_steps):
            codes = encoder(x)[0]
            x_rec = torch.sigmoid(generator(codes))
            reconstruction = (x - x_rec).abs().mean()
            e_loss = lam * reconstruction + F.softplus(-critic(codes)[0]).mean()
            rec_logits = discriminator(x_rec)[0]
            gen_logits = discriminator(torch.sigmoid(generator(latent())))[0]
            adversarial = (F.softplus(-rec_logits) + F.softplus(-gen_logits)).mean()
            g_loss = lam * reconstruction + adversarial
            grads = c.gradients(e_loss, [encoder], retain_graph=True)
            c.step(opt_eg, grads, c.gradients(g_loss, [generator]))
        with torch.no_grad():
            codes = encoder(x)[0]
            reconstruction = torch.sigmoid(generator(codes))
            generated = torch.sigmoid(generator(latent()))
        real, rec, gen = (discriminator(images)[0] for images in (x, reconstruction, generated))
        d_loss = (F.softplus(-real) + F.softplus(rec) + F.softplus(gen)).mean()
        prior_logits, code_logits = critic(latent())[0], critic(codes)[0]
        c_loss = (F.softplus(-prior_logits) + F.softplus(code_logits)).mean()
        c.update(d_loss + c_loss, opt_dc, [discriminator, critic])
        return d_loss.detach()

    return step_fn, x


def build_ali(config, image_shape) -> dict:
    assert not config.stochastic_encoder, "reference: BiGAN's deterministic encoder"
    return {
        **_autoencoder(config, image_shape),
        "discriminator": nets.JointDiscriminator(
            config.latent_dim,
            image_shape,
            config.base_features,
            config.z_hidden_sizes,
            config.joint_hidden_sizes,
        ),
    }


def ali_step(config, nets_, batch_size, image_shape):
    """Dumoulin et al. 2016 (arXiv 1606.00704) / BiGAN as `unigen_jax.models.ali`: D on
    (x, E(x)) against (G(z), z), then E and G on the non-saturating objective, fresh z each."""
    assert config.ali_objective == "non_saturating"
    encoder, generator, discriminator = (
        nets_[n] for n in ("encoder", "generator", "discriminator")
    )
    height, width, channels = image_shape
    x = torch.rand(batch_size, channels, height, width)
    opt_d = c.adam([discriminator], config.discriminator_lr, config.adam_b1, config.adam_b2)
    opt_eg = c.adam([encoder, generator], config.generator_lr, config.adam_b1, config.adam_b2)

    def joint_logits(z):
        return (
            discriminator(x, encoder(x)[0])[0],
            discriminator(torch.sigmoid(generator(z)), z)[0],
        )

    def step_fn() -> torch.Tensor:
        z = torch.randn(batch_size, config.latent_dim)
        with torch.no_grad():
            z_hat = encoder(x)[0]
            fake = torch.sigmoid(generator(z))
        encoder_logits, generator_logits = discriminator(x, z_hat)[0], discriminator(fake, z)[0]
        d_loss = (F.softplus(-encoder_logits) + F.softplus(generator_logits)).mean()
        c.update(d_loss, opt_d, [discriminator])
        encoder_logits, generator_logits = joint_logits(torch.randn(batch_size, config.latent_dim))
        eg_loss = F.softplus(encoder_logits).mean() + F.softplus(-generator_logits).mean()
        c.update(eg_loss, opt_eg, [encoder, generator])
        return eg_loss.detach()

    return step_fn, x
