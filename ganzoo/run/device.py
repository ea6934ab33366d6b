"""Where code runs: the device, and the process group when torchrun started several processes."""

from __future__ import annotations

import torch

from ..errors import GanzooError
from ..training import distributed
from ..training.distributed import World, world_from_environment


def resolve_device(name: str, world: World = distributed.SINGLE) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU is a one-line error.

    Under data parallelism each process uses the GPU of its local rank (``cuda`` or ``auto``).
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GanzooError(f"bad --device {name!r} (valid: auto, cpu, cuda, cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise GanzooError(f"bad --device {name!r} (valid: auto, cpu, cuda, cuda:N)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GanzooError(f"--device {name}: CUDA is not available on this machine (valid here: auto, cpu)")
        if world.distributed:
            if device.index is not None:
                raise GanzooError(f"--device {name} names one GPU, but each of the {world.size} processes uses the GPU of its "
                                  "local rank (valid: auto, cuda, cpu)")
            if world.local_rank >= torch.cuda.device_count():
                raise GanzooError(f"local rank {world.local_rank} has no GPU of its own: this machine has {torch.cuda.device_count()} "
                                  "CUDA device(s) (start at most that many processes per machine, or use --device cpu)")
            device = torch.device("cuda", world.local_rank)
            torch.cuda.set_device(device)  # NCCL works on the current device
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GanzooError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def join_world() -> World:
    """This process's world; under torchrun, joined to the job's process group (once)."""
    world = world_from_environment()
    distributed.start(world)
    return world
