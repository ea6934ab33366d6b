"""A run folder: the one place that knows a run's file names and formats.

Everything that reads or writes a run (the run layer, the trainer through the object it
is handed, live evaluation, ``ganzoo eval``, ``ganzoo bench``, the leaderboard) goes
through :class:`RunFolder`; no other module spells a file name of a run::

    runs/vanilla-mnist-20261126-160000/
      config.yaml          the resolved RunConfig
      dataset.json         the DatasetInfo (sampling needs no dataset), and what training drew from (trained_on)
      plugins.json         which plugin (and distribution, version) gave the model and the dataset
      metrics.jsonl        one JSON object per log line
      samples/step-*.png   pictures during training (the last one: the final step's, always)
      samples/sample-*.png what ``ganzoo sample`` drew without --out
      final.png, loss.png, eval.png
      eval.json            the last ``ganzoo eval`` report
      wandb.json           the W&B run id, so a resumed run logs into the same W&B run
      checkpoints/last.pt  the training state (see ganzoo.training.checkpoint)
      checkpoints/last.json   its step, readable without loading tensors
      checkpoints/best.pt  the best checkpoint live evaluation kept; best.json: its step and its metric's value

Every write is atomic (a temporary file renamed into place). Every read checks what it
reads (encoding, types, required entries) and turns a defect into a one-line GanzooError
that names the file.

A folder is in one of these states (:meth:`RunFolder.state`), each with its command:

- ``empty``: absent, or empty but for temporary files of writers that are gone: a new run may use it.
- ``started``: a run's config but no ``checkpoints/last.pt`` (killed before its first
  checkpoint): nothing to resume; a new run with the same ``--out`` starts it afresh.
- ``resumable``: a checkpoint short of the config's steps: ``--resume`` continues it.
- ``complete``: a checkpoint at the config's steps: ``--resume --steps M`` trains it further.
- ``in use``: a ganzoo process is training in it (it holds the folder's lock).
- ``not a run``: files, but no config: never touched.

A process that trains holds an exclusive ``flock`` on the folder itself (no lock file is
written), so a second ``ganzoo run`` into the same folder is refused rather than let two
writers interleave; the kernel drops the lock when the process dies, even by kill -9.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterator

import yaml

from ..config import TRAINER_SCHEMA, RunConfig
from ..data import DatasetInfo
from ..specs import TRAINS_ON
from ..errors import CheckpointError, GanzooError, first_line
from ..files import atomic_write_text, check_path, stale_temporary_files
from ..training.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from ..training.sinks import JsonlSink, read_jsonl

CHECKPOINT_NAMES = ("last", "best")

# Trainer options that runs saved before they existed lack; such a run used their defaults.
TRAINER_ADDED_LATER = ("precision", "compile", "memory_format")

EMPTY, STARTED, RESUMABLE, COMPLETE, IN_USE, NOT_A_RUN = "empty", "started", "resumable", "complete", "in use", "not a run"
# Bytes a path below the run folder adds: "/checkpoints/.last.json.tmp-" and a pid.
_DEEPEST = 48


class RunFolder:
    """The files of one run, at ``path`` (which need not exist yet)."""

    def __init__(self, path: str | Path, what: str = "run folder") -> None:
        self.path = check_path(path, what, below=_DEEPEST)
        self._lock_fd: int | None = None

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
    def plugins_file(self) -> Path:
        return self.path / "plugins.json"

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

    def drawn_sample_picture(self, n: int, seed: int, label: int | None = None, truncation: float | None = None) -> Path:
        """A name for a picture ``ganzoo sample`` draws without ``--out``, not yet taken (``-2``, ``-3``, ... added):
        the same command after more training draws a different picture, so none is overwritten."""
        stem = f"sample-n{n}-seed{seed}" + (f"-label{label}" if label is not None else "") + (f"-psi{truncation:g}" if truncation is not None else "")
        path, k = self.path / "samples" / f"{stem}.png", 2
        while path.exists() or path.is_symlink():
            path, k = path.with_name(f"{stem}-{k}.png"), k + 1
        return path

    def checkpoint_file(self, name: str = "last") -> Path:
        return self.checkpoint_dir / f"{name}.pt"

    def _checkpoint_info_file(self, name: str) -> Path:
        return self.checkpoint_dir / f"{name}.json"

    # -- the folder itself -------------------------------------------------------------------
    @classmethod
    def for_new_run(cls, out: str | Path | None, model: str, dataset: str) -> "RunFolder":
        """The folder a new run trains into: ``out`` (empty, absent, or ``started``) or ``runs/MODEL-DATASET-TIMESTAMP``."""
        if out is not None:
            folder = cls(out, "--out")
            folder.check_new_run_may_use()
            return folder
        base = Path("runs") / f"{model}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = base, 2
        while path.exists():
            path, n = base.with_name(f"{base.name}-{n}"), n + 1
        return cls(path)

    def check_new_run_may_use(self) -> str:
        """The folder's state when a new run may train into it (``empty`` or ``started``), else a one-line error saying what to do."""
        state, path = self.state(), self.path
        if state in (EMPTY, STARTED):
            return state
        if state == RESUMABLE:
            raise GanzooError(f"--out {path} already exists and holds a run stopped at step {self.checkpoint_step()} of {self.read_config().steps}: "
                              f"continue it with --resume {path}, or choose another --out")
        if state == COMPLETE:
            raise GanzooError(f"--out {path} already exists and holds a finished run (step {self.checkpoint_step()}): choose another --out, "
                              f"or train it further with --resume {path} --steps N")
        if state == IN_USE:
            raise GanzooError(f"--out {path} is in use: another ganzoo process is training in it (wait for it, or choose another --out)")
        what = "a file" if not path.is_dir() else f"a folder that is not a ganzoo run (no {self.config_file.name})"
        raise GanzooError(f"--out {path} already exists and is {what}; choose another --out")

    def check_resumable(self) -> None:
        """Refuse, in one line saying what to do instead, a folder that ``--resume`` cannot continue."""
        state, path = self.state(), self.path
        if state == STARTED:
            raise GanzooError(f"nothing to resume in {path}: the run stopped before its first checkpoint; start it afresh with "
                              f"the same --out (ganzoo run --config {self.config_file} --out {path})")
        if state == IN_USE:
            raise GanzooError(f"{path} is in use: another ganzoo process is training in it")
        if state in (EMPTY, NOT_A_RUN):
            self.require_run()

    def create(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GanzooError(f"--out {self.path}: cannot create the run folder ({exc.strerror or exc})") from None

    def is_run(self) -> bool:
        return self.config_file.is_file()

    def require_run(self) -> "RunFolder":
        if not self.is_run():
            if not self.path.exists():
                raise GanzooError(f"{self.path} is not a ganzoo run folder (it does not exist)")
            raise GanzooError(f"{self.path} is not a ganzoo run folder (no {self.config_file.name})")
        return self

    # -- state, lock and clean-up -----------------------------------------------------------------
    def state(self) -> str:
        """``empty``, ``started``, ``resumable``, ``complete``, ``in use`` or ``not a run`` (see the module's docstring).

        Reads the config and the checkpoint's step, so a damaged one is a GanzooError here.
        """
        if not self.path.exists() and not self.path.is_symlink():
            return EMPTY
        if not self.path.is_dir():
            return NOT_A_RUN
        if self.in_use():
            return IN_USE
        if not self.is_run():
            stale = set(self._stale_temporary_files())
            return EMPTY if all(entry in stale for entry in self.path.iterdir()) else NOT_A_RUN
        if not self.has_checkpoint("last"):
            self.read_config()  # a started run is still a readable one
            return STARTED
        step, target = self.checkpoint_step("last"), self.read_config().steps
        return COMPLETE if step >= target else RESUMABLE

    def in_use(self) -> bool:
        """Whether another process (or another claim in this one) holds the folder's lock."""
        if self._lock_fd is not None:
            return False
        fd = self._lock(blocking_error=False)
        if fd is None:
            return False
        if fd == -1:
            return True
        _unlock(fd)
        return False

    @contextmanager
    def claim(self) -> Iterator[None]:
        """Hold the folder (made if absent) for this process while it trains: another claim is refused until it ends."""
        self.create()
        fd = self._lock(blocking_error=True)
        self._lock_fd = fd
        try:
            yield
        finally:
            self._lock_fd = None
            if fd is not None:
                _unlock(fd)

    def _lock(self, blocking_error: bool) -> int | None:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): no protection against a second writer
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if blocking_error:
                raise GanzooError(f"{self.path} is in use: another ganzoo process is training in it (wait for it, or choose another folder)") from None
            return -1
        except OSError:  # a file system without locks
            os.close(fd)
            return None
        return fd

    def remove_stale_temporary_files(self) -> int:
        """Delete the temporary files that writers killed mid-write left (those of live processes stay); how many."""
        removed = 0
        for dead in [*self._stale_temporary_files(), *self._stale_temporary_files(self.checkpoint_dir),
                     *self._stale_temporary_files(self.path / "samples")]:
            try:
                dead.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    def _stale_temporary_files(self, folder: Path | None = None) -> Iterator[Path]:
        return stale_temporary_files(self.path if folder is None else folder)

    def clear_started_run(self) -> None:
        """Delete what a run that stopped before its first checkpoint wrote, so that it starts afresh.

        Only the files this class names are deleted (a best checkpoint that live evaluation
        kept before the first ``last`` one included); anything else in the folder stays.
        """
        if self.has_checkpoint("last"):
            raise GanzooError(f"{self.path} has a checkpoint: it is resumed, never cleared")
        files = [self.config_file, self.dataset_info_file, self.plugins_file, self.metrics_log, self.eval_report_file, self.final_picture,
                 self.loss_picture, self.eval_picture, self.wandb_id_file]
        files += [path for name in CHECKPOINT_NAMES for path in (self.checkpoint_file(name), self._checkpoint_info_file(name))]
        files += sorted((self.path / "samples").glob("step-*.png"))
        for path in files:
            if path.is_file() or path.is_symlink():
                path.unlink()
        for folder in (self.path / "samples", self.checkpoint_dir):
            try:
                folder.rmdir()
            except OSError:
                pass  # absent, or holds something else

    # -- config and dataset description ----------------------------------------------------
    def write_config(self, config: RunConfig) -> None:
        text = yaml.safe_dump(config.to_dict(), sort_keys=False)
        if config.world_size > 1:
            text = (f"# data-parallel: {config.world_size} processes x batch_size {config.batch_size} = "
                    f"a global batch of {config.world_size * config.batch_size} real samples per phase\n") + text
        _write(self.config_file, text)

    def read_config(self) -> RunConfig:
        """The saved config, its shape and the trainer's values checked (re-check the rest with ``make_run_config``)."""
        path = self.config_file
        try:
            data = yaml.safe_load(_read_text(path))
        except (yaml.YAMLError, RecursionError) as exc:
            raise GanzooError(f"{path}: not valid YAML ({first_line(exc)})") from None
        if not isinstance(data, dict):
            raise GanzooError(f"{path}: expected a mapping of options, got {type(data).__name__}")
        names = [f.name for f in fields(RunConfig)]
        unknown = [str(k) for k in data if k not in names]
        if unknown:
            raise GanzooError(f"{path}: unknown key {unknown[0]!r} (valid: {', '.join(names)})")
        for name in TRAINER_ADDED_LATER:  # a config.yaml written before the option existed ran at its default
            data.setdefault(name, TRAINER_SCHEMA[name].default)
        missing = [name for name in ("model", "dataset", *TRAINER_SCHEMA) if name not in data]
        if missing:
            raise GanzooError(f"{path}: no {missing[0]!r} (a run's config.yaml holds every resolved option)")
        for key in ("model", "dataset"):
            if not isinstance(data[key], str):
                raise GanzooError(f"{path}: {key} must be a name, got {data[key]!r}")
        try:
            for key, param in TRAINER_SCHEMA.items():
                data[key] = param.check(key, data[key])
        except GanzooError as exc:
            raise GanzooError(f"{path}: {exc}") from None
        for key in ("model_config", "dataset_config"):
            value = data.get(key)
            if value is None:
                data[key] = {}
            elif not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise GanzooError(f"{path}: {key} must map option names to values, got {value!r:.60}")
        return RunConfig(**data)

    def write_dataset_info(self, info: DatasetInfo, trained_on: dict | None = None) -> None:
        """The info, and beside it (key ``trained_on``) what training drew from: :meth:`ganzoo.Dataset.trained_on`."""
        record = info.to_dict() if trained_on is None else {**info.to_dict(), "trained_on": trained_on}
        _write(self.dataset_info_file, json.dumps(record, indent=2))

    def read_trained_on(self) -> dict | None:
        """What the run trained on (``{"split": "all" or "train", "samples": n, ...}``), or ``None`` for a run that did not record it."""
        if not self.dataset_info_file.exists():
            return None
        try:
            record = json.loads(_read_text(self.dataset_info_file)).get("trained_on")
        except (ValueError, AttributeError):
            return None  # read_dataset_info says what is wrong with the file
        return record if isinstance(record, dict) and record.get("split") in TRAINS_ON else None

    def read_dataset_info(self) -> DatasetInfo | None:
        """What the run's data looked like, or ``None`` for a run that did not record it."""
        path = self.dataset_info_file
        if not path.exists() and not path.is_symlink():
            return None
        try:
            data = json.loads(_read_text(path))
            if not isinstance(data, dict):
                raise TypeError(f"expected an object, got {type(data).__name__}")
            shape = data["shape"]
            if not isinstance(shape, list) or not all(type(d) is int and d > 0 for d in shape):
                raise TypeError(f"shape {shape!r} is not a list of positive whole numbers")
            for key, kind in (("name", str), ("kind", str), ("num_classes", int)):
                if key in data and (type(data[key]) is not kind):
                    raise TypeError(f"{key} {data[key]!r} is not a {kind.__name__}")
            return DatasetInfo.from_dict(data)
        except GanzooError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise GanzooError(f"{path} is damaged ({type(exc).__name__}: {first_line(exc)})") from None

    def write_plugins(self, record: dict[str, dict[str, str | None]]) -> None:
        """Where the run's model and dataset came from (:func:`ganzoo.plugins.origin` of each, by kind)."""
        _write(self.plugins_file, json.dumps(record, indent=2) + "\n")

    def read_plugins(self) -> dict[str, dict[str, Any]]:
        """What :meth:`write_plugins` recorded, by kind; ``{}`` when absent or unreadable.

        It only explains a name that is no longer registered, so a damaged one is passed over, not an error.
        """
        try:
            data = json.loads(self.plugins_file.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {kind: entry for kind, entry in data.items() if isinstance(entry, dict)}

    # -- metrics log -------------------------------------------------------------------------
    def metrics(self) -> list[dict[str, Any]]:
        """Every complete line of the metrics log (none before the first); a damaged log is a GanzooError."""
        return read_jsonl(self.metrics_log) if self.metrics_log.exists() or self.metrics_log.is_symlink() else []

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
        try:
            save_checkpoint(state, path)
        except OSError as exc:
            kept = f"the previous one (step {self.checkpoint_step(name)}) is intact" if self.has_checkpoint(name) else "there is no earlier one"
            raise CheckpointError(f"{path}: cannot write the checkpoint ({exc.strerror or first_line(exc)}); {kept}") from None
        info = {**(record or {}), "format": FORMAT, "step": int(state["step"]), "file": _file_identity(path)}
        # Should this fail, the old JSON no longer matches the new checkpoint and is not believed.
        _write(self._checkpoint_info_file(name), json.dumps(info, indent=2) + "\n")

    def load_checkpoint(self, name: str = "last") -> dict[str, Any]:
        return load_checkpoint(self.checkpoint_file(name), map_location="cpu")

    def checkpoint_record(self, name: str = "last") -> dict[str, Any] | None:
        """The JSON beside a checkpoint, when it describes the checkpoint now on disk; else ``None``.

        A JSON whose file identity does not match (a copied run folder, an old run) is believed
        when the checkpoint's own step agrees with it (checked again at each read until the next
        checkpoint writes the record anew). One
        left stale by a crash between the two writes is ``None``; one that is damaged (not
        UTF-8, not JSON, fields of the wrong type) is a GanzooError naming it.
        """
        info, current = self._read_record(name)
        if info is None or current:
            return info
        # Copied, restored or moved (new inode and mtime), or written before records had an identity.
        try:
            if int(self.load_checkpoint(name)["step"]) != info["step"]:
                return None  # stale: a crash came between the checkpoint and its record
        except (CheckpointError, KeyError, TypeError, ValueError):
            return None
        # Not rewritten here: reading must never change a run folder (the next checkpoint writes it anew).
        return info

    def _read_record(self, name: str) -> tuple[dict[str, Any] | None, bool]:
        """``(the validated JSON beside checkpoint name, whether its file identity matches the checkpoint)``."""
        record_file = self._checkpoint_info_file(name)
        if not record_file.exists() and not record_file.is_symlink():
            return None, False
        try:
            info = json.loads(_read_text(record_file))
        except (ValueError, RecursionError) as exc:
            raise _damaged_record(record_file, f"not JSON: {first_line(exc)}") from None
        if not isinstance(info, dict):
            raise _damaged_record(record_file, f"expected an object, got {type(info).__name__}")
        for key, kinds in (("step", (int,)), ("format", (str,)), ("file", (dict,)), ("metric", (str,)), ("value", (int, float, type(None)))):
            if key in info and (isinstance(info[key], bool) or not isinstance(info[key], kinds)):
                raise _damaged_record(record_file, f"{key} is {info[key]!r}")
        if "step" not in info:
            raise _damaged_record(record_file, "no step")
        try:
            identity = _file_identity(self.checkpoint_file(name))
        except OSError:
            return None, False  # no checkpoint beside it
        return info, info.get("file") == identity

    def checkpoint_step(self, name: str = "last") -> int | None:
        """The step of a checkpoint (``None`` when there is none): from its JSON when that is current, else from the checkpoint."""
        if not self.has_checkpoint(name):
            return None
        record, current = self._read_record(name)
        if record is not None and current:
            return record["step"]
        step = self.load_checkpoint(name).get("step")
        if type(step) is not int or step < 0:
            raise CheckpointError(f"{self.checkpoint_file(name)} has no readable step (found {step!r})")
        return step

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
    return _write(path, json.dumps(report, indent=2) + "\n")


def _read_text(path: Path) -> str:
    """A run folder file's text: a one-line GanzooError naming it when it cannot be read or is not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GanzooError(f"{path}: cannot read it ({exc.strerror or first_line(exc)})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GanzooError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); the file is damaged") from None


def _write(path: Path, text: str) -> Path:
    try:
        return atomic_write_text(path, text)
    except OSError as exc:
        raise GanzooError(f"{path}: cannot write it ({exc.strerror or first_line(exc)})") from None


def _damaged_record(path: Path, problem: str) -> GanzooError:
    return GanzooError(f"{path} is damaged ({problem}); delete it to go on without it (it is written again with the next checkpoint)")


def _unlock(fd: int) -> None:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _file_identity(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}
