"""GAN losses as small pure functions of discriminator logits (Goodfellow et al. 2014).

With D(x) = sigmoid(logit), the minimax game is
``min_G max_D E[log D(x)] + E[log(1 - D(G(z)))]``. Written with softplus,
``-log sigmoid(a) = softplus(-a)`` and ``-log(1 - sigmoid(a)) = softplus(a)``, so the
losses stay finite where D saturates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_minimax_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator: minimise ``-E[log D(x)] - E[log(1 - D(G(z)))]``."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator, non-saturating: minimise ``-E[log D(G(z))]`` (strong gradients early in training)."""
    return F.softplus(-fake_logits).mean()


def g_minimax_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator, original minimax: minimise ``E[log(1 - D(G(z)))]`` (saturates when D wins)."""
    return -F.softplus(fake_logits).mean()


G_LOSSES = {"non-saturating": g_nonsaturating_loss, "minimax": g_minimax_loss}
