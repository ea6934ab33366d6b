"""Evaluation in its own random-number scope, so that it never changes what the caller draws next.

Feature extraction goes through torch-fidelity's DataLoader, which draws its base seed from
torch's global generator, the one the trainer draws latents from; a generator with noise
inputs may draw from it while sampling, and on a GPU the CUDA generators may be drawn from
too. Everything that evaluates (``run_metrics``, ``evaluate``, a live evaluation step) runs
inside :func:`own_rng`, which restores the CPU generator and every CUDA generator in use on
exit: live evaluation leaves training bitwise unchanged, and ``ganzoo.evaluate`` called
inside a user's own loop leaves that loop's draws alone.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def own_rng(device: torch.device | None = None) -> Iterator[None]:
    """Restore torch's CPU generator, and the CUDA generators when CUDA is in use, on exit."""
    # CUDA counts as in use once initialised, or when this evaluation is about to use it;
    # touching it otherwise would start a CUDA context in a CPU-only process.
    cuda = torch.cuda.is_initialized() or (device is not None and device.type == "cuda" and torch.cuda.is_available())
    devices = list(range(torch.cuda.device_count())) if cuda else []
    with torch.random.fork_rng(devices=devices, device_type="cuda"):
        yield
