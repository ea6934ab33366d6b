"""Training a run, new or resumed, along one path: check, build, open sinks, then train.

Everything that can fail on bad input (options, names, the data, live-evaluation settings,
the files of the run being resumed, W&B) fails before a new run folder is made or an
existing one is touched. Training holds the folder (:meth:`RunFolder.claim`) from its checks
to its end, so two processes never train into one folder; a new run in a folder that a
killed run left without a checkpoint (state ``started``) clears it and starts afresh.
"""

from __future__ import annotations

import sys

from pathlib import Path
from typing import Any, Callable, Mapping

from ..config import RunConfig
from ..data import Dataset
from ..errors import GanzooError
from ..training.callbacks import TrainerCallback
from ..training.divergence import check_on_nan
from ..training.precision import check_precision
from ..training.sinks import Sink
from ..training.trainer import Trainer
from ..training.wandb_sink import WandbSink, announce_wandb, check_wandb_mode
from .build import build
from .compilation import compile_networks
from .config import make_run_config, read_config_file
from .device import check_single_process, resolve_device
from .folder import STARTED, RunFolder
from .run import Run, load_run

# Made once the dataset is built, before the run folder is touched: (dataset, config) -> callbacks.
CallbackFactory = Callable[[Dataset, RunConfig], list[TrainerCallback]]


def new_run(
    model: str | None = None, dataset: str | None = None, *, out: str | Path | None = None,
    config: str | Path | Mapping[str, Any] | None = None, sets: Mapping[str, Any] | None = None, **options: Any,
) -> tuple[RunFolder, RunConfig]:
    """The folder and the checked config of a run about to start (nothing is written yet)."""
    file_values = read_config_file(config) if isinstance(config, (str, Path)) else dict(config or {})
    run_config = make_run_config(model, dataset, file_values=file_values, sets=sets, **options)
    return RunFolder.for_new_run(out, run_config.model, run_config.dataset), run_config


def existing_run(
    run_dir: str | Path, steps: int | None = None, device: str | None = None, compile: str | None = None,
) -> tuple[RunFolder, RunConfig]:
    """The folder and config of a run to continue; ``steps`` may raise its target, ``device`` move it, ``compile`` change its backend.

    Its ``precision`` stays: it is part of what the run computes, and fp16's scaler state is in its checkpoint.
    """
    run = load_run(run_dir)
    run.folder.check_resumable()
    cfg = run.config
    if steps is not None:
        cfg.steps = make_run_config(cfg.model, cfg.dataset, file_values=cfg.to_dict(), steps=steps).steps
    if device is not None:
        cfg.device = device
    if compile is not None:
        cfg.compile = make_run_config(cfg.model, cfg.dataset, file_values=cfg.to_dict(), compile=compile).compile
    return run.folder, cfg


def fit(
    folder: RunFolder, config: RunConfig, *, resume: bool, progress: bool = True, sinks: list[Sink] | None = None,
    callbacks: CallbackFactory | None = None, wandb: str = "off", on_nan: str = "stop",
) -> Run:
    """Train ``config`` into ``folder``: a new run (``resume=False``) or the continuation of its last checkpoint.

    ``on_nan`` is what a non-finite loss does: ``stop`` the run (a DivergedError; the last
    checkpoint stays the last good one) or ``skip`` the update (see :meth:`Trainer.train_step`).
    """
    check_single_process()
    check_on_nan(on_nan)
    check_wandb_mode(wandb)
    device = resolve_device(config.device)
    check_precision(config.precision, device)  # 16-mixed on a CPU: refused before anything is built or written
    gan, data = build(config, device)
    compile_networks(gan, config.compile)  # before the trainer sees the networks (and wraps any)
    made_callbacks = callbacks(data, config) if callbacks else []
    trainer = Trainer(gan, data, config, folder, device, sinks=list(sinks or []), progress=progress, callbacks=made_callbacks, on_nan=on_nan)
    if resume:
        with folder.claim():
            folder.check_resumable()
            folder.read_dataset_info()  # every file the run reads is checked before one is changed
            folder.metrics()
            for name in ("last", "best"):
                folder.checkpoint_record(name)
            trainer.resume()
            if config.steps < trainer.step:
                raise GanzooError(f"--steps {config.steps} is below step {trainer.step} that {folder} has reached")
            trainer.extra_sinks += _wandb_sinks(wandb, folder, config)
            folder.remove_stale_temporary_files()
            folder.write_config(config)
            return Run(folder, config, trainer.fit())
    existed = folder.path.exists()
    with folder.claim():
        try:
            if folder.check_new_run_may_use() == STARTED:  # checked again: another process may have got there first
                folder.clear_started_run()
                print(f"{folder}: the run there stopped before its first checkpoint, so there is nothing to resume; starting it afresh", file=sys.stderr)
            folder.remove_stale_temporary_files()
            folder.write_config(config)  # first: from here on the folder is a run (started, then resumable)
            trainer.extra_sinks += _wandb_sinks(wandb, folder, config)
            folder.write_dataset_info(data.info)
        except BaseException:
            if not existed:  # W&B could not start, say: leave no folder behind
                _remove_new_folder(folder)
            raise
        return Run(folder, config, trainer.fit())


def _remove_new_folder(folder: RunFolder) -> None:
    # Only when it holds nothing but what this run wrote; otherwise (W&B made its own folder
    # in it, say) it stays "started", and a re-run with the same --out starts it afresh.
    ours = {folder.config_file.name, folder.dataset_info_file.name}
    if {p.name for p in folder.path.iterdir()} <= ours:
        folder.clear_started_run()
        folder.path.rmdir()


def _wandb_sinks(mode: str, folder: RunFolder, config: RunConfig) -> list[Sink]:
    if check_wandb_mode(mode) == "off":
        return []
    announce_wandb(mode, folder.path)
    sink = WandbSink(folder.wandb_id_file, folder.path.name, config.to_dict(), mode, folder=folder.path)
    sink.start()  # a W&B that cannot start fails here, before any training
    return [sink]
