"""PyTorch modules with the architectures of `unigen_jax.nets` (benchmark references only).

Conventions copied from the JAX code: images in [0, 1] (NCHW here, NHWC in JAX); the
discriminator/encoder map them to 2x - 1; the generator returns logits; layers followed by a
normalization have no bias; BatchNorm momentum 0.9 in flax (= 0.1 in torch), eps 1e-5; flax's
LayerNorm over (H, W, C) with one scale and offset per channel, eps 1e-6; LeakyReLU(0.2) in D,
ReLU in G and in the MLP encoder; 4x4 stride-2 convs with SAME padding (= padding 1 here:
28 -> 14 -> 7, and 7 -> 14 -> 28 for the transposed convs); DCGAN kernels from N(0, 0.02),
other dense kernels LeCun normal, biases 0. The only known difference is torch's unbiased
running-variance update (flax uses the biased one), which does not affect training-mode
computation or cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from unigen_jax.nets.dcgan import dcgan_generator_layout, num_halvings

LEAKY_RELU_SLOPE = 0.2
BN_MOMENTUM = 0.1  # flax momentum 0.9
BN_EPS = 1e-5
LN_EPS = 1e-6  # flax nn.LayerNorm's default
DCGAN_STD = 0.02


def dcgan_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, DCGAN_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def lecun_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, 0.0, 1.0 / math.sqrt(m.in_features))
            nn.init.zeros_(m.bias)


def _bn(features: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(features, eps=BN_EPS, momentum=BN_MOMENTUM)


class ChannelLayerNorm(nn.Module):
    """flax `nn.LayerNorm(reduction_axes=(-3, -2, -1))` on NHWC: statistics over each
    example's H, W, C; one scale and offset per channel."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x, x.shape[1:], eps=LN_EPS)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


def mlp(sizes: Sequence[int], activation: nn.Module) -> nn.Sequential:
    """[Linear -> activation] for each consecutive pair of `sizes`."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), activation]
    return nn.Sequential(*layers)


class DCGANGenerator(nn.Module):
    """z -> Dense(s*s*F_top, no bias) -> BN, ReLU -> [ConvT 4x4/2 -> BN, ReLU]* -> ConvT to C."""

    def __init__(self, latent_dim: int, output_shape=(28, 28, 1), base_features: int = 64):
        super().__init__()
        _, _, channels = output_shape
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
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z.flatten(1)).view(z.shape[0], self.top, self.start, self.start)
        return self.deconvs(F.relu(self.project_bn(x)))


class DCGANTrunk(nn.Module):
    """x in [0, 1] -> 2x - 1 -> [Conv 4x4/2 -> (norm) -> LeakyReLU(0.2)]* -> flatten.

    `normalization`: 'batch' or 'layer' after every conv but the first ('none': no norm)."""

    def __init__(self, image_shape=(28, 28, 1), base_features: int = 64, normalization="batch"):
        super().__init__()
        height, _, channels = image_shape
        n = max(1, num_halvings(height))
        self.blocks = nn.ModuleList()
        in_f, size = channels, height
        for i in range(n):
            normalize = i > 0 and normalization != "none"
            out_f = base_features * 2**i
            block: list[nn.Module] = [nn.Conv2d(in_f, out_f, 4, 2, padding=1, bias=not normalize)]
            if normalize:
                block.append(_bn(out_f) if normalization == "batch" else ChannelLayerNorm(out_f))
            block.append(nn.LeakyReLU(LEAKY_RELU_SLOPE))
            self.blocks.append(nn.Sequential(*block))
            in_f, size = out_f, (size + 1) // 2
        self.num_features = in_f * size * size

    def forward(self, images: torch.Tensor, return_layers: bool = False):
        x, layers = 2.0 * images - 1.0, []
        for block in self.blocks:
            x = block(x)
            layers.append(x)
        return (x.flatten(1), layers) if return_layers else x.flatten(1)


class DCGANDiscriminator(nn.Module):
    """Trunk -> Dense(1): (logits [B], features [B, F]) (and the conv blocks' activations)."""

    def __init__(self, image_shape=(28, 28, 1), base_features: int = 64, normalization="batch"):
        super().__init__()
        self.trunk = DCGANTrunk(image_shape, base_features, normalization)
        self.logit = nn.Linear(self.trunk.num_features, 1)
        dcgan_init(self)

    def forward(self, images: torch.Tensor, return_layers: bool = False):
        if return_layers:
            features, layers = self.trunk(images, return_layers=True)
            return self.logit(features)[:, 0], features, layers
        features = self.trunk(images)
        return self.logit(features)[:, 0], features


class DCGANEncoder(nn.Module):
    """Trunk -> Dense(2 * latent): (mean, log_variance)."""

    def __init__(self, latent_dim: int, image_shape=(28, 28, 1), base_features: int = 64):
        super().__init__()
        self.trunk = DCGANTrunk(image_shape, base_features)
        self.gaussian = nn.Linear(self.trunk.num_features, 2 * latent_dim)
        dcgan_init(self)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_variance = self.gaussian(self.trunk(images)).chunk(2, dim=-1)
        return mean, log_variance


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, output_shape=(2,), hidden: Sequence[int] = (128, 128)):
        super().__init__()
        self.hidden = mlp([latent_dim, *hidden], nn.ReLU())
        self.output = nn.Linear(([latent_dim, *hidden])[-1], math.prod(output_shape))
        self.output_shape = tuple(output_shape)
        lecun_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.output(self.hidden(z.flatten(1))).view(z.shape[0], *self.output_shape)


