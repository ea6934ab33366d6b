"""Where code runs: the device, and this process's place among several (torchrun).

Nothing here is global state: a trainer asks once and keeps the answer, so several
processes launched by torchrun each get their own rank from the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .errors import GanzooError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU is a one-line error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GanzooError(f"bad --device {name!r} (valid: auto, cpu, cuda, cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise GanzooError(f"bad --device {name!r} (valid: auto, cpu, cuda, cuda:N)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GanzooError(f"--device {name}: CUDA is not available on this machine (valid here: auto, cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GanzooError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


@dataclass(frozen=True)
class ProcessInfo:
    """This process's rank among ``world_size`` (1 unless launched by torchrun). Rank 0 writes files."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "ProcessInfo":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))
