"""PyTorch eager reference implementations of unigen_jax's GAN/VAE models (benchmark only).

This module is a benchmark-only reference: it re-implements, in PyTorch eager mode (no
``torch.compile``), exactly the architectures, losses and per-step update schedule of three
unigen_jax models so that a benchmark can compare training steps per second side by side. It is
not used by the library and is not a supported training path. PyTorch is an optional extra::

    pip install torch==2.13.0

Models (matching ``unigen_jax.nets`` / ``unigen_jax.models`` defaults):

* ``'dcgan'``: GAN with the non-saturating ("modified") loss, ``DCGANGenerator`` /
  ``DCGANDiscriminator`` at base_features 64, latent 64, Adam(2e-4, b1=0.5, b2=0.999), batch 64.
* ``'vae'``: VAE with the DCGAN encoder (the discriminator's trunk, then Dense(2 * latent)) and
  the DCGAN generator at base_features 32, latent 16, Bernoulli likelihood (BCE with logits
  summed over pixels), analytic KL to N(0, I), Adam(1e-3), one joint update per step.
* ``'mlp_gan'``: GAN on 2-D vectors with ``MLPGenerator`` / ``MLPDiscriminator`` (hidden
  (128, 128)), latent 64, batch 512, non-saturating loss.

Conventions copied from the JAX code: images in [0, 1] (NCHW here, NHWC in JAX); the
discriminator/encoder map them to 2x - 1; the generator returns logits and the model applies a
sigmoid for images; layers followed by BatchNorm have no bias; BatchNorm momentum 0.9 in flax
(= 0.1 in torch), eps 1e-5; LeakyReLU(0.2) in D, ReLU in G and in the MLP encoder; 4x4 stride-2
convs with SAME padding (= padding 1 here: 28 -> 14 -> 7, and 7 -> 14 -> 28 for the transposed
convs); DCGAN kernels from N(0, 0.02), MLP kernels LeCun normal, biases 0. The only known
difference is torch's unbiased running-variance update (flax uses the biased one), which does
not affect training-mode computation or cost.

One ``step_fn()`` call is one training step of the JAX engine:

* GAN: D update on the real batch and a fresh fake batch (G in train mode, no gradient into G),
  then a G update with fresh z through the updated D.
* VAE: one joint encoder + generator update on the negative ELBO.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from unigen_jax.nets.dcgan import dcgan_generator_layout, num_halvings

LEAKY_RELU_SLOPE = 0.2
BN_MOMENTUM = 0.1  # flax momentum 0.9
BN_EPS = 1e-5
DCGAN_STD = 0.02

MODELS = ("dcgan", "vae", "mlp_gan")


def _dcgan_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, DCGAN_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _lecun_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, 0.0, 1.0 / math.sqrt(m.in_features))
            nn.init.zeros_(m.bias)


def _bn(features: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(features, eps=BN_EPS, momentum=BN_MOMENTUM)


class DCGANGenerator(nn.Module):
    """z -> Dense(s*s*F_top, no bias) -> BN, ReLU -> [ConvT 4x4/2 -> BN, ReLU]* -> ConvT to C."""

    def __init__(self, latent_dim: int, output_shape=(28, 28, 1), base_features: int = 64):
        super().__init__()
        height, _, channels = output_shape
        self.start, n = dcgan_generator_layout(output_shape)
        self.top = base_features * 2 ** (n - 1)
        self.project = nn.Linear(latent_dim, self.start * self.start * self.top, bias=False)
        self.project_bn = _bn(self.top)
        layers: list[nn.Module] = []
        for i in range(n):
            is_last = i == n - 1
            in_f = self.top // 2**i
            out_f = channels if is_last else self.top // 2 ** (i + 1)
            layers.append(nn.ConvTranspose2d(in_f, out_f, 4, 2, padding=1, bias=is_last))
            if not is_last:
                layers += [_bn(out_f), nn.ReLU()]
        self.deconvs = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z.flatten(1)).view(z.shape[0], self.top, self.start, self.start)
        return self.deconvs(F.relu(self.project_bn(x)))


class DCGANTrunk(nn.Module):
    """x in [0, 1] -> 2x - 1 -> [Conv 4x4/2 -> (BN) -> LeakyReLU(0.2)]* -> flatten."""

    def __init__(self, image_shape=(28, 28, 1), base_features: int = 64):
        super().__init__()
        height, _, channels = image_shape
        n = max(1, num_halvings(height))
        layers: list[nn.Module] = []
        in_f, size = channels, height
        for i in range(n):
            normalize = i > 0
            out_f = base_features * 2**i
            layers.append(nn.Conv2d(in_f, out_f, 4, 2, padding=1, bias=not normalize))
            if normalize:
                layers.append(_bn(out_f))
            layers.append(nn.LeakyReLU(LEAKY_RELU_SLOPE))
            in_f, size = out_f, (size + 1) // 2
        self.convs = nn.Sequential(*layers)
        self.num_features = in_f * size * size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.convs(2.0 * images - 1.0).flatten(1)


class DCGANDiscriminator(nn.Module):
    def __init__(self, image_shape=(28, 28, 1), base_features: int = 64):
        super().__init__()
        self.trunk = DCGANTrunk(image_shape, base_features)
        self.logit = nn.Linear(self.trunk.num_features, 1)
        _dcgan_init(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logit(self.trunk(images))[:, 0]


class DCGANEncoder(nn.Module):
    def __init__(self, latent_dim: int, image_shape=(28, 28, 1), base_features: int = 64):
        super().__init__()
        self.trunk = DCGANTrunk(image_shape, base_features)
        self.gaussian = nn.Linear(self.trunk.num_features, 2 * latent_dim)
        _dcgan_init(self)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_variance = self.gaussian(self.trunk(images)).chunk(2, dim=-1)
        return mean, log_variance


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, output_shape=(2,), hidden: Sequence[int] = (128, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        in_f = latent_dim
        for size in hidden:
            layers += [nn.Linear(in_f, size), nn.ReLU()]
            in_f = size
        layers.append(nn.Linear(in_f, math.prod(output_shape)))
        self.net = nn.Sequential(*layers)
        self.output_shape = tuple(output_shape)
        _lecun_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.flatten(1)).view(z.shape[0], *self.output_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, input_size: int = 2, hidden: Sequence[int] = (128, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        in_f = input_size
        for size in hidden:
            layers += [nn.Linear(in_f, size), nn.LeakyReLU(LEAKY_RELU_SLOPE)]
            in_f = size
        layers.append(nn.Linear(in_f, 1))
        self.net = nn.Sequential(*layers)
        _lecun_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))[:, 0]


def _defaults(model: str) -> dict:
    if model == "dcgan":
        return dict(latent_dim=64, base_features=64, batch_size=64)
    if model == "vae":
        return dict(latent_dim=16, base_features=32, batch_size=64)
    if model == "mlp_gan":
        return dict(latent_dim=64, base_features=64, batch_size=512)
    raise ValueError(f"unknown model {model!r}; choose one of {MODELS}")


def build_networks(
    model: str,
    *,
    image_shape=(28, 28, 1),
    latent_dim: int | None = None,
    base_features: int | None = None,
    hidden: Sequence[int] = (128, 128),
) -> dict[str, nn.Module]:
    """The torch networks of `model`, keyed like the JAX ModelSpec's networks."""
    d = _defaults(model)
    latent_dim = d["latent_dim"] if latent_dim is None else latent_dim
    base_features = d["base_features"] if base_features is None else base_features
    if model == "dcgan":
        return {
            "generator": DCGANGenerator(latent_dim, image_shape, base_features),
            "discriminator": DCGANDiscriminator(image_shape, base_features),
        }
    if model == "vae":
        return {
            "encoder": DCGANEncoder(latent_dim, image_shape, base_features),
            "generator": DCGANGenerator(latent_dim, image_shape, base_features),
        }
    return {
        "generator": MLPGenerator(latent_dim, (2,), hidden),
        "discriminator": MLPDiscriminator(2, hidden),
    }


