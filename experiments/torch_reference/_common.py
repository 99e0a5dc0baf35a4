"""What every PyTorch reference step shares: its optimizers, its gradient updates, the
library's losses written in torch (per-example values, means over the batch by the caller)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


def parameters(*networks: nn.Module) -> list[torch.Tensor]:
    return [p for net in networks for p in net.parameters()]


def adam(networks: Sequence[nn.Module], learning_rate: float, b1: float, b2: float):
    """One Adam over `networks` (optax.adam's eps 1e-8 is torch's default)."""
    return torch.optim.Adam(parameters(*networks), lr=learning_rate, betas=(b1, b2))


def gradients(loss: torch.Tensor, networks: Sequence[nn.Module], *, retain_graph: bool = False):
    """d loss / d params of `networks` only (no gradient of other networks' weights is
    computed: the JAX engine holds them constant too), as a list aligned with `parameters`."""
    params = parameters(*networks)
    grads = torch.autograd.grad(
        loss, params, retain_graph=retain_graph, allow_unused=True, materialize_grads=True
    )
    return list(zip(params, grads, strict=True))


def step(optimizer: torch.optim.Optimizer, *gradient_lists) -> None:
    """Sets the given gradients and takes one optimizer step."""
    for grads in gradient_lists:
        for p, g in grads:
            p.grad = g
    optimizer.step()


def update(loss, optimizer, networks, *, retain_graph: bool = False) -> None:
    """One gradient step of `networks` on `loss`."""
    step(optimizer, gradients(loss, networks, retain_graph=retain_graph))


def to_data_space(logits: torch.Tensor, images: bool = True) -> torch.Tensor:
    """`unigen_jax.models.common.to_data_space`: sigmoid for images, identity for vectors."""
    return torch.sigmoid(logits) if images else logits


def one_hot(label: torch.Tensor, num_classes: int) -> torch.Tensor:
    return F.one_hot(label, num_classes).float()


def with_condition(images: torch.Tensor, label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Images [B, C, H, W] with the one-hot label as K constant channels."""
    code = one_hot(label, num_classes)[:, :, None, None].expand(-1, -1, *images.shape[2:])
    return torch.cat([images, code], dim=1)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """[B] sum over pixels of log Bernoulli(x; sigmoid(logits))."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_kl(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """[B] KL(N(mean, exp(log_variance)) || N(0, I))."""
    return 0.5 * (torch.expm1(log_variance) - log_variance + mean.square()).sum(-1)


def diagonal_gaussian_log_density(x, mean, log_variance) -> torch.Tensor:
    """[B] log N(x; mean, diag exp(log_variance))."""
    per_unit = LOG_2PI + log_variance + (x - mean).square() * torch.exp(-log_variance)
    return -0.5 * per_unit.flatten(1).sum(1)


def reparameterise(mean, log_variance, eps):
    return mean + torch.exp(0.5 * log_variance) * eps
