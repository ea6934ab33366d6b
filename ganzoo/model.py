"""The trainer's contract with a model: a GAN is networks, optimizers and an objective of phases.

A model spec's builder returns a :class:`GAN`. The trainer runs the objective's phases in
order every step, each updating one network with one optimizer; it never needs to know
which GAN it is training. Several critic steps per generator step, lazy regularisation
every k steps, or an extra phase are all just different phase lists.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class Phase:
    """One optimisation phase of a step.

    ``network`` and ``optimizer`` are keys of :attr:`GAN.networks` and :attr:`GAN.optimizers`.
    The phase runs on steps where ``step % every == 0``, ``repeats`` times in a row, each
    time on a fresh batch of real data (WGAN's five critic steps are ``repeats=5``).
    """

    name: str
    network: str
    optimizer: str
    every: int = 1
    repeats: int = 1


@dataclass
class Batch:
    """What a phase sees: a batch of real samples, their labels (if any) and the current step."""

    real: torch.Tensor
    labels: torch.Tensor | None
    step: int


@dataclass
class PhaseLoss:
    """A phase's result: the loss the trainer backpropagates, and named scalars to log."""

    loss: torch.Tensor
    scalars: dict[str, torch.Tensor] = field(default_factory=dict)


class Objective(ABC):
    """Owns the losses of every phase. Subclasses set ``phases`` and implement :meth:`loss`.

    An objective that keeps state across steps (a schedule, a running average) also
    implements ``state_dict``/``load_state_dict`` so that checkpoints capture it.
    """

    phases: Sequence[Phase] = ()

    @abstractmethod
    def loss(self, phase: str, batch: Batch) -> PhaseLoss:
        """The loss of phase ``phase`` on ``batch``. Generate fakes here; sample latents with torch's RNG."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclass
class GAN:
    """Everything a model builder returns.

    ``networks[generator]`` maps latents ``z`` of shape ``(n, latent_dim)`` to samples of
    the dataset's shape; when ``num_classes > 0`` it is called as ``G(z, labels)``.
    """

    networks: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    objective: Objective
    latent_dim: int
    generator: str = "G"
    num_classes: int = 0

    def __post_init__(self) -> None:
        if self.generator not in self.networks:
            raise ValueError(f"generator {self.generator!r} is not one of the networks {sorted(self.networks)}")
        if not self.objective.phases:
            raise ValueError("the objective declares no phases")
        for phase in self.objective.phases:
            if phase.network not in self.networks:
                raise ValueError(f"phase {phase.name!r} trains unknown network {phase.network!r}")
            if phase.optimizer not in self.optimizers:
                raise ValueError(f"phase {phase.name!r} uses unknown optimizer {phase.optimizer!r}")
            if phase.every < 1 or phase.repeats < 1:
                raise ValueError(f"phase {phase.name!r}: every and repeats must be >= 1")

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def to(self, device: torch.device) -> "GAN":
        for net in self.networks.values():
            net.to(device)
        return self

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples from the generator in eval mode; ``generator`` makes the latents reproducible."""
        G = self.networks[self.generator]
        device = next(G.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        was_training = G.training
        G.eval()
        try:
            if self.conditional:
                if labels is None:
                    labels = torch.arange(n) % self.num_classes
                return G(z, labels.to(device))
            return G(z)
        finally:
            G.train(was_training)
