"""Noticing that training diverged: non-finite losses, found without a host sync per step.

Each step the trainer hands :class:`FiniteWatch` the sum of the losses it applied. The watch
keeps, on the device, whether every step so far was finite and how many were; reading that
count is the only host sync, and the trainer reads it only where it syncs anyway or is about
to make something last (a metrics line, a picture, a checkpoint, a callback), so the step
where the first non-finite loss appeared is named exactly, at no per-step sync.

``--on-nan skip`` instead checks every phase before its optimizer step (one sync per phase,
the price of deciding in time) and leaves out the update of a phase whose loss or gradients
are not finite.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from ..errors import GanzooError

ON_NAN = ("stop", "skip")


class DivergedError(GanzooError):
    """Training produced non-finite losses or weights; nothing non-finite was saved."""


def check_on_nan(value: str) -> str:
    if value not in ON_NAN:
        raise GanzooError(f"bad --on-nan {value!r} (valid: {', '.join(ON_NAN)})")
    return value


class FiniteWatch:
    """Counts, on ``device``, the steps before the first one whose losses were not all finite."""

    def __init__(self, start_step: int, device: torch.device) -> None:
        self.start_step = start_step
        self._seen = 0
        self._all_finite = torch.ones((), dtype=torch.bool, device=device)
        self._finite_steps = torch.zeros((), dtype=torch.int64, device=device)

    def observe(self, loss_sum: torch.Tensor) -> None:
        """One step's losses, summed (any non-finite loss makes the sum non-finite)."""
        self._all_finite.logical_and_(torch.isfinite(loss_sum))
        self._finite_steps.add_(self._all_finite)
        self._seen += 1

    def first_bad_step(self) -> int | None:
        """The step (counted from 1, as the metrics log counts) of the first non-finite loss, or ``None``. Syncs."""
        finite = int(self._finite_steps)
        return None if finite == self._seen else self.start_step + finite + 1


def nonfinite_scalars(sums: dict[str, torch.Tensor], prefix: str = "loss/") -> dict[str, float]:
    """The scalars named ``prefix*`` whose window sums are not finite, with those sums (nan, inf or -inf)."""
    out = {}
    for name, total in sums.items():
        if name.startswith(prefix):
            value = float(total)
            if not math.isfinite(value):
                out[name] = value
    return out


def finite_update(loss: torch.Tensor, parameters: Iterable[torch.Tensor]) -> bool:
    """Whether a phase's loss and every gradient it made are finite (one sync)."""
    checks = [torch.isfinite(loss.detach()).all()]
    checks += [torch.isfinite(p.grad).all() for p in parameters if p.grad is not None]
    return bool(torch.stack(checks).all())


def nonfinite_tensor(tree: Any, path: str = "") -> str | None:
    """The path of the first floating-point tensor in ``tree`` (dicts, lists, tuples) that holds a non-finite value."""
    found: list[tuple[str, torch.Tensor]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, torch.Tensor):
            if node.is_floating_point() or node.is_complex():
                found.append((where, node))
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{where}.{key}" if where else str(key))
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f"{where}.{i}" if where else str(i))

    walk(tree, path)
    if not found:
        return None
    flags = torch.stack([torch.isfinite(t).all().to("cpu") for _, t in found])  # one sync per device
    if bool(flags.all()):
        return None
    return found[int((~flags).nonzero()[0])][0]
