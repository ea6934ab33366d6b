"""A run folder: the one place that knows a run's file names and formats.

Everything that reads or writes a run (the run layer, the trainer through the object it
is handed, live evaluation, ``ganzoo eval``, ``ganzoo bench``, the leaderboard) goes
through :class:`RunFolder`; no other module spells a file name of a run::

    runs/vanilla-mnist-20261126-160000/
      config.yaml          the resolved RunConfig
      dataset.json         the DatasetInfo (sampling needs no dataset)
      metrics.jsonl        one JSON object per log line
      samples/step-*.png   pictures during training
      final.png, loss.png, eval.png
      eval.json            the last ``ganzoo eval`` report
      wandb.json           the W&B run id, so a resumed run logs into the same W&B run
      checkpoints/last.pt  the training state (see ganzoo.training.checkpoint)
      checkpoints/last.json   its step, readable without loading tensors
      checkpoints/best.pt  the best checkpoint live evaluation kept; best.json: its step and its metric's value

Every write is atomic (a temporary file renamed into place).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from ..config import RunConfig
from ..data import DatasetInfo
from ..errors import CheckpointError, GanzooError, first_line
from ..files import atomic_write_text
from ..training.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from ..training.sinks import JsonlSink, read_jsonl

CHECKPOINT_NAMES = ("last", "best")


class RunFolder:
    """The files of one run, at ``path`` (which need not exist yet)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    # -- where things are ------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    @property
    def dataset_info_file(self) -> Path:
        return self.path / "dataset.json"

    @property
    def metrics_log(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def eval_report_file(self) -> Path:
        return self.path / "eval.json"

    @property
    def final_picture(self) -> Path:
        return self.path / "final.png"

    @property
    def loss_picture(self) -> Path:
        return self.path / "loss.png"

    @property
    def eval_picture(self) -> Path:
        return self.path / "eval.png"

    @property
    def wandb_id_file(self) -> Path:
        return self.path / "wandb.json"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    def sample_picture(self, step: int) -> Path:
        return self.path / "samples" / f"step-{step:07d}.png"

    def checkpoint_file(self, name: str = "last") -> Path:
        return self.checkpoint_dir / f"{name}.pt"

    def _checkpoint_info_file(self, name: str) -> Path:
        return self.checkpoint_dir / f"{name}.json"

    # -- the folder itself -------------------------------------------------------------------
    @classmethod
    def for_new_run(cls, out: str | Path | None, model: str, dataset: str) -> "RunFolder":
        """The folder a new run trains into: ``out`` (which must be empty or absent) or ``runs/MODEL-DATASET-TIMESTAMP``."""
        if out is not None:
            path = Path(out)
            if path.exists() and (not path.is_dir() or any(path.iterdir())):
                raise GanzooError(f"--out {path} already exists and is not empty (use --resume {path} to continue it, or choose another --out)")
            return cls(path)
        base = Path("runs") / f"{model}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = base, 2
        while path.exists():
            path, n = base.with_name(f"{base.name}-{n}"), n + 1
        return cls(path)

    def create(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GanzooError(f"--out {self.path}: cannot create the run folder ({exc.strerror or exc})") from None

    def is_run(self) -> bool:
        return self.config_file.is_file()

    def require_run(self) -> "RunFolder":
        if not self.is_run():
            raise GanzooError(f"{self.path} is not a ganzoo run folder (no {self.config_file.name})")
        return self

    # -- config and dataset description ----------------------------------------------------
    def write_config(self, config: RunConfig) -> None:
        atomic_write_text(self.config_file, yaml.safe_dump(config.to_dict(), sort_keys=False))

    def read_config(self) -> RunConfig:
        """The saved config as written (re-check it with ``make_run_config`` before building from it)."""
        try:
            return RunConfig(**yaml.safe_load(self.config_file.read_text()))
        except (OSError, yaml.YAMLError, TypeError) as exc:
            raise GanzooError(f"{self.config_file}: not a readable ganzoo config.yaml ({first_line(exc)})") from None

    def write_dataset_info(self, info: DatasetInfo) -> None:
        atomic_write_text(self.dataset_info_file, json.dumps(info.to_dict(), indent=2))

    def read_dataset_info(self) -> DatasetInfo | None:
        """What the run's data looked like, or ``None`` for a run that did not record it."""
        if not self.dataset_info_file.is_file():
            return None
        try:
            return DatasetInfo.from_dict(json.loads(self.dataset_info_file.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise GanzooError(f"{self.dataset_info_file} is damaged ({type(exc).__name__}: {first_line(exc)})") from None

    # -- metrics log -------------------------------------------------------------------------
    def metrics(self) -> list[dict[str, Any]]:
        """Every complete line of the metrics log (none before the first)."""
        return read_jsonl(self.metrics_log) if self.metrics_log.is_file() else []

    def open_metrics_log(self, resume_step: int, log_every: int) -> JsonlSink:
        """The metrics sink, with lines past ``resume_step`` (logged by a run that crashed later) dropped."""
        return JsonlSink(self.metrics_log, resume_step=resume_step, log_every=log_every)

    # -- checkpoints -------------------------------------------------------------------------
    def has_checkpoint(self, name: str = "last") -> bool:
        return self.checkpoint_file(name).is_file()

    def save_checkpoint(self, state: dict[str, Any], name: str = "last", record: dict[str, Any] | None = None) -> None:
        """Write the checkpoint, then a small JSON beside it (``NAME.json``) that gives its step without loading tensors.

        ``record`` adds fields to that JSON (live evaluation keeps the best value there). The
        JSON records the checkpoint file's size, mtime and inode: one left stale by a crash
        between the two renames no longer matches its checkpoint and is not believed.
        """
        path = self.checkpoint_file(name)
        save_checkpoint(state, path)
        info = {**(record or {}), "format": FORMAT, "step": int(state["step"]), "file": _file_identity(path)}
        atomic_write_text(self._checkpoint_info_file(name), json.dumps(info, indent=2) + "\n")

    def load_checkpoint(self, name: str = "last") -> dict[str, Any]:
        return load_checkpoint(self.checkpoint_file(name), map_location="cpu")

    def checkpoint_record(self, name: str = "last") -> dict[str, Any] | None:
        """The JSON beside a checkpoint, when it describes the checkpoint now on disk; else ``None``."""
        path = self.checkpoint_file(name)
        try:
            info = json.loads(self._checkpoint_info_file(name).read_text())
            if isinstance(info, dict) and info.get("file") == _file_identity(path) and isinstance(info.get("step"), int):
                return info
        except (OSError, ValueError):
            pass  # missing or damaged
        return None

    def checkpoint_step(self, name: str = "last") -> int | None:
        """The step of a checkpoint (``None`` when there is none): from its JSON when that is current, else from the checkpoint."""
        if not self.has_checkpoint(name):
            return None
        record = self.checkpoint_record(name)
        if record is not None:
            return record["step"]
        try:
            return int(self.load_checkpoint(name)["step"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{self.checkpoint_file(name)} has no readable step ({first_line(exc)})") from None

    # -- evaluation report ---------------------------------------------------------------------
    def write_eval_report(self, report: dict[str, Any]) -> Path:
        return write_eval_report(self.eval_report_file, report)

    def read_eval_report(self) -> dict[str, Any] | None:
        """The last ``ganzoo eval`` report, or ``None`` when there is none or it cannot be read."""
        try:
            report = json.loads(self.eval_report_file.read_text())
        except (OSError, ValueError):
            return None
        return report if isinstance(report, dict) else None

    def train_seconds(self) -> float | None:
        """Wall-clock of training so far, from the last metrics line."""
        records = self.metrics()
        return records[-1].get("time") if records else None


def write_eval_report(path: str | Path, report: dict[str, Any]) -> Path:
    """An evaluation report as a file: a run's own, or ``ganzoo eval --samples --out FILE.json`` (the same format)."""
    path = Path(path)
    if path.is_dir():
        raise GanzooError(f"{path} is a folder; give the report a file name such as {path / 'report.json'}")
    try:
        return atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    except OSError as exc:
        raise GanzooError(f"cannot write the report {path} ({exc.strerror or exc})") from None


def _file_identity(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}
