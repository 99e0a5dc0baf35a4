"""PyTorch references of the VAE, the semi-supervised VAE (Kingma et al. 2014's M2) and
AS-VAE (Pu et al. 2017): the phases of `unigen_jax.models.vae`, `.svae` and `.asvae`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from experiments.torch_reference import _common as c
from experiments.torch_reference import nets


def _check_bernoulli(config) -> None:
    assert config.likelihood in ("auto", "bernoulli"), "reference: Bernoulli images"


def build_vae(config, image_shape) -> dict:
    _check_bernoulli(config)
    return {
        "encoder": nets.DCGANEncoder(config.latent_dim, image_shape, config.base_features),
        "generator": nets.DCGANGenerator(config.latent_dim, image_shape, config.base_features),
    }


def vae_step(config, nets_, batch_size, image_shape):
    """One joint encoder + generator update on the negative ELBO."""
    assert config.beta == 1.0 and not (config.conditional or config.flow_length)
    encoder, generator = nets_["encoder"], nets_["generator"]
    height, width, channels = image_shape
    x = torch.rand(batch_size, channels, height, width)
    opt = c.adam([encoder, generator], config.learning_rate, config.adam_b1, config.adam_b2)

    def step_fn() -> torch.Tensor:
        mean, log_variance = encoder(x)
        z = c.reparameterise(mean, log_variance, torch.randn_like(mean))
        log_px = c.bernoulli_log_likelihood(generator(z), x)
        loss = -(log_px - c.gaussian_kl(mean, log_variance)).mean()
        c.update(loss, opt, [encoder, generator])
        return loss.detach()

    return step_fn, x


NUM_CLASSES = 10


def build_svae(config, image_shape) -> dict:
    _check_bernoulli(config)
    height, width, channels = image_shape
    latent, base = config.latent_dim, config.base_features
    return {
        "classifier": nets.DiscriminatorClassifier(
            nets.DCGANDiscriminator(image_shape, base), NUM_CLASSES
        ),
        "encoder": nets.DCGANEncoder(latent, (height, width, channels + NUM_CLASSES), base),
        "generator": nets.DCGANGenerator(latent + NUM_CLASSES, image_shape, base),
    }


def svae_losses(config, nets_, x, labelled_x, label, labelled_eps, unlabelled_eps):
    """Kingma et al. 2014 (arXiv 1406.5298) eq. 9, normalised as `unigen_jax.models.svae`:
    f m_l[-B(x, y) + alpha' CE] + (1 - f) m_u[-U(x)], U's sum over y exact (K decoder passes
    per unlabelled example). `unlabelled_eps` [n K, latent]."""
    k, f = NUM_CLASSES, config.labelled_fraction
    classifier, encoder, generator = (nets_[n] for n in ("classifier", "encoder", "generator"))

    def labelled_bound(images, y, eps):
        mean, log_variance = encoder(c.with_condition(images, y, k))
        z = c.reparameterise(mean, log_variance, eps)
        log_px = c.bernoulli_log_likelihood(generator(torch.cat([z, c.one_hot(y, k)], -1)), images)
        return log_px - c.gaussian_kl(mean, log_variance) - math.log(k)

    bound = labelled_bound(labelled_x, label, labelled_eps)
    cross_entropy = F.cross_entropy(classifier(labelled_x), label, reduction="none")
    loss = (-f * bound + config.classification_weight * cross_entropy).mean()
    n = len(x)
    every_label = torch.arange(k).repeat(n)
    bounds = labelled_bound(x.repeat_interleave(k, 0), every_label, unlabelled_eps).view(n, k)
    log_q = F.log_softmax(classifier(x), -1)
    unlabelled = (log_q.exp() * (bounds - log_q)).sum(-1)
    return loss + (-(1.0 - f) * unlabelled).mean()


def svae_step(config, nets_, batch_size, image_shape):
    """One update of the classifier, encoder and decoder on the M2 objective, reading an
    unlabelled batch and a labelled batch of the same size (the labelled stream)."""
    assert not config.adversary_activated and config.labelled_fraction < 1.0
    height, width, channels = image_shape
    x = torch.rand(batch_size, channels, height, width)
    labelled_x = torch.rand(batch_size, channels, height, width)
    label = torch.randint(0, NUM_CLASSES, (batch_size,))
    trained = [nets_[n] for n in ("classifier", "encoder", "generator")]
    opt = c.adam(trained, config.learning_rate, config.adam_b1, config.adam_b2)

    def step_fn() -> torch.Tensor:
        latent = config.latent_dim
        loss = svae_losses(
            config,
            nets_,
            x,
            labelled_x,
            label,
            torch.randn(batch_size, latent),
            torch.randn(batch_size * NUM_CLASSES, latent),
        )
        c.update(loss, opt, trained)
        return loss.detach()

    return step_fn, (x, labelled_x, label)


def build_asvae(config, image_shape) -> dict:
    assert config.bound == "xz" and config.flow_length > 0, "reference: AS-VAE with a flow"
    networks = build_vae(config, image_shape)
    networks["flow"] = nets.PlanarFlow(config.flow_length, config.latent_dim)
    for ratio in ("f_ratio", "h_ratio"):
        networks[ratio] = nets.JointDiscriminator(
            config.latent_dim,
            image_shape,
            config.base_features,
            config.z_hidden_sizes,
            config.joint_hidden_sizes,
        )
    return networks


def asvae_step(config, nets_, batch_size, image_shape):
    """Pu et al. 2017 (arXiv 1711.04915) as `unigen_jax.models.asvae` (bound "xz", a planar
    flow posterior, Bernoulli decoder): the ratio estimators f and h (eqs. 5-6), then the
    encoder, decoder and flow on eq. 11, fresh noise each."""
    encoder, generator, flow, f_ratio, h_ratio = (
        nets_[n] for n in ("encoder", "generator", "flow", "f_ratio", "h_ratio")
    )
    height, width, channels = image_shape
    x = torch.rand(batch_size, channels, height, width)
    b1, b2 = config.adam_b1, config.adam_b2
    opt_ratios = c.adam([f_ratio, h_ratio], config.ratio_lr, b1, b2)
    opt_autoencoder = c.adam([encoder, generator, flow], config.learning_rate, b1, b2)

    def latent():
        return torch.randn(batch_size, config.latent_dim)

    def encoder_code(images):
        mean, log_variance = encoder(images)
        return flow(c.reparameterise(mean, log_variance, latent()))

    def logistic(real, fake):
        return (F.softplus(-real) + F.softplus(fake)).mean()

    def step_fn() -> torch.Tensor:
        with torch.no_grad():
            z_q = encoder_code(x)
            z_p = latent()
            x_p = torch.sigmoid(generator(z_p))  # the Bernoulli decoder's mean
        f_loss = logistic(f_ratio(x, z_q)[0], f_ratio(torch.roll(x_p, 1, 0), z_p)[0])
        h_loss = logistic(h_ratio(x_p, z_p)[0], h_ratio(x, torch.roll(z_q, 1, 0))[0])
        c.update(f_loss + h_loss, opt_ratios, [f_ratio, h_ratio])

        z_p = latent()
        x_p = torch.sigmoid(generator(z_p))
        mean, log_variance = encoder(x_p)
        z_0, log_det = flow.inverse(z_p)
        log_qz = c.diagonal_gaussian_log_density(z_0, mean, log_variance) - log_det
        z_bound = (log_qz - h_ratio(x_p, z_p)[0]).mean()
        z_q = encoder_code(x)
        log_px = c.bernoulli_log_likelihood(generator(z_q), x)
        x_bound = (log_px - f_ratio(x, z_q)[0]).mean()
        loss = -(z_bound + x_bound)
        c.update(loss, opt_autoencoder, [encoder, generator, flow])
        return loss.detach()

    return step_fn, x
