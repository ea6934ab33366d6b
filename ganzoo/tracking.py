"""Named scalars from the objectives, averaged over a window and handed to sinks.

``metrics.jsonl`` (one JSON object per line) is always written; other sinks (W&B) plug
in beside it with the same two methods. A sink that also has ``picture(name, path, step)``
is handed every sample picture the trainer draws.
"""

from __future__ import annotations

import json
import math
import netrc
import os
import secrets
import sys
from pathlib import Path
from typing import Any, Mapping, Protocol
from urllib.parse import urlparse

import torch

from .errors import GanzooError, first_line
from .files import atomic_write_text


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


# -- Weights & Biases ------------------------------------------------------------------

WANDB_MODES = ("online", "offline", "off")
WANDB_PROJECT = "ganzoo"
WANDB_ID_FILE = "wandb.json"  # in a run folder: the W&B run id, so a resumed run logs into the same W&B run


def wandb_logged_in() -> bool:
    """Whether W&B has credentials here (an API key in the environment or in ~/.netrc); no network call."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def default_wandb_mode() -> str:
    """``WANDB_MODE`` when set to offline or disabled; else online when logged in, offline otherwise."""
    env = os.environ.get("WANDB_MODE", "").lower()
    if env in ("offline", "dryrun"):
        return "offline"
    if env == "disabled":
        return "off"
    return "online" if wandb_logged_in() else "offline"


def check_wandb_mode(mode: str) -> str:
    if mode not in WANDB_MODES:
        raise GanzooError(f"bad --wandb {mode!r} (valid: {', '.join(WANDB_MODES)})")
    return mode


def wandb_folder(folder: Path) -> Path:
    """Where W&B writes its ``wandb/`` folder: ``WANDB_DIR`` when set, else ``folder``."""
    return Path(os.environ.get("WANDB_DIR") or folder)


def offline_note(folder: Path) -> str:
    """The one line that says where offline W&B runs are and how to upload them."""
    runs = wandb_folder(folder) / "wandb"
    return f"W&B runs are offline, saved in {runs}; upload them later with: wandb sync {runs}/offline-run-*"


def _import_wandb():
    # Imported only when W&B is used: it is slow to import and never needed otherwise.
    try:
        import wandb
    except ImportError as exc:
        raise GanzooError(f"--wandb needs the wandb package ({first_line(exc)}); pip install wandb, or use --wandb off") from None
    return wandb


def _init_wandb(mode: str, folder: Path, **kwargs: Any):
    wandb = _import_wandb()
    try:
        folder = wandb_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # console="off": the terminal output is not uploaded (the run folder has everything).
        settings = wandb.Settings(console="off", silent=mode == "offline")
        return wandb.init(project=WANDB_PROJECT, mode=mode, dir=str(folder), settings=settings, **kwargs)
    except Exception as exc:  # wandb raises its own error types (no login, no network); one line, not a traceback
        raise GanzooError(f"W&B could not start a run in {mode} mode: {type(exc).__name__}: {first_line(exc)}") from None


class WandbSink:
    """Logs one training run to Weights & Biases: its config, every named scalar by step,
    the sample pictures, and (from :meth:`log_final`) the final metrics.

    W&B starts on :meth:`start` or the first thing logged, never in the constructor, so a
    run that fails its checks never opens one. The W&B run id is kept in ``RUN_DIR/wandb.json``, so a resumed run continues the same
    W&B run. ``folder`` holds W&B's own ``wandb/`` folder (default: the run folder).
    ``finish_on_close=False`` keeps the W&B run open after training, for a caller that
    evaluates first (``ganzoo bench``) and then calls :meth:`finish`.
    """

    def __init__(
        self, run_dir: Path, config: Mapping[str, Any], mode: str, folder: Path | None = None,
        group: str | None = None, finish_on_close: bool = True,
    ) -> None:
        if check_wandb_mode(mode) == "off":
            raise ValueError("a WandbSink with --wandb off: make no sink instead")
        self.run_dir = Path(run_dir)
        self.config = dict(config)
        self.mode = mode
        self.folder = Path(folder) if folder is not None else self.run_dir
        self.group = group
        self.finish_on_close = finish_on_close
        self._run = None
        self._id, self._id_saved = "", False

    def start(self):
        """Start the W&B run now (callers do, before training, so that a W&B failure costs no training)."""
        return self.run

    @property
    def run(self):
        if self._run is None:
            id_file = self.run_dir / WANDB_ID_FILE
            self._id = json.loads(id_file.read_text())["id"] if id_file.is_file() else secrets.token_hex(4)
            self._run = _init_wandb(
                self.mode, self.folder, id=self._id, resume="allow", name=self.run_dir.name, group=self.group,
                job_type="train", config=self.config,
            )
        if not self._id_saved and self.run_dir.is_dir():  # a new run's folder appears only once training starts
            atomic_write_text(self.run_dir / WANDB_ID_FILE, json.dumps({"id": self._id, "project": WANDB_PROJECT, "group": self.group}) + "\n")
            self._id_saved = True
        return self._run

    def log(self, record: dict[str, Any]) -> None:
        values = {k: v for k, v in record.items() if k != "step" and v is not None}
        self.run.log(values, step=record["step"])

    def picture(self, name: str, path: Path, step: int) -> None:
        self.run.log({name: _import_wandb().Image(str(path))}, step=step)

    def log_final(self, metrics: Mapping[str, Any], protocol: Mapping[str, Any] | None = None) -> None:
        """The final evaluation: numbers into the run's summary, the protocol into its config."""
        self.run.summary.update({k: v for k, v in metrics.items() if v is not None})
        if protocol is not None:
            self.run.config.update({"eval_protocol": dict(protocol)}, allow_val_change=True)

    def finish(self) -> None:
        if self._run is not None:
            self.run  # a run that logged nothing still leaves its id for a resume
            self._run.finish()
            self._run = None

    def close(self) -> None:
        if self.finish_on_close:
            self.finish()


def log_wandb_table(name: str, columns: list[str], rows: list[list[Any]], mode: str, folder: Path, group: str | None) -> None:
    """One W&B run (job type ``leaderboard``) holding ``rows`` as a ``wandb.Table`` called ``name``."""
    wandb = _import_wandb()
    run = _init_wandb(check_wandb_mode(mode), Path(folder), name=f"{group or name}-{name}", group=group, job_type="leaderboard")
    run.log({name: wandb.Table(columns=columns, data=rows)})
    run.finish()


def announce_wandb(mode: str, folder: Path) -> None:
    if mode == "offline":
        print(offline_note(folder), file=sys.stderr)
