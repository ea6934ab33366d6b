"""The trainer's contract with a model: a generative model is networks, optimizers and an objective of phases.

A model spec's builder returns a :class:`GenerativeModel` (``GAN`` is the same class under
its first name: most models are GANs, but a VAE trains through the same contract). The
trainer runs the objective's phases in order every step, each updating one network with one
optimizer; it never needs to know which model it is training. Several critic steps per
generator step, lazy regularisation every k steps, or an extra phase are all just different
phase lists.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from .errors import GanzooError


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

    def after_step(self, phase: str) -> None:
        """Called right after each optimizer step of ``phase`` (WGAN clips the critic's weights here)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclass(frozen=True)
class Translation:
    """What an image-to-image model declares: its generator maps an input image to an output image.

    ``make_input(targets, generator)`` derives the inputs from real images (the targets):
    a masked, downsampled or grey copy, of the targets' shape. Its randomness (where a
    mask falls) comes from ``generator``, or from torch's global RNG when it is ``None``
    (training, whose RNG checkpoints save), so held-out pairs drawn with a seeded generator
    are the same on every call. ``task`` names what it does, for titles and reports.
    The core reads this declaration for pictures (input | output | target triplets),
    ``ganzoo sample`` and ``ganzoo eval`` (outputs for held-out inputs, and the pairs the
    image-to-image metric scores); it never asks which model declared it.
    """

    task: str
    make_input: Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]


@dataclass
class GenerativeModel:
    """Everything a model builder returns (also importable as ``GAN``, its first name).

    ``networks[generator]`` maps latents ``z`` of shape ``(n, latent_dim)`` to samples of
    the dataset's shape; when ``num_classes > 0`` it is called as ``G(z, labels)``. A
    generator whose ``forward`` takes a ``truncation`` keyword supports the truncation trick.

    ``ema_decay > 0`` keeps an exponential moving average of the generator's weights as
    ``networks[generator + "_ema"]``, updated by the trainer after every step; sampling and
    evaluation use it. The decay ramps up as ``min(ema_decay, (1 + step) / (10 + step))``
    so that early in training the average is not dominated by the random initialisation.

    ``idle_parameters`` names the networks some of whose parameters take no part in some
    phases' losses (a growing model's later stages, the output bias a penalty-only R1 phase
    never reaches). Data-parallel training must know: such a network gets no DDP wrapper,
    and its gradients are averaged by one all-reduce after each backward instead.

    ``translation`` marks an image-to-image model (:class:`Translation`): its generator is
    called on images, ``G(inputs)``, not on latents; :meth:`translate` draws from it and
    :meth:`sample` refuses.
    """

    networks: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    objective: Objective
    latent_dim: int
    generator: str = "G"
    num_classes: int = 0
    ema_decay: float = 0.0
    idle_parameters: tuple[str, ...] = ()
    translation: Translation | None = None

    def __post_init__(self) -> None:
        self.idle_parameters = tuple(self.idle_parameters)
        unknown = [name for name in self.idle_parameters if name not in self.networks]
        if unknown:
            raise ValueError(f"idle_parameters names unknown network {unknown[0]!r} (networks: {sorted(self.networks)})")
        if self.generator not in self.networks:
            raise ValueError(f"generator {self.generator!r} is not one of the networks {sorted(self.networks)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.ema_decay > 0 and self.ema_name not in self.networks:
            # A frozen copy: no optimizer owns it, and the trainer never switches its gradients on.
            self.networks[self.ema_name] = copy.deepcopy(self.networks[self.generator]).requires_grad_(False)
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

    @property
    def ema_name(self) -> str:
        return f"{self.generator}_ema"

    @property
    def sampling_generator(self) -> nn.Module:
        """The network samples come from: the EMA generator when there is one."""
        return self.networks.get(self.ema_name, self.networks[self.generator])

    @property
    def supports_truncation(self) -> bool:
        return "truncation" in inspect.signature(self.sampling_generator.forward).parameters

    @torch.no_grad()
    def update_ema(self, step: int) -> None:
        """Move the EMA generator towards the trained one (no-op without EMA)."""
        if self.ema_decay <= 0:
            return
        decay = min(self.ema_decay, (1 + step) / (10 + step))
        G, ema = self.networks[self.generator], self.networks[self.ema_name]
        for p_ema, p in zip(ema.parameters(), G.parameters()):
            p_ema.lerp_(p, 1.0 - decay)
        # Buffers (batch-norm statistics, a growing schedule's stage) are state, not weights: copy them.
        for b_ema, b in zip(ema.buffers(), G.buffers()):
            b_ema.copy_(b)

    def to(self, device: torch.device) -> "GenerativeModel":
        for net in self.networks.values():
            net.to(device)
        return self

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        truncation: float | None = None,
    ) -> torch.Tensor:
        """``n`` samples in eval mode (from the EMA generator when there is one).

        ``generator`` makes the latents reproducible; ``truncation`` (psi) is passed to
        generators that support the truncation trick and refused by the others.
        """
        if self.translation is not None:
            raise GanzooError(
                f"this model maps images to images ({self.translation.task}): it has no latents to sample from; "
                "ganzoo sample RUN draws input | output | target triplets, ganzoo eval RUN scores its outputs on held-out inputs"
            )
        G = self.sampling_generator
        kwargs = {}
        if truncation is not None:
            if not self.supports_truncation:
                raise GanzooError("this model does not support --truncation (its generator has no truncation trick)")
            kwargs["truncation"] = float(truncation)
        device = next(G.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        was_training = G.training
        G.eval()
        try:
            if self.conditional:
                if labels is None:
                    labels = torch.arange(n) % self.num_classes
                return G(z, labels.to(device), **kwargs)
            return G(z, **kwargs)
        finally:
            G.train(was_training)

    @torch.no_grad()
    def translate(self, targets: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, outputs)`` of an image-to-image model for real ``targets``, in eval mode, on the CPU.

        The inputs come from the model's :attr:`Translation.make_input` on the CPU with
        ``generator``, so the same seed gives the same pairs on every device.
        """
        if self.translation is None:
            raise GanzooError("this model is not an image-to-image model (it declares no translation); it samples from latents")
        G = self.sampling_generator
        device = next(G.parameters()).device
        inputs = self.translation.make_input(targets.detach().float().cpu(), generator)
        was_training = G.training
        G.eval()
        try:
            outputs = G(inputs.to(device)).float().cpu()
        finally:
            G.train(was_training)
        return inputs, outputs


# The first name of the contract, kept for plugins written against it: the same class, so
# ``isinstance``, subclassing and ``GAN(...)`` behave exactly as with ``GenerativeModel``.
GAN = GenerativeModel
