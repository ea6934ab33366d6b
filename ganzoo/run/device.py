"""Where code runs: the device, and a guard against launching ganzoo as several processes."""

from __future__ import annotations

import os

import torch

from ..errors import GanzooError


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


def check_single_process() -> None:
    """Refuse to run under a launcher such as torchrun: each process would train its own
    unsynchronised model. Data-parallel training is not supported yet."""
    world = os.environ.get("WORLD_SIZE", "1")
    if world.strip() not in ("", "1"):
        raise GanzooError(
            f"WORLD_SIZE={world}: ganzoo does not train data-parallel yet, and {world} processes would each train "
            "their own unsynchronised model; run ganzoo as one process (without torchrun)"
        )
