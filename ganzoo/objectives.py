"""Reusable objectives: the standard two-phase adversarial game for any G and D."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .model import Batch, Objective, Phase, PhaseLoss


class AdversarialObjective(Objective):
    """Alternate one discriminator phase and one generator phase per step.

    ``d_loss(real_logits, fake_logits)`` and ``g_loss(fake_logits)`` are pure functions
    from :mod:`ganzoo.losses`. ``D`` is called on samples (and labels when ``conditional``).
    """

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        latent_dim: int,
        d_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        g_loss: Callable[[torch.Tensor], torch.Tensor],
        d_repeats: int = 1,
        conditional: bool = False,
    ) -> None:
        self.G, self.D = G, D
        self.latent_dim = latent_dim
        self.d_loss, self.g_loss = d_loss, g_loss
        self.conditional = conditional
        self.phases = (Phase("D", "D", "D", repeats=d_repeats), Phase("G", "G", "G"))

    def _call(self, net: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return net(x, labels) if self.conditional else net(x)

    def loss(self, phase: str, batch: Batch) -> PhaseLoss:
        real = batch.real
        z = torch.randn(real.shape[0], self.latent_dim, device=real.device)
        if phase == "D":
            with torch.no_grad():
                fake = self._call(self.G, z, batch.labels)
            real_logits = self._call(self.D, real, batch.labels)
            fake_logits = self._call(self.D, fake, batch.labels)
            loss = self.d_loss(real_logits, fake_logits)
            return PhaseLoss(loss, {"D(x)": torch.sigmoid(real_logits).mean().detach(), "D(G(z))": torch.sigmoid(fake_logits).mean().detach()})
        fake_logits = self._call(self.D, self._call(self.G, z, batch.labels), batch.labels)
        return PhaseLoss(self.g_loss(fake_logits))