def num_parameters(model: str, **kwargs) -> int:
    """Trainable parameter count of `model` (BatchNorm scale/offset included, running stats not)."""
    nets = build_networks(model, **kwargs)
    return sum(p.numel() for net in nets.values() for p in net.parameters())


def _set_threads() -> None:
    if torch.get_num_threads() != (os.cpu_count() or 1):
        torch.set_num_threads(os.cpu_count() or 1)


def make_torch_step(
    model: str,
    *,
    image_shape=(28, 28, 1),
    batch_size: int | None = None,
    latent_dim: int | None = None,
    base_features: int | None = None,
    hidden: Sequence[int] = (128, 128),
    seed: int = 0,
) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
    """(step_fn, batch): `step_fn()` runs one full training step and returns the last loss.

    `batch` is a fixed real batch created once: uniform [0, 1] images [B, C, H, W] for the
    image models, standard normal 2-D points [B, 2] for 'mlp_gan'.
    """
    _set_threads()
    d = _defaults(model)
    batch_size = d["batch_size"] if batch_size is None else batch_size
    latent_dim = d["latent_dim"] if latent_dim is None else latent_dim
    torch.manual_seed(seed)
    nets = build_networks(
        model,
        image_shape=image_shape,
        latent_dim=latent_dim,
        base_features=base_features,
        hidden=hidden,
    )
    for net in nets.values():
        net.train()

    if model == "mlp_gan":
        batch = torch.randn(batch_size, 2)
    else:
        height, width, channels = image_shape
        batch = torch.rand(batch_size, channels, height, width)

    if model == "vae":
        enc, gen = nets["encoder"], nets["generator"]
        opt = torch.optim.Adam([*enc.parameters(), *gen.parameters()], lr=1e-3, betas=(0.9, 0.999))

        def vae_step() -> torch.Tensor:
            mean, log_variance = enc(batch)
            eps = torch.randn_like(mean)
            z = mean + torch.exp(0.5 * log_variance) * eps
            logits = gen(z)
            log_px = -F.binary_cross_entropy_with_logits(logits, batch, reduction="none").sum(
                (1, 2, 3)
            )
            kl = 0.5 * (log_variance.exp() + mean.square() - 1.0 - log_variance).sum(-1)
            loss = -(log_px - kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.detach()

        return vae_step, batch

    gen, disc = nets["generator"], nets["discriminator"]
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    is_image = model != "mlp_gan"

    def generate() -> torch.Tensor:
        out = gen(torch.randn(batch_size, latent_dim))
        return torch.sigmoid(out) if is_image else out

    def gan_step() -> torch.Tensor:
        # Discriminator phase: real and a fresh fake batch (G in train mode, no grad into G).
        with torch.no_grad():
            fake = generate()
        real_logits = disc(batch)
        fake_logits = disc(fake)
        d_loss = (F.softplus(-real_logits) + F.softplus(fake_logits)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        # Generator phase: fresh z through the updated D (only G's parameters are stepped).
        g_loss = F.softplus(-disc(generate())).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return g_loss.detach()

    return gan_step, batch


def benchmark_torch(
    model: str,
    *,
    steps: int | None = None,
    round_seconds: float = 1.0,
    warmup: int = 3,
    rounds: int = 1,
    **kwargs,
) -> dict:
    """Times `rounds` rounds of `steps` training steps after `warmup` ones.

    steps_per_sec is the best round's mean rate, as for the JAX steps in experiments.benchmark.
    With steps=None, a round is as many steps as last at least `round_seconds` at the warm-up's
    rate (at least `warmup`).
    """
    step_fn, _ = make_torch_step(model, **kwargs)
    start = time.perf_counter()
    for _ in range(warmup):
        step_fn()
    if steps is None:
        warm_rate = warmup / (time.perf_counter() - start)
        steps = max(warmup, math.ceil(warm_rate * round_seconds))
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step_fn()
        best = max(best, steps / (time.perf_counter() - start))
    return {"steps_per_sec": best, "steps_per_round": steps, "threads": torch.get_num_threads()}


if __name__ == "__main__":
    for name in MODELS:
        result = benchmark_torch(name, steps=10, warmup=2)
        print(
            f"{name:8s} params={num_parameters(name):>9,d} "
            f"steps/s={result['steps_per_sec']:8.2f} threads={result['threads']}"
        )
