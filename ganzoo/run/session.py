"""Training a run, new or resumed, along one path: check, build, open sinks, then train.

Everything that can fail on bad input (options, names, the data, live-evaluation settings,
W&B) fails before a new run folder is made or an existing one is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from ..config import RunConfig
from ..data import Dataset
from ..errors import GanzooError
from ..training.callbacks import TrainerCallback
from ..training.sinks import Sink
from ..training.trainer import Trainer
from ..training.wandb_sink import WandbSink, announce_wandb, check_wandb_mode
from .build import build
from .config import make_run_config, read_config_file
from .device import check_single_process, resolve_device
from .folder import RunFolder
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


def existing_run(run_dir: str | Path, steps: int | None = None, device: str | None = None) -> tuple[RunFolder, RunConfig]:
    """The folder and config of a run to continue; ``steps`` may raise its target, ``device`` move it."""
    run = load_run(run_dir)
    cfg = run.config
    if steps is not None:
        cfg.steps = make_run_config(cfg.model, cfg.dataset, file_values=cfg.to_dict(), steps=steps).steps
    if device is not None:
        cfg.device = device
    return run.folder, cfg


def fit(
    folder: RunFolder, config: RunConfig, *, resume: bool, progress: bool = True, sinks: list[Sink] | None = None,
    callbacks: CallbackFactory | None = None, wandb: str = "off",
) -> Run:
    """Train ``config`` into ``folder``: a new run (``resume=False``) or the continuation of its last checkpoint."""
    check_single_process()
    device = resolve_device(config.device)
    gan, data = build(config, device)
    made_callbacks = callbacks(data, config) if callbacks else []
    all_sinks = list(sinks or []) + _wandb_sinks(wandb, folder, config)
    trainer = Trainer(gan, data, config, folder, device, sinks=all_sinks, progress=progress, callbacks=made_callbacks)
    if resume:
        trainer.resume()
        if config.steps < trainer.step:
            raise GanzooError(f"--steps {config.steps} is below step {trainer.step} that {folder} has reached")
    else:
        folder.create()
        folder.write_dataset_info(data.info)
    folder.write_config(config)
    return Run(folder, config, trainer.fit())


def _wandb_sinks(mode: str, folder: RunFolder, config: RunConfig) -> list[Sink]:
    if check_wandb_mode(mode) == "off":
        return []
    announce_wandb(mode, folder.path)
    sink = WandbSink(folder.wandb_id_file, folder.path.name, config.to_dict(), mode, folder=folder.path)
    sink.start()  # a W&B that cannot start fails here, before any training
    return [sink]