class MLPDiscriminator(nn.Module):
    """x -> flatten -> [Dense -> LeakyReLU(0.2)]* -> Dense(1): (logits, features)."""

    def __init__(self, input_size: int = 2, hidden: Sequence[int] = (128, 128)):
        super().__init__()
        self.hidden = mlp([input_size, *hidden], nn.LeakyReLU(LEAKY_RELU_SLOPE))
        self.logit = nn.Linear(([input_size, *hidden])[-1], 1)
        lecun_init(self)

    def forward(self, x: torch.Tensor):
        features = self.hidden(x.flatten(1))
        return self.logit(features)[:, 0], features


class InfoGANQHead(nn.Module):
    """D's features -> [Dense -> LeakyReLU(0.2)]* -> Dense(K + 2C): (logits, mean, log_std)."""

    def __init__(self, features: int, categorical: int, continuous: int, hidden=(128,)):
        super().__init__()
        self.hidden = mlp([features, *hidden], nn.LeakyReLU(LEAKY_RELU_SLOPE))
        self.output = nn.Linear(([features, *hidden])[-1], categorical + 2 * continuous)
        self.k, self.c = categorical, continuous
        lecun_init(self)

    def forward(self, features: torch.Tensor):
        out = self.output(self.hidden(features))
        k, c = self.k, self.c
        return out[:, :k], out[:, k : k + c], out[:, k + c :]


class DiscriminatorClassifier(nn.Module):
    """A discriminator's features -> Dense(K) (its own logit computed and unused, as in JAX)."""

    def __init__(self, discriminator: DCGANDiscriminator, num_classes: int):
        super().__init__()
        self.discriminator = discriminator
        self.classes = nn.Linear(discriminator.trunk.num_features, num_classes)
        lecun_init(self.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, features = self.discriminator(x)
        return self.classes(features)


class JointDiscriminator(nn.Module):
    """D(x, z): [DCGAN trunk(x), MLP(z)] -> joint MLP -> Dense(1): (logits, features)."""

    def __init__(
        self,
        latent_dim: int,
        image_shape=(28, 28, 1),
        base_features: int = 64,
        z_hidden: Sequence[int] = (512, 512),
        joint_hidden: Sequence[int] = (1024, 1024),
    ):
        super().__init__()
        self.x_trunk = DCGANTrunk(image_shape, base_features)
        dcgan_init(self.x_trunk)
        self.z_hidden = mlp([latent_dim, *z_hidden], nn.LeakyReLU(LEAKY_RELU_SLOPE))
        joint = [self.x_trunk.num_features + ([latent_dim, *z_hidden])[-1], *joint_hidden]
        self.joint_hidden = mlp(joint, nn.LeakyReLU(LEAKY_RELU_SLOPE))
        self.logit = nn.Linear(joint[-1], 1)
        lecun_init(self.z_hidden)
        lecun_init(self.joint_hidden)
        lecun_init(self.logit)

    def forward(self, x: torch.Tensor, z: torch.Tensor):
        features = torch.cat([self.x_trunk(x), self.z_hidden(z.flatten(1))], dim=-1)
        features = self.joint_hidden(features)
        return self.logit(features)[:, 0], features


class PlanarFlow(nn.Module):
    """K planar layers f(z) = z + u_hat h(w^T z + b), h = tanh (Rezende & Mohamed 2015, arXiv
    1505.05770, eqs. 10-13, u_hat of their Appendix A.1), and the inverse by bisection on
    constants then one Newton step on the live parameters, as `unigen_jax.nets.flows`."""

    BISECTION_STEPS = 60  # unigen_jax.nets.flows._BISECTION_STEPS

    def __init__(self, length: int, latent_dim: int):
        super().__init__()
        scale = 1.0 / math.sqrt(latent_dim)
        self.u = nn.Parameter(torch.empty(length, latent_dim).uniform_(-scale, scale))
        self.w = nn.Parameter(torch.empty(length, latent_dim).uniform_(-scale, scale))
        self.b = nn.Parameter(torch.zeros(length))

    def constrained_u(self) -> torch.Tensor:
        wu = (self.w * self.u).sum(-1, keepdim=True)
        norm2 = self.w.square().sum(-1, keepdim=True).clamp_min(1e-12)
        return self.u + (F.softplus(wu) - 1.0 - wu) * self.w / norm2

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z_K (the log-determinant is not needed by the benchmarked step: not computed)."""
        u_hat = self.constrained_u()
        for k in range(len(self.b)):
            z = z + torch.tanh(z @ self.w[k] + self.b[k])[:, None] * u_hat[k]
        return z

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_0, sum_k log|det df_k/dz|) for y = z_K."""
        u_hat = self.constrained_u()
        log_det = torch.zeros(y.shape[0])
        for k in reversed(range(len(self.b))):
            u, w, b = u_hat[k], self.w[k], self.b[k]
            wu, c = w @ u, y @ w
            with torch.no_grad():
                alpha = self._solve_alpha(c, wu, b)
            slope = 1.0 + wu * (1.0 - torch.tanh(alpha + b).square())
            alpha = alpha - (alpha + wu * torch.tanh(alpha + b) - c) / slope
            h = torch.tanh(alpha + b)
            log_det = log_det + torch.log(torch.abs(1.0 + (1.0 - h.square()) * wu))
            y = y - h[:, None] * u
        return y, log_det

    def _solve_alpha(self, c, wu, b):
        lo, hi = c - wu.abs(), c + wu.abs()
        for _ in range(self.BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            above = mid + wu * torch.tanh(mid + b) > c
            lo, hi = torch.where(above, lo, mid), torch.where(above, mid, hi)
        return 0.5 * (lo + hi)
