"""Mixed precision for the one trainer: ``--precision 32|bf16|16-mixed``.

``32`` (the default) changes nothing: the trainer computes in fp32 exactly as it would
without this module, bit for bit. ``bf16`` runs each objective's loss (the networks'
forwards) under ``torch.autocast(dtype=torch.bfloat16)``, on CPU and CUDA; backward runs
outside autocast, as PyTorch's AMP guide says, and bf16 needs no loss scaling. ``16-mixed``
is fp16 autocast on CUDA with one ``torch.amp.GradScaler`` per optimizer, whose state is
checkpointed so that resume stays exact; it is refused elsewhere (CPU autocast has no fp16
gradient scaling worth having).

Divergence and the scaler. An fp16 scaler raises its scale until gradients overflow, then
skips that optimizer step and lowers the scale: an overflow is part of how it works, not a
divergence. So under ``16-mixed``:

- ``--on-nan stop`` still stops on a non-finite *loss* (the forward overflowed or the run
  diverged); a skipped step with a finite loss is not counted as divergence.
- ``--on-nan skip`` checks only the loss before the step. The gradients are the scaler's to
  check: dropping them here would hide the overflow from it, and its scale would never come down.
- A step the scaler skipped does not call the objective's ``after_step`` (nothing was
  updated); the metrics log has ``amp/skipped/OPT`` (the fraction of optimizer OPT's
  updates the scaler skipped since the last line) and ``amp/log2_scale/OPT`` (log2 of its
  scale: 16 at the start, a number that fits beside the others in ``loss.png``).
- Gradients that are not finite at any scale would make the scaler skip every step for
  ever; once a scale falls below :data:`MIN_SCALE` (as fairseq's ``--min-loss-scale``) the
  step raises, and the trainer reports it as a divergence.

Penalties that differentiate twice read the phase's scale through
:func:`ganzoo.penalties.gradient_scale`, which :meth:`Precision.autocast` sets.
"""

from __future__ import annotations

import math
from contextlib import contextmanager, nullcontext
from typing import Iterable, Iterator

import torch

from ..config import TRAINER_SCHEMA
from ..errors import GanzooError
from ..penalties import DOUBLE_BACKWARD_ERROR, DOUBLE_BACKWARD_HINT, gradient_scale

PRECISIONS: tuple[str, ...] = TRAINER_SCHEMA["precision"].choices  # 32, bf16, 16-mixed

# Below this loss scale the gradients are taken to be non-finite at any scale: 30 halvings in a row
# from the initial 65536 (fairseq's --min-loss-scale is 1e-4). A power of two, as scales are.
MIN_SCALE = 2.0 ** -14

_AUTOCAST_DTYPE = {"bf16": torch.bfloat16, "16-mixed": torch.float16}


def check_precision(value: str, device: torch.device | None = None) -> str:
    """``value`` if it is a precision that ``device`` (when given) can train at; else a one-line GanzooError."""
    if value not in PRECISIONS:
        raise GanzooError(f"bad --precision {value!r} (valid: {', '.join(PRECISIONS)})")
    if value == "16-mixed" and device is not None and device.type != "cuda":
        valid = ", ".join(p for p in PRECISIONS if p != "16-mixed")
        raise GanzooError(f"--precision 16-mixed needs a CUDA device (fp16 with a gradient scaler); on {device.type} the valid ones are {valid}")
    return value


class Precision:
    """Autocast around a phase's loss, and (for ``16-mixed``) a gradient scaler per optimizer.

    Per phase, the trainer runs the objective's loss inside :meth:`autocast`, then
    :meth:`backward` and :meth:`step` with the phase's optimizer name.
    """

    def __init__(self, precision: str, device: torch.device, optimizers: Iterable[str]) -> None:
        self.precision = check_precision(precision, device)
        self.device = device
        self._dtype = _AUTOCAST_DTYPE.get(precision)
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        if precision == "16-mixed":
            self.scalers = {name: torch.amp.GradScaler(device.type) for name in optimizers}
        self._scalars: list[tuple[str, float]] = []

    @property
    def scales_gradients(self) -> bool:
        """Whether a gradient scaler checks the gradients (and skips steps whose gradients overflowed)."""
        return bool(self.scalers)

    @contextmanager
    def autocast(self, optimizer: str) -> Iterator[None]:
        """Where the objective computes the loss of a phase that ``optimizer`` steps."""
        if self._dtype is None:
            yield
            return
        scaler = self.scalers.get(optimizer)
        # The scale as a device tensor, read without a host sync.
        scale = scaler.scale(torch.ones((), device=self.device)) if scaler is not None else None
        with torch.autocast(self.device.type, dtype=self._dtype), gradient_scale(scale) if scale is not None else nullcontext():
            yield

    def backward(self, loss: torch.Tensor, optimizer: str) -> None:
        scaler = self.scalers.get(optimizer)
        try:
            (loss if scaler is None else scaler.scale(loss)).backward()
        except RuntimeError as exc:
            if DOUBLE_BACKWARD_ERROR not in str(exc):
                raise
            raise GanzooError(f"the loss that optimizer {optimizer!r} steps: {DOUBLE_BACKWARD_HINT}") from None

    def step(self, optimizer: torch.optim.Optimizer, name: str) -> bool:
        """Step ``optimizer``; ``False`` when the scaler skipped the step because its gradients overflowed.

        Raises RuntimeError (an "overflow") when the scale has fallen below :data:`MIN_SCALE`.
        """
        scaler = self.scalers.get(name)
        if scaler is None:
            optimizer.step()
            return True
        before = scaler.get_scale()  # syncs; scaler.step syncs on its overflow check anyway
        scaler.step(optimizer)
        scaler.update()
        after = scaler.get_scale()
        if after < MIN_SCALE:
            raise RuntimeError(f"fp16 gradient overflow at every loss scale: the scale fell to {after:.3g} (below {MIN_SCALE:g})")
        stepped = after >= before  # the scale comes down exactly when the scaler found inf or nan gradients
        self._scalars += [(f"amp/log2_scale/{name}", math.log2(after)), (f"amp/skipped/{name}", float(not stepped))]
        return stepped

    def scalars(self) -> list[tuple[str, torch.Tensor]]:
        """One (name, value) per scaler number since the last call, for the metrics log; none without a scaler."""
        out, self._scalars = self._scalars, []
        return [(name, torch.tensor(value, device=self.device)) for name, value in out]

    def state_dict(self) -> dict:
        return {name: scaler.state_dict() for name, scaler in self.scalers.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, scaler in self.scalers.items():
            if name not in state:
                raise KeyError(f"no gradient-scaler state for optimizer {name!r} (the checkpoint was not written at --precision 16-mixed)")
            scaler.load_state_dict(state[name])
