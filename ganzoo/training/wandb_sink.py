"""Weights & Biases as a trainer sink, imported lazily: W&B is slow to import and never needed otherwise."""

from __future__ import annotations

import json
import netrc
import os
import secrets
import sys
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from ..errors import GanzooError, first_line
from ..files import atomic_write_text

WANDB_MODES = ("online", "offline", "off")
WANDB_PROJECT = "ganzoo"


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


def _read_run_id(path: Path) -> str:
    try:
        run_id = json.loads(path.read_bytes().decode("utf-8"))["id"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise GanzooError(f"{path} is damaged ({type(exc).__name__}: {first_line(exc)}); delete it to log into a new W&B run") from None
    if not isinstance(run_id, str) or not run_id:
        raise GanzooError(f"{path} is damaged (id {run_id!r} is not a W&B run id); delete it to log into a new W&B run")
    return run_id


class WandbSink:
    """Logs one training run to Weights & Biases: its config, every named scalar by step,
    the sample pictures, and (from :meth:`log_final`) the final metrics.

    W&B starts on :meth:`start` or the first thing logged, never in the constructor, so a
    run that fails its checks never opens one. The W&B run id is kept in ``id_file`` (in the
    run folder) once that folder exists, so a resumed run continues the same W&B run.
    ``folder`` holds W&B's own ``wandb/`` folder.
    ``finish_on_close=False`` keeps the W&B run open after training, for a caller that
    evaluates first (``ganzoo bench``) and then calls :meth:`finish`.
    """

    def __init__(
        self, id_file: Path, name: str, config: Mapping[str, Any], mode: str, folder: Path,
        group: str | None = None, finish_on_close: bool = True,
    ) -> None:
        if check_wandb_mode(mode) == "off":
            raise ValueError("a WandbSink with --wandb off: make no sink instead")
        self.id_file = Path(id_file)
        self.name = name
        self.config = dict(config)
        self.mode = mode
        self.folder = Path(folder)
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
            self._id = _read_run_id(self.id_file) if self.id_file.exists() else secrets.token_hex(4)
            self._run = _init_wandb(
                self.mode, self.folder, id=self._id, resume="allow", name=self.name, group=self.group,
                job_type="train", config=self.config,
            )
        if not self._id_saved and self.id_file.parent.is_dir():  # a new run's folder appears only once training starts
            atomic_write_text(self.id_file, json.dumps({"id": self._id, "project": WANDB_PROJECT, "group": self.group}) + "\n")
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
