"""GAN losses as small pure functions of discriminator logits (Goodfellow et al. 2014).

With D(x) = sigmoid(logit), the minimax game is
``min_G max_D E[log D(x)] + E[log(1 - D(G(z)))]``. Written with softplus,
``-log sigmoid(a) = softplus(-a)`` and ``-log(1 - sigmoid(a)) = softplus(a)``, so the
losses stay finite where D saturates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .options import G_LOSS_NAMES

__all__ = ["d_minimax_loss", "g_nonsaturating_loss", "g_minimax_loss", "d_wasserstein_loss", "g_wasserstein_loss", "d_hinge_loss", "g_hinge_loss", "d_least_squares_loss", "g_least_squares_loss", "G_LOSSES", "LOSS_PAIRS"]


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
assert tuple(G_LOSSES) == G_LOSS_NAMES  # what plugins offer as choices at registration, without torch


def d_wasserstein_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic (Arjovsky et al. 2017): maximise ``E[f(x)] - E[f(G(z))]``, an estimate of W1 when f is 1-Lipschitz."""
    return fake_scores.mean() - real_scores.mean()


def g_wasserstein_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator against a critic: minimise ``-E[f(G(z))]``."""
    return -fake_scores.mean()


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge discriminator (Lim & Ye 2017; SAGAN, BigGAN): ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def g_hinge_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge generator: minimise ``-E[D(G(z))]`` (the same form as the Wasserstein generator)."""
    return -fake_logits.mean()


def d_least_squares_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """Least squares discriminator (Mao et al. 2017, a=0, b=1): ``E[(D(x) - 1)^2]/2 + E[D(G(z))^2]/2``."""
    return 0.5 * ((real_out - 1) ** 2).mean() + 0.5 * (fake_out**2).mean()


def g_least_squares_loss(fake_out: torch.Tensor) -> torch.Tensor:
    """Least squares generator (c=1): ``E[(D(G(z)) - 1)^2]/2``."""
    return 0.5 * ((fake_out - 1) ** 2).mean()


# Matched (discriminator, generator) pairs by name, for plugins that let users pick a loss.
LOSS_PAIRS = {
    "non-saturating": (d_minimax_loss, g_nonsaturating_loss),
    "minimax": (d_minimax_loss, g_minimax_loss),
    "wasserstein": (d_wasserstein_loss, g_wasserstein_loss),
    "hinge": (d_hinge_loss, g_hinge_loss),
    "least-squares": (d_least_squares_loss, g_least_squares_loss),
}


# -- relativistic pairing (RpGAN) ------------------------------------------------------------------
# Jolicoeur-Martineau 2019 ("The relativistic discriminator"); with zero-centred R1 and R2 it is
# R3GAN's loss (Huang et al. 2024, eq. 2; brownvc/R3GAN R3GAN/Trainer.py). Each real is paired
# with one fake (same index), and the loss sees only the difference of their logits, so D has
# no incentive to move every output by a constant, and G is scored against the reals it faces.


def d_relativistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """RpGAN discriminator: ``E[softplus(-(D(x) - D(G(z))))]`` over paired samples (a real should outscore its fake)."""
    return F.softplus(-(real_logits - fake_logits)).mean()


def g_relativistic_loss(fake_logits: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """RpGAN generator: ``E[softplus(-(D(G(z)) - D(x)))]`` over paired samples (a fake should outscore its real)."""
    return F.softplus(-(fake_logits - real_logits)).mean()


__all__ += ["d_relativistic_loss", "g_relativistic_loss"]  # here, not in the list above, so additions elsewhere do not collide
