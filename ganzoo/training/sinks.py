"""Named scalars from the objectives, averaged over a window and handed to sinks.

The metrics log (one JSON object per line) is always written; other sinks (W&B,
:mod:`ganzoo.training.wandb_sink`) plug in beside it with the same two methods. A sink that
also has ``picture(name, path, step)`` is handed every sample picture the trainer draws.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Protocol

import torch

from ..files import atomic_write_text


class Sink(Protocol):
    def log(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class ScalarWindow:
    """Running sums of detached tensors; reading the means is the only host sync."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, name: str, value: torch.Tensor) -> None:
        if name in self._sums:
            self._sums[name] += value
            self._counts[name] += 1
        else:
            self._sums[name] = value.detach().clone().float()
            self._counts[name] = 1

    def means(self) -> dict[str, float]:
        return {name: float(total) / self._counts[name] for name, total in self._sums.items()}

    def pop_means(self) -> dict[str, float]:
        means = self.means()
        self._sums.clear()
        self._counts.clear()
        return means

    def state_dict(self) -> dict:
        return {"sums": {k: v.cpu() for k, v in self._sums.items()}, "counts": dict(self._counts)}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self._sums = {k: v.to(device) for k, v in state["sums"].items()}
        self._counts = {k: int(v) for k, v in state["counts"].items()}


class JsonlSink:
    """Appends one JSON object per line and flushes it, so a crash loses at most the line being written.

    When a run resumes from step ``resume_step``, lines logged after that step (by the
    run that crashed) and the partial line a stopped run writes off the ``log_every``
    grid are dropped first, so the file is the one an unbroken run would have written.
    """

    def __init__(self, path: Path, resume_step: int | None = None, log_every: int = 1) -> None:
        self.path = Path(path)
        if resume_step is not None and self.path.exists():
            kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= resume_step and r.get("step", 0) % log_every == 0]
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self._file = open(self.path, "a")

    def log(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._file.write(json.dumps(clean) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a jsonl file (a torn last line from a crash is skipped)."""
    records = []
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records
