"""What the trainer tells a callback, and what it expects back: the whole interface between them.

A callback (live evaluation is one) never reaches into the trainer. At the start of
:meth:`Trainer.fit` it gets :meth:`TrainerCallback.on_fit_start`, and after every step
:meth:`TrainerCallback.after_step`, each with a :class:`StepInfo`. The named numbers
``after_step`` returns join the losses in the scalar window, so every sink logs them on
the next metrics line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from ..model import GAN
from .run_files import RunFiles



@dataclass(frozen=True)
class StepInfo:
    """The trainer's state as a callback may see it."""

    step: int  # steps completed
    gan: GAN
    folder: RunFiles  # the run folder (its files, checkpoints and metrics log)
    title: str  # "MODEL on DATASET", for pictures
    snapshot: Callable[[], dict[str, Any]]  # the full training state, exactly as a checkpoint holds it


class TrainerCallback(Protocol):
    def on_fit_start(self, info: StepInfo) -> None:
        """Training (new or resumed) is about to run from ``info.step``; the metrics log holds the lines up to it."""

    def after_step(self, info: StepInfo) -> Mapping[str, float]:
        """Called after every step; returns named numbers to log (usually empty)."""
