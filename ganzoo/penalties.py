"""Regularisers of the discriminator (critic) that objectives compose: gradient penalty, R1, drift, clipping.

All penalties return a scalar averaged over the batch; the objective multiplies by its weight.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

__all__ = ["gradient_penalty", "interpolate", "r1_penalty", "drift_penalty", "clip_weights_"]


def _per_sample_norm(grad: torch.Tensor) -> torch.Tensor:
    """L2 norm of each sample's gradient over all non-batch dimensions (pixels and channels together)."""
    return grad.flatten(start_dim=1).norm(2, dim=1)


def interpolate(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``alpha * real + (1 - alpha) * fake`` with one ``alpha ~ U[0, 1]`` per sample; returns (points, alpha)."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, generator=generator)
    return alpha * real.detach() + (1 - alpha) * fake.detach(), alpha


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    target: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``E[(||grad_x f(x_hat)||_2 - target)^2]`` on random interpolates.

    The norm is per sample over all non-batch dimensions; ``critic`` maps a batch to one score per
    sample (wrap a conditional critic in a lambda that closes over the labels).
    """
    points, _ = interpolate(real, fake, generator)
    points.requires_grad_(True)
    scores = critic(points)
    (grad,) = torch.autograd.grad(scores.sum(), points, create_graph=True)
    return ((_per_sample_norm(grad) - target) ** 2).mean()


def r1_penalty(real_scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ``E[||grad_x D(x)||^2]`` on real data; ``real`` must require grad.

    Returns the mean squared norm without the conventional ``gamma / 2`` factor.
    """
    (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
    return _per_sample_norm(grad).pow(2).mean()


def drift_penalty(real_scores: torch.Tensor) -> torch.Tensor:
    """ProGAN's drift term ``E[D(x)^2]``: keeps the critic's output from wandering far from zero."""
    return real_scores.pow(2).mean()


@torch.no_grad()
def clip_weights_(module: nn.Module, bound: float) -> None:
    """Clamp every parameter of ``module`` to ``[-bound, bound]`` in place (WGAN's crude Lipschitz constraint)."""
    for p in module.parameters():
        p.clamp_(-bound, bound)
