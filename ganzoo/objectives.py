"""Reusable objectives: the standard two-phase adversarial game for any G and D, with optional critic regularisers."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .model import Batch, Objective, Phase, PhaseLoss
from .penalties import clip_weights_, drift_penalty, gradient_penalty

__all__ = ["AdversarialObjective"]


class AdversarialObjective(Objective):
    """Alternate ``d_repeats`` discriminator phases and one generator phase per step.

    ``d_loss(real_out, fake_out)`` and ``g_loss(fake_out)`` are pure functions from
    :mod:`ganzoo.losses`. ``D`` is called on samples (and labels when ``conditional``).
    Critic regularisers: ``gp_weight`` adds WGAN-GP's gradient penalty to the D loss;
    ``clip`` clamps D's weights to ``[-clip, clip]`` after each D step (WGAN);
    ``drift_weight`` adds ProGAN's ``E[D(x)^2]`` on real data, keeping a critic's scores near zero.
    ``logits=True`` logs D's outputs as probabilities ``D(x)``, ``D(G(z))``; ``False``
    logs raw critic scores and their difference, the Wasserstein estimate. A subclass
    whose D outputs mean something else overrides :meth:`d_scalars`.
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
        gp_weight: float = 0.0,
        clip: float | None = None,
        logits: bool = True,
        drift_weight: float = 0.0,
    ) -> None:
        self.G, self.D = G, D
        self.latent_dim = latent_dim
        self.d_loss, self.g_loss = d_loss, g_loss
        self.conditional = conditional
        self.gp_weight, self.clip, self.logits = gp_weight, clip, logits
        self.drift_weight = drift_weight
        self.phases = (Phase("D", "D", "D", repeats=d_repeats), Phase("G", "G", "G"))

    def _call(self, net: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return net(x, labels) if self.conditional else net(x)

    def d_scalars(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the D phase logs about D's outputs on a real and a fake batch (detached scalars)."""
        if self.logits:
            return {"D(x)": torch.sigmoid(real_out).mean().detach(), "D(G(z))": torch.sigmoid(fake_out).mean().detach()}
        real, fake = real_out.mean().detach(), fake_out.mean().detach()
        return {"critic/real": real, "critic/fake": fake, "critic/wasserstein": real - fake}

    def loss(self, phase: str, batch: Batch) -> PhaseLoss:
        real, labels = batch.real, batch.labels
        z = torch.randn(real.shape[0], self.latent_dim, device=real.device)
        if phase == "D":
            with torch.no_grad():
                fake = self._call(self.G, z, labels)
            real_out = self._call(self.D, real, labels)
            fake_out = self._call(self.D, fake, labels)
            loss = self.d_loss(real_out, fake_out)
            scalars = self.d_scalars(real_out, fake_out)
            if self.gp_weight:
                gp = gradient_penalty(lambda x: self._call(self.D, x, labels), real, fake)
                loss = loss + self.gp_weight * gp
                scalars["penalty/gradient"] = gp.detach()
            if self.drift_weight:
                drift = drift_penalty(real_out)
                loss = loss + self.drift_weight * drift
                scalars["penalty/drift"] = drift.detach()
            return PhaseLoss(loss, scalars)
        fake_out = self._call(self.D, self._call(self.G, z, labels), labels)
        return PhaseLoss(self.g_loss(fake_out))

    def after_step(self, phase: str) -> None:
        if phase == "D" and self.clip is not None:
            clip_weights_(self.D, self.clip)
