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

from ..errors import GanzooError, first_line
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

    def totals(self) -> dict[str, torch.Tensor]:
        """The running sums, by name (tensors on the device: reading them syncs)."""
        return dict(self._sums)

    def count(self, name: str) -> int:
        """How many values ``name`` has summed since the window was last emptied."""
        return self._counts[name]

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
        try:
            if resume_step is not None and (self.path.exists() or self.path.is_symlink()):
                kept = [r for r in read_jsonl(self.path) if r["step"] <= resume_step and r["step"] % log_every == 0]
                atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
            self._file = open(self.path, "a")
        except OSError as exc:
            raise GanzooError(f"{self.path}: cannot write the metrics log ({exc.strerror or first_line(exc)})") from None

    def log(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        try:
            self._file.write(json.dumps(clean) + "\n")
            self._file.flush()
        except OSError as exc:
            raise GanzooError(f"{self.path}: cannot write the metrics log ({exc.strerror or first_line(exc)})") from None

    def close(self) -> None:
        self._file.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a metrics log; a torn last line (a crash mid-write) is skipped.

    Anything else that is not a metrics line is a one-line :class:`GanzooError` naming the
    file and the line: bytes that are not UTF-8, a line that is not JSON, an object without
    an integer ``step``, a value that is not a number or null.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise GanzooError(f"{path}, line {line}: not UTF-8 text (byte {exc.object[exc.start]:#04x}); the metrics log is damaged") from None
    except OSError as exc:
        raise GanzooError(f"{path}: cannot read the metrics log ({exc.strerror or first_line(exc)})") from None
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            if number == len(lines):  # the last line, without its newline: torn by a crash
                continue
            raise GanzooError(f"{path}, line {number}: not JSON ({first_line(exc)}); the metrics log is damaged") from None
        records.append(_check_record(record, path, number))
    return records


def _check_record(record: Any, path: Path, number: int) -> dict[str, Any]:
    where = f"{path}, line {number}"
    if not isinstance(record, dict):
        raise GanzooError(f"{where}: expected a JSON object, got {type(record).__name__}; the metrics log is damaged")
    step = record.get("step")
    if type(step) is not int or step < 0:
        raise GanzooError(f"{where}: expected a whole-number step >= 0, got {step!r}; the metrics log is damaged")
    for key, value in record.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise GanzooError(f"{where}: {key} is {value!r}, expected a number or null; the metrics log is damaged")
    return record
